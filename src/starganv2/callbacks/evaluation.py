"""``EvaluationCallback``: the evaluator's metrics (FID/LPIPS, the shapes figures...) during training.

Runs :class:`starganv2.evaluation.evaluator.Evaluator` every ``every_n_iters`` iterations of the
model's own counter, and logs the results to every logger at ``step=iteration`` (keys prefixed
with ``log_prefix``, e.g. ``eval/FID_latent/mean``). Results also go into
``trainer.callback_metrics`` (where sweepers read them) and, with ``dirpath``, into
``dirpath/eval_{iteration:07d}.json``. Under DDP every rank takes part (the images are split
across ranks and the metric states are synced); only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch

from starganv2.callbacks.checkpoint import model_iteration
from starganv2.evaluation.evaluator import Evaluator
from starganv2.utils.checks import check_int
from starganv2.utils.files import save_json

__all__ = ["EvaluationCallback"]

log = logging.getLogger(__name__)


class EvaluationCallback(L.Callback):
    """Evaluate the model every ``every_n_iters`` iterations (and at the end of training).

    The data are the trainer's data module: validation images are the sources and references,
    training images the FID reals.

    Args:
        evaluator: the :class:`~starganv2.evaluation.evaluator.Evaluator` (built from the config
            node ``evaluator``), or its arguments as a mapping: the protocol and ``metrics``, each
            metric with its own settings (``{"metrics": {"shapes_quality": {"shift_px": [1]}},
            "max_images_per_domain": 20}``).
        every_n_iters: interval in iterations (``>= 1``).
        at_end: also evaluate when training ends (unless that iteration was just evaluated).
        dirpath: folder for one JSON file per evaluation; ``None``: no files.
        log_prefix: prefix of the logged keys.
    """

    def __init__(
        self,
        evaluator: Evaluator | Mapping[str, Any],
        every_n_iters: int = 10_000,
        at_end: bool = True,
        dirpath: str | os.PathLike | None = None,
        log_prefix: str = "eval/",
    ):
        super().__init__()
        check_int(every_n_iters, "every_n_iters")
        self.evaluator = evaluator if isinstance(evaluator, Evaluator) else Evaluator(**evaluator)
        self.every_n_iters = every_n_iters
        self.at_end = at_end
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.log_prefix = log_prefix
        self.history: dict[int, dict[str, float]] = {}
        self._last_evaluated = -1

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._data_module(trainer)  # before training, not at the first evaluation

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_evaluated = model_iteration(pl_module)  # no re-run on resume

    @staticmethod
    def _data_module(trainer: L.Trainer) -> Any:
        """The trainer's data module: domain folders (``ImageDomainDataModule``) or attribute
        data (``AttributeDataModule``), whatever the evaluator measures."""
        dm = trainer.datamodule
        if dm is None:
            raise RuntimeError(
                "EvaluationCallback needs the trainer's data module (an ImageDomainDataModule or "
                "AttributeDataModule passed as trainer.fit(model, datamodule=...))"
            )
        return dm

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = model_iteration(pl_module)
        if it % self.every_n_iters == 0 and it != self._last_evaluated:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end and model_iteration(pl_module) != self._last_evaluated:
            self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float] | None:
        """Evaluate now; returns the results (``None`` when the data have no validation split)."""
        it = model_iteration(pl_module)
        self._last_evaluated = it
        dm = self._data_module(trainer)
        if getattr(dm, "domains", None) and dm.val_files is None:
            log.warning("no validation images under %s: skipping evaluation", dm.root)
            return None
        log.info("evaluating at iteration %d", it)
        results = self.evaluator.evaluate(pl_module, dm)
        self.history[it] = results
        logged = {self.log_prefix + k: v for k, v in results.items()}
        for logger in trainer.loggers:
            logger.log_metrics(logged, step=it)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in logged.items()})
        if trainer.is_global_zero and self.dirpath is not None:
            path = save_json(results, self.dirpath / f"eval_{it:07d}.json")
            log.info("evaluation results: %s", path)
        return results

    def state_dict(self) -> dict[str, Any]:
        return {"history": {int(k): v for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {int(k): v for k, v in state_dict.get("history", {}).items()}
