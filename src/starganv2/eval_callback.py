"""``EvaluationCallback``: FID / LPIPS (and, on shapes data, the quality figures) during training.

Runs the protocol of :mod:`starganv2.metrics` every ``every_n_iters`` iterations of the module's
own counter (``pl_module.iteration``), optionally on a subset of the images, and logs the results
to every logger at ``step=iteration`` (keys prefixed with ``log_prefix``, e.g.
``eval/FID_latent/mean``). Results also go into ``trainer.callback_metrics`` and, with ``dirpath``,
into ``dirpath/eval_{iteration:07d}.json``. Under DDP every rank takes part (the images are split
across ranks and the metric states are synced); only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from starganv2.metrics import MODES, Evaluator, save_results

__all__ = ["EvaluationCallback"]

log = logging.getLogger(__name__)


class EvaluationCallback(L.Callback):
    """Evaluate the EMA nets every ``every_n_iters`` iterations (and at the end of training).

    The data are the trainer's data module (an :class:`~starganv2.data.ImageDomainDataModule`):
    validation images are the sources and references, training images the FID reals.

    Args:
        every_n_iters: interval in iterations (``>= 1``).
        at_end: also evaluate when training ends (unless that iteration was just evaluated).
        max_images_per_domain: use only the first N validation and training images of each domain
            (a quick, biased FID for tracking); ``None``: the full protocol.
        dirpath: folder for one JSON file per evaluation; ``None``: no files.
        log_prefix: prefix of the logged keys.
        shapes_quality: also compute :func:`starganv2.shapes_quality.shapes_quality` (rank 0; needs
            the built-in shapes data).
        modes, num_outs_per_domain, batch_size, fid_features, fid_weights, lpips_weights,
        feature_extractor, quantize, seed, num_workers: as :class:`~starganv2.metrics.Evaluator`.
    """

    def __init__(
        self,
        every_n_iters: int = 10_000,
        at_end: bool = True,
        max_images_per_domain: int | None = None,
        dirpath: str | os.PathLike | None = None,
        log_prefix: str = "eval/",
        shapes_quality: bool = False,
        modes: Sequence[str] = MODES,
        num_outs_per_domain: int = 10,
        batch_size: int = 32,
        fid_features: str = "standard",
        fid_weights: str | os.PathLike | None = None,
        lpips_weights: str | os.PathLike | None = None,
        feature_extractor: torch.nn.Module | None = None,
        quantize: bool = True,
        seed: int = 0,
        num_workers: int = 0,
    ):
        super().__init__()
        if (
            isinstance(every_n_iters, bool)
            or not isinstance(every_n_iters, int)
            or every_n_iters < 1
        ):
            raise ValueError(f"every_n_iters={every_n_iters!r} is invalid: expected an int >= 1")
        self.every_n_iters = every_n_iters
        self.at_end = at_end
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.log_prefix = log_prefix
        self.shapes_quality = shapes_quality
        self.max_images_per_domain = max_images_per_domain
        self._evaluator_kwargs: dict[str, Any] = {
            "modes": tuple(modes),
            "num_outs_per_domain": num_outs_per_domain,
            "batch_size": batch_size,
            "fid_features": fid_features,
            "fid_weights": fid_weights,
            "lpips_weights": lpips_weights,
            "feature_extractor": feature_extractor,
            "quantize": quantize,
            "seed": seed,
            "max_images_per_domain": max_images_per_domain,
            "num_workers": num_workers,
        }
        self.evaluator: Evaluator | None = None
        self.history: dict[int, dict[str, float]] = {}
        self._last_evaluated = -1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Built before training starts, so that missing weights fail at once.
        if self.evaluator is None:
            self.evaluator = Evaluator(**self._evaluator_kwargs)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_evaluated = int(getattr(pl_module, "iteration", 0))  # no re-run on resume

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        it = int(getattr(pl_module, "iteration", 0))
        if it % self.every_n_iters == 0 and it != self._last_evaluated:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end and int(getattr(pl_module, "iteration", 0)) != self._last_evaluated:
            self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float] | None:
        """Evaluate now; returns the results (``None`` when the data have no validation split)."""
        it = int(getattr(pl_module, "iteration", 0))
        self._last_evaluated = it
        dm = trainer.datamodule
        if dm is None or not getattr(dm, "domains", None):
            raise RuntimeError(
                "EvaluationCallback needs the trainer's data module (an ImageDomainDataModule "
                "passed as trainer.fit(model, datamodule=...))"
            )
        if dm.val_files is None:
            log.warning("no validation images under %s: skipping evaluation", dm.root)
            return None
        if self.evaluator is None:
            self.evaluator = Evaluator(**self._evaluator_kwargs)
        log.info("evaluating at iteration %d", it)
        results = self.evaluator.evaluate(pl_module, dm.domains, dm.train_files, dm.val_files)
        if self.shapes_quality and trainer.is_global_zero:
            from starganv2.shapes_quality import shapes_quality

            results.update(
                shapes_quality(
                    pl_module,
                    dm.root,
                    seed=self._evaluator_kwargs["seed"],
                    batch_size=self._evaluator_kwargs["batch_size"],
                    max_images_per_domain=self.max_images_per_domain,
                )
            )
        self.history[it] = results
        logged = {self.log_prefix + k: v for k, v in results.items()}
        for logger in trainer.loggers:
            logger.log_metrics(logged, step=it)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in logged.items()})
        self._write(results, it)
        return results

    @rank_zero_only
    def _write(self, results: dict[str, float], iteration: int) -> None:
        if self.dirpath is not None:
            path = save_results(results, self.dirpath / f"eval_{iteration:07d}.json")
            log.info("evaluation results: %s", path)

    def state_dict(self) -> dict[str, Any]:
        return {"history": {int(k): v for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {int(k): v for k, v in state_dict.get("history", {}).items()}
