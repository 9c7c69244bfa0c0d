"""A check before Hydra makes a tool's run folder (or a multirun's sweep folder): a folder that
cannot be made there (a file in its way, a read-only file system, no permission) is one error
line naming it and the setting to change, not Hydra's traceback (``NotADirectoryError``,
``OSError: [Errno 30] Read-only file system: 'outputs'``), which came before the tool itself
started, e.g. when run from a read-only checkout or container image.

A Hydra callback (``hydra.callbacks`` in ``conf/hydra/default.yaml``): Hydra turns a callback's
exception into a warning, so it logs the line and exits with status 1 itself, as
:class:`~starganv2.cli.cluster.SlurmCommandsCheck` does. It makes nothing: Hydra does."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

__all__ = ["RunFolderCheck", "folder_problem"]


MIN_FREE_BYTES = 1 << 20
"""Less free space than this where the run folder goes is a full disk: Hydra's own record of
the run (``.hydra/config.yaml``) failed there in a traceback, leaving an empty file."""


def folder_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` (and its missing parents) cannot be made, or ``None`` when it exists as a
    folder or its nearest existing parent is a folder this process may write to, on a disk
    with at least :data:`MIN_FREE_BYTES` free."""
    for existing in (Path(folder), *Path(folder).parents):
        if not os.path.lexists(existing):
            continue
        if existing.is_dir():
            if existing == Path(folder) or os.access(existing, os.W_OK | os.X_OK):
                return _full_disk(existing)
            try:  # access() says EROFS and EACCES apart only through errno, so ask statvfs
                read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
            except OSError:
                read_only = False
            where = os.path.abspath(existing)
            if read_only:
                return f"{where} is on a read-only file system"
            return f"{where} is a folder this user may not write to"
        return f"{os.path.abspath(existing)} is a file, not a folder"
    return None


def _full_disk(folder: Path) -> str | None:
    """``folder`` is on a full disk (less than :data:`MIN_FREE_BYTES` free), or ``None``."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    free = stat.f_bavail * stat.f_frsize
    if free >= MIN_FREE_BYTES:
        return None
    return f"{os.path.abspath(folder)} is on a full disk ({free // 1024} KB free; free space there)"


class RunFolderCheck(Callback):
    """Refuse a run (or sweep) folder that cannot be made: one error line, exit status 1."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        """The run folder, ``hydra.run.dir``."""
        _check(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """The sweep folder, ``hydra.sweep.dir`` (each job's folder lies in it)."""
        _check(config, "hydra.sweep.dir")


def _check(config: Any, key: str) -> None:
    try:
        folder = OmegaConf.select(config, key)
    except Exception:  # noqa: BLE001 - a ${hydra:...} of the user's: Hydra resolves it later
        return
    problem = None if folder is None else folder_problem(str(folder))
    if problem is None:
        return
    set_by_hand = any(
        str(o).startswith(f"{key}=")
        for o in OmegaConf.select(config, "hydra.overrides.hydra") or ()
    )
    setting = key if set_by_hand else "paths.log_dir"
    logging.getLogger("starganv2").error(
        "cannot make the %s folder %s: %s; give %s a folder you can write to",
        "run" if key == "hydra.run.dir" else "sweep",
        os.path.abspath(str(folder)),
        problem,
        setting,
    )
    sys.exit(1)
