"""One job per run folder: ``RunLock`` records who writes a folder and refuses a second writer.

Two jobs on one run folder (a SLURM requeue plus a manual resubmit, two ``resume=auto`` launches)
would both train to the end and overwrite each other's checkpoints. The first job creates
``<folder>/run.lock`` (exclusive create, so two jobs cannot both succeed) holding its host, pid,
the process's start time and its SLURM job id. A second job then:

- refuses with :class:`RunLockedError` (one line naming the holder) while the holder lives;
- takes the lock over with a warning when the holder is gone: same host, and the pid no longer
  runs or now belongs to a process that started later (a reused pid);
- takes it over quietly when it is the same SLURM job (``SLURM_JOB_ID``), requeued.

A holder on another host cannot be checked from here: the second job refuses and says which
file to delete once that job is known to be gone. The lock is removed when its holder releases
it (end of training, or an exception); a killed job leaves it behind, which is the stale case.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from starganv2.utils.files import OutputWriteError, atomic_write_text

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "process_start_time"]

log = logging.getLogger(__name__)

LOCK_NAME = "run.lock"


class RunLockedError(FileExistsError):
    """Another live job holds the run folder (a bad-input error: reported in one line)."""


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22);
    ``None`` where there is no ``/proc`` or no such process. Tells a reused pid from its holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 of the whole line


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "process_start": process_start_time(pid),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


class RunLock:
    """The lock of run folder ``folder`` for this process; a context manager.

    Args:
        folder: the run folder (created if missing); the lock is ``folder/run.lock``.

    ``acquire`` raises :class:`RunLockedError` while another live job holds the folder.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.held = False
        self._me = _me()

    def acquire(self) -> RunLock:
        """Take the lock (or a stale one over, with a warning); see the module docstring."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a lost race with another taker is retried, then refused
            if self._create():
                self.held = True
                return self
            holder = self.holder()
            why = self._stale_because(holder)
            if why is None:
                raise RunLockedError(self._refusal(holder))
            if self._remove_stale(holder) and self._create():
                if why == "requeued":
                    log.info(
                        "%s: taken over from this SLURM job's earlier run (requeued)", self.path
                    )
                else:
                    log.warning("%s: took over a stale lock (%s)", self.path, why)
                self.held = True
                return self
        raise RunLockedError(self._refusal(self.holder()))

    def _create(self) -> bool:
        """Create the lock file whole with this process's record; ``False`` if it exists.

        Written to a temporary file first and hard-linked into place: the link fails when the
        lock exists, and a reader never sees a half-written record."""
        tmp = self.path.with_name(f".{LOCK_NAME}.{self._me['host']}.{self._me['pid']}.tmp")
        try:
            atomic_write_text(tmp, json.dumps(self._me, indent=1) + "\n")
        except OutputWriteError as err:  # it named the hidden temporary, not the lock
            named = str(err).replace(str(tmp), str(self.path), 1)
            raise OutputWriteError(named, err.errno) from err
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _remove_stale(self, stale: dict[str, Any] | None) -> bool:
        """Move the stale lock aside and delete it, unless another job replaced it meanwhile."""
        aside = self.path.with_name(f".{LOCK_NAME}.{self._me['host']}.{self._me['pid']}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another job removed it first
            return True
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = None
        if moved != stale:  # a fresh lock of another job: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True

    def _stale_because(self, holder: dict[str, Any] | None) -> str | None:
        """Why the holder's lock may be taken, or ``None`` when it must be respected."""
        if holder is None:
            return "unreadable lock file"
        me = self._me
        if me["slurm_job_id"] and holder.get("slurm_job_id") == me["slurm_job_id"]:
            return "requeued"
        if holder.get("host") != me["host"]:
            return None
        pid = holder.get("pid")
        if not isinstance(pid, int) or not _pid_alive(pid):
            return f"pid {pid} on {holder.get('host')} is gone"
        started = holder.get("process_start")
        now = process_start_time(pid)
        if started is not None and now is not None and now != started:
            return f"pid {pid} on {holder.get('host')} is now another process"
        return None

    def _refusal(self, holder: dict[str, Any] | None) -> str:
        holder = holder or {}
        slurm = f", SLURM job {holder['slurm_job_id']}" if holder.get("slurm_job_id") else ""
        where = (
            "; if that job is gone, delete the lock file"
            if holder.get("host") != self._me["host"]
            else ""
        )
        return (
            f"run folder {self.path.parent} is in use by pid {holder.get('pid')} on "
            f"{holder.get('host')} (started {holder.get('started')}{slurm}): one job per run "
            f"folder; wait for it, stop it, or choose another run_name (lock {self.path}{where})"
        )

    def live_holder(self) -> dict[str, Any] | None:
        """The record of the live job that holds the folder (``acquire`` would refuse), or
        ``None`` when the folder is free or its lock stale. Only a look: nothing is taken."""
        if not self.path.is_file():
            return None
        holder = self.holder()
        return holder if holder is not None and self._stale_because(holder) is None else None

    def holder(self) -> dict[str, Any] | None:
        """The lock file's record, or ``None`` when it is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def release(self) -> None:
        """Remove the lock if it is still this process's."""
        if self.held and self.holder() == self._me:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
