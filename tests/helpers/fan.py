"""Random FAN weights in the released layouts (the real ``wing.ckpt`` is not used offline), and
a plausible mean face layout for alignment (the real ``celeba_lm_mean.npz`` neither)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from starganv2.faces.fan import FAN


def random_fan(seed: int = 0, sparse: bool = True) -> FAN:
    """A FAN with random weights and BatchNorm statistics.

    With ``sparse`` the last layer's biases are shifted so that about 2% of each heatmap's
    pixels (on a random image) exceed the masks' 0.1 threshold, as peaked landmark heatmaps do;
    plain random weights give masks that are 1 almost everywhere.
    """
    g = torch.Generator().manual_seed(seed)
    fan = FAN()
    with torch.no_grad():
        for name, t in fan.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or (name.endswith("bias") and "bn" in name):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("weight") and t.dim() == 1:  # BatchNorm scale
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:  # conv weights and biases: PyTorch's default scale
                bound = 1 / max(1, t[0].numel()) ** 0.5 if t.dim() > 1 else 0.05
                t.copy_((torch.rand(t.shape, generator=g) * 2 - 1) * bound)
        if sparse:
            x = torch.rand(2, 3, 256, 256, generator=g)
            out = fan(x)  # (2, 99, 64, 64)
            q = out.transpose(0, 1).flatten(1).quantile(0.98, dim=1)  # (99,)
            fan.l0.bias.add_(0.1 - q)
    return fan


def fan_state(seed: int = 0, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict of :func:`random_fan` with ``prefix`` on every key (``module.``)."""
    return {prefix + k: v.clone() for k, v in random_fan(seed).state_dict().items()}


def write_wing_ckpt(path: str | Path, seed: int = 0, prefix: str = "") -> Path:
    """A random ``wing.ckpt`` in the released layout: ``{"state_dict": {...}}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": fan_state(seed, prefix)}, path)
    return path


def mean_landmarks(seed: int = 0) -> np.ndarray:
    """A plausible (98, 2) face layout at 256 px: eyes above the mouth, spread around the centre."""
    g = np.random.default_rng(seed)
    pts = g.uniform(80, 176, (98, 2)).astype("float32")
    pts[60:68], pts[96] = g.uniform([80, 100], [110, 110], (8, 2)), [95, 105]  # left eye
    pts[68:76], pts[97] = g.uniform([146, 100], [176, 110], (8, 2)), [161, 105]  # right eye
    pts[76], pts[82] = [100, 180], [156, 180]  # mouth corners
    return pts
