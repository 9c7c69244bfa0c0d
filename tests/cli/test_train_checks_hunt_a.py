"""Checks of starganv2-train that stop a run, a sweep or a search before it trains in vain: an
``optimized_metric`` the run will not log, several processes under a local multirun, a bad
``trainer.devices``; and what a sweep's jobs say and return."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from hydra.types import RunMode
from lightning.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from omegaconf import OmegaConf

from starganv2.callbacks.evaluation import EvaluationCallback
from starganv2.cli import train
from starganv2.cli.config_check import ConfigError
from starganv2.evaluation.evaluator import Evaluator

SHAPES = {"_target_": "starganv2.data.shapes.ShapesDataModule"}
STYLE_MODEL = SimpleNamespace(guidance_modes=("latent", "reference"), evaluator=None)


def _eval_callbacks(metrics=("shapes_quality",)):
    return [EvaluationCallback(evaluator={"metrics": list(metrics)})]


def _cfg(key, **top):
    return OmegaConf.create(
        {"optimized_metric": key, "val_every_n_iters": None, "data": SHAPES, **top}
    )


@pytest.mark.parametrize(
    "key",
    [
        "eval/shapes/position_error_px_latent",
        "eval/shapes/target_accuracy_reference",
        "eval/shapes/ref_color_error",
        "eval/shapes/position_error_px_real",
        "train/generator/adv",  # the training's own keys are not the evaluation's to check
        "iteration",
    ],
)
def test_a_key_the_evaluation_logs_is_taken(key):
    train._check_optimized_metric(_cfg(key), _eval_callbacks(), STYLE_MODEL)


@pytest.mark.parametrize(
    ("key", "expected"),
    [  # a typo; a metric that does not run; a mode the model lacks
        ("eval/shapes/position_error_latent", "eval/shapes/position_error_px_latent"),
        ("eval/FID_latent/mean", "eval/shapes/position_error_px_latent"),
        ("eval/shapes/position_error_px_label", "modes ['latent', 'reference']"),
    ],
)
def test_a_key_the_evaluation_will_not_log_is_refused_before_training(key, expected):
    """Found only after the whole training, as a KeyError traceback."""
    with pytest.raises(ConfigError, match="optimized_metric=") as err:
        train._check_optimized_metric(_cfg(key), _eval_callbacks(), STYLE_MODEL)
    assert repr(key) in str(err.value) and expected in str(err.value)
    assert "\n" not in str(err.value)


def test_a_validation_key_needs_validation_and_one_of_its_keys():
    key = "val/shapes/position_error_px_latent"
    with pytest.raises(ConfigError, match=r"val_every_n_iters=null\): set val_every_n_iters=N"):
        train._check_optimized_metric(_cfg(key), [], STYLE_MODEL)
    model = SimpleNamespace(
        guidance_modes=("latent", "reference"), evaluator=Evaluator(metrics=["shapes_quality"])
    )
    train._check_optimized_metric(_cfg(key, val_every_n_iters=2), [], model)
    with pytest.raises(ConfigError, match="e.g. val/shapes/position_error_px_latent"):
        train._check_optimized_metric(
            _cfg("val/shapes/position_error_latent", val_every_n_iters=2), [], model
        )


def test_validation_keys_of_fid_are_mapped_back_to_the_evaluators():
    assert train._evaluator_key("fid/latent") == "FID_latent/mean"
    assert train._evaluator_key("lpips/reference/cat2dog") == "LPIPS_reference/cat2dog"
    assert train._evaluator_key("shapes/box_iou_latent") == "shapes/box_iou_latent"


def test_the_keys_of_a_metric_of_ones_own_are_not_judged():
    class Mine:
        def evaluate(self, model, datamodule):
            return {"anything": 1.0}

    cb = EvaluationCallback(evaluator=Evaluator(metrics=["shapes_quality"]))
    cb.evaluator = Mine()
    train._check_optimized_metric(_cfg("eval/anything"), [cb], STYLE_MODEL)


@pytest.mark.parametrize("devices", ["two", 0, -1])
def test_a_bad_trainer_devices_is_one_line_naming_it(devices):
    """Hydra's "Error in call to target ... Trainer" and its HYDRA_FULL_ERROR hint."""
    node = OmegaConf.create(
        {"_target_": "lightning.pytorch.Trainer", "accelerator": "cpu", "devices": devices}
    )
    with pytest.raises(ConfigError, match=rf"^trainer\.devices={devices!r} is invalid") as err:
        train._instantiate_trainer(node, logger=False)
    assert "\n" not in str(err.value)


def _trainer(world_size, environment):
    strategy = SimpleNamespace(cluster_environment=environment)
    return SimpleNamespace(world_size=world_size, num_devices=world_size, strategy=strategy)


def test_several_processes_started_by_lightning_are_refused_in_a_multirun(monkeypatch):
    """Lightning restarted rank 1 with the whole `-m` command line: it ran the sweep again."""
    monkeypatch.setattr(train, "_hydra_config", lambda: SimpleNamespace(mode=RunMode.MULTIRUN))
    monkeypatch.setenv("LOCAL_RANK", "0")  # what an earlier DDP job of the sweep leaves behind
    with pytest.raises(ConfigError, match="use hydra/launcher=slurm") as err:
        train.check_one_process_per_job(_trainer(2, LightningEnvironment()))
    assert str(err.value).startswith("trainer.devices=2 starts 2 processes")
    train.check_one_process_per_job(_trainer(1, LightningEnvironment()))
    train.check_one_process_per_job(_trainer(2, SLURMEnvironment()))  # srun starts each task
    monkeypatch.setattr(train, "_hydra_config", lambda: SimpleNamespace(mode=RunMode.RUN))
    train.check_one_process_per_job(_trainer(2, LightningEnvironment()))


def test_only_rank_zero_returns_the_optimized_metric(monkeypatch):
    """Rank 1 of a DDP run raised "optimized_metric=... was not logged": the evaluation's
    results reach rank 0 alone."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr("starganv2.cli.common.run_or_exit", lambda *a, **k: {"iteration": 2.0})
    cfg = OmegaConf.create({"optimized_metric": "eval/shapes/position_error_px_latent"})
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    assert train.main.__wrapped__(cfg) is None
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    with pytest.raises(KeyError, match="was not logged"):
        train.main.__wrapped__(cfg)


def _hydra(tmp_path, hydra_overrides):
    return SimpleNamespace(
        mode=RunMode.MULTIRUN,
        overrides=SimpleNamespace(hydra=hydra_overrides),
        runtime=SimpleNamespace(cwd=str(tmp_path)),
        sweep=SimpleNamespace(dir="sweeps/s1"),
    )


def test_a_stopped_sweep_job_names_the_sweep_folder_it_was_given(tmp_path, monkeypatch, caplog):
    """The continuation said run_name=<date> resume=auto, which started over elsewhere."""
    out = tmp_path / "sweeps" / "s1" / "seed-0"
    (out / "checkpoints").mkdir(parents=True)
    torch.save({}, out / "checkpoints" / "last.ckpt")
    model = SimpleNamespace(iteration=3, hparams=SimpleNamespace(total_iters=9))
    cfg = OmegaConf.create({"run_name": "2026-12-05_10-00-00"})
    monkeypatch.setattr(
        train, "_hydra_config", lambda: _hydra(tmp_path, ["hydra.sweep.dir=sweeps/s1"])
    )
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        train._report_stopped(cfg, out, model)
    folder = (tmp_path / "sweeps" / "s1").resolve()
    assert f"with hydra.sweep.dir={folder} run_name=2026-12-05_10-00-00 resume=auto" in caplog.text
    caplog.clear()
    monkeypatch.setattr(train, "_hydra_config", lambda: _hydra(tmp_path, []))
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        train._report_stopped(cfg, out, model)
    assert "with run_name=2026-12-05_10-00-00 resume=auto" in caplog.text
    assert "hydra.sweep.dir" not in caplog.text


@pytest.mark.parametrize(
    ("finished", "warned"),
    [("model.lambda_sty-1", False), ("model.lambda_ds-1__model.lambda_sty-1", True)],
)
def test_a_job_without_checkpoint_is_warned_of_only_beside_differently_named_jobs(
    tmp_path, monkeypatch, caplog, finished, warned
):
    """A relaunch with the same swept keys warned for every job that had not started yet."""
    (tmp_path / finished / "checkpoints").mkdir(parents=True)
    torch.save({}, tmp_path / finished / "checkpoints" / "last.ckpt")
    monkeypatch.setattr(train, "_hydra_config", lambda: SimpleNamespace(mode=RunMode.MULTIRUN))
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        train._warn_other_jobs(tmp_path / "model.lambda_sty-2")
    assert ("has no checkpoint" in caplog.text) is warned
