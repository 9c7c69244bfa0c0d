"""The iteration counter every model of this library keeps, as a LightningModule mixin.

One training iteration of these models runs several optimizer steps, so Lightning's
``global_step`` is not the paper's iteration count. A module that mixes in
:class:`IterationCounting` counts its own ``iteration`` (increment it at the end of
``training_step``), stops at ``hparams.total_iters``, saves the counter and its model name in
checkpoints (``checkpoint["starganv2"] = {"iteration": ..., "model": MODEL_NAME}``, which
:func:`starganv2.models.registry.load_model` reads) and restores it on resume.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IterationCounting"]


class IterationCounting:
    """Mixin for a ``LightningModule`` with ``hparams.total_iters``, a class attribute
    ``MODEL_NAME`` and a ``check_finite()`` method (raising on NaN losses, so no checkpoint is
    written after one). Set ``self.iteration = 0`` in ``__init__``."""

    MODEL_NAME: str
    iteration: int

    def check_finite(self) -> None:  # pragma: no cover - every model defines it
        raise NotImplementedError

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        """Stop before a batch once ``iteration`` has reached ``total_iters``."""
        if self.iteration >= self.hparams.total_iters:  # type: ignore[attr-defined]
            self.trainer.should_stop = True  # type: ignore[attr-defined]
            return -1
        return None

    def log_now(self) -> bool:
        """True on the iterations whose logged values Lightning writes to the loggers."""
        connector = getattr(self.trainer, "_logger_connector", None)  # type: ignore[attr-defined]
        return True if connector is None else bool(connector.should_update_logs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite()
        checkpoint["starganv2"] = {"iteration": self.iteration, "model": self.MODEL_NAME}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.iteration = int(checkpoint.get("starganv2", {}).get("iteration", 0))
