"""Pretrained feature networks of the metrics, read from local files only.

- FID features (``fid_features``): ``standard``, the TF-Inception weights of the usual FID
  (``pytorch-fid``/``torch-fidelity`` file :data:`STANDARD_INCEPTION_FILE`, 8-bit input),
  comparable with FIDs reported by most papers; or ``torchvision``, torchvision's ImageNet
  Inception-v3 pool features (:data:`TORCHVISION_INCEPTION_FILE`) with ImageNet normalisation, as
  the original StarGAN v2 code computed FID (to compare with the paper's table). The two scales
  are not comparable with each other.
- LPIPS: torchmetrics' AlexNet LPIPS; its linear layers ship with torchmetrics, the ImageNet
  AlexNet backbone (:data:`ALEXNET_FILE`) does not.

Weights come from an explicit path or the torch hub cache ``$TORCH_HOME/hub/checkpoints/``
(default ``~/.cache/torch/hub/checkpoints/``). A missing file raises :class:`MissingWeightsError`
at once, naming the file, where it was looked for and where to get it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ALEXNET_FILE",
    "FID_FEATURES",
    "STANDARD_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_FILE",
    "WEIGHT_URLS",
    "MissingWeightsError",
    "StandardInceptionFeatures",
    "TorchvisionInceptionFeatures",
    "build_fid_feature_extractor",
    "build_lpips",
    "find_weights",
]

FID_FEATURES: tuple[str, ...] = ("standard", "torchvision")
STANDARD_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCHVISION_INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
WEIGHT_URLS: dict[str, str] = {
    STANDARD_INCEPTION_FILE: "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    + STANDARD_INCEPTION_FILE,
    TORCHVISION_INCEPTION_FILE: "https://download.pytorch.org/models/" + TORCHVISION_INCEPTION_FILE,
    ALEXNET_FILE: "https://download.pytorch.org/models/" + ALEXNET_FILE,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """A pretrained weight file is not on disk; the message names it and where to put it."""


def find_weights(filename: str, path: str | os.PathLike | None = None, key: str = "") -> Path:
    """Locate a weight file on disk (never downloads).

    Args:
        filename: the file's canonical name (e.g. :data:`ALEXNET_FILE`).
        path: explicit file; ``None`` looks in the torch hub cache ``$TORCH_HOME/hub/checkpoints``.
        key: the config key that sets ``path``, named in the error message.

    Raises :class:`MissingWeightsError` naming the file, where it was looked for and what to do.
    """
    url = WEIGHT_URLS.get(filename, "")
    fetch = f"download it from {url} on a machine with network" if url else "obtain it"
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise MissingWeightsError(
            f"{key + '=' if key else ''}{p}: weight file not found (expected {filename}); "
            f"{fetch} and pass its path."
        )
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    p = hub / filename
    if p.is_file():
        return p
    raise MissingWeightsError(
        f"weight file {filename} not found in the torch hub cache {hub} (set by $TORCH_HOME). "
        f"Evaluation runs offline: {fetch} and put it at {p}"
        + (f", or pass its path with {key}=/path/to/{filename}" if key else "")
        + "."
    )


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


def build_lpips(weights_path: str | os.PathLike | None = None) -> Any:
    """torchmetrics LPIPS (AlexNet, per-sample scores) built from local backbone weights only.

    The LPIPS linear layers ship with torchmetrics; the ImageNet AlexNet backbone
    (:data:`ALEXNET_FILE`) comes from ``weights_path`` or the torch hub cache.
    """
    import tempfile

    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    path = find_weights(ALEXNET_FILE, weights_path, "metrics.fid_lpips.lpips_weights")
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    if path.resolve() == hub_file.resolve():
        return LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
    # An explicit file: torchvision only reads the hub cache, so show it a cache holding a link.
    previous = torch.hub._hub_dir  # None means "from $TORCH_HOME"; restore exactly that
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "checkpoints").mkdir()
        os.symlink(path.resolve(), Path(tmp) / "checkpoints" / ALEXNET_FILE)
        try:
            torch.hub.set_dir(tmp)
            return LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
        finally:
            torch.hub._hub_dir = previous
