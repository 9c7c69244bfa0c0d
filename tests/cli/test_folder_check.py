"""A run or sweep folder that cannot be made (a file in its way, a read-only file system, no
permission) is one error line naming it and the setting to change, before the tool starts; it
was Hydra's traceback (``NotADirectoryError``, ``OSError: [Errno 30] Read-only file system``)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from starganv2.cli import folder_check
from starganv2.cli.folder_check import RunFolderCheck, folder_problem
from tests.helpers.console import the_one_error_line
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("multirun", [False, True])
def test_a_file_in_the_way_of_the_run_folder_is_one_line(tmp_path: Path, multirun: bool) -> None:
    (tmp_path / "notes").write_text("x")
    proc = run_cli(
        ["starganv2.cli.train", *(["-m", "model.lambda_sty=1,2"] if multirun else [])]
        + ["experiment=quick", f"paths.log_dir={tmp_path}/notes/logs"],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    line = the_one_error_line(proc)
    kind = "sweep" if multirun else "run"
    assert f"cannot make the {kind} folder {tmp_path}/notes/logs/train/" in line
    assert f"{tmp_path}/notes is a file, not a folder; give paths.log_dir a folder" in line


def _config(key: str, folder: Path, by_hand: bool = False):
    section, name = key.split(".")[1:]
    overrides = [f"{key}={folder}"] if by_hand else []
    return OmegaConf.create(
        {"hydra": {section: {name: str(folder)}, "overrides": {"hydra": overrides}}}
    )


def test_a_read_only_file_system_names_the_folder_and_the_key_set(tmp_path, monkeypatch, caplog):
    """Read-only (a container image, a checkout mounted read-only): asked of statvfs, as
    root's access() may say yes where the write would fail."""
    real_access = os.access
    monkeypatch.setattr(
        folder_check.os, "access", lambda p, m: False if Path(p) == tmp_path else real_access(p, m)
    )
    monkeypatch.setattr(folder_check.os, "statvfs", lambda p: SimpleNamespace(f_flag=os.ST_RDONLY))
    target = tmp_path / "runs" / "a"
    assert folder_problem(target) == f"{tmp_path} is on a read-only file system"
    with pytest.raises(SystemExit) as stop:
        RunFolderCheck().on_run_start(_config("hydra.run.dir", target, by_hand=True))
    assert stop.value.code == 1
    assert f"cannot make the run folder {target}: {tmp_path} is on a read-only" in caplog.text
    assert "give hydra.run.dir a folder you can write to" in caplog.text


def test_a_folder_without_write_permission_is_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_check.os, "access", lambda p, m: Path(p) != tmp_path)
    monkeypatch.setattr(folder_check.os, "statvfs", lambda p: SimpleNamespace(f_flag=0))
    assert folder_problem(tmp_path / "x") == f"{tmp_path} is a folder this user may not write to"


def test_folders_that_exist_or_can_be_made_pass(tmp_path):
    assert folder_problem(tmp_path) is None
    assert folder_problem(tmp_path / "new" / "deeper") is None
    RunFolderCheck().on_multirun_start(_config("hydra.sweep.dir", tmp_path / "sweep"))
    assert not (tmp_path / "sweep").exists()  # the check makes nothing


def test_a_full_disk_is_said_before_hydra_writes_its_record(tmp_path, monkeypatch):
    """On a disk with no room Hydra's own .hydra/config.yaml failed in a traceback, leaving an
    empty file, before the tool started (found by hunt BB)."""
    monkeypatch.setattr(
        folder_check.os, "statvfs", lambda p: SimpleNamespace(f_flag=0, f_bavail=3, f_frsize=4096)
    )
    expected = f"{tmp_path} is on a full disk (12 KB free; free space there)"
    assert folder_problem(tmp_path / "runs" / "a") == expected
    assert folder_problem(tmp_path) == expected  # an existing run folder (resume=auto) too
