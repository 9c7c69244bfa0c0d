"""``trainer.val_check_interval`` is set by ``val_every_n_iters`` (conf/trainer/default.yaml),
which also sets the validation batch and the evaluator: given alone it was silently ignored while
Lightning logged that validation would run after every batch, so it is refused, as is a value
that disagrees with ``val_every_n_iters``."""

from __future__ import annotations

import pytest

from starganv2.cli.config_check import ConfigError
from starganv2.cli.train import check_validation_interval
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["trainer.val_check_interval=5"],
            "trainer.val_check_interval=5 without val_every_n_iters: validation is off, so it "
            "would be ignored; set val_every_n_iters=5 instead (iterations between "
            "validations; it sets trainer.val_check_interval)",
        ),
        (
            ["trainer.val_check_interval=0.5"],
            "trainer.val_check_interval=0.5 without val_every_n_iters: validation is off, so it "
            "would be ignored; set val_every_n_iters=N instead",
        ),
        (
            ["val_every_n_iters=10", "trainer.val_check_interval=5"],
            "trainer.val_check_interval=5 and val_every_n_iters=10 disagree: set "
            "val_every_n_iters only (it sets trainer.val_check_interval)",
        ),
    ],
)
def test_a_validation_interval_that_val_every_n_iters_does_not_set_is_refused(
    tmp_path, overrides, message
):
    cfg = compose_train(overrides, tmp_path / "run")
    with pytest.raises(ConfigError) as err:
        check_validation_interval(cfg)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    "overrides",
    [[], ["val_every_n_iters=10"], ["val_every_n_iters=10", "trainer.val_check_interval=10"]],
)
def test_val_every_n_iters_and_its_own_interval_are_accepted(tmp_path, overrides):
    check_validation_interval(compose_train(overrides, tmp_path / "run"))


def test_train_refuses_it_before_training(tmp_path):
    from starganv2.cli.train import run

    cache = tmp_path / "cache"
    over = [*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={cache}"]
    cfg = compose_train([*over, "trainer.val_check_interval=1"], tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^trainer\.val_check_interval=1 without val_every"):
        run(cfg)
    assert not (tmp_path / "run").exists() and not cache.exists()
