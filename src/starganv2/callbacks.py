"""Training callbacks keyed to the module's iteration counter (not Lightning's ``global_step``,
which counts the six optimizer steps of each iteration).

- :class:`IterationCheckpoint`: ``iter_XXXXXXX.ckpt`` every N iterations plus ``last.ckpt``,
  written atomically (temp file, then rename), so a kill during a save never leaves a broken file.
- :class:`SampleGrids`: latent- and reference-guided grids from the EMA nets every N iterations,
  saved as PNG and sent to the loggers.
- :class:`IterationProgressBar`: one bar over the whole run with iterations/s and the main losses.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

__all__ = ["IterationCheckpoint", "SampleGrids", "IterationProgressBar", "atomic_replace"]

log = logging.getLogger(__name__)

_ITER_CKPT = re.compile(r"^iter_(\d+)\.ckpt$")


def atomic_replace(src: Path, dst: Path) -> None:
    """Flush ``src`` to disk and rename it onto ``dst`` (atomic on POSIX and Windows)."""
    with open(src, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(src, dst)
    try:  # make the rename itself durable
        dir_fd = os.open(dst.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _iteration(pl_module: L.LightningModule) -> int:
    return int(getattr(pl_module, "iteration", 0))


class IterationCheckpoint(L.Callback):
    """Save ``dirpath/iter_{iteration:07d}.ckpt`` every ``every_n_iters`` iterations and at the end
    of training, and keep ``dirpath/last.ckpt`` pointing at the newest one.

    Each file is written to a hidden temp name and renamed into place, so an interrupted save
    leaves the previous checkpoints intact. Only global rank 0 writes.

    Args:
        dirpath: folder of the checkpoints (created if missing).
        every_n_iters: save interval in iterations (``> 0``).
        save_last: maintain ``last.ckpt`` (needed by ``resume=auto``).
        keep_last: keep only this many ``iter_*.ckpt`` files (``None`` keeps all).
    """

    def __init__(
        self,
        dirpath: str | Path,
        every_n_iters: int = 1000,
        save_last: bool = True,
        keep_last: int | None = None,
    ) -> None:
        if every_n_iters < 1:
            raise ValueError(f"every_n_iters={every_n_iters!r} is invalid: expected >= 1")
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last={keep_last!r} is invalid: expected >= 1 or null")
        self.dirpath = Path(dirpath)
        self.every_n_iters = every_n_iters
        self.save_last = save_last
        self.keep_last = keep_last
        self._last_saved: int | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_saved = _iteration(pl_module)  # a resumed run need not re-save its start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = _iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last_saved:
            self.save(trainer, it)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        it = _iteration(pl_module)
        if it != self._last_saved:
            self.save(trainer, it)

    def save(self, trainer: L.Trainer, iteration: int) -> Path:
        """Write the checkpoint of ``iteration`` atomically (collective: every rank calls it)."""
        path = self.dirpath / f"iter_{iteration:07d}.ckpt"
        tmp = self.dirpath / f".{path.name}.tmp"
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        trainer.strategy.barrier("IterationCheckpoint.mkdir")
        trainer.save_checkpoint(tmp)  # rank 0 writes; raises before writing on NaN losses
        if trainer.is_global_zero:
            atomic_replace(tmp, path)
            if self.save_last:
                self._update_last(path)
            self._prune()
            log.info("saved checkpoint %s", path)
        self._last_saved = iteration
        trainer.strategy.barrier("IterationCheckpoint.saved")
        return path

    def _update_last(self, path: Path) -> None:
        tmp = self.dirpath / ".last.ckpt.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)  # no copy: a second name for the same file
        except OSError:
            shutil.copyfile(path, tmp)
        atomic_replace(tmp, self.last_path)

    def _prune(self) -> None:
        if self.keep_last is None:
            return
        found = sorted(
            (int(m.group(1)), p)
            for p in self.dirpath.iterdir()
            if (m := _ITER_CKPT.match(p.name)) is not None
        )
        for _, p in found[: -self.keep_last]:
            p.unlink(missing_ok=True)


class SampleGrids(L.Callback):
    """Latent- and reference-guided sample grids from the EMA nets every ``every_n_iters``.

    Fixed sources, references and latent codes are drawn once at the start (from the validation
    split when there is one, else the training split, balanced across domains), so grids of
    different iterations are comparable. Files: ``dirpath/{iteration:07d}_latent.png`` and
    ``..._reference.png``; the images also go to TensorBoard and wandb loggers.

    Args:
        dirpath: output folder.
        every_n_iters: interval in iterations; grids are also made at the end of training.
        num_sources: source images (columns of the reference grid, rows of the latent grid).
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
        if every_n_iters < 1:
            raise ValueError(f"every_n_iters={every_n_iters!r} is invalid: expected >= 1")
        self.dirpath = Path(dirpath)
        self.every_n_iters = every_n_iters
        self.num_sources = num_sources
        self.num_latents = num_latents
        self.refs_per_domain = refs_per_domain
        self.seed = seed
        self._fixed: dict[str, torch.Tensor] | None = None
        self._last: int | None = None

    @staticmethod
    def _pick(labels: list[int], per_domain: int, offset: int) -> list[int]:
        by_domain: dict[int, list[int]] = {}
        for i, y in enumerate(labels):
            by_domain.setdefault(y, []).append(i)
        picked = []
        for y in sorted(by_domain):
            idx = by_domain[y]
            picked += [idx[(offset + k) % len(idx)] for k in range(per_domain)]
        return picked

    def _fixed_inputs(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        dm = trainer.datamodule
        dataset = getattr(dm, "val_set", None) or getattr(dm, "train_set", None)
        if dataset is None:
            raise RuntimeError(
                "SampleGrids needs a data module with a val_set or train_set after setup()"
            )
        labels = list(dataset.labels)
        num_domains = len(set(labels))
        per = max(1, -(-self.num_sources // num_domains))
        src_idx = self._pick(labels, per, 0)[: self.num_sources]
        ref_idx = self._pick(labels, self.refs_per_domain, per)
        load = dataset.load
        g = torch.Generator().manual_seed(self.seed)
        device = pl_module.device
        return {
            "x_src": torch.stack([load(i) for i in src_idx]).to(device),
            "x_ref": torch.stack([load(i) for i in ref_idx]).to(device),
            "y_ref": torch.tensor([labels[i] for i in ref_idx], device=device),
            "z": torch.randn(self.num_latents, pl_module.hparams.latent_dim, generator=g).to(
                device
            ),
        }

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._fixed = self._fixed_inputs(trainer, pl_module)
        self._last = _iteration(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = _iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last:
            self.make(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _iteration(pl_module) != self._last:
            self.make(trainer, pl_module)

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Path]:
        """Render both grids for the current iteration (rank 0 only); returns the file paths."""
        from torchvision.utils import save_image

        from starganv2.synthesis import latent_grid, reference_grid

        it = _iteration(pl_module)
        self._last = it
        if not trainer.is_global_zero or self._fixed is None:
            return {}
        f = self._fixed
        grids = {
            "latent": latent_grid(pl_module, f["x_src"], f["z"]),
            "reference": reference_grid(pl_module, f["x_src"], f["x_ref"], f["y_ref"]),
        }
        self.dirpath.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, grid in grids.items():
            path = self.dirpath / f"{it:07d}_{name}.png"
            tmp = self.dirpath / f".{path.name}.tmp.png"
            save_image(grid, tmp)
            os.replace(tmp, path)
            paths[name] = path
            self._send(trainer, f"samples/{name}", grid, it)
        return paths

    @staticmethod
    def _send(trainer: L.Trainer, key: str, grid: torch.Tensor, it: int) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(key, grid.cpu(), global_step=it)
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[grid.cpu()], step=None)


class IterationProgressBar(L.Callback):
    """A tqdm bar over ``total_iters`` (resumed runs start where they stopped) showing
    iterations/s and the losses logged with ``prog_bar=True``.

    Use with ``trainer.enable_progress_bar=false`` (Lightning's own bar counts batches per epoch).

    Args:
        refresh_every: update the bar every this many iterations (each update reads the losses
            from the device).
    """

    def __init__(self, refresh_every: int = 1) -> None:
        if refresh_every < 1:
            raise ValueError(f"refresh_every={refresh_every!r} is invalid: expected >= 1")
        self.refresh_every = refresh_every
        self._bar: Any = None
        self._pending = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        from tqdm.auto import tqdm

        total = int(pl_module.hparams.get("total_iters", 0)) or None
        self._bar = tqdm(
            total=total, initial=_iteration(pl_module), desc="train", unit="it", dynamic_ncols=True
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._bar is None:
            return
        self._pending += 1
        if self._pending >= self.refresh_every:
            metrics = {
                k: f"{float(v):.3f}"
                for k, v in trainer.progress_bar_metrics.items()
                if not k.startswith("v_num")
            }
            self._bar.set_postfix(metrics, refresh=False)
            self._bar.update(self._pending)
            self._pending = 0

    def _close(self) -> None:
        if self._bar is not None:
            if self._pending:
                self._bar.update(self._pending)
                self._pending = 0
            self._bar.close()
            self._bar = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._close()
