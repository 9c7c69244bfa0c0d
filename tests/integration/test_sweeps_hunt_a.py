"""Sweeps and searches end to end at tiny size: each Optuna trial in its own folder, a refused
launch that keeps the earlier run's record, several processes refused under a local multirun, a
DDP run that returns its optimized metric; and configs that compose (StarGAN v1 resolved, the
SLURM launcher with an uncountable trainer.devices)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli import train
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.integration.conftest import (
    TINY_OVERRIDES,
    TINY_SHAPES,
    compose_train,
    run_cli,
    tiny_train_cfg,
)
from tests.integration.test_cluster import compose_with_hydra

EVAL = [
    "callbacks=eval",
    "callbacks.evaluation.evaluator.max_images_per_domain=2",
    "callbacks.evaluation.evaluator.num_outs_per_domain=2",
    "callbacks.evaluation.evaluator.metrics=[shapes_quality]",
    "optimized_metric=eval/shapes/position_error_px_latent",
]


def _tiny(shapes_cache: Path) -> list[str]:
    return [*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={shapes_cache}"]


@pytest.mark.slow
def test_an_optuna_search_that_also_sweeps_trains_each_trial_in_its_own_folder(
    tmp_path, shapes_cache
):
    """With `seed=0,1` on the command line every trial went to seed-0 and resumed the first one;
    a combination proposed twice stopped the search. Here one choice is proposed three times."""
    params = 'hydra.sweeper.params={model.lambda_sty:"choice(1)",model.lambda_ds:"choice(1,2)"}'
    args = ["-m", "hparams_search=optuna", "callbacks=default", "hydra.sweeper.n_trials=3"]
    args += ["seed=0,1", params, "optimized_metric=train/iteration", "run_name=o"]
    res = run_cli(["starganv2.cli.train", *args, *_tiny(shapes_cache)], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = tmp_path / "outputs" / "train" / "multirun" / "o"
    trials = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.split("__")[0] for p in trials] == ["trial-000", "trial-001", "trial-002"]
    for trial in trials:
        assert (trial / "checkpoints" / "last.ckpt").is_file()
        done = OmegaConf.load(trial / "config_resolved.yaml")
        assert f"model.lambda_ds-{done.model.lambda_ds}" in trial.name
        assert f"seed-{done.seed}" in trial.name and "model.lambda_sty-1" in trial.name
    assert "resume" not in res.stdout + res.stderr  # no trial took another's checkpoint


@pytest.mark.slow  # the shapes classifier is trained once per test session
def test_every_key_the_evaluation_logs_may_be_the_optimized_metric(tmp_path, shapes_cache):
    """The check of optimized_metric before training knows the built-in metrics' keys: none of
    those they really log is refused."""
    extra = [
        *EVAL[:3],
        "~callbacks.evaluation.evaluator.metrics",
        "+callbacks.evaluation.evaluator.metrics={shapes_quality: {shift_px: [1]}}",
    ]
    cfg = tiny_train_cfg(tmp_path, shapes_cache, extra)
    metrics = train.run(cfg)
    logged = [k for k in metrics if k.startswith("eval/shapes/")]
    assert "eval/shapes/shift_error_px_1px" in logged and len(logged) > 10
    cfg = tiny_train_cfg(tmp_path / "check", shapes_cache, extra)
    callbacks = train.build_callbacks(cfg)
    model = StarGANv2Module(total_iters=2, img_size=32, dim_in=16, max_conv_dim=32)
    for key in logged:
        OmegaConf.update(cfg, "optimized_metric", key)
        train._check_optimized_metric(cfg, callbacks, model)


@pytest.mark.slow
def test_a_launch_refused_for_its_run_folder_keeps_that_runs_record(tmp_path, shapes_cache):
    """The refused launch's .hydra/config.yaml said lambda_sty 2 beside a run trained at 0.5."""
    tiny = ["starganv2.cli.train", *_tiny(shapes_cache), "run_name=x"]
    first = run_cli([*tiny, "model.lambda_sty=0.5"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "outputs" / "train" / "x"
    before = {p.name: p.read_text() for p in (run / ".hydra").iterdir()}
    refused = run_cli([*tiny, "model.lambda_sty=2", "model.lambda_cyc=9"], tmp_path)
    assert refused.returncode == 1
    assert "already holds a run's checkpoints" in refused.stdout + refused.stderr
    assert {p.name: p.read_text() for p in (run / ".hydra").iterdir()} == before
    assert OmegaConf.load(run / ".hydra" / "config.yaml").model.lambda_sty == 0.5
    resumed = run_cli(
        [*tiny, "model.lambda_sty=0.5", "model.total_iters=3", "resume=auto"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert OmegaConf.load(run / ".hydra" / "config.yaml").model.total_iters == 3


@pytest.mark.slow
def test_several_processes_in_a_local_multirun_are_refused_before_training(tmp_path, shapes_cache):
    """Lightning restarted rank 1 with the `-m` command line: it ran the whole sweep again."""
    args = ["-m", "trainer=ddp_cpu", "trainer.devices=2", "seed=0,1", "run_name=m"]
    res = run_cli(["starganv2.cli.train", *args, *_tiny(shapes_cache)], tmp_path, timeout=120)
    assert res.returncode == 1
    said = res.stdout + res.stderr
    errors = [line for line in said.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "trainer.devices=2 starts 2 processes" in errors[0]
    assert "Traceback" not in said
    assert not list((tmp_path / "outputs").rglob("config_resolved.yaml"))


@pytest.mark.slow
def test_a_ddp_run_returns_its_optimized_metric_on_rank_zero_only(tmp_path, shapes_cache):
    """Rank 1 raised KeyError: the evaluation's results reach rank 0 alone."""
    args = ["trainer=ddp_cpu", "trainer.devices=2", "data.batch_size=2", "run_name=d"]
    res = run_cli(["starganv2.cli.train", *_tiny(shapes_cache), *EVAL, *args], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "was not logged" not in res.stderr + res.stdout


@pytest.mark.parametrize(
    "overrides", [["experiment=stargan_v1"], ["experiment=stargan_v1_quick"], ["model=stargan_v1"]]
)
def test_stargan_v1_resolves_whole(tmp_path, overrides):
    """`--cfg job --resolve` stopped at model.exclusive: a list default of oc.select."""
    cfg = compose_train(overrides, tmp_path)
    OmegaConf.resolve(cfg)  # in place, as `--cfg job --resolve` does
    assert cfg.model.exclusive == []
    with_groups = compose_train(["experiment=stargan_v1_attributes"], tmp_path)
    assert OmegaConf.to_container(with_groups.model, resolve=True)["exclusive"] == [
        ["circle", "square", "triangle"]
    ]


def test_the_slurm_launcher_with_devices_auto_is_one_line(caplog):
    """A raw InterpolationValidationError traceback from ${trainer.devices}=auto."""
    cfg = compose_with_hydra(["hydra/launcher=slurm", "experiment=afhq", "trainer=ddp"])
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert "set trainer.devices=<GPUs per node>" in caplog.text
