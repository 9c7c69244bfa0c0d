"""A SLURM job that SLURM requeued (``hydra/launcher=slurm``'s ``max_num_timeout``, a
pre-emption) runs again with the command it was submitted with, without ``resume=auto``: it must
continue from its run folder's checkpoints, not refuse them as another run's (README, "Multi-GPU
and cluster runs")."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from starganv2.cli.config_check import ConfigError
from starganv2.cli.train import resolve_ckpt_path
from tests.cli.test_train_resume_checks import _cfg, _checkpoint


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    """A run folder with the checkpoints of iterations 2 and 4, in a job's first run."""
    monkeypatch.setattr("starganv2.cli.train._hydra_config", lambda: None)
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    _checkpoint(tmp_path / "run" / "checkpoints" / "iter_0000002.ckpt", 2)
    _checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", 4)
    return tmp_path / "run"


def test_a_requeued_job_continues_from_its_run_folder(run_dir, monkeypatch, caplog):
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with caplog.at_level(logging.INFO, logger="starganv2.train"):
        found = resolve_ckpt_path(_cfg(run_dir))
    assert found == (str(run_dir / "checkpoints" / "last.ckpt"), [])
    assert "SLURM restarted this job (SLURM_RESTART_COUNT=1, a requeue)" in caplog.text


def test_a_requeued_job_started_from_a_file_continues_its_own_progress(run_dir, monkeypatch):
    """Submitted with ckpt_path=afhq.ckpt (fine-tuning), the requeued job went back to that
    file's iteration and replaced the progress of its first run."""
    given = _checkpoint(run_dir.parent / "afhq.ckpt", 0)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    found = resolve_ckpt_path(_cfg(run_dir, ckpt_path=str(given)))
    assert found == (str(run_dir / "checkpoints" / "last.ckpt"), [])


def test_a_requeued_job_without_checkpoints_starts_as_submitted(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert resolve_ckpt_path(_cfg(tmp_path / "run")) == (None, [])
    given = _checkpoint(tmp_path / "afhq.ckpt", 0)
    assert resolve_ckpt_path(_cfg(tmp_path / "run", ckpt_path=str(given))) == (str(given), [])


@pytest.mark.parametrize("restarts", [None, "0", ""])
def test_a_first_run_still_refuses_another_runs_checkpoints(run_dir, monkeypatch, restarts):
    if restarts is not None:
        monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    with pytest.raises(ConfigError, match="already holds a run's checkpoints"):
        resolve_ckpt_path(_cfg(run_dir))
