"""Learning rates in the logs at the iteration as the step.

Lightning's ``LearningRateMonitor`` logs the rates at batch start with its own batch count as the
step, one behind the model's iteration counter, which the losses, evaluations and sample grids
use: the rates of iteration 10 landed at step 9, on a row of their own beside the losses of step
10. This subclass logs them at the iteration they are used in, under Lightning's names
(``lr-generator``, ``lr-mapping_network``, ``lr-style_encoder``, ``lr-discriminator``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor as _LightningMonitor

from starganv2.callbacks.checkpoint import model_iteration


class LearningRateMonitor(_LightningMonitor):
    """Lightning's monitor (same arguments), stepping by the model's iteration."""

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if self.logging_interval == "epoch" or not trainer._logger_connector.should_update_logs:
            return
        stats = self._extract_stats(trainer, "step" if self.logging_interval is None else "any")
        if not stats:
            return
        step = model_iteration(pl_module) + 1  # the iteration about to run with these rates
        for logger in trainer.loggers:
            logger.log_metrics(stats, step=step)
