"""``starganv2-train -m hydra/launcher=slurm ...`` on a machine without SLURM's commands is one
error line naming them and what to do, before the sweep folder is made; it was ~30 lines of
submitit's traceback ending in 'Could not detect "srun"', after ``multirun.yaml`` was written.
Composing the SLURM config off the cluster still works (``tests/integration/test_cluster.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.cluster import SlurmCommandsCheck
from tests.helpers.console import the_one_error_line
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_slurm_multirun_without_slurm_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"  # a PATH without sbatch or srun, whatever this machine has
    empty.mkdir()
    sweep = tmp_path / "sweep"
    proc = run_cli(
        ["starganv2.cli.train", "-m", "hydra/launcher=slurm", "experiment=quick"]
        + ["trainer.devices=1", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        timeout=120,
        env={"PATH": str(empty), "PYTHONPATH": str(ROOT / "src")},
    )
    line = the_one_error_line(proc)
    assert "SLURM's commands (sbatch, srun) are not on this machine" in line
    assert "login node" in line and "drop hydra/launcher=slurm" in line
    assert not sweep.exists()


def _config(target: str):
    return OmegaConf.create({"hydra": {"launcher": {"_target_": target}}})


def test_the_check_passes_where_slurm_is_and_for_other_launchers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slurm = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    monkeypatch.setenv("PATH", str(tmp_path))
    SlurmCommandsCheck().on_multirun_start(_config(basic))  # no SLURM needed
    with pytest.raises(SystemExit):
        SlurmCommandsCheck().on_multirun_start(_config(slurm))
    for name in ("sbatch", "srun"):
        command = tmp_path / name
        command.write_text("#!/bin/sh\n")
        command.chmod(0o755)
    SlurmCommandsCheck().on_multirun_start(_config(slurm))


def test_the_slurm_launcher_without_multirun_is_refused_naming_m(tmp_path: Path, caplog) -> None:
    """Hydra uses launchers in multiruns only: `starganv2-train hydra/launcher=slurm ...` trained
    on the login node without a word (found by hunt BC)."""
    slurm = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    SlurmCommandsCheck().on_run_start(_config(basic))
    with pytest.raises(SystemExit) as stop:
        SlurmCommandsCheck().on_run_start(_config(slurm))
    assert stop.value.code == 1
    assert "hydra/launcher=slurm submits jobs only in a multirun: add -m" in caplog.text


def test_a_single_run_with_the_slurm_launcher_is_one_line_and_no_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = run_cli(
        ["starganv2.cli.train", "hydra/launcher=slurm", "experiment=quick"]
        + [f"hydra.run.dir={run}"],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert "add -m to submit this run to SLURM" in the_one_error_line(proc)
    assert not run.exists()
