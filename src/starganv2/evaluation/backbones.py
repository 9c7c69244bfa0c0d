"""Pretrained feature networks of the metrics, read from local files only.

- FID features (``fid_features``): ``standard``, the TF-Inception weights of the usual FID
  (``pytorch-fid``/``torch-fidelity`` file :data:`STANDARD_INCEPTION_FILE`, 8-bit input),
  comparable with FIDs reported by most papers; or ``torchvision``, torchvision's ImageNet
  Inception-v3 pool features (:data:`TORCHVISION_INCEPTION_FILE`) with ImageNet normalisation, as
  the original StarGAN v2 code computed FID (to compare with the paper's table). The two scales
  are not comparable with each other.
- LPIPS (:class:`AlexNetLPIPS`): the AlexNet LPIPS of Zhang et al. (2018), the network
  torchmetrics' ``LearnedPerceptualImagePatchSimilarity(net_type="alex")`` computes, built here
  so that it reads the ImageNet AlexNet backbone (:data:`ALEXNET_FILE`) from a file we name
  (torchmetrics takes no path for it); the linear layers are the file that ships inside the
  torchmetrics wheel (:func:`lpips_linear_file`).

Weights come from an explicit path or the torch hub cache ``torch.hub.get_dir()/checkpoints/``
(``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch/hub/checkpoints/``). Missing files
raise one :class:`MissingWeightsError` at once that lists every missing file, where it was looked
for and where to put it (:func:`find_all_weights`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ALEXNET_FILE",
    "FID_FEATURES",
    "FID_WEIGHT_FILES",
    "STANDARD_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_FILE",
    "WEIGHT_URLS",
    "AlexNetLPIPS",
    "MissingWeightsError",
    "StandardInceptionFeatures",
    "TorchvisionInceptionFeatures",
    "WeightRequest",
    "build_fid_feature_extractor",
    "find_all_weights",
    "find_weights",
    "lpips_linear_file",
]

FID_FEATURES: tuple[str, ...] = ("standard", "torchvision")
STANDARD_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCHVISION_INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
FID_WEIGHT_FILES: dict[str, str] = {
    "standard": STANDARD_INCEPTION_FILE,
    "torchvision": TORCHVISION_INCEPTION_FILE,
}
"""The weight file each ``fid_features`` choice reads."""
WEIGHT_URLS: dict[str, str] = {
    STANDARD_INCEPTION_FILE: "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    + STANDARD_INCEPTION_FILE,
    TORCHVISION_INCEPTION_FILE: "https://download.pytorch.org/models/" + TORCHVISION_INCEPTION_FILE,
    ALEXNET_FILE: "https://download.pytorch.org/models/" + ALEXNET_FILE,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weight files are not on disk; the message names each one and where to put it.

    ``files`` holds the canonical names of the missing files, in the order they were asked for.
    """

    def __init__(self, message: str, files: Sequence[str] = ()):
        super().__init__(message)
        self.files = tuple(files)


class WeightRequest(NamedTuple):
    """One weight file a metric needs: its canonical name, an explicit path (``None``: the torch
    hub cache) and the config key that sets that path (named in the error message)."""

    filename: str
    path: str | os.PathLike | None = None
    key: str = ""


def _missing_reason(request: WeightRequest) -> tuple[Path | None, str]:
    """``(path, "")`` when the file is on disk, else ``(None, why and what to do)``."""
    filename, path, key = request
    url = WEIGHT_URLS.get(filename, "")
    fetch = f"download it from {url} on a machine with network" if url else "obtain it"
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p, ""
        return None, (
            f"{key + '=' if key else ''}{p}: weight file not found (expected {filename}); "
            f"{fetch} and pass its path."
        )
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    p = hub / filename
    if p.is_file():
        return p, ""
    # where the cache came from; '++' is the Hydra override that sets the key whether or not the
    # config already has it (metrics=auto has no fid_lpips entry: a plain key=... is rejected)
    origin = "set by $TORCH_HOME" if os.environ.get("TORCH_HOME") else "$TORCH_HOME moves it"
    return None, (
        f"weight file {filename} not found in the torch hub cache {hub} ({origin}). "
        f"Evaluation runs offline: {fetch} and put it at {p}"
        + (f", or pass its path with '++{key}=/path/to/{filename}'" if key else "")
        + "."
    )


def find_all_weights(requests: Sequence[WeightRequest]) -> list[Path]:
    """Locate every requested weight file on disk (never downloads), in order.

    Raises one :class:`MissingWeightsError` listing **every** missing file, each with where it
    was looked for (the explicit path, or ``torch.hub.get_dir()/checkpoints``), the exact path
    to put it at and the config key that takes its path, so that one round trip to a machine
    with network fetches all of them.
    """
    found: list[Path] = []
    reasons: list[str] = []
    missing: list[str] = []
    for request in requests:
        path, reason = _missing_reason(WeightRequest(*request))
        if path is None:
            reasons.append(reason)
            missing.append(request[0])
        else:
            found.append(path)
    if len(reasons) == 1:
        raise MissingWeightsError(reasons[0], missing)
    if reasons:
        raise MissingWeightsError(
            f"{len(reasons)} weight files are missing ({', '.join(missing)}):\n"
            + "\n".join(f"- {r}" for r in reasons),
            missing,
        )
    return found


def find_weights(filename: str, path: str | os.PathLike | None = None, key: str = "") -> Path:
    """Locate one weight file on disk (never downloads).

    Args:
        filename: the file's canonical name (e.g. :data:`ALEXNET_FILE`).
        path: explicit file; ``None`` looks in the torch hub cache ``$TORCH_HOME/hub/checkpoints``.
        key: the config key that sets ``path``, named in the error message.

    Raises :class:`MissingWeightsError` naming the file, where it was looked for and what to do.
    """
    return find_all_weights([WeightRequest(filename, path, key)])[0]


class TorchvisionInceptionFeatures(nn.Module):
    """2048-d pool features of torchvision's ImageNet Inception-v3, as the original StarGAN v2 FID.

    Input: ``(N, 3, H, W)`` float in [0, 1] (or uint8). Images are resized to 299 x 299 (bilinear,
    antialiased; the original resized PNGs with PIL's bilinear filter, which differs by a few grey
    levels) and normalised with the ImageNet mean and std. Always in eval mode.

    Args:
        weights_path: torchvision's ``inception_v3_google-0cc3c7bd.pth`` (or a state dict of the same
            architecture); ``None`` looks in the torch hub cache.
    """

    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        from torchvision.models import inception_v3

        path = find_weights(
            TORCHVISION_INCEPTION_FILE, weights_path, "metrics.fid_lpips.fid_weights"
        )
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.blocks = nn.Sequential(
            net.Conv2d_1a_3x3,
            net.Conv2d_2a_3x3,
            net.Conv2d_2b_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1,
            net.Conv2d_4a_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b,
            net.Mixed_5c,
            net.Mixed_5d,
            net.Mixed_6a,
            net.Mixed_6b,
            net.Mixed_6c,
            net.Mixed_6d,
            net.Mixed_6e,
            net.Mixed_7a,
            net.Mixed_7b,
            net.Mixed_7c,
            nn.AdaptiveAvgPool2d(1),
        )
        self.register_buffer(
            "mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TorchvisionInceptionFeatures:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        return self.blocks(x).flatten(1)  # (N, 2048)


class StandardInceptionFeatures(nn.Module):
    """2048-d features of the standard FID Inception (torchmetrics / torch-fidelity), 8-bit input.

    Input: ``(N, 3, H, W)`` float in [0, 1] (rounded to 8 bit: this network takes uint8) or uint8.

    Args:
        weights_path: ``weights-inception-2015-12-05-6726825d.pth``; ``None`` looks in the torch hub
            cache.
    """

    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        path = find_weights(STANDARD_INCEPTION_FILE, weights_path, "metrics.fid_lpips.fid_weights")
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "fid_features=standard needs torch-fidelity: pip install 'starganv2[metrics]'"
            ) from e
        self.net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[str(self.num_features)],
            feature_extractor_weights_path=str(path),
        )
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            x = x.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        return self.net(x)  # (N, 2048)


def build_fid_feature_extractor(
    fid_features: str = "standard", weights_path: str | os.PathLike | None = None
) -> nn.Module:
    """The FID feature network for ``fid_features`` (``standard`` or ``torchvision``)."""
    if fid_features == "standard":
        return StandardInceptionFeatures(weights_path)
    if fid_features == "torchvision":
        return TorchvisionInceptionFeatures(weights_path)
    raise ValueError(f"fid_features={fid_features!r}: expected one of {list(FID_FEATURES)}")


def lpips_linear_file(net: str = "alex") -> Path:
    """The LPIPS linear-layer weights that ship inside the torchmetrics wheel
    (``torchmetrics/functional/image/lpips_models/<net>.pth``, about 6 KB for ``alex``)."""
    package = resources.files("torchmetrics.functional.image")
    p = Path(str(package.joinpath("lpips_models", f"{net}.pth")))
    if not p.is_file():
        raise MissingWeightsError(
            f"LPIPS linear layers {p} not found: they ship with torchmetrics; reinstall it "
            "(pip install --force-reinstall torchmetrics).",
            [p.name],
        )
    return p


def _unit_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each position's feature vector to unit length: ``(N, C, H, W)`` -> same shape."""
    return x / torch.sqrt(eps + torch.sum(x**2, dim=1, keepdim=True))


class AlexNetLPIPS(nn.Module):
    """LPIPS distance with the AlexNet backbone, from local files only.

    The network of Zhang et al. (2018) as torchmetrics' ``LearnedPerceptualImagePatchSimilarity(
    net_type="alex")`` computes it (same layers, same order of operations, so the same values):
    both images are shifted and scaled per channel, passed through AlexNet's five conv stages;
    at each stage the features are scaled to unit length per position, their squared difference
    is weighted per channel by a learned 1x1 conv (no bias) and averaged over space; the five
    stage values are summed. The backbone is torchvision's ``alexnet()`` loaded with
    ``load_state_dict(torch.load(weights))``; the linear layers are the file torchmetrics ships.
    Always in eval mode, no gradients to its parameters.

    Args:
        weights_path: torchvision's ImageNet AlexNet file (:data:`ALEXNET_FILE`); ``None`` looks
            in the torch hub cache.
        linear_path: the LPIPS linear layers (keys ``lin<k>.model.1.weight``); ``None``: the
            file shipped with torchmetrics (:func:`lpips_linear_file`).
    """

    channels = (64, 192, 384, 256, 256)
    stages = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
    """Index ranges of ``alexnet().features`` whose outputs LPIPS compares (after each ReLU)."""

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        linear_path: str | os.PathLike | None = None,
    ):
        super().__init__()
        from torchvision.models import alexnet

        path = find_weights(ALEXNET_FILE, weights_path, "metrics.fid_lpips.lpips_weights")
        linear = Path(linear_path) if linear_path is not None else lpips_linear_file("alex")
        net = alexnet(weights=None)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.slices = nn.ModuleList(net.features[a:b] for a, b in self.stages)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.channels)
        lin_state = torch.load(linear, map_location="cpu", weights_only=True)
        self.lins.load_state_dict(  # (1, C, 1, 1) each; torchmetrics' index 0 is a dropout
            {f"{k}.weight": lin_state[f"lin{k}.model.1.weight"] for k in range(len(self.lins))}
        )
        shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("scale", scale, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> AlexNetLPIPS:
        return super().train(False)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of image pairs: ``(N, 3, H, W)`` twice, in [-1, 1] -> ``(N,)``."""
        h0 = (x0 - self.shift) / self.scale
        h1 = (x1 - self.shift) / self.scale
        total = 0
        for stage, lin in zip(self.slices, self.lins):
            h0, h1 = stage(h0), stage(h1)
            diff = (_unit_normalize(h0) - _unit_normalize(h1)) ** 2  # (N, C, h, w)
            total = total + lin(diff).mean([2, 3], keepdim=True)  # (N, 1, 1, 1)
        return total.reshape(x0.size(0))  # (N,)
