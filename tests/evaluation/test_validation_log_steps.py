"""Validation during training logs the evaluator's figures at the logger step of the iteration's
own training logs (``step=iteration``), as docs/evaluation.md says, not one step before."""

from __future__ import annotations

import csv

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
