"""``IterationCheckpoint``: Lightning's ``ModelCheckpoint``, triggered by the model's iterations.

``iter_XXXXXXX.ckpt`` every N iterations plus ``last.ckpt``, each written whole (temporary file,
then rename, see :mod:`starganv2.utils.files`), so a kill during a save never leaves a broken
file. Being a ``ModelCheckpoint``, it is ``trainer.checkpoint_callback``; ``fit(ckpt_path="last")``
finds its ``last.ckpt``; ``Trainer(enable_checkpointing=False)`` refuses it (the training command
leaves it out instead). Lightning's ``global_step`` counts optimizer steps (several per
iteration), which is why the trigger is the model's own ``iteration``. Under
``Trainer(fast_dev_run=...)``, a try of the set-up, it writes nothing, as Lightning's own
checkpointing does then.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from starganv2.data.sampling import UnreadableDataError
from starganv2.utils.checks import check_int
from starganv2.utils.files import atomic_link_or_copy, atomic_path

__all__ = ["IterationCheckpoint", "model_iteration"]

log = logging.getLogger(__name__)

_ITER_CKPT = re.compile(r"^iter_(\d+)\.ckpt$")

SAVE_ON = (UnreadableDataError, KeyboardInterrupt, SIGTERMException)
"""Exceptions after which a checkpoint is still written: the model is at the end of a complete
iteration (the data failed before the next one began, the user pressed Ctrl-C, or the process got
SIGTERM: Lightning holds that signal until the iteration in progress has ended, then raises
``SIGTERMException``; without this save a ``kill``, ``timeout`` or scheduler stop lost every
iteration since the last interval checkpoint)."""


def model_iteration(pl_module: L.LightningModule) -> int:
    """The model's iteration counter (0 for a module without one)."""
    return int(getattr(pl_module, "iteration", 0))


class IterationCheckpoint(ModelCheckpoint):
    """Save ``dirpath/iter_{iteration:07d}.ckpt`` every ``every_n_iters`` iterations and at the end
    of training, and keep ``dirpath/last.ckpt`` the newest of them.

    Only global rank 0 writes. ``best_model_path`` and ``last_model_path`` are the newest file (no
    metric is monitored). A single-process run stopped by unreadable data, Ctrl-C or SIGTERM is
    checkpointed first. A ``fast_dev_run`` writes no file at all (no ``iter_*.ckpt``, no
    ``last.ckpt``).

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
        check_int(every_n_iters, "every_n_iters")
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last={keep_last!r} is invalid: expected >= 1 or null")
        super().__init__(dirpath=dirpath, save_top_k=-1, save_last=save_last)
        self.every_n_iters = every_n_iters
        self.keep_last = keep_last
        self._last_saved: int | None = None

    @property
    def state_key(self) -> str:
        """One key whatever ``every_n_iters``: a run resumed with another interval restores this
        callback's state (Lightning's keyed by the interval, so it warned on every such resume
        that a callback was missing)."""
        return self._generate_state_key()

    @property
    def last_path(self) -> Path:
        return Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Lightning's setup warns that the folder is not empty, which is normal when resuming.
        self.dirpath = trainer.strategy.broadcast(str(Path(self.dirpath).resolve()))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_saved = model_iteration(pl_module)  # a resumed run need not re-save its start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = model_iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last_saved and not trainer.fast_dev_run:
            self.save(trainer, it)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Epochs mean nothing here (the sampler's epoch is a number of draws)."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Validation does not trigger checkpoints."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        it = model_iteration(pl_module)
        if it != self._last_saved and not trainer.fast_dev_run:
            self.save(trainer, it)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        it = model_iteration(pl_module)
        if not isinstance(exception, SAVE_ON) or self._last_saved in (None, it):
            return
        if trainer.fast_dev_run:  # a try of the set-up: nothing to keep
            return
        if trainer.world_size > 1:  # a save is collective; the other processes may be gone
            log.warning(
                "%s at iteration %d in a multi-process run: no checkpoint written after "
                "iteration %d",
                type(exception).__name__,
                it,
                self._last_saved,
            )
            return
        path = self.save(trainer, it)
        log.warning(
            "%s at iteration %d: saved %s before stopping", type(exception).__name__, it, path
        )

    # ------------------------------------------------------------------ writing
    def save(self, trainer: L.Trainer, iteration: int) -> Path:
        """Write the checkpoint of ``iteration`` (collective: every rank calls it)."""
        dirpath = Path(self.dirpath)
        path = dirpath / f"iter_{iteration:07d}{self.FILE_EXTENSION}"
        self._save_checkpoint(trainer, str(path))  # rank 0 writes; raises on NaN losses first
        if trainer.is_global_zero:
            if self.save_last:
                atomic_link_or_copy(path, self.last_path)
                self.last_model_path = str(self.last_path)
            self.best_model_path = str(path)
            self._prune(dirpath)
            log.info("saved checkpoint %s", path)
        self._last_saved = iteration
        return path

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        """Lightning's save, through a temporary file renamed into place on rank 0."""
        if not trainer.is_global_zero:
            trainer.save_checkpoint(filepath, self.save_weights_only)  # collective; writes nothing
            return
        with atomic_path(filepath) as tmp:
            trainer.save_checkpoint(tmp, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        for logger in trainer.loggers:
            logger.after_save_checkpoint(self)

    def _prune(self, dirpath: Path) -> None:
        if self.keep_last is None:
            return
        found = sorted(
            (int(m.group(1)), p)
            for p in dirpath.iterdir()
            if (m := _ITER_CKPT.match(p.name)) is not None
        )
        for _, p in found[: -self.keep_last]:
            p.unlink(missing_ok=True)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "every_n_iters": self.every_n_iters}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = {k: v for k, v in state_dict.items() if k != "every_n_iters"}
        super().load_state_dict(state)
        if not os.path.exists(self.best_model_path or ""):
            self.best_model_path = ""
