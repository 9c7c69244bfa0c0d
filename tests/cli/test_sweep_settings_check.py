"""``starganv2-train -m model.lambda_sty=1,-1,2``: Hydra composes a job's configuration when the
job starts, and a job that stops on bad input ends the sweep, so the first job trained, the
second was refused and the third never ran. Every job's settings are now checked when the sweep
starts: one error line naming the job and the reason, before any job runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.sweep_check import SweepSettingsCheck, sweep_jobs
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _sweep(tmp_path: Path, *overrides: str) -> tuple[int, list[str], Path]:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["starganv2.cli.train", "-m", "model.total_iters=1", *overrides]
        + [f"hydra.sweep.dir={sweep}", f"data.cache_dir={tmp_path / 'cache'}"],
        cwd=tmp_path,
        timeout=180,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return proc.returncode, lines, sweep


def test_sweep_jobs_are_the_basic_sweepers_product_in_launch_order() -> None:
    config = OmegaConf.create(
        {
            "hydra": {
                "sweeper": {"params": {"seed": "0,1"}},
                "overrides": {"task": ["model.lambda_sty=1,2", "run_name=x"]},
            }
        }
    )
    assert sweep_jobs(config) == [
        ["seed=0", "model.lambda_sty=1", "run_name=x"],
        ["seed=0", "model.lambda_sty=2", "run_name=x"],
        ["seed=1", "model.lambda_sty=1", "run_name=x"],
        ["seed=1", "model.lambda_sty=2", "run_name=x"],
    ]


def test_a_sweeper_that_chooses_as_it_goes_is_not_checked(monkeypatch) -> None:
    # an Optuna search: its jobs are unknown in advance, and nothing is composed or refused
    def composed(*args, **kwargs):
        raise AssertionError("an Optuna search's jobs were composed at its start")

    monkeypatch.setattr("starganv2.cli.sweep_check.job_config", composed)
    config = OmegaConf.create(
        {
            "hydra": {
                "sweeper": {"_target_": "hydra_plugins.hydra_optuna_sweeper.OptunaSweeper"},
                "overrides": {"task": ["model.lambda_sty=-1,2"]},
            }
        }
    )
    SweepSettingsCheck().on_multirun_start(config)  # neither composes nor exits
    config.hydra.sweeper._target_ = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    with pytest.raises(AssertionError, match="were composed"):  # the same lists, basic: composed
        SweepSettingsCheck().on_multirun_start(config)


def test_a_bad_value_in_a_later_job_stops_the_sweep_before_any_job(tmp_path: Path) -> None:
    code, lines, sweep = _sweep(tmp_path, "model.lambda_sty=1,-1,2")
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert "job #1 of 3 (model.lambda_sty=-1) would stop" in lines[0]
    assert "model.lambda_sty=-1 is invalid: expected a weight >= 0" in lines[0]
    assert not sweep.exists()  # no job folder, no multirun.yaml


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("trainer.max_epochs=3", "trainer.max_epochs=3 counts passes over the data"),
        ("model.total_iters=1,abc", "model.total_iters='abc' has the wrong type"),
        ("model.gradient_clip_val=-1", "model.gradient_clip_val=-1 is invalid"),
    ],
)
def test_settings_every_job_shares_or_one_job_has_are_refused_at_the_start(
    tmp_path: Path, setting: str, reason: str
) -> None:
    code, lines, sweep = _sweep(tmp_path, "model.lambda_ds=0,1", setting)
    assert code == 1, lines
    assert "would stop: " + reason in lines[-1], lines
    assert not sweep.exists()
