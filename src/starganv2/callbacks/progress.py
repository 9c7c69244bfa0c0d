"""``IterationProgressBar``: Lightning's tqdm progress bar over the run's iterations.

Lightning's own bar restarts at every epoch and counts batches; here one bar covers the whole run
(``0 .. total_iters``, a resumed run starts where it stopped) and shows iterations per second and
the losses logged with ``prog_bar=True``. Being a ``TQDMProgressBar``, it replaces Lightning's
default bar and ``Trainer(enable_progress_bar=False)`` turns it off (the training command then
leaves it out).
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from starganv2.callbacks.checkpoint import model_iteration
from starganv2.utils.checks import check_int

__all__ = ["IterationProgressBar"]


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

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = Tqdm(
            desc="train",
            total=int(pl_module.hparams.get("total_iters", 0)) or None,
            initial=model_iteration(pl_module),  # a resumed run starts where it stopped
            unit="it",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
        )

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

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        bar = self.train_progress_bar
        if bar.n != model_iteration(pl_module):
            bar.n = model_iteration(pl_module)
            bar.refresh()
        bar.close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self._train_progress_bar is not None:
            self._train_progress_bar.close()

    def _losses(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, str]:
        return {
            k: f"{float(v):.3f}"
            for k, v in self.get_metrics(trainer, pl_module).items()
            if k != "v_num" and (isinstance(v, (int, float)) or hasattr(v, "item"))
        }
