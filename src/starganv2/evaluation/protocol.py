"""The StarGAN v2 evaluation protocol: tasks, per-image seeding and the streams of translations
that every metric consumes (as the original ``core/metrics/eval.py`` defines them).

- Tasks: for every target domain ``trg`` and every other source domain ``src`` (in that order),
  the task ``f"{domains[src]}2{domains[trg]}"``.
- Every validation image of ``src`` is translated into ``num_outs`` outputs of ``trg``, per
  guidance mode: with a fresh latent code each (``latent``), with the style of a reference image
  from the validation set of ``trg`` each (``reference``; distinct references when the set has at
  least ``num_outs`` images), or once by label (``label``, deterministic models: one output).

Randomness is tied to the image, not to the batch or process: the latent codes and references of
source image ``i`` of task ``(src, trg)`` come from a generator seeded by ``(seed, src, trg, i)``.
Results are therefore independent of ``batch_size`` and of how images are split across DDP ranks
(rank ``r`` of ``W`` takes images ``r, r + W, ...``, see :func:`rank_share`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from starganv2.data.folders import eval_transform, load_image, v1_eval_transform
from starganv2.models.encoded_sources import encode_once
from starganv2.models.interface import (
    MODE_LABEL,
    MODE_LATENT,
    MODE_REFERENCE,
    Translator,
    require_mode,
    require_styles,
)

__all__ = [
    "MODES",
    "AttributeSplits",
    "EvalData",
    "EvalProtocol",
    "TransformFactory",
    "TranslationBatch",
    "as_model_input",
    "datamodule_eval_transform",
    "image_loader",
    "latent_codes",
    "rank_share",
    "rank_world",
    "reference_indices",
    "reference_styles",
    "task_name",
    "tasks",
    "translate_task",
]

MODES: tuple[str, ...] = (MODE_LATENT, MODE_REFERENCE, MODE_LABEL)
_SEED_LATENT, _SEED_REFERENCE = 0, 1

TransformFactory = Callable[[int], Callable[[Image.Image], torch.Tensor]]
"""``factory(img_size)``: the transform of an RGB image into ``(3, img_size, img_size)`` in
``[-1, 1]`` (:func:`~starganv2.data.folders.eval_transform` by default). A factory, not a
transform, so that images reach the model at its own size whatever the data's ``img_size``."""


def datamodule_eval_transform(datamodule: object) -> TransformFactory:
    """The evaluation transform of ``datamodule``'s images, as a factory of the image size: the
    StarGAN v1 test transform (centre crop to ``crop_size``, then resize) for
    ``data.transform=stargan_v1``, so that a model is measured on images prepared as it was
    trained; else the plain square resize."""
    if getattr(datamodule, "transform", None) == "stargan_v1":
        return partial(v1_eval_transform, crop_size=getattr(datamodule, "crop_size", None))
    return eval_transform


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


def rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_share(n: int) -> range:
    """This rank's share of ``n`` items: ``rank, rank + world, ...``."""
    rank, world = rank_world()
    return range(rank, n, world)


class _IndexedImages(Dataset):
    """``(x (3, H, W) in [-1, 1], index)`` for the files at ``indices``."""

    def __init__(
        self,
        files: Sequence[Path],
        indices: Sequence[int],
        img_size: int,
        transform: TransformFactory = eval_transform,
    ):
        self.files, self.indices = list(files), list(indices)
        self.transform = transform(img_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int]:
        i = self.indices[k]
        return self.transform(load_image(self.files[i])), i


def image_loader(
    files: Sequence[Path],
    indices: Sequence[int],
    img_size: int,
    batch_size: int,
    num_workers: int = 0,
    transform: TransformFactory = eval_transform,
) -> DataLoader:
    """Batches ``(x (B, 3, S, S) in [-1, 1], index (B,))`` of ``files[indices]``, in order, each
    image prepared by ``transform(img_size)`` (:data:`TransformFactory`)."""
    return DataLoader(
        _IndexedImages(files, indices, img_size, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
    )


@dataclass(frozen=True)
class EvalProtocol:
    """The settings every metric shares (the rest of a metric's settings are its own).

    ``num_outs_per_domain``: outputs per source image and task (the paper: 10); ``batch_size``:
    source images per batch; ``seed``: seed of the latent codes and reference draws (per image);
    ``max_images_per_domain``: use only the first N images of each domain and split (``None``:
    all); ``num_workers``: DataLoader workers; ``save_images``: a folder to also write the outputs
    to (``None``: none); ``modes``: the guidance modes that will be evaluated, when known before
    the model is (``None``: not known), so that a metric can leave out what they cannot use
    (``fid_lpips`` needs no AlexNet for ``label`` mode alone).
    :class:`~starganv2.evaluation.evaluator.Evaluator` checks the values.
    """

    num_outs_per_domain: int = 10
    batch_size: int = 32
    seed: int = 0
    max_images_per_domain: int | None = None
    num_workers: int = 0
    save_images: Path | None = None
    modes: tuple[str, ...] | None = None


def as_model_input(model: Translator, t: torch.Tensor) -> torch.Tensor:
    """``t`` (images or latent codes, float) on the model's device and in the dtype it wants
    (``input_dtype``: a model converted to bfloat16 or float64, e.g. by ``trainer.precision=
    bf16-true``, refuses float32 inputs); in its own dtype when the model takes any float
    (``None``: under autocast) or does not say; where it is when the model names no device."""
    dtype = getattr(model, "input_dtype", None)
    device = getattr(model, "device", t.device)
    return t.to(device, dtype=t.dtype if dtype is None else dtype)


@dataclass
class TranslationBatch:
    """Outputs of one batch of source images for one task.

    ``index`` (B,): indices of the source images in their domain's file list; ``x_src``
    (B, 3, H, W); ``outputs`` (B, num_outs, 3, H, W) raw model outputs (roughly [-1, 1]; one
    output in ``label`` mode); ``ref_index`` (B, num_outs): reference indices into the target's
    validation files (reference mode) or ``None``.
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
    model: Translator,
    ref_files: Sequence[Path],
    trg: int,
    batch_size: int = 32,
    num_workers: int = 0,
    transform: TransformFactory = eval_transform,
) -> torch.Tensor:
    """Style codes ``(len(ref_files), style_dim)`` of the target's references (images prepared
    by ``transform``, :data:`TransformFactory`)."""
    styled = require_styles(model, "reference-guided evaluation")
    styles = []
    loader = image_loader(
        ref_files, range(len(ref_files)), model.img_size, batch_size, num_workers, transform
    )
    for x, _ in loader:
        x = as_model_input(model, x)
        y = torch.full((x.size(0),), trg, dtype=torch.long, device=model.device)
        styles.append(styled.style_from_reference(x, y))
    return torch.cat(styles)


@torch.no_grad()
def translate_task(
    model: Translator,
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
    transform: TransformFactory = eval_transform,
) -> Iterator[TranslationBatch]:
    """Translate the source images ``src_files[indices]`` into ``num_outs`` outputs of ``trg`` each.

    ``mode="latent"`` uses :func:`latent_codes`; ``mode="reference"`` needs ``ref_styles``
    ``(num_refs, style_dim)`` (see :func:`reference_styles`) and picks with
    :func:`reference_indices`; ``mode="label"`` (deterministic models) makes one output per image
    whatever ``num_outs``. ``indices`` (default: all) selects this rank's share; ``transform``
    prepares the source images (:data:`TransformFactory`).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {list(MODES)}")
    require_mode(model, mode, f"evaluation in mode {mode!r}")
    if mode == MODE_REFERENCE and (ref_styles is None or len(ref_styles) == 0):
        raise ValueError("reference mode needs the target domain's reference styles (ref_styles)")
    device = model.device
    indices = range(len(src_files)) if indices is None else indices
    loader = image_loader(src_files, indices, model.img_size, batch_size, num_workers, transform)
    for x, idx in loader:
        x = x.to(device)
        x_in = as_model_input(model, x)
        y_trg = torch.full((x.size(0),), trg, dtype=torch.long, device=device)
        ref_index = None
        if mode == MODE_LABEL:
            outputs = model.translate(x_in, y_trg).unsqueeze(1)  # (B, 1, 3, H, W)
        else:
            styled = require_styles(model, f"mode {mode!r}")
            if mode == MODE_LATENT:
                z = as_model_input(
                    model,
                    torch.stack(
                        [
                            latent_codes(seed, src, trg, int(i), num_outs, styled.latent_dim)
                            for i in idx
                        ]
                    ),
                )  # (B, num_outs, latent_dim)
                styles = [styled.style_from_latent(z[:, j], y_trg) for j in range(num_outs)]
            else:
                ref_index = torch.stack(
                    [
                        reference_indices(seed, src, trg, int(i), num_outs, len(ref_styles))
                        for i in idx
                    ]
                )  # (B, num_outs)
                table = as_model_input(model, ref_styles)
                styles = [table[ref_index[:, j].to(device)] for j in range(num_outs)]
            src_x = encode_once(styled, x_in)  # one encoding for the num_outs styles
            outputs = torch.stack([styled.translate(src_x, y_trg, s=s) for s in styles], dim=1)
        yield TranslationBatch(
            mode, src, trg, idx, x, outputs.float(), ref_index
        )  # (B, K, 3, H, W)


@dataclass
class AttributeSplits:
    """Attribute data (StarGAN v1's CelebA setting) as metrics see it: attribute ``names`` in
    label order, ``exclusive`` groups as index tuples, and the training and test datasets (items
    ``{"x", "y"}`` or ``{"x_real", "y_org"}`` with ``y (A,)`` float attribute vectors)."""

    names: list[str]
    exclusive: list[tuple[int, ...]]
    train_set: Dataset
    val_set: Dataset


@dataclass
class EvalData:
    """What a metric sees of the data: domain names in label order and the image files of each
    domain (``train``: FID reals; ``val``: sources and references), plus the dataset folder and
    how its images are prepared (``transform``, :data:`TransformFactory`: the data module's own
    evaluation transform, so a StarGAN v1 run's ``data.crop_size`` applies). Attribute data has
    no domains: ``domains`` are then its attribute names, the file maps are empty and
    ``attributes`` holds the datasets."""

    domains: list[str]
    train_files: dict[str, list[Path]]
    val_files: dict[str, list[Path]]
    root: Path | None = None
    attributes: AttributeSplits | None = None
    transform: TransformFactory = eval_transform

    def limited(self, n: int | None) -> EvalData:
        """The first ``n`` images of each domain and split (``None``: all)."""
        if n is None:
            return self
        return replace(
            self,
            train_files={d: list(ps)[:n] for d, ps in self.train_files.items()},
            val_files={d: list(ps)[:n] for d, ps in self.val_files.items()},
        )

    @classmethod
    def from_datamodule(cls, datamodule: object) -> EvalData:
        """From an :class:`~starganv2.data.datamodule.ImageDomainDataModule` (set up here if it is
        not yet; its evaluation transform prepares the images, see
        :func:`datamodule_eval_transform`) or a dataset folder ``root`` (``root/train/<domain>``,
        ``root/val/<domain>``, the same domain folders in both, as the data module requires)."""
        if isinstance(datamodule, (str, Path)):
            return cls._from_folder(Path(datamodule))
        from starganv2.data.attribute_datamodule import AttributeDataModule
        from starganv2.data.attributes import exclusive_indices

        dm = datamodule
        if isinstance(dm, AttributeDataModule):
            if dm.train_set is None:
                dm.prepare_data()
                dm.setup("validate")
            if dm.val_set is None:
                raise ValueError(
                    f"{dm.attr_file}: no test split (data.split={dm.split!r}); evaluation "
                    "translates the test images (expected data.split=original)"
                )
            names = list(dm.attributes)
            splits = AttributeSplits(
                names, exclusive_indices(names, dm.exclusive), dm.train_set, dm.val_set
            )
            return cls(names, {}, {}, Path(dm.root), splits)
        if not getattr(dm, "domains", None):
            dm.prepare_data()
            dm.setup("validate")
        missing = [k for k in ("domains", "train_files", "val_files", "root") if not hasattr(dm, k)]
        if missing:
            raise ValueError(
                f"data module {type(dm).__name__} has no {', '.join(missing)}: evaluation reads "
                "the image files of each domain (domains, train_files, val_files, root, as "
                "ImageDomainDataModule has after setup()); give it those or subclass that"
            )
        if dm.val_files is None:
            raise FileNotFoundError(
                f"{Path(dm.root) / 'val'}: not found; evaluation translates the validation "
                "images (expected root/val/<domain>/ images)"
            )
        return cls(
            list(dm.domains),
            dict(dm.train_files),
            dict(dm.val_files),
            Path(dm.root),
            transform=datamodule_eval_transform(dm),
        )

    @classmethod
    def _from_folder(cls, root: Path) -> EvalData:
        """From the dataset folder ``root``; ``ValueError`` naming ``root/val`` when its domain
        folders are not those of ``root/train`` (an extra one would be left out silently, a
        missing one would leave its tasks without sources)."""
        from starganv2.data.folders import list_domain_files

        val_dir = root / "val"
        if not val_dir.is_dir():
            raise FileNotFoundError(
                f"{val_dir}: not found; evaluation translates the validation images "
                "(expected root/val/<domain>/ images)"
            )
        train_files = list_domain_files(root / "train")
        val_files = list_domain_files(val_dir)
        domains = list(train_files)
        if list(val_files) != domains:
            extra = [d for d in val_files if d not in train_files]
            missing = [d for d in domains if d not in val_files]
            raise ValueError(
                f"domain folders under {val_dir}: {list(val_files)}, expected the training "
                f"domains {domains} (the folders under {root / 'train'}; extra: {extra}, "
                f"missing: {missing}); give val/ one folder per training domain, named alike"
            )
        return cls(domains, train_files, val_files, root)
