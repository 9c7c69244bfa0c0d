"""``IterationProgressBar``: Lightning's tqdm progress bar over the run's iterations.

Lightning's own bar restarts at every epoch and counts batches; here one bar covers the whole run
(``0 .. total_iters``, a resumed run starts where it stopped) and shows iterations per second and
the losses logged with ``prog_bar=True``. Being a ``TQDMProgressBar``, it replaces Lightning's
default bar and ``Trainer(enable_progress_bar=False)`` turns it off (the training command then
leaves it out).

While the bar is shown, console log lines go through ``tqdm.write`` (:func:`logs_above_bars`):
the bar is cleared, the line written on a line of its own, the bar drawn again below it. Written
directly, a log line would continue the bar's line (the bar ends in a carriage return, not a
newline).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from starganv2.callbacks.checkpoint import model_iteration
from starganv2.utils.checks import check_int

__all__ = ["IterationProgressBar", "logs_above_bars"]


class _AboveTheBars:
    """A text stream that writes through ``tqdm.write`` into ``stream``: the bars shown on the
    console are cleared first and drawn again after the text."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if text:
            Tqdm.write(text, file=self.stream, end="")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ...
        return getattr(self.stream, name)


def _console_handlers() -> list[logging.StreamHandler]:
    """The handlers that write to the console (``sys.stdout`` or ``sys.stderr``), of the root
    logger and of every logger that has handlers of its own; each handler once."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    found: dict[int, logging.StreamHandler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and any(
                handler.stream is s for s in (sys.stdout, sys.stderr)
            ):
                found.setdefault(id(handler), handler)
    return list(found.values())


@contextmanager
def logs_above_bars() -> Iterator[None]:
    """Within the context, the console handlers of :mod:`logging` write through ``tqdm.write``,
    so each log line lands on a line of its own above the progress bars; their levels, filters
    and formats stay as they are (tqdm's ``logging_redirect_tqdm`` would replace the handlers by
    new ones without their levels). Log files are untouched."""
    swapped: list[tuple[logging.StreamHandler, TextIO]] = []
    try:
        for handler in _console_handlers():
            stream = handler.stream
            handler.setStream(_AboveTheBars(stream))
            swapped.append((handler, stream))
        yield
    finally:
        for handler, stream in reversed(swapped):
            handler.setStream(stream)


class IterationProgressBar(TQDMProgressBar):
    """One tqdm bar over ``total_iters`` iterations.

    Args:
        refresh_every: update the bar every this many iterations (each update reads the losses
            from the device).
    """

    def __init__(self, refresh_every: int = 1) -> None:
        check_int(refresh_every, "refresh_every")
        super().__init__(refresh_rate=refresh_every, leave=True)
        self.refresh_every = refresh_every
        self._redirect = ExitStack()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        start = model_iteration(pl_module)
        total = int(pl_module.hparams.get("total_iters", 0)) or None
        if trainer.fast_dev_run:  # True or N: that many iterations, not total_iters
            total = min(start + int(trainer.fast_dev_run), total or float("inf"))
        self.train_progress_bar = Tqdm(
            desc="train",
            total=total,
            initial=start,  # a resumed run starts where it stopped
            unit="it",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
        )
        if not self.is_disabled:
            self._redirect.enter_context(logs_above_bars())

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        """The bar spans epochs: nothing to reset."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = model_iteration(pl_module)
        bar = self.train_progress_bar
        if it % self.refresh_every == 0 or it >= (bar.total or float("inf")):
            bar.n = it
            bar.set_postfix(self._losses(trainer, pl_module), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Nothing at epoch ends."""

    # Validation during fit: one batch only marks that a validation is due (the figures are
    # computed over the whole split at epoch end, models/lightning_steps.py), so a bar of that
    # one batch would say nothing; the run's bar stays alone. Trainer.validate keeps its bar.
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_start(trainer, pl_module)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if trainer.state.fn != "fit":
            super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_batch_end(
                trainer, pl_module, outputs, batch, batch_idx, dataloader_idx
            )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        bar = self.train_progress_bar
        if bar.n != model_iteration(pl_module):
            bar.n = model_iteration(pl_module)
            bar.refresh()
        bar.close()
        self._redirect.close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self._train_progress_bar is not None:
            self._train_progress_bar.close()
        self._redirect.close()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._redirect.close()  # whatever ended the run, the console handlers are restored
        super().teardown(trainer, pl_module, stage)

    def _losses(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, str]:
        return {
            k: f"{float(v):.3f}"
            for k, v in self.get_metrics(trainer, pl_module).items()
            if k != "v_num" and (isinstance(v, (int, float)) or hasattr(v, "item"))
        }
