"""The optimizers reach Lightning named after their nets: ``LearningRateMonitor`` logs
``lr-generator``, ``lr-mapping_network``, ... instead of ``lr-Adam``, ``lr-Adam-1``, ..., and the
schedulers that carry the names change no learning rate."""

from __future__ import annotations

import csv

import pytest
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v1.step import learning_rate
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, TINY_V1, quiet_trainer, random_loader


def fit_with_monitor(module, tmp_path, n: int):
    """Fit ``module`` on ``n`` random items with Lightning's ``LearningRateMonitor`` (default
    settings) and a CSV logger writing every iteration; returns the monitor and the trainer."""
    monitor = LearningRateMonitor()
    trainer = quiet_trainer(
        callbacks=[monitor], logger=CSVLogger(tmp_path, name="lr"), log_every_n_steps=1
    )
    trainer.fit(module, random_loader(n=n))
    return monitor, trainer


def logged_columns(trainer) -> list[str]:
    with open(f"{trainer.logger.log_dir}/metrics.csv", newline="") as f:
        return next(csv.reader(f))


def test_stargan_v2_rates_are_logged_under_the_nets_names_and_stay_constant(tmp_path):
    module = StarGANv2Module(**TINY, total_iters=3, lr=3e-4, f_lr=2e-6)
    monitor, trainer = fit_with_monitor(module, tmp_path, n=6)
    names = ["lr-generator", "lr-mapping_network", "lr-style_encoder", "lr-discriminator"]
    assert list(monitor.lrs) == names
    assert set(names) <= set(logged_columns(trainer))
    assert not any(c.startswith("lr-Adam") for c in logged_columns(trainer))
    assert monitor.lrs["lr-mapping_network"] == [2e-6] * 3  # f_lr
    for name in ("lr-generator", "lr-style_encoder", "lr-discriminator"):
        assert monitor.lrs[name] == [3e-4] * 3
    rates = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]
    assert rates == [3e-4, 2e-6, 3e-4, 3e-4]  # exactly: the schedulers never change a rate


def test_stargan_v1_decay_is_logged_under_the_nets_names(tmp_path):
    kw = {"total_iters": 4, "lr_decay": "linear", "lr_decay_iters": 4}
    module = StarGANv1Module(**TINY_V1, **kw, n_critic=2, g_lr=2e-4, d_lr=1e-4)
    monitor, trainer = fit_with_monitor(module, tmp_path, n=8)
    assert list(monitor.lrs) == ["lr-generator", "lr-discriminator"]
    # read before each iteration's step: the rate the previous iteration set (the base at first)
    for name, base in (("lr-generator", 2e-4), ("lr-discriminator", 1e-4)):
        want = [learning_rate(max(i - 1, 0), base, 4, 4, "linear") for i in range(4)]
        assert monitor.lrs[name] == pytest.approx(want)
        assert want[0] > want[-1]  # the decay shows
    rates = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]
    assert rates == [learning_rate(3, 2e-4, 4, 4, "linear"), learning_rate(3, 1e-4, 4, 4, "linear")]


@pytest.mark.parametrize("module_class", [StarGANv2Module, StarGANv1Module])
def test_build_optimizers_gives_the_same_optimizers_lightning_gets(module_class):
    module = module_class(**(TINY if module_class is StarGANv2Module else TINY_V1))
    built = module.build_optimizers()
    configured = module.configure_optimizers()
    assert [c["lr_scheduler"]["name"] for c in configured] == [
        f"lr-{n}" for n in module.OPTIMIZER_ORDER
    ]
    for opt, conf in zip(built, configured):
        assert type(opt) is type(conf["optimizer"])
        assert opt.defaults["lr"] == conf["optimizer"].param_groups[0]["lr"]
        assert conf["lr_scheduler"]["scheduler"].optimizer is conf["optimizer"]
