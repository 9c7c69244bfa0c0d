"""Multirun job folders named from their swept overrides (starganv2.cli.job_names)."""

from __future__ import annotations

import sys

import pytest

from starganv2.cli.job_names import MAX_NAME, job_folder, run_folder_name, swept_keys


def test_swept_keys_are_those_with_several_values_or_a_sweep_function():
    argv = ["-m", "a=1,2", "b=3", "+c=range(1,3)", "d=[1,2]", "e='x,y'", "f=choice(p,q)"]
    assert swept_keys(argv) == {"a", "c", "f"}


def test_a_job_is_named_by_its_swept_values_only(monkeypatch):
    monkeypatch.setattr(
        sys,
        "argv",
        ["train", "-m", "model.lambda_sty=0.5,2", "model.lambda_ds=1,2", "data.batch_size=4"],
    )
    overrides = ["model.lambda_sty=2", "data.batch_size=4", "model.lambda_ds=1", "resume=auto"]
    assert job_folder(overrides) == "model.lambda_ds-1__model.lambda_sty-2"


def test_without_a_known_sweep_every_override_but_run_name_resume_ckpt_path_names_it(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["submitit-node"])
    assert job_folder(["b=2", "a=1", "run_name=x", "resume=auto", "ckpt_path=y"]) == "a-1__b-2"
    assert job_folder(["run_name=x"]) == "default"


def test_a_swept_checkpoint_names_the_job(monkeypatch):
    """``starganv2-eval -m ckpt_path=a,b``: ckpt_path, which never named a job, was the only
    swept key, so both jobs got one folder and the second overwrote the first's metrics.json."""
    monkeypatch.setattr(sys, "argv", ["eval", "-m", "ckpt_path=r/a.ckpt,r/b.ckpt", "seed=1"])
    first = job_folder(["ckpt_path=r/a.ckpt", "seed=1"])
    assert first != job_folder(["ckpt_path=r/b.ckpt", "seed=1"])
    assert first.startswith("ckpt_path-r_a.ckpt") and "seed" not in first


@pytest.mark.parametrize("value", ["/data/afhq", "x" * 300])
def test_an_unsafe_or_long_name_keeps_a_prefix_and_a_stable_hash(monkeypatch, value):
    monkeypatch.setattr(sys, "argv", ["train"])
    name = job_folder([f"data.root={value}"])
    assert len(name) <= MAX_NAME and "/" not in name and "=" not in name
    assert name.startswith("data.root-") and name == job_folder([f"data.root={value}"])
    assert name != job_folder([f"data.root={value}2"])


def test_an_optuna_trial_is_named_by_the_values_the_sweeper_chose(monkeypatch):
    """The search's fixed overrides come first in sorted order and filled the name up to its
    length limit, so the trial values that tell the jobs apart were cut off."""
    monkeypatch.setattr(
        sys, "argv", ["train", "-m", "hparams_search=optuna", "experiment=afhq", "run_name=s"]
    )
    overrides = [
        "hparams_search=optuna",
        "experiment=afhq",
        "run_name=s",
        "model.lambda_sty=1.3",
        "model.lambda_ds=0.7",
    ]
    assert job_folder(overrides) == "model.lambda_ds-0.7__model.lambda_sty-1.3"


def test_a_multirun_job_labels_its_logger_run_with_its_folder(monkeypatch):
    """wandb named every job of a sweep train-<run_name>, with no group: indistinguishable."""
    from types import SimpleNamespace

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from starganv2.cli.job_names import job_label

    def hydra(mode):
        runtime = OmegaConf.create({"output_dir": "/o/multirun/s/model.lambda_sty-2"})
        return SimpleNamespace(mode=mode, runtime=runtime)

    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra(RunMode.MULTIRUN)))
    assert job_label() == "-model.lambda_sty-2"
    cfg = OmegaConf.create({"run_name": "s", "name": "train-${run_name}${job_label:}"})
    assert cfg.name == "train-s-model.lambda_sty-2"
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra(RunMode.RUN)))
    assert job_label() == "" and cfg.name == "train-s"
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: False))
    assert job_label() == ""


@pytest.mark.parametrize("name", ["", None, ".", "..", "a/../..", "./"])
def test_a_run_name_without_a_folder_of_its_own_is_refused(name, caplog):
    """``run_name=$NAME`` with ``NAME`` unset, or ``..``, made ``outputs/<task>/`` (or a folder
    above it) the run folder, which then got logs, configs and checkpoints."""
    with caplog.at_level("ERROR"), pytest.raises(SystemExit) as stop:
        run_folder_name(name)
    assert stop.value.code == 1
    assert "names no folder of its own" in caplog.text and "run_name=" in caplog.text


@pytest.mark.parametrize("name", ["my-run", "2026-12-05_09-12-25", "cats/lr-high", "a..b", 7])
def test_run_names_with_a_folder_of_their_own_are_kept(name):
    assert run_folder_name(name) == str(name)


def test_the_cli_refuses_an_empty_run_name_before_any_folder(tmp_path):
    import subprocess

    logs = tmp_path / "outputs"
    for args in (["run_name="], ["-m", "run_name=..", "model.lambda_sty=1,2"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "starganv2.cli.train",
                *args,
                f"paths.log_dir={logs}",
                "model.total_iters=1",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 1, done.stderr
        assert "names no folder of its own" in done.stderr + done.stdout
        assert "Traceback" not in done.stderr
    assert not logs.exists()
