"""An Optuna search whose study is kept in a database (``hydra.sweeper.storage=sqlite:///s.db``).
With Optuna 2 (the one hydra-optuna-sweeper allows) and SQLAlchemy 2 every database failed in an
``AssertionError`` traceback; a database Optuna cannot open was the sweeper's traceback; a
relaunch into a study that holds trials numbered its trials from 0 again, so they took the
earlier trials' folders (refused, or with ``resume=auto`` told the study the earlier results
again). Now: one error line before any trial, and trials numbered on from the study's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.job_names import job_folder
from starganv2.cli.sweep_check import _version, first_trial_number, storage_error
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, run_cli

optuna = pytest.importorskip("optuna")
sqlalchemy = pytest.importorskip("sqlalchemy")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

ROOT = Path(__file__).resolve().parents[2]
OPTUNA = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
WORKS = _version(optuna.__version__) >= (3,) or _version(sqlalchemy.__version__) < (2,)
needs_working_storage = pytest.mark.skipif(
    not WORKS, reason="Optuna 2 with SQLAlchemy 2 opens no database (install starganv2[cluster])"
)


def _config(storage: str | None, study_name: str = "s") -> object:
    sweeper = {"_target_": OPTUNA, "storage": storage, "study_name": study_name}
    return OmegaConf.create({"hydra": {"sweeper": sweeper}})


def test_a_continued_study_numbers_its_trials_on_from_its_own(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train", "-m", "hparams_search=optuna"])
    same = ["model.lambda_sty=1", "hparams_search=optuna"]
    assert job_folder(same, 0, OPTUNA, "20") == "trial-020__model.lambda_sty-1"
    assert job_folder(same, 3, OPTUNA, 20) == "trial-023__model.lambda_sty-1"
    assert job_folder(same, 3, OPTUNA) == "trial-003__model.lambda_sty-1"
    assert job_folder(same, 3, BASIC, "20") == "model.lambda_sty-1"


def test_optuna_2_with_sqlalchemy_2_is_named_with_the_command_that_mends_it(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(optuna, "__version__", "2.10.1")
    monkeypatch.setattr(sqlalchemy, "__version__", "2.1.9")
    url = f"sqlite:///{tmp_path / 's.db'}"
    error = storage_error(_config(url))
    assert error == (
        f"hydra.sweeper.storage={url}: Optuna 2.10.1 (the version hydra-optuna-sweeper installs) "
        "cannot use SQLAlchemy 2.1.9; install an earlier one: pip install 'sqlalchemy<2' (the "
        "cluster extra pins it)"
    )
    assert not (tmp_path / "s.db").exists()  # said before anything is opened


def test_no_storage_is_no_error() -> None:
    assert storage_error(_config(None)) is None
    assert first_trial_number(_config(None)) == 0


@needs_working_storage
def test_a_database_optuna_cannot_open_is_named(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 's.db'}"
    error = storage_error(_config(url))
    assert error is not None
    assert error.startswith(f"hydra.sweeper.storage={url}: Optuna cannot open it (")
    assert storage_error(_config(f"sqlite:///{tmp_path / 's.db'}")) is None


@needs_working_storage
def test_the_first_trial_number_is_the_count_the_study_holds(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="s")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    optuna.create_study(storage=url, study_name="other")
    assert first_trial_number(_config(url, "s")) == 3
    assert first_trial_number(_config(url, "other")) == 0
    assert first_trial_number(_config(url, "new")) == 0


def _search(tmp_path: Path, storage: str) -> list[str]:
    tiny = [*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={tmp_path / 'cache'}"]
    return [
        "starganv2.cli.train",
        "-m",
        "hparams_search=optuna",
        "callbacks=default",
        "hydra.sweeper.n_trials=1",
        'hydra.sweeper.params={model.lambda_sty:"choice(1,2)"}',
        "optimized_metric=train/iteration",
        "run_name=o",
        f"hydra.sweeper.storage={storage}",
        *tiny,
    ]


def test_a_search_whose_database_cannot_be_opened_is_one_line_before_any_trial(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'missing' / 's.db'}"
    proc = run_cli(_search(tmp_path, storage), tmp_path, timeout=120)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1, lines
    assert len(lines) == 1, lines
    assert f"hydra.sweeper.storage={storage}: " in lines[0]
    assert lines[0].endswith("; no trial has run")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
@needs_working_storage
def test_a_relaunched_search_continues_its_study_in_new_trial_folders(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    first = run_cli(_search(tmp_path, storage), tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli(_search(tmp_path, storage), tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    said = second.stdout + second.stderr
    assert "holds 1 trial: this launch's are numbered from trial-001" in said
    sweep = tmp_path / "outputs" / "train" / "multirun" / "o"
    trials = sorted(p.name.split("__")[0] for p in sweep.iterdir() if p.is_dir())
    assert trials == ["trial-000", "trial-001"]
    study = optuna.load_study(study_name="starganv2_loss_weights", storage=storage)
    assert [t.value for t in study.trials] == [2.0, 2.0]
