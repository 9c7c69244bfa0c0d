"""How a StarGAN v2 ResBlk halves the resolution: the paper's average pooling and two variants.

``downsample`` is a constructor argument of the generator, the style encoder and the
discriminator (:data:`DOWNSAMPLE_KINDS`, the paper's ``"avgpool"`` by default):

- ``"avgpool"`` (the paper): conv, then 2x2 average pooling; together a stride-2 conv whose
  kernel is the conv's kernel convolved with a 2x2 box filter.
- ``"strided"``: the residual branch's first 3x3 conv runs at stride 2 (same weight shape, so
  nothing else changes) and the shortcut takes every second pixel (:func:`subsample`): a
  stride-2 1x1 identity, or with a learned shortcut the bias-free 1x1 conv at stride 2. No
  low-pass filter anywhere, so high frequencies alias. Outputs sit at input pixels ``2i``
  where pooling centres them at ``2i + 0.5``: a shift of half an input pixel.
- ``"blur"`` (anti-aliased, BlurPool of Zhang, ICML 2019): a fixed binomial low-pass filter
  ``[1, 3, 3, 1]`` (outer product, divided by 64, reflect padding) at stride 2, wherever the paper
  pools. The filter is a non-persistent buffer, so state dicts are those of the paper's nets.

None of them adds a parameter or a state-dict entry.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.fast_layers import avg_pool_2x2

__all__ = [
    "DOWNSAMPLE_KINDS",
    "DOWNSAMPLING_NETS",
    "Downsample",
    "check_downsample",
    "per_net_downsample",
    "subsample",
]

DOWNSAMPLE_KINDS = ("avgpool", "strided", "blur")
DOWNSAMPLING_NETS = ("generator", "style_encoder", "discriminator")
"""The nets that downsample: G's encoder, E and D."""
_BINOMIAL_4 = (1.0, 3.0, 3.0, 1.0)


def check_downsample(kind: object, key: str = "downsample") -> str:
    """``kind`` if it names a downsampling (:data:`DOWNSAMPLE_KINDS`), else ``ValueError``."""
    if kind not in DOWNSAMPLE_KINDS:
        raise ValueError(f"{key}={kind!r} is invalid: expected one of {list(DOWNSAMPLE_KINDS)}")
    return str(kind)


def per_net_downsample(downsample: str | Mapping[str, str]) -> dict[str, str]:
    """The downsampling of each of :data:`DOWNSAMPLING_NETS`: one name for all, or a mapping from
    net name to name in which the nets left out keep ``"avgpool"`` (the paper)."""
    if isinstance(downsample, str):
        return dict.fromkeys(DOWNSAMPLING_NETS, check_downsample(downsample))
    if not isinstance(downsample, Mapping):
        raise ValueError(
            f"downsample={downsample!r} is invalid: expected one of {list(DOWNSAMPLE_KINDS)} or "
            f"a mapping from {list(DOWNSAMPLING_NETS)} to one of them"
        )
    unknown = [k for k in downsample if k not in DOWNSAMPLING_NETS]
    if unknown:
        raise ValueError(
            f"downsample={dict(downsample)!r} is invalid: {unknown} are not nets that downsample; "
            f"expected keys from {list(DOWNSAMPLING_NETS)}"
        )
    return {
        net: check_downsample(downsample.get(net, "avgpool"), f"downsample.{net}")
        for net in DOWNSAMPLING_NETS
    }


def subsample(x: torch.Tensor) -> torch.Tensor:
    """Every second pixel, starting at the first: ``(N, C, H, W) -> (N, C, H/2, W/2)``."""
    return x[:, :, ::2, ::2]


class Downsample(nn.Module):
    """Halve ``(N, C, H, W)`` to ``(N, C, H/2, W/2)`` as ``kind`` says (see the module docstring).

    For ``"strided"`` this is :func:`subsample`, the shortcut's share; the residual branch's
    stride-2 conv is built by the block itself.

    Args:
        kind: one of :data:`DOWNSAMPLE_KINDS`.
    """

    def __init__(self, kind: str = "avgpool") -> None:
        super().__init__()
        self.kind = check_downsample(kind)
        if self.kind == "blur":
            taps = torch.tensor(_BINOMIAL_4)
            kernel = torch.outer(taps, taps) / taps.sum() ** 2  # (4, 4), sums to 1
            self.register_buffer("filter", kernel[None, None], persistent=False)  # (1, 1, 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "avgpool":
            return avg_pool_2x2(x)  # F.avg_pool2d(x, 2), faster on the CPU
        if self.kind == "strided":
            return subsample(x)
        channels = x.size(1)
        weight = self.filter.to(x.dtype).expand(channels, 1, 4, 4)  # (C, 1, 4, 4), depthwise
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, weight, stride=2, groups=channels)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
