"""Trainer options a Lightning user types without reading our docs: ``fast_dev_run`` runs N
iterations (it used to be refused with a message about ``trainer.max_steps``, which the user never
set), and an epoch limit that ends training before ``total_iters`` says so (it used to stop at
iteration 3 of 10 without a word)."""

from __future__ import annotations

import logging

import pytest

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader

TINY_V1 = {"img_size": 32, "num_domains": 2, "g_conv_dim": 8, "d_conv_dim": 8, "g_repeat_num": 1}


@pytest.mark.parametrize(("fast_dev_run", "iterations"), [(True, 1), (3, 3)])
def test_fast_dev_run_runs_n_iterations(fast_dev_run, iterations, caplog):
    module = StarGANv2Module(**TINY, total_iters=10)
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        quiet_trainer(fast_dev_run=fast_dev_run).fit(module, random_loader(n=10))
    assert module.iteration == iterations
    assert "training stopped at iteration" not in caplog.text  # that is what it is for


def test_fast_dev_run_for_stargan_v1():
    module = StarGANv1Module(**TINY_V1, n_critic=1, total_iters=10)
    quiet_trainer(fast_dev_run=2).fit(module, random_loader(n=10, num_domains=2))
    assert module.iteration == 2


def test_max_steps_set_by_the_user_is_still_refused():
    module = StarGANv2Module(**TINY, total_iters=10)
    with pytest.raises(ValueError, match=r"trainer.max_steps=2 counts optimizer steps"):
        quiet_trainer(max_steps=2).fit(module, random_loader(n=10))


def test_an_epoch_limit_before_total_iters_is_reported(caplog):
    module = StarGANv2Module(**TINY, total_iters=10)
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        quiet_trainer(max_epochs=1).fit(module, random_loader(n=6))  # 3 batches of 2
    assert module.iteration == 3
    assert (
        "training stopped at iteration 3 of model.total_iters=10: trainer.max_epochs=1"
        in caplog.text
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=abc", r"trainer\.max_epochs='abc' has the wrong type: expected"),
        ("trainer.max_epochs=1", r"trainer\.max_epochs=1 counts passes over the data"),
        ("+trainer.min_epochs=2", r"trainer\.min_epochs=2 counts passes over the data"),
    ],
)
def test_trainer_values_are_checked_before_data_setup(tmp_path, override, message):
    """A missing data folder would fail at data setup: the trainer's error comes first."""
    from starganv2.cli.config_check import ConfigError
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    data = ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"]
    cfg = compose_train([*TINY_OVERRIDES, *data, override], tmp_path / "run")
    with pytest.raises(ConfigError, match=message):
        run(cfg)
