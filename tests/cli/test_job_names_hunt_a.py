"""Job folders of searches that also sweep on the command line, numbered trials, and the other
resolvers of conf/hydra (starganv2.cli.job_names)."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from starganv2.cli.job_names import folder_keys, job_folder, run_record, slurm_count

OPTUNA = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def test_a_search_that_also_sweeps_the_command_line_names_trials_by_the_sweepers_values(
    monkeypatch,
):
    """With `seed=0,1` on the command line only `seed` named the folder: every trial of the
    search shared seed-0 and resumed the first trial's finished checkpoint."""
    monkeypatch.setattr(sys, "argv", ["train", "-m", "hparams_search=optuna", "seed=0,1"])
    fixed = ["hparams_search=optuna", "run_name=o3"]
    first = ["model.lambda_sty=0.9", "seed=0", *fixed]
    second = ["model.lambda_sty=1.2", "seed=0", *fixed]
    assert job_folder(first) == "model.lambda_sty-0.9__seed-0"
    assert job_folder(first) != job_folder(second)


def test_fixed_overrides_that_hydra_restates_do_not_name_the_job(monkeypatch):
    """The sweep restates a fixed value in its own spelling; its key is on the command line, so it
    is fixed, not chosen."""
    monkeypatch.setattr(sys, "argv", ["train", "-m", "model.lambda_sty=1,2", "data.root='a b'"])
    assert job_folder(["model.lambda_sty=1", "data.root='a b'"]) == "model.lambda_sty-1"
    assert job_folder(["model.lambda_sty=1", "data.root=a b"]) == "model.lambda_sty-1"


def test_a_search_trial_carries_its_number_so_a_repeated_combination_gets_its_own_folder(
    monkeypatch,
):
    """Optuna proposing one categorical combination twice put both trials in one folder: the
    second was refused (or resumed the first) and the search stopped."""
    monkeypatch.setattr(sys, "argv", ["train", "-m", "hparams_search=optuna"])
    same = ["model.lambda_sty=1", "hparams_search=optuna"]
    names = {job_folder(same, n, OPTUNA) for n in range(3)}
    assert names == {f"trial-00{n}__model.lambda_sty-1" for n in range(3)}
    assert job_folder(same, 4, BASIC) == job_folder(same) == "model.lambda_sty-1"
    long = [f"model.lambda_sty={'1' * 200}"]
    assert job_folder(long, 7, OPTUNA).startswith("trial-007__")  # kept by a shortened name


def test_folder_keys_are_the_naming_keys():
    assert folder_keys("model.lambda_ds-1__model.lambda_sty-0.5") == {
        "model.lambda_ds",
        "model.lambda_sty",
    }
    assert folder_keys("trial-003__model.lambda_sty-1") == {"trial", "model.lambda_sty"}
    assert folder_keys("default") == frozenset()


def _checkpoint(folder):
    (folder / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}}, folder / "checkpoints" / "last.ckpt")


def test_a_launch_refused_for_its_folder_writes_no_hydra_record(tmp_path):
    """The refused launch replaced .hydra/config.yaml of the run that holds the checkpoints."""
    assert run_record(tmp_path, None, None) == ".hydra"  # a new run
    _checkpoint(tmp_path)
    assert run_record(tmp_path, None, None) is None  # refused: another run's folder
    assert run_record(tmp_path, "auto", None) == ".hydra"  # continues it
    assert run_record(tmp_path, "yes", None) is None  # an invalid resume is refused
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert run_record(tmp_path, None, str(ckpt)) == ".hydra"
    assert run_record(tmp_path, "auto", str(ckpt)) is None  # both: refused


def test_a_launch_into_a_folder_a_live_job_holds_writes_no_hydra_record(tmp_path):
    """A second ``resume=auto`` launch on a folder that is training was refused by the run lock
    only after Hydra had replaced the running job's .hydra/overrides.yaml with its own."""
    import json
    import os
    import subprocess

    _checkpoint(tmp_path)
    hold = (
        "import sys, time; from starganv2.utils.run_lock import RunLock; "
        "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_record(tmp_path, "auto", None) is None  # a live job trains there
        assert run_record(tmp_path / "other", None, None) == ".hydra"
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == holder.pid
    assert run_record(tmp_path, "auto", None) == ".hydra"  # its lock is stale: resumed
    (tmp_path / "run.lock").unlink()
    (tmp_path / "run.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": None}))
    assert run_record(tmp_path, "auto", None) == ".hydra"


def test_slurm_counts_must_be_numbers(caplog):
    assert slurm_count(4, "trainer.devices") == 4
    assert slurm_count("2", "trainer.num_nodes") == 2
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        slurm_count("auto", "trainer.devices")
    assert stop.value.code == 1
    assert "set trainer.devices=<GPUs per node>" in caplog.text
