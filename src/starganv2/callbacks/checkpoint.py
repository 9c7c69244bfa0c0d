"""``IterationCheckpoint``: Lightning's ``ModelCheckpoint``, triggered by the model's iterations.

``iter_XXXXXXX.ckpt`` every N iterations plus ``last.ckpt``, each written whole (temporary file,
then rename, see :mod:`starganv2.utils.files`), so a kill during a save never leaves a broken
file. Being a ``ModelCheckpoint``, it is ``trainer.checkpoint_callback``, unless another
``ModelCheckpoint`` (one monitoring a validation figure, say) is given: it runs after all other
callbacks, so that its checkpoint of a validated iteration holds their view of that validation.
``fit(ckpt_path="last")`` finds its ``last.ckpt``; ``Trainer(enable_checkpointing=False)``
refuses it (the training command leaves it out instead). Lightning's ``global_step`` counts
optimizer steps (several per iteration), which is why the trigger is the model's own
``iteration``. Under ``Trainer(fast_dev_run=...)``, a try of the set-up, it writes nothing,
as Lightning's own checkpointing does then.

Ctrl-C: Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, possibly
between the discriminator and generator updates of an iteration, and a checkpoint written then
would hold a half-done iteration under the previous one's number. During ``fit`` (one process,
main thread) the callback holds the first Ctrl-C of an iteration in progress until that iteration
has ended, as Lightning holds SIGTERM; a second one, or one between iterations, stops at once.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from starganv2.data.folders import ImageLoadError
from starganv2.data.sampling import UnreadableDataError
from starganv2.utils.checkpoint_io import writes_whole
from starganv2.utils.checks import check_int
from starganv2.utils.files import atomic_link_or_copy, atomic_path

__all__ = ["IterationCheckpoint", "iteration_checkpoints", "model_iteration", "remove_unfinished"]

log = logging.getLogger(__name__)

_ITER_CKPT = re.compile(r"^iter_(\d+)\.ckpt$")
_UNFINISHED = re.compile(r"^\.(iter_\d+|last)\.(\w+|tmp-.+)\.ckpt$")
"""The temporary file of a checkpoint save (``.iter_0000200.tmp-<host>.<pid>.<random>.ckpt``, see
:func:`~starganv2.utils.files.atomic_path`): left behind only when the process died while
writing it (``kill -9``, a lost node, power)."""

SAVE_ON = (UnreadableDataError, ImageLoadError, KeyboardInterrupt, SIGTERMException)
"""Exceptions after which a checkpoint is still written: the model is at the end of a complete
iteration (the data failed before the next one began, a validation image did not decode (the
training loader replaces those it cannot read), the user pressed Ctrl-C, or the process got
SIGTERM: Lightning holds that signal until the iteration in progress has ended, then raises
``SIGTERMException``; without this save a ``kill``, ``timeout`` or scheduler stop lost every
iteration since the last interval checkpoint). A ``KeyboardInterrupt`` raised in the middle of
an iteration (Ctrl-C pressed twice) is not saved: the model holds half an update."""


def model_iteration(pl_module: L.LightningModule) -> int:
    """The model's iteration counter (0 for a module without one)."""
    return int(getattr(pl_module, "iteration", 0))


def iteration_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of each ``iter_XXXXXXX.ckpt`` in ``folder``, oldest first (none
    when the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if (m := _ITER_CKPT.match(p.name)) is not None
    )


def remove_unfinished(folder: Path) -> list[Path]:
    """Delete the temporary files of checkpoint saves that never finished in ``folder`` (a
    process killed while writing one leaves it: as large as a checkpoint, hidden, never read)
    and say so; returns them. Called when a run starts writing into the folder, which no other
    run writes to at the same time (the training command holds the run folder's lock)."""
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if _UNFINISHED.match(p.name) and p.is_file())
    for p in found:
        p.unlink(missing_ok=True)
        log.info("removed %s: a checkpoint save cut off when its process died", p)
    return found


class IterationCheckpoint(ModelCheckpoint):
    """Save ``dirpath/iter_{iteration:07d}.ckpt`` every ``every_n_iters`` iterations and at the end
    of training, and keep ``dirpath/last.ckpt`` the newest of them.

    Only global rank 0 writes. ``best_model_path`` and ``last_model_path`` are the newest file (no
    metric is monitored). A single-process run stopped by unreadable data, Ctrl-C or SIGTERM is
    checkpointed first. In a single-process ``fit`` run from the main thread, the first Ctrl-C
    during an iteration ends training once that iteration has ended (one warning line says so);
    a second Ctrl-C, or one between iterations, stops at once. A ``fast_dev_run`` writes no file
    at all (no ``iter_*.ckpt``, no ``last.ckpt``).

    Args:
        dirpath: folder of the checkpoints (created if missing).
        every_n_iters: save interval in iterations (``> 0``).
        save_last: maintain ``last.ckpt`` (needed by ``resume=auto``).
        keep_last: keep only this many ``iter_*.ckpt`` files of this run (``None`` keeps all):
            those it saved and, when it resumed from a checkpoint of ``dirpath``, the ones up to
            the iteration it resumed from. Files of another run in the folder are never deleted.
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
        self._written: int | None = None  # the iteration this fit last wrote a checkpoint of
        self._own: set[Path] = set()  # the iter_*.ckpt files of this run, for keep_last
        # Ctrl-C during fit: the handler, the one it replaced, the iteration this callback saw
        # begin (None between iterations) and whether a stop after it was asked for
        self._trainer: L.Trainer | None = None
        self._on_ctrl_c_bound: Any = None
        self._previous_sigint: Any = None
        self._started: int | None = None
        self._stop_requested = False

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
        # Last of the callbacks (a new list: the hook loop is iterating the old one), so that at
        # on_validation_end the others (EarlyStopping, a monitoring ModelCheckpoint) have taken
        # the validation in before this callback writes it into a checkpoint.
        trainer.callbacks = [c for c in trainer.callbacks if c is not self] + [self]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_saved = model_iteration(pl_module)  # a resumed run need not re-save its start
        self._written = None
        self._own = self._resumed_files(trainer, self._last_saved)
        if trainer.is_global_zero and not trainer.fast_dev_run:
            remove_unfinished(Path(self.dirpath))
        self._catch_ctrl_c(trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._started = model_iteration(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = model_iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last_saved and not trainer.fast_dev_run:
            self.save(trainer, it)
        self._started = None
        if self._stop_requested and not trainer.should_stop:  # (a last iteration just ends)
            raise KeyboardInterrupt  # Lightning's Ctrl-C path: on_exception saves this iteration

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Epochs mean nothing here (the sampler's epoch is a number of draws)."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Validation triggers no checkpoint of its own, but one of an iteration this fit has just
        saved (both intervals met there) is written again: saved before the validation, it held
        EarlyStopping and a monitoring ModelCheckpoint as they were before it, and Lightning does
        not repeat that validation on resume, so a resumed run forgot its result (best score and
        best files, patience)."""
        it = model_iteration(pl_module)
        if trainer.sanity_checking or trainer.fast_dev_run or it != self._written:
            return
        self.save(trainer, it, note=" (again, with the validation of that iteration)")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._release_ctrl_c()
        it = model_iteration(pl_module)
        if it != self._last_saved and not trainer.fast_dev_run:
            self.save(trainer, it)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._release_ctrl_c()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        in_progress = self._iteration_in_progress()
        self._release_ctrl_c()  # after a Ctrl-C Lightning ignores SIGINT, then restores it
        it = model_iteration(pl_module)
        if not isinstance(exception, SAVE_ON) or self._last_saved in (None, it):
            return
        if trainer.fast_dev_run:  # a try of the set-up: nothing to keep
            return
        if isinstance(exception, KeyboardInterrupt) and in_progress:
            log.warning(
                "Ctrl-C in the middle of iteration %d: no checkpoint of it is written (half of "
                "its updates are done); the newest checkpoint is the last one saved",
                it + 1,
            )
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
    def save(self, trainer: L.Trainer, iteration: int, note: str = "") -> Path:
        """Write the checkpoint of ``iteration`` (collective: every rank calls it); ``note`` ends
        the log line."""
        dirpath = Path(self.dirpath)
        path = dirpath / f"iter_{iteration:07d}{self.FILE_EXTENSION}"
        self._save_checkpoint(trainer, str(path))  # rank 0 writes; raises on NaN losses first
        self._own.add(path)
        if trainer.is_global_zero:
            if self.save_last:
                atomic_link_or_copy(path, self.last_path)
                self.last_model_path = str(self.last_path)
            self.best_model_path = str(path)
            self._prune(dirpath)
            log.info("saved checkpoint %s%s", path, note)
        self._last_saved = self._written = iteration
        return path

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        """Lightning's save, through a temporary file renamed into place on rank 0 (the
        :class:`~starganv2.utils.checkpoint_io.FileCheckpointIO` of ``starganv2-train`` does
        that itself: a second temporary would be the file its errors name, a full disk say)."""
        if not trainer.is_global_zero or writes_whole(trainer):
            trainer.save_checkpoint(filepath, self.save_weights_only)  # collective
        else:
            with atomic_path(filepath) as tmp:
                trainer.save_checkpoint(tmp, self.save_weights_only)
        if not trainer.is_global_zero:  # wrote nothing
            return
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        for logger in trainer.loggers:
            logger.after_save_checkpoint(self)

    def _resumed_files(self, trainer: L.Trainer, start: int) -> set[Path]:
        """The ``iter_*.ckpt`` files this run wrote before this ``fit``: when it resumed from a
        checkpoint in ``dirpath``, those up to its iteration; none otherwise (a new run, or one
        started from a checkpoint elsewhere, owns none of the files already there)."""
        dirpath = Path(self.dirpath)
        resumed_from = trainer.ckpt_path
        if not resumed_from or Path(resumed_from).resolve().parent != dirpath.resolve():
            return set()
        return {p for it, p in iteration_checkpoints(dirpath) if it <= start}

    def _prune(self, dirpath: Path) -> None:
        """Delete all but the newest ``keep_last`` of this run's ``iter_*.ckpt`` files; those of
        another run in the folder are left alone (sorting every file by its iteration deleted a
        new run's files while an older run's later ones survived)."""
        if self.keep_last is None:
            return
        own = [p for _, p in iteration_checkpoints(dirpath) if p in self._own]  # oldest first
        for p in own[: -self.keep_last]:
            p.unlink(missing_ok=True)
            self._own.discard(p)

    # ------------------------------------------------------------------ Ctrl-C
    def _catch_ctrl_c(self, trainer: L.Trainer) -> None:
        """Put :meth:`_on_ctrl_c` in place of Python's SIGINT handler for this ``fit``.

        Installed after Lightning recorded the handlers it restores when ``fit`` ends or fails,
        so Python's comes back either way (and :meth:`_release_ctrl_c` puts it back first).
        Left as it is in a multi-process run (a rank that waited for the end of its iteration
        would wait for ranks already gone), outside the main thread (where Python allows no
        handler), and where SIGINT is ignored (a background job) or someone else handles it."""
        self._trainer = trainer
        self._started = None
        self._stop_requested = False
        if trainer.world_size > 1 or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return
        self._previous_sigint = previous
        self._on_ctrl_c_bound = self._on_ctrl_c
        signal.signal(signal.SIGINT, self._on_ctrl_c_bound)

    def _release_ctrl_c(self) -> None:
        """Put back the SIGINT handler :meth:`_catch_ctrl_c` replaced, if ours is still there."""
        ours = self._on_ctrl_c_bound
        self._on_ctrl_c_bound = None
        if ours is not None and signal.getsignal(signal.SIGINT) is ours:
            signal.signal(signal.SIGINT, self._previous_sigint)

    def _iteration_in_progress(self) -> bool:
        """Whether an iteration has begun (this callback's ``on_train_batch_start``) and the
        model's training step has not ended (it advances the iteration counter last). A module
        that stops before a batch (``total_iters`` reached) sets ``should_stop`` and runs no
        step."""
        trainer = self._trainer
        if self._started is None or trainer is None or trainer.should_stop:
            return False
        return model_iteration(trainer.lightning_module) == self._started

    def _on_ctrl_c(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT during ``fit``: the first in an iteration asks for a stop once it has ended
        (raised from :meth:`on_train_batch_end`); a second, or one between iterations, raises
        ``KeyboardInterrupt`` at once, as Python's own handler does."""
        if self._stop_requested or not self._iteration_in_progress():
            raise KeyboardInterrupt
        self._stop_requested = True
        log.warning(
            "Ctrl-C: stopping after iteration %d; press again to stop now",
            model_iteration(self._trainer.lightning_module) + 1,
        )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "every_n_iters": self.every_n_iters}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = {k: v for k, v in state_dict.items() if k != "every_n_iters"}
        super().load_state_dict(state)
        if not os.path.exists(self.best_model_path or ""):
            self.best_model_path = ""
