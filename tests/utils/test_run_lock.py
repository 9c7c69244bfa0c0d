"""RunLock: one job per run folder, checked against real second processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from starganv2.utils.run_lock import LOCK_NAME, RunLock, RunLockedError, process_start_time

HOLD = (
    "import sys, time; from starganv2.utils.run_lock import RunLock; "
    "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
)


def start_holder(folder: Path) -> subprocess.Popen:
    """Another process that takes the folder's lock and keeps it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_while_the_holder_runs(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(RunLockedError) as err:
            RunLock(tmp_path).acquire()
        msg = str(err.value)
        assert "\n" not in msg
        assert f"in use by pid {holder.pid} on " in msg and "choose another run_name" in msg
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_holder_is_taken_over_with_a_warning(tmp_path, caplog):
    holder = start_holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).is_file()  # a killed job leaves its lock behind
    with caplog.at_level(logging.WARNING), RunLock(tmp_path) as lock:
        assert lock.holder()["pid"] == os.getpid()
    assert f"took over a stale lock (pid {holder.pid} on " in caplog.text
    assert not (tmp_path / LOCK_NAME).exists()  # released on exit


def write_lock(folder: Path, **record) -> None:
    (folder / LOCK_NAME).write_text(json.dumps(record))


def test_a_reused_pid_is_not_the_holder(tmp_path, caplog):
    me = RunLock(tmp_path)._me
    write_lock(tmp_path, **{**me, "process_start": me["process_start"] - 1})
    with caplog.at_level(logging.WARNING):
        RunLock(tmp_path).acquire()
    assert "is now another process" in caplog.text


def test_same_slurm_job_requeued_takes_the_lock_another_job_does_not(tmp_path, monkeypatch):
    write_lock(tmp_path, host="node-017", pid=4242, started="yesterday", slurm_job_id="9001")
    monkeypatch.setenv("SLURM_JOB_ID", "9002")
    with pytest.raises(RunLockedError, match="SLURM job 9001.*if that job is gone, delete"):
        RunLock(tmp_path).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "9001")
    lock = RunLock(tmp_path).acquire()
    assert lock.holder()["slurm_job_id"] == "9001" and lock.holder()["pid"] == os.getpid()


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    lock = RunLock(tmp_path).acquire()
    write_lock(tmp_path, host="elsewhere", pid=1)
    lock.release()
    assert (tmp_path / LOCK_NAME).is_file()


def test_the_record_names_host_pid_and_start(tmp_path):
    with RunLock(tmp_path) as lock:
        record = json.loads((tmp_path / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid()
        assert record["host"] and record["started"]
        assert record["process_start"] == process_start_time(os.getpid())
        assert lock.held
    assert not list(tmp_path.iterdir())  # no temporary file left either


def test_process_start_time_of_a_finished_process_is_none():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    time.sleep(0.05)
    assert process_start_time(proc.pid) is None


def test_a_lock_the_disk_has_no_room_for_names_the_lock(tmp_path, monkeypatch):
    """A full disk named the lock's hidden temporary (``.run.lock.<host>.<pid>.tmp``)."""
    import errno

    from starganv2.utils import files

    def full(path, text):
        with files.atomic_path(path) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr("starganv2.utils.run_lock.atomic_write_text", full)
    with pytest.raises(files.OutputWriteError) as info:
        RunLock(tmp_path).acquire()
    assert str(info.value).startswith(f"cannot write {tmp_path / LOCK_NAME}: No space left")
    assert list(tmp_path.iterdir()) == []
