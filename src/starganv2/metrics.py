"""FID and LPIPS evaluation of the EMA nets with the StarGAN v2 protocol (torchmetrics).

Protocol (as the original ``core/metrics/eval.py``), for each ``mode`` in ``latent``, ``reference``:

- Tasks: for every target domain ``trg`` and every other source domain ``src`` (in that order),
  the task ``f"{domains[src]}2{domains[trg]}"``.
- Every validation image of ``src`` is translated into ``num_outs_per_domain`` (10) outputs of
  ``trg``: with a fresh latent code each (latent mode), or with the style of a reference image from
  the validation set of ``trg`` each (reference mode; 10 different references per image when the
  set has at least 10 images).
- ``FID_<mode>/<task>``: Frechet distance between the outputs and **all training images** of
  ``trg`` (torchmetrics ``FrechetInceptionDistance``). Outputs are clamped to [-1, 1] and, by
  default, quantised to 8 bit exactly as a PNG round trip (``torchvision.utils.save_image``) would.
- ``LPIPS_<mode>/<task>``: diversity, the mean LPIPS (torchmetrics, AlexNet) over the 45 pairs of
  each image's 10 outputs, averaged over images.
- ``FID_<mode>/mean`` and ``LPIPS_<mode>/mean``: means over tasks.

Randomness is tied to the image, not to the batch or process: the latent codes and references of
source image ``i`` of task ``(src, trg)`` come from a generator seeded by ``(seed, src, trg, i)``.
Results are therefore independent of ``batch_size`` and of how images are split across DDP ranks
(rank ``r`` of ``W`` takes images ``r, r + W, ...``); metric states are summed across ranks by
torchmetrics at ``compute()``.

FID features (``fid_features``):

- ``standard``: the TF-Inception weights of the standard FID (``pytorch-fid``/``torch-fidelity``
  file :data:`STANDARD_INCEPTION_FILE`), 8-bit input. Comparable with FIDs reported by most papers.
- ``torchvision``: torchvision's ImageNet Inception-v3 pool features (file
  :data:`TORCHVISION_INCEPTION_FILE`) with ImageNet normalisation, as the original StarGAN v2 code
  computed FID. Use it to compare with the StarGAN v2 paper's table; the two are not comparable with
  each other.

Weights are read from local files only: an explicit path, or the torch hub cache
``$TORCH_HOME/hub/checkpoints/`` (default ``~/.cache/torch/hub/checkpoints/``). A missing file
raises :class:`MissingWeightsError` at once, naming the file and where to put it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from starganv2.data import eval_transform, list_domain_files, load_image

__all__ = [
    "ALEXNET_FILE",
    "FID_FEATURES",
    "MODES",
    "STANDARD_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_FILE",
    "Evaluator",
    "MissingWeightsError",
    "StandardInceptionFeatures",
    "TorchvisionInceptionFeatures",
    "TranslationBatch",
    "build_fid_feature_extractor",
    "build_lpips",
    "evaluate",
    "find_weights",
    "latent_codes",
    "quantize_8bit",
    "reference_indices",
    "reference_styles",
    "save_results",
    "task_name",
    "tasks",
    "to_unit",
    "translate_task",
]

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("latent", "reference")
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
_SEED_LATENT, _SEED_REFERENCE = 0, 1


class MissingWeightsError(FileNotFoundError):
    """A pretrained weight file is not on disk; the message names it and where to put it."""


# ----------------------------------------------------------------------------------------------
# Tasks, seeds, pixel conversions
# ----------------------------------------------------------------------------------------------


def tasks(num_domains: int) -> list[tuple[int, int]]:
    """``(src, trg)`` pairs in the original order: for each target, every other source."""
    return [(src, trg) for trg in range(num_domains) for src in range(num_domains) if src != trg]


def task_name(domains: Sequence[str], src: int, trg: int) -> str:
    """``"cat2dog"`` for ``domains[src] = "cat"``, ``domains[trg] = "dog"``."""
    return f"{domains[src]}2{domains[trg]}"


def latent_codes(
    seed: int, src: int, trg: int, index: int, num_outs: int, latent_dim: int
) -> torch.Tensor:
    """The ``(num_outs, latent_dim)`` latent codes of source image ``index`` of task ``src2trg``."""
    rng = np.random.default_rng([seed, _SEED_LATENT, src, trg, index])
    return torch.from_numpy(rng.standard_normal((num_outs, latent_dim)).astype(np.float32))


def reference_indices(
    seed: int, src: int, trg: int, index: int, num_outs: int, num_refs: int
) -> torch.Tensor:
    """Indices ``(num_outs,)`` into the target's validation images used as references.

    Distinct when ``num_refs >= num_outs``, else drawn with replacement.
    """
    rng = np.random.default_rng([seed, _SEED_REFERENCE, src, trg, index])
    picks = rng.choice(num_refs, size=num_outs, replace=num_refs < num_outs)
    return torch.from_numpy(picks.astype(np.int64))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` images to ``[0, 1]``, clamped."""
    return ((x + 1) / 2).clamp_(0, 1)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` images to ``[0, 1]`` values ``k / 255``, rounded as ``save_image`` writes a PNG."""
    return to_unit(x).mul_(255).add_(0.5).clamp_(0, 255).floor_().div_(255)


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ----------------------------------------------------------------------------------------------
# Weights and feature extractors
# ----------------------------------------------------------------------------------------------


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

        path = find_weights(TORCHVISION_INCEPTION_FILE, weights_path, "fid_weights")
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
        path = find_weights(STANDARD_INCEPTION_FILE, weights_path, "fid_weights")
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

    path = find_weights(ALEXNET_FILE, weights_path, "lpips_weights")
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


# ----------------------------------------------------------------------------------------------
# Translation streams
# ----------------------------------------------------------------------------------------------


class _IndexedImages(Dataset):
    """``(x (3, H, W) in [-1, 1], index)`` for the files at ``indices``."""

    def __init__(self, files: Sequence[Path], indices: Sequence[int], img_size: int):
        self.files, self.indices = list(files), list(indices)
        self.transform = eval_transform(img_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int]:
        i = self.indices[k]
        return self.transform(load_image(self.files[i])), i


def _loader(
    files: Sequence[Path], indices: Sequence[int], img_size: int, batch_size: int, workers: int
) -> DataLoader:
    return DataLoader(
        _IndexedImages(files, indices, img_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
    )


@dataclass
class TranslationBatch:
    """Outputs of one batch of source images for one task.

    ``index`` (B,): indices of the source images in their domain's file list; ``x_src``
    (B, 3, H, W); ``outputs`` (B, num_outs, 3, H, W) raw generator outputs (roughly [-1, 1]);
    ``ref_index`` (B, num_outs): reference indices into the target's validation files (reference
    mode) or ``None``.
    """

    mode: str
    src: int
    trg: int
    index: torch.Tensor
    x_src: torch.Tensor
    outputs: torch.Tensor
    ref_index: torch.Tensor | None


@torch.no_grad()
def reference_styles(
    module: Any,
    ref_files: Sequence[Path],
    trg: int,
    img_size: int,
    batch_size: int = 32,
    num_workers: int = 0,
) -> torch.Tensor:
    """Style codes ``(len(ref_files), style_dim)`` of the target's references (EMA style encoder)."""
    styles = []
    for x, _ in _loader(ref_files, range(len(ref_files)), img_size, batch_size, num_workers):
        x = x.to(module.device)
        y = torch.full((x.size(0),), trg, dtype=torch.long, device=module.device)
        styles.append(module.style_from_reference(x, y))
    return torch.cat(styles)


@torch.no_grad()
def translate_task(
    module: Any,
    src_files: Sequence[Path],
    src: int,
    trg: int,
    mode: str,
    *,
    num_outs: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    ref_styles: torch.Tensor | None = None,
    num_workers: int = 0,
) -> Iterator[TranslationBatch]:
    """Translate the source images ``src_files[indices]`` into ``num_outs`` outputs of ``trg`` each.

    ``mode="latent"`` uses :func:`latent_codes`; ``mode="reference"`` needs ``ref_styles``
    ``(num_refs, style_dim)`` (see :func:`reference_styles`) and picks with
    :func:`reference_indices`. ``indices`` (default: all) selects this rank's share.
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {list(MODES)}")
    if mode == "reference" and (ref_styles is None or len(ref_styles) == 0):
        raise ValueError("reference mode needs the target domain's reference styles (ref_styles)")
    hp = module.hparams
    device = module.device
    indices = range(len(src_files)) if indices is None else indices
    for x, idx in _loader(src_files, indices, hp.img_size, batch_size, num_workers):
        x = x.to(device)
        n = x.size(0)
        y_trg = torch.full((n,), trg, dtype=torch.long, device=device)
        ref_index = None
        if mode == "latent":
            z = torch.stack(
                [latent_codes(seed, src, trg, int(i), num_outs, hp.latent_dim) for i in idx]
            ).to(device)  # (B, num_outs, latent_dim)
            styles = [module.style_from_latent(z[:, j], y_trg) for j in range(num_outs)]
        else:
            ref_index = torch.stack(
                [reference_indices(seed, src, trg, int(i), num_outs, len(ref_styles)) for i in idx]
            )  # (B, num_outs)
            table = ref_styles.to(device)
            styles = [table[ref_index[:, j].to(device)] for j in range(num_outs)]
        outputs = torch.stack([module.translate(x, y_trg, s=s) for s in styles], dim=1)
        yield TranslationBatch(
            mode, src, trg, idx, x, outputs, ref_index
        )  # outputs (B, K, 3, H, W)


# ----------------------------------------------------------------------------------------------
# The evaluator
# ----------------------------------------------------------------------------------------------


def _limit(files: Mapping[str, Sequence[Path]], n: int | None) -> dict[str, list[Path]]:
    return {d: list(ps)[:n] if n is not None else list(ps) for d, ps in files.items()}


def _save_png(x_unit: torch.Tensor, path: Path) -> None:
    from PIL import Image

    arr = (x_unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)).permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr).save(path)


class Evaluator:
    """FID and LPIPS of a :class:`~starganv2.module.StarGANv2Module` with the paper's protocol.

    The feature networks are built once (and fail at once when weights are missing); call
    :meth:`evaluate` as often as needed (the evaluation callback does, during training).

    Args:
        modes: which of ``latent``, ``reference`` to run.
        num_outs_per_domain: outputs per source image and task (>= 2; the paper uses 10).
        batch_size: source images per batch.
        fid_features: ``standard`` (TF-Inception, the usual FID) or ``torchvision`` (ImageNet
            Inception-v3, as the original StarGAN v2 code); ignored with ``feature_extractor``.
        fid_weights: explicit file for the FID network; ``None``: the torch hub cache.
        lpips_weights: explicit AlexNet file (``alexnet-owt-7be5be79.pth``); ``None``: hub cache.
        feature_extractor: a custom FID feature module, ``(N, 3, H, W)`` float in [0, 1] ->
            ``(N, D)`` (tests, other backbones).
        quantize: round outputs to 8 bit before FID, as a PNG round trip would. The ``standard``
            network always sees 8-bit images, so this matters for the other extractors.
        seed: seed of the latent codes and reference draws (per image, see the module docstring).
        max_images_per_domain: use only the first N validation (source and reference) and training
            (FID real) images of each domain; ``None``: all (the protocol). For quick checks.
        num_workers: DataLoader workers for image loading.
        save_images: folder to also write every output as ``<mode>/<task>/<iiii>_<jj>.png``.
    """

    def __init__(
        self,
        modes: Sequence[str] = MODES,
        num_outs_per_domain: int = 10,
        batch_size: int = 32,
        fid_features: str = "standard",
        fid_weights: str | os.PathLike | None = None,
        lpips_weights: str | os.PathLike | None = None,
        feature_extractor: nn.Module | None = None,
        quantize: bool = True,
        seed: int = 0,
        max_images_per_domain: int | None = None,
        num_workers: int = 0,
        save_images: str | os.PathLike | None = None,
    ):
        from torchmetrics.aggregation import MeanMetric
        from torchmetrics.image.fid import FrechetInceptionDistance

        modes = tuple(modes)
        bad = [m for m in modes if m not in MODES]
        if not modes or bad:
            raise ValueError(f"modes={list(modes)}: expected a non-empty subset of {list(MODES)}")
        if num_outs_per_domain < 2:
            raise ValueError(
                f"num_outs_per_domain={num_outs_per_domain}: expected >= 2 "
                "(LPIPS diversity compares pairs of outputs)"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected >= 1")
        if max_images_per_domain is not None and max_images_per_domain < 2:
            raise ValueError(
                f"max_images_per_domain={max_images_per_domain}: expected None or >= 2 (FID needs 2)"
            )
        if fid_features not in FID_FEATURES and feature_extractor is None:
            raise ValueError(f"fid_features={fid_features!r}: expected one of {list(FID_FEATURES)}")
        self.modes = modes
        self.num_outs = int(num_outs_per_domain)
        self.batch_size = int(batch_size)
        self.fid_features = fid_features if feature_extractor is None else "custom"
        self.quantize = quantize
        self.seed = int(seed)
        self.max_images_per_domain = max_images_per_domain
        self.num_workers = num_workers
        self.save_images = Path(save_images) if save_images is not None else None

        # Fail fast on missing weights, before any data is read.
        self.lpips = build_lpips(lpips_weights)
        extractor = (
            feature_extractor
            if feature_extractor is not None
            else build_fid_feature_extractor(fid_features, fid_weights)
        )
        self.fid = FrechetInceptionDistance(
            feature=extractor, reset_real_features=False, normalize=True
        )
        self.lpips_mean = MeanMetric()

    # ------------------------------------------------------------------ helpers
    def _to(self, device: torch.device) -> None:
        self.fid.to(device)
        self.lpips.to(device)
        self.lpips_mean.to(device)

    def _fid_images(self, x: torch.Tensor) -> torch.Tensor:
        return quantize_8bit(x) if self.quantize else to_unit(x.clone())

    def _reset_fid(self, real: bool) -> None:
        self.fid.reset_real_features = real
        self.fid.reset()
        self.fid.reset_real_features = False
        if not hasattr(self.fid, "orig_dtype"):  # set by update(); a rank without data needs it
            self.fid.orig_dtype = torch.float32

    @torch.no_grad()
    def _update_real(self, files: Sequence[Path], img_size: int, device: torch.device) -> None:
        rank, world = _rank_world()
        for x, _ in _loader(
            files, range(rank, len(files), world), img_size, self.batch_size, self.num_workers
        ):
            # The eval transform turns PIL's 8-bit pixels into k/127.5 - 1: quantising is exact.
            self.fid.update(quantize_8bit(x.to(device)), real=True)

    @torch.no_grad()
    def _lpips_diversity(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-image mean LPIPS over all output pairs; ``outputs`` (B, K, 3, H, W) -> (B,)."""
        b, k = outputs.shape[:2]
        x = outputs.clamp(-1, 1)
        scores = []
        for a in range(k - 1):
            for c in range(a + 1, k):
                scores.append(self.lpips(x[:, a], x[:, c]).reshape(b))  # (B,)
        self.lpips.reset()  # per-sample scores are aggregated by lpips_mean (DDP-safe sum states)
        return torch.stack(scores).mean(0)  # (K*(K-1)/2, B) -> (B,)

    # ------------------------------------------------------------------ main
    @torch.no_grad()
    def evaluate(
        self,
        module: Any,
        domains: Sequence[str],
        train_files: Mapping[str, Sequence[Path]],
        val_files: Mapping[str, Sequence[Path]],
    ) -> dict[str, float]:
        """Run the protocol; returns ``{"FID_latent/cat2dog": ..., "FID_latent/mean": ...,
        "LPIPS_latent/...": ..., ...}`` (same on every rank under DDP).

        Args:
            module: a ``StarGANv2Module`` (its EMA nets are used; its device is the device).
            domains: domain names in label order.
            train_files, val_files: image files of each domain (FID reals; sources and references).
        """
        hp = module.hparams
        domains = list(domains)
        if len(domains) != hp.num_domains:
            raise ValueError(
                f"the data has {len(domains)} domains {domains} but the model has "
                f"num_domains={hp.num_domains}: evaluate with the data the model was trained on"
            )
        for name, files in (("train", train_files), ("val", val_files)):
            missing = [d for d in domains if len(files.get(d, [])) < 2]
            if missing:
                raise ValueError(
                    f"{name} images of domains {missing}: expected at least 2 per domain "
                    f"(found {[len(files.get(d, [])) for d in missing]})"
                )
        train_files = _limit(train_files, self.max_images_per_domain)
        val_files = _limit(val_files, self.max_images_per_domain)
        device = module.device
        was_training = module.training
        module.eval()
        self._to(device)
        rank, world = _rank_world()
        fid: dict[str, float] = {}
        lpips: dict[str, float] = {}
        try:
            for trg, trg_domain in enumerate(domains):
                self._reset_fid(real=True)
                self._update_real(train_files[trg_domain], hp.img_size, device)
                ref_styles = None
                if "reference" in self.modes:
                    ref_styles = reference_styles(
                        module,
                        val_files[trg_domain],
                        trg,
                        hp.img_size,
                        self.batch_size,
                        self.num_workers,
                    )
                for mode in self.modes:
                    for src in (s for s in range(len(domains)) if s != trg):
                        task = task_name(domains, src, trg)
                        self._reset_fid(real=False)
                        self.lpips_mean.reset()
                        src_files = val_files[domains[src]]
                        for batch in translate_task(
                            module,
                            src_files,
                            src,
                            trg,
                            mode,
                            num_outs=self.num_outs,
                            batch_size=self.batch_size,
                            seed=self.seed,
                            indices=range(rank, len(src_files), world),
                            ref_styles=ref_styles,
                            num_workers=self.num_workers,
                        ):
                            fake = self._fid_images(batch.outputs.flatten(0, 1))  # (B*K, 3, H, W)
                            self.fid.update(fake, real=False)
                            self.lpips_mean.update(self._lpips_diversity(batch.outputs))
                            if self.save_images is not None:
                                self._save(batch, fake, task)
                        fid[f"FID_{mode}/{task}"] = float(self.fid.compute())
                        lpips[f"LPIPS_{mode}/{task}"] = float(self.lpips_mean.compute())
                        log.info(
                            "%s %s: FID %.3f, LPIPS %.4f",
                            mode,
                            task,
                            fid[f"FID_{mode}/{task}"],
                            lpips[f"LPIPS_{mode}/{task}"],
                        )
        finally:
            self._reset_fid(real=True)
            self.lpips_mean.reset()
            module.train(was_training)
        return _ordered_results(domains, self.modes, fid, lpips)

    def _save(self, batch: TranslationBatch, fake_unit: torch.Tensor, task: str) -> None:
        folder = self.save_images / batch.mode / task
        folder.mkdir(parents=True, exist_ok=True)
        k = batch.outputs.size(1)
        for n, i in enumerate(batch.index.tolist()):
            for j in range(k):
                _save_png(fake_unit[n * k + j], folder / f"{i + 1:04d}_{j + 1:02d}.png")


def _ordered_results(
    domains: Sequence[str], modes: Sequence[str], fid: dict[str, float], lpips: dict[str, float]
) -> dict[str, float]:
    """Keys in the original's order: per mode, FID tasks, FID mean, LPIPS tasks, LPIPS mean."""
    out: dict[str, float] = {}
    names = [task_name(domains, s, t) for s, t in tasks(len(domains))]
    for mode in modes:
        for metric, values in (("FID", fid), ("LPIPS", lpips)):
            per_task = [values[f"{metric}_{mode}/{n}"] for n in names]
            for n, v in zip(names, per_task):
                out[f"{metric}_{mode}/{n}"] = v
            out[f"{metric}_{mode}/mean"] = float(np.mean(per_task))
    return out


def evaluate(module: Any, datamodule: Any, **evaluator_kwargs: Any) -> dict[str, float]:
    """Evaluate ``module`` on a data module's files (set up here if needed) or a dataset folder.

    ``datamodule``: an :class:`~starganv2.data.ImageDomainDataModule` (its checked file lists are
    used) or a path ``root`` with ``root/train/<domain>`` and ``root/val/<domain>``. Other keyword
    arguments go to :class:`Evaluator`.
    """
    if isinstance(datamodule, str | os.PathLike):
        root = Path(datamodule)
        train_files = list_domain_files(root / "train")
        val_dir = root / "val"
        if not val_dir.is_dir():
            raise FileNotFoundError(f"{val_dir}: evaluation needs validation images per domain")
        val_files = list_domain_files(val_dir)
        domains = list(train_files)
    else:
        if not datamodule.domains:
            datamodule.prepare_data()
            datamodule.setup("validate")
        if datamodule.val_files is None:
            raise FileNotFoundError(
                f"{Path(datamodule.root) / 'val'}: evaluation needs validation images per domain"
            )
        domains, train_files, val_files = (
            datamodule.domains,
            datamodule.train_files,
            datamodule.val_files,
        )
    return Evaluator(**evaluator_kwargs).evaluate(module, domains, train_files, val_files)


def save_results(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``results`` as indented JSON (non-finite numbers as strings); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {
        k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
        for k, v in results.items()
    }
    path.write_text(json.dumps(clean, indent=2) + "\n")
    return path
