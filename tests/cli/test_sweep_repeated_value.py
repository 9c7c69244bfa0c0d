"""``starganv2-train -m model.lambda_sty=1,1 run_name=x``: both jobs had one folder, and the second
was refused as a new run in a used folder with "add resume=auto to continue that run", which hid
the repeated value. A swept list that gives a value twice is now one error line naming the key
and the value, before any job runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.job_names import RepeatedSweepValueCheck, repeated_sweep_value
from tests.helpers.console import the_one_error_line
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.lambda_sty=1,1", "run_name=x"], ("model.lambda_sty", "1")),
        (["seed=0,1", "model.lambda_ds=choice(2,3,2)"], ("model.lambda_ds", "2")),
        (["experiment=quick,quick"], ("experiment", "quick")),
        (["model.lambda_sty=0.5,1,2", "model.lambda_ds=1,2"], None),
        (["model.lambda_sty=1,1.0", "seed=range(0,3)", "data.domains=[a,a]"], None),
    ],
)
def test_a_value_listed_twice_is_found(overrides: list[str], expected: object) -> None:
    assert repeated_sweep_value(overrides) == expected


def test_the_callback_exits_before_the_sweep(caplog: pytest.LogCaptureFixture) -> None:
    config = OmegaConf.create({"hydra": {"overrides": {"task": ["model.lambda_sty=1,1"]}}})
    with pytest.raises(SystemExit) as info:
        RepeatedSweepValueCheck().on_multirun_start(config)
    assert info.value.code == 1
    assert "model.lambda_sty lists the value 1 twice" in caplog.text
    config.hydra.overrides.task = ["model.lambda_sty=1,2"]
    RepeatedSweepValueCheck().on_multirun_start(config)  # each once: goes on


def test_a_repeated_value_is_one_line_and_no_job(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["starganv2.cli.train", "-m", "model.lambda_sty=1,1", "run_name=x"]
        + [f"hydra.sweep.dir={sweep}", f"data.cache_dir={tmp_path / 'cache'}"],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    line = the_one_error_line(proc)
    assert "model.lambda_sty lists the value 1 twice" in line
    assert not sweep.exists()
