"""``SampleGrids``: sample grids of the model's averaged (EMA) weights every N iterations.

Fixed sources, references and latent codes are drawn once at the start (from the validation split
when there is one, else the training split, balanced across domains: dealt round-robin, so every
domain has a source once there are as many sources as domains), so grids of different
iterations are comparable. One grid per guidance mode the model has: ``latent`` and ``reference``
for StarGAN v2, ``label`` for StarGAN v1, ``attribute`` for StarGAN v1 on attribute data (the
original's test grid of the first sources, with their own attributes). Files: ``dirpath/{iteration:07d}_<mode>.png``; the
images also go to TensorBoard and wandb loggers. A picked image that cannot be decoded (the
start-up check reads only a file's header and end) is replaced by the next readable image of its
domain, with a warning, as the training loader does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from starganv2.callbacks.checkpoint import model_iteration
from starganv2.models.interface import (
    MODE_ATTRIBUTE,
    MODE_LABEL,
    MODE_LATENT,
    MODE_REFERENCE,
    Translator,
)
from starganv2.synthesis.grids import (
    attribute_grid,
    label_grid,
    latent_grid,
    reference_grid,
    save_grid,
)
from starganv2.utils.checks import check_int

__all__ = ["SampleGrids"]

log = logging.getLogger(__name__)


class SampleGrids(L.Callback):
    """Sample grids every ``every_n_iters`` iterations and at the end of training (rank 0);
    none under ``Trainer(fast_dev_run=...)``.

    Args:
        dirpath: output folder.
        every_n_iters: interval in iterations.
        num_sources: source images (columns of the reference grid, rows of the others).
        num_latents: latent codes per target domain in the latent grid.
        refs_per_domain: reference images per domain (rows of the reference grid).
        seed: seed of the draw of sources, references and latent codes.
    """

    def __init__(
        self,
        dirpath: str | Path,
        every_n_iters: int = 1000,
        num_sources: int = 6,
        num_latents: int = 2,
        refs_per_domain: int = 2,
        seed: int = 0,
    ) -> None:
        check_int(every_n_iters, "every_n_iters")
        self.dirpath = Path(dirpath)
        self.every_n_iters = every_n_iters
        self.num_sources = num_sources
        self.num_latents = num_latents
        self.refs_per_domain = refs_per_domain
        self.seed = seed
        self._fixed: dict[str, torch.Tensor] | None = None
        self._last: int | None = None

    @staticmethod
    def _pick(labels: list[int], counts: Sequence[int], offset: int) -> list[int]:
        """Indices of ``counts[j]`` images of the ``j``-th domain (in label order), from its
        ``offset``-th image on (wrapping round), grouped by domain."""
        by_domain: dict[int, list[int]] = {}
        for i, y in enumerate(labels):
            by_domain.setdefault(y, []).append(i)
        picked = []
        for y, count in zip(sorted(by_domain), counts):
            idx = by_domain[y]
            picked += [idx[(offset + k) % len(idx)] for k in range(count)]
        return picked

    @staticmethod
    def _balanced_counts(n: int, num_domains: int) -> list[int]:
        """``n`` sources dealt round-robin over the domains: each gets ``n // num_domains``, the
        first ``n % num_domains`` one more, so every domain appears once ``n >= num_domains``."""
        return [n // num_domains + (j < n % num_domains) for j in range(num_domains)]

    def _fixed_inputs(self, trainer: L.Trainer, model: Translator) -> dict[str, torch.Tensor]:
        dm = trainer.datamodule
        dataset = getattr(dm, "val_set", None) or getattr(dm, "train_set", None)
        if dataset is None or not hasattr(dataset, "labels") or not hasattr(dataset, "load"):
            raise ValueError(
                f"callbacks.samples: data module {type(dm).__name__} has no val_set or train_set "
                "with labels and load(i) -> (3, H, W) after setup(), which the sample grids draw "
                "their fixed images from; give it one (as ImageDomainDataModule's) or leave the "
                "grids out with '~callbacks.samples'"
            )
        if MODE_ATTRIBUTE in model.guidance_modes:  # attribute vectors: the first sources
            idx = list(range(min(self.num_sources, len(dataset))))
            x_src, idx = _load_readable(dataset, idx, [0] * len(dataset))
            return {
                "x_src": x_src.to(model.device),
                "c_src": dataset.labels[idx].to(model.device),  # (num_sources, num_domains)
            }
        labels = list(dataset.labels)
        num_domains = len(set(labels))
        src_counts = self._balanced_counts(self.num_sources, num_domains)
        src_idx = self._pick(labels, src_counts, 0)
        # references start after the sources of their domain, so they differ where it can
        ref_idx = self._pick(labels, [self.refs_per_domain] * num_domains, max(src_counts))
        device = model.device
        x_src, src_idx = _load_readable(dataset, src_idx, labels)
        x_ref, ref_idx = _load_readable(dataset, ref_idx, labels)
        fixed = {
            "x_src": x_src.to(device),
            "x_ref": x_ref.to(device),
            "y_ref": torch.tensor([labels[i] for i in ref_idx], device=device),
        }
        if model.has_styles:
            g = torch.Generator().manual_seed(self.seed)
            fixed["z"] = torch.randn(self.num_latents, model.latent_dim, generator=g).to(device)
        return fixed

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # fast_dev_run, a try of the set-up, writes no grid: without fixed inputs none is made
        if trainer.is_global_zero and not trainer.fast_dev_run:
            self._fixed = self._fixed_inputs(trainer, pl_module)
        self._last = model_iteration(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = model_iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last:
            self.make(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if model_iteration(pl_module) != self._last:
            self.make(trainer, pl_module)

    def grids(self, model: Translator) -> dict[str, torch.Tensor]:
        """The grids of the fixed inputs, ``{mode: (3, H, W) in [0, 1]}``."""
        f = _as_model_inputs(self._fixed, model)
        grids = {}
        for mode in model.guidance_modes:
            if mode == MODE_LATENT:
                grids[mode] = latent_grid(model, f["x_src"], f["z"])
            elif mode == MODE_REFERENCE:
                grids[mode] = reference_grid(model, f["x_src"], f["x_ref"], f["y_ref"])
            elif mode == MODE_LABEL:
                grids[mode] = label_grid(model, f["x_src"])
            elif mode == MODE_ATTRIBUTE:
                grids[mode] = attribute_grid(model, f["x_src"], f["c_src"], model.exclusive_groups)
        return grids

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Path]:
        """Render the grids for the current iteration (rank 0 only); returns the file paths."""
        it = model_iteration(pl_module)
        self._last = it
        if not trainer.is_global_zero or self._fixed is None:
            return {}
        paths = {}
        for mode, grid in self.grids(pl_module).items():
            paths[mode] = save_grid(grid, self.dirpath / f"{it:07d}_{mode}.png")
            self._send(trainer, f"samples/{mode}", grid, it)
        return paths

    @staticmethod
    def _send(trainer: L.Trainer, key: str, grid: torch.Tensor, it: int) -> None:
        """Hand ``grid`` to the TensorBoard and wandb loggers at step ``it``, the iteration (the
        step of the losses and evaluations; without it wandb files a grid under the step logged
        last, the previous logging interval's)."""
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(key, grid.cpu(), global_step=it)
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[grid.cpu()], step=it)


def _as_model_inputs(fixed: dict[str, torch.Tensor], model: Translator) -> dict[str, torch.Tensor]:
    """The fixed inputs with their float tensors (images, latent codes) in the dtype the model
    wants (``input_dtype``: a model converted to bfloat16 or float64 by ``trainer.precision=
    bf16-true`` or ``64-true`` refuses float32 inputs); as drawn (float32) when it takes any
    float (``None``: under autocast) or does not say. Labels keep their integer dtype."""
    dtype = getattr(model, "input_dtype", None)
    if dtype is None:
        return fixed
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in fixed.items()}


def _load_readable(
    dataset, picked: list[int], groups: Sequence[int]
) -> tuple[torch.Tensor, list[int]]:
    """Images ``picked`` of ``dataset`` stacked, ``(len(picked), 3, H, W)``, and the indices used:
    one that cannot be read is replaced by the next readable index of its group (its domain),
    with a warning naming the file. Raises ``OSError`` if no image of a group can be read."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    bad: set[int] = set()
    images, used = [], []
    for i in picked:
        same = members[groups[i]]
        start = same.index(i)
        for k in range(len(same)):
            j = same[(start + k) % len(same)]
            if j in bad:
                continue
            try:
                images.append(dataset.load(j))
            except OSError as err:
                bad.add(j)
                log.warning("sample grids: %s; the next image of its domain is used instead", err)
                continue
            used.append(j)
            break
        else:
            raise OSError(
                f"sample grids: none of the {len(same)} images of domain {groups[i]} could be read "
                f"(first: {dataset.files[same[0]]})"
            )
    return torch.stack(images), used
