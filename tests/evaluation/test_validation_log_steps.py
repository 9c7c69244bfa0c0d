"""Validation during training logs the evaluator's figures at the logger step of the iteration's
own training logs (``step=iteration``), as docs/evaluation.md says, not one step before."""

from __future__ import annotations

import csv
import logging

import torch
from lightning.pytorch.loggers import CSVLogger

from starganv2.data.datamodule import ImageDomainDataModule
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.evaluation.conftest import write_domain_data
from tests.helpers import TINY, quiet_trainer


class IterationEvaluator:
    """A figure that is the iteration it was measured at."""

    def evaluate(self, model, datamodule) -> dict[str, float]:
        return {"FID_latent/mean": float(model.iteration)}


def test_validation_figures_are_logged_at_the_iterations_step(tmp_path):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "total_iters": 4})
    module.evaluator = IterationEvaluator()
    logger = CSVLogger(tmp_path / "logs", name="run")
    trainer = quiet_trainer(
        logger=logger,
        log_every_n_steps=1,
        val_check_interval=2,  # training batches, which are iterations
        check_val_every_n_epoch=None,
        limit_val_batches=1,
    )
    trainer.fit(module, datamodule=dm)
    with open(f"{logger.log_dir}/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    val = {int(r["step"]): float(r["val/fid/latent"]) for r in rows if r["val/fid/latent"]}
    train = {int(r["step"]): float(r["train/iteration"]) for r in rows if r["train/iteration"]}
    assert val == {2: 2.0, 4: 4.0}  # measured after iterations 2 and 4, logged at their steps
    assert train == {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}
    assert "step" not in trainer.validate(module, datamodule=dm, verbose=False)[0]


class ConstantEvaluator:
    """A figure that never improves."""

    def evaluate(self, model, datamodule) -> dict[str, float]:
        return {"FID_latent/mean": 1.0}


def test_early_stopping_is_reported_with_its_reason(tmp_path, caplog):
    """A run that EarlyStopping ends says so and why, not that a limit cut it short."""
    from lightning.pytorch.callbacks import EarlyStopping

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    module = StarGANv2Module(**{**TINY, "total_iters": 8})
    module.evaluator = ConstantEvaluator()
    stop = EarlyStopping(monitor="val/fid/latent", mode="min", patience=1)
    trainer = quiet_trainer(
        callbacks=[stop],
        val_check_interval=2,
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    with caplog.at_level(logging.INFO, logger="starganv2.models.base"):
        trainer.fit(module, datamodule=dm)
    assert module.iteration == 4  # measured at 2 and 4, no improvement at 4
    messages = [r.getMessage() for r in caplog.records if r.name == "starganv2.models.base"]
    assert any(
        "stopped early at iteration 4 of model.total_iters=8 by EarlyStopping: Monitored metric "
        "val/fid/latent did not improve" in m
        for m in messages
    ), messages
    assert not any("set the length with model.total_iters" in m for m in messages)
