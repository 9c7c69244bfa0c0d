"""Validation during `starganv2-train`: `val_every_n_iters` sets Lightning's validation interval,
the built-in shapes data validate offline, missing weights stop the run before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from starganv2.cli.train import run
from starganv2.evaluation.backbones import MissingWeightsError
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
