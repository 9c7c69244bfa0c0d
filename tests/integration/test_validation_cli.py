"""Validation during `starganv2-train`: `val_every_n_iters` sets Lightning's validation interval,
the built-in shapes data validate offline, missing weights stop the run before it starts, and the
evaluator's errors name the training config's keys in full."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.config_check import instantiate
from starganv2.cli.train import run, validation_evaluator
from starganv2.evaluation.backbones import MissingWeightsError
from tests.helpers.console import WEIGHT_PLACEHOLDERS, pasted
from tests.integration.conftest import compose_train, tiny_train_cfg

MONITOR = "val/shapes/target_accuracy_latent"
QUICK_EVAL = ["evaluator.max_images_per_domain=2", "evaluator.num_outs_per_domain=2"]


def test_val_every_n_iters_is_the_trainers_validation_interval(tmp_path):
    default = compose_train([], tmp_path).trainer
    assert (default.val_check_interval, default.limit_val_batches) == (None, 0)  # no validation
    every = compose_train(["val_every_n_iters=3"], tmp_path).trainer
    assert (every.val_check_interval, every.limit_val_batches) == (3, 1)
    assert every.check_val_every_n_epoch is None  # counted across epochs


@pytest.mark.slow  # about 35 s: the shapes classifier is trained once
def test_training_validates_on_shapes_offline_for_early_stopping(
    tmp_path, shapes_cache, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # no FID/LPIPS weights
    stop = (
        "+callbacks.early_stopping={_target_: lightning.pytorch.callbacks.EarlyStopping, "
        f"monitor: '{MONITOR}', mode: max, patience: 5}}"
    )
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["val_every_n_iters=1", *QUICK_EVAL, stop])
    metrics = run(cfg)
    assert metrics["iteration"] == 2
    assert 0.0 <= metrics[MONITOR] <= 1.0
    assert not any(k.startswith("val/fid") for k in metrics)  # auto on shapes: shapes_quality


def test_missing_weights_stop_the_run_before_training(tmp_path, shapes_cache, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    extra = ["val_every_n_iters=1", "evaluator.metrics=[fid_lpips]"]
    with pytest.raises(MissingWeightsError, match="alexnet"):
        run(tiny_train_cfg(tmp_path, shapes_cache, extra))
    assert not (Path(tmp_path) / "run" / "checkpoints").exists()


def test_val_every_n_iters_must_be_a_positive_integer(tmp_path, shapes_cache):
    with pytest.raises(ValueError, match=r"val_every_n_iters=0 is invalid: expected an integer"):
        run(tiny_train_cfg(tmp_path, shapes_cache, ["val_every_n_iters=0"]))


@pytest.mark.parametrize(
    ("given", "key", "build"),
    [
        (
            ["val_every_n_iters=10", "evaluator.metrics=[fid_lpips,shapes_quality]"],
            "evaluator.metrics",
            validation_evaluator,
        ),
        (
            ["callbacks=eval", "callbacks.evaluation.evaluator.metrics=[fid_lpips,shapes_quality]"],
            "callbacks.evaluation.evaluator.metrics",
            lambda cfg: instantiate(cfg.callbacks.evaluation),
        ),
    ],
)
def test_a_weight_hint_for_a_list_of_metrics_works_as_printed(
    tmp_path, monkeypatch, given, key, build
):
    """The training config's keys in full, in the form that composes with a list of metrics
    (``++evaluator.metrics.fid_lpips.<key>=...`` cannot index a list)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(MissingWeightsError) as err:
        build(compose_train(given, tmp_path))
    tokens = pasted(str(err.value))
    assert tokens[0] == f"~{key}" and tokens[1].startswith(f"+{key}={{fid_lpips: {{fid_weights: ")
    for overrides in (given + tokens, given[:1] + tokens):
        cfg = compose_train(overrides, tmp_path)
        assert OmegaConf.to_container(OmegaConf.select(cfg, key)) == {
            "fid_lpips": WEIGHT_PLACEHOLDERS,
            "shapes_quality": {},
        }


def test_evaluator_errors_name_the_training_keys(tmp_path):
    """The evaluator names its arguments (``modes``, ``save_images``, a metric's weight file);
    in training they are given in full."""
    page = tmp_path / "page.pth"
    page.write_text("<html>\n")
    cases = [
        (["evaluator.modes=[latnet]"], r"^evaluator\.modes=\['latnet'\]: expected null"),
        (
            ["evaluator.metrics=[shapes_quality]", f"evaluator.save_images={tmp_path}"],
            r"^evaluator\.save_images=.* nothing: evaluator\.metrics=\['shapes_quality'\] runs",
        ),
        (
            [
                f"++evaluator.metrics.fid_lpips.fid_weights={page}",
                f"++evaluator.metrics.fid_lpips.lpips_weights={page}",
            ],
            rf"^evaluator\.metrics\.fid_lpips\.fid_weights={page} is a text file",
        ),
    ]
    for extra, message in cases:
        cfg = compose_train(["val_every_n_iters=10", *extra], tmp_path)
        with pytest.raises(ValueError, match=message):
            validation_evaluator(cfg)
    cfg = compose_train(
        ["callbacks=eval", "callbacks.evaluation.evaluator.modes=[latnet]"], tmp_path
    )
    with pytest.raises(ValueError, match=r"^callbacks\.evaluation\.evaluator\.modes=\['latnet'\]"):
        instantiate(cfg.callbacks.evaluation)
