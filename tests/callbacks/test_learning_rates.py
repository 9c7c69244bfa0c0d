"""The learning-rate monitor logs each iteration's rates at that iteration, the losses' step."""

from __future__ import annotations

import csv

from lightning.pytorch.callbacks import LearningRateMonitor as LightningMonitor
from lightning.pytorch.loggers import CSVLogger

from starganv2.callbacks.learning_rates import LearningRateMonitor
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader


def _steps(tmp_path, monitor) -> tuple[dict[str, list[int]], list[str]]:
    logger = CSVLogger(tmp_path, name="csv")
    trainer = quiet_trainer(callbacks=[monitor], logger=logger, log_every_n_steps=2)
    trainer.fit(StarGANv2Module(**TINY, total_iters=4), random_loader(n=4))
    with open(next(tmp_path.glob("csv/version_*/metrics.csv"))) as fh:
        rows = list(csv.DictReader(fh))
    steps = {
        key: [int(r["step"]) for r in rows if r.get(key)]
        for key in ("lr-generator", "lr-discriminator", "train/g_latent/adv")
    }
    return steps, list(rows[0])


def test_rates_are_logged_at_the_iteration_of_the_losses(tmp_path):
    steps, columns = _steps(tmp_path, LearningRateMonitor())
    assert steps["train/g_latent/adv"] == [2, 4]
    assert steps["lr-generator"] == steps["lr-discriminator"] == [2, 4]
    assert {"lr-mapping_network", "lr-style_encoder"} <= set(columns)


def test_lightnings_own_monitor_is_one_behind(tmp_path):
    """Why the subclass exists: if Lightning changes this, the subclass can go."""
    steps, _ = _steps(tmp_path, LightningMonitor())
    assert steps["lr-generator"] == [1, 3]
    assert steps["train/g_latent/adv"] == [2, 4]
