"""``starganv2-train -m hparams_search=optuna model.lambda_sty=interval(4,1)``: a search space
that Optuna cannot sample (low above high, a log range from 0), or a direction that is neither
minimize nor maximize, stopped the search with Optuna's traceback. It is one error line naming
the entry, before any trial runs or folder is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.sweep_check import direction_error, search_space_error
from tests.integration.conftest import run_cli

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

ROOT = Path(__file__).resolve().parents[2]


def _config(params: dict, task: list[str], **sweeper_keys):
    sweeper = {
        "_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
        **sweeper_keys,
    }
    return OmegaConf.create(
        {"hydra": {"sweeper": {**sweeper, "params": params}, "overrides": {"task": task}}}
    )


@pytest.mark.parametrize(
    ("params", "task", "error"),
    [
        (
            {"model.lambda_sty": "interval(0.25, 4.0)"},
            ["model.lambda_ds=interval(4,1)", "run_name=s"],
            "model.lambda_ds=interval(4,1): The `low` value must be smaller than or equal to "
            "the `high` value (low=4.0, high=1.0)",
        ),
        (
            {"model.lambda_cyc": "tag(log, interval(0, 1))"},
            ["run_name=s"],
            "model.lambda_cyc=tag(log, interval(0, 1)): The `low` value must be larger than 0 "
            "for a log distribution (low=0.0, high=1.0)",
        ),
        ({"model.lambda_sty": "interval(0.25, 4.0)"}, ["model.lambda_ds=1,2", "seed=0"], None),
    ],
)
def test_the_first_entry_optuna_cannot_sample_is_named(params, task, error) -> None:
    assert search_space_error(_config(params, task)) == error


@pytest.mark.parametrize(
    ("direction", "error"),
    [
        ("minimize", None),
        (["minimize", "maximize"], None),
        ("maximise", "hydra.sweeper.direction='maximise': expected minimize or maximize"),
        (["maximize", "min"], "hydra.sweeper.direction=['maximize', 'min']: expected"),
    ],
)
def test_a_direction_optuna_refuses_is_named(direction, error) -> None:
    found = direction_error(_config({}, [], direction=direction))
    assert found == error if error is None else found.startswith(error)


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("model.lambda_sty=interval(4,1)", "the Optuna search space has model.lambda_sty=interval"),
        ("hydra.sweeper.direction=maximise", "hydra.sweeper.direction='maximise': expected"),
    ],
)
def test_a_search_optuna_refuses_is_one_line_before_any_trial(tmp_path, setting, said) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["starganv2.cli.train", "-m", "hparams_search=optuna", setting]
        + [f"hydra.sweep.dir={sweep}", f"data.cache_dir={tmp_path / 'cache'}"],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1, lines
    assert len(lines) == 1, lines
    assert said in lines[0]
    assert "no trial has run" in lines[0]
    assert not sweep.exists()
