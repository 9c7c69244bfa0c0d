"""The one way this library writes a file: whole or not at all, with ordinary permissions.

Every output (checkpoints, sample grids, videos, translated images, ONNX graphs, JSON results,
converted checkpoints, cached classifiers) goes through :func:`atomic_path`: the content is
written to a hidden temporary file in the target's folder, flushed to disk, given the permissions
any tool would give a new file under the user's umask (``0o666 & ~umask``; a temporary file is
private, ``0o600``, by default), then renamed onto the target. A crash or an exception at any
moment leaves the previous file, if any, untouched and no half-written file under the final name.

A temporary's name says which process made it (``.<stem>.tmp-<host>.<pid>.<random><suffix>``):
one left by a process killed while writing (``kill -9``: no ``finally`` runs) is removed by the
next process writing into the folder, once it is sure the writer is gone (see
:func:`owner_is_gone`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "OutputWriteError",
    "WRITE_FAILURES",
    "atomic_path",
    "atomic_write",
    "atomic_write_text",
    "atomic_link_or_copy",
    "current_umask",
    "owner_tag",
    "owner_is_gone",
    "save_json",
    "save_torch",
    "write_failures",
    "load_weights_file",
    "blocking_file",
]


class OutputWriteError(OSError):
    """An output file could not be written for a reason of the file system it goes to (a full
    disk, a used-up quota, a read-only mount, no permission): one line naming the file and what
    to do. Nothing was left under the file's name; files written before it are whole.

    ``errno`` is that of the refused write; ``str()`` stays the message alone (without
    ``[Errno N]``, which ``OSError(errno, message)`` would add)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


WRITE_FAILURES = {
    errno.ENOSPC: "the disk is full: free space on it (or give an output folder on another disk)",
    errno.EDQUOT: "the disk quota is used up: free space (or give an output folder elsewhere)",
    errno.EFBIG: "the file is larger than the file system allows: give an output folder elsewhere",
    errno.EROFS: "the file system is read-only: give an output folder on a writable one",
    errno.EACCES: "no permission to write there: give an output folder you can write to",
    errno.EPERM: "no permission to write there: give an output folder you can write to",
}
"""The errors of a write that the file system refused, and what to do about each."""


def write_error(err: OSError, path: Path, tmp: Path | None = None) -> OSError:
    """``err``, raised while writing ``path`` (through its temporary ``tmp``), as an
    :class:`OutputWriteError` naming ``path`` and what to do when the file system refused the
    write (``err`` itself otherwise: an encoder's own ``OSError`` says what it could not do).
    A full disk, say, was ``OSError: [Errno 28] No space left on device`` with no file named, or
    the name of a temporary file, at the end of a traceback."""
    todo = WRITE_FAILURES.get(err.errno)
    if todo is None or isinstance(err, OutputWriteError):
        return err
    written = err.filename2 if err.filename2 is not None else err.filename
    where = ""  # a file other than the output, its temporary and its folder: name it too
    if written is not None and str(written) not in (str(path), str(tmp), str(path.parent)):
        where = f" (writing {written})"
    new = OutputWriteError(
        f"cannot write {path}: {err.strerror}{where}; {todo}. Nothing was written under that "
        "name, and the files written before it are whole",
        err.errno,
    )
    return new


def blocking_file(path: str | os.PathLike) -> Path | None:
    """The nearest of ``path`` and its parents that exists, when it is a file: then ``path``
    cannot become a folder, nor a file inside one (the write would fail with
    ``NotADirectoryError`` or ``FileExistsError`` only when it comes). ``None`` when the nearest
    existing one is a folder (missing folders can be made)."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible, so no thread ever sees it 0)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _finish(tmp: Path, path: Path) -> None:
    """Make ``tmp`` durable, give it ordinary permissions and rename it onto ``path``."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def owner_tag() -> str:
    """``<host>.<pid>``: put in a temporary's name, it lets a later process tell whether the
    writer is gone (:func:`owner_is_gone`)."""
    return f"{socket.gethostname()}.{os.getpid()}"


def owner_is_gone(host: str, pid: str) -> bool:
    """Whether the process of an :func:`owner_tag` surely no longer exists: it ran on this host
    and no process has its pid. A live pid (perhaps reused), another user's process or another
    host keep the temporary: only a writer known to be gone loses it."""
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        pass
    return False


_TEMP_OWNER = re.compile(r"^\..*\.tmp-(?P<host>[^/]+)\.(?P<pid>\d+)\.[a-z0-9_]{8}")
"""The owner in an :func:`atomic_path` temporary's name (``mkstemp``'s random part is 8 of
``[a-z0-9_]``)."""
_swept: set[Path] = set()
"""Folders whose dead temporaries this process has removed already (once each: a tool writing
thousands of files into one folder lists it once)."""


def _remove_dead_temporaries(folder: Path) -> None:
    """Delete the :func:`atomic_path` temporaries in ``folder`` whose writer is gone (killed while
    writing: each ``kill -9`` left one, hidden, for good), once per folder and process."""
    folder = folder.resolve()
    if folder in _swept:
        return
    _swept.add(folder)
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return
    for name in entries:
        m = _TEMP_OWNER.match(name)
        if m is not None and owner_is_gone(m["host"], m["pid"]):
            with contextlib.suppress(OSError):
                (folder / name).unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it becomes ``path``.

    Write the content to the yielded path by any means (``torch.save``, ``PIL.Image.save``, an
    encoder that opens the file itself...). Parent folders are created. On an exception the
    temporary file is removed and ``path`` is left as it was.

    Args:
        path: the final file.
        suffix: suffix of the temporary file (default: ``path``'s, so writers that pick a format
            from the suffix still do). The temporary name starts with a dot, so the library's image
            discovery never mistakes it for data; it names this host and process, so a
            later process removes it if this one is killed before it is renamed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # names the folder it could not make
        blocker = blocking_file(path.parent)
        if blocker is not None:  # NotADirectoryError, or a bare "[Errno 17] File exists"
            new = OutputWriteError(
                f"cannot write {path}: {blocker} is a file, not a folder; give an output path "
                "in a folder (missing folders are made)",
                err.errno,
            )
            raise new from err
        raise write_error(err, path, Path(err.filename) if err.filename else None) from err
    suffix = path.suffix if suffix is None else suffix
    _remove_dead_temporaries(path.parent)
    prefix = f".{path.stem[:64]}.tmp-{owner_tag()}."  # the stem cut, so long names still fit
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as err:  # its own message names only the temporary file
        new = write_error(err, path, Path(err.filename) if err.filename else None)
        if new is err:
            new = OSError(
                err.errno,
                f"{err.strerror}: cannot write {path} (no new file can be made in its folder)",
            )
        raise new from err
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            yield tmp
            _finish(tmp, path)
        except OSError as err:
            raise write_error(err, path, tmp) from err
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` a second name of ``src`` (hard link; a copy where links are not possible),
    replacing ``dst`` atomically."""
    import shutil

    src, dst = Path(src), Path(dst)

    def write(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)

    return atomic_write(dst, write)


def save_json(obj: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically (non-finite floats as strings); returns the path."""
    clean = {
        k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in obj.items()
    }
    return atomic_write_text(path, json.dumps(clean, indent=2) + "\n")


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` whole (:func:`atomic_path`); returns ``path``.

    Written through a Python file object, not torch's own file: when the disk fills up (or the
    quota, or the file system's size limit), torch's writer said only ``RuntimeError: ...
    unexpected pos 350080 vs 349968`` (its C++ stream keeps no ``errno``). Through a Python
    file the refused write's ``OSError`` is kept (the ``RuntimeError``'s context) and raised
    instead, so :func:`atomic_path` names the file and what to do.
    """
    import torch

    def write(tmp: Path) -> None:
        try:
            with open(tmp, "wb") as fh:
                torch.save(obj, fh)
        except RuntimeError as err:
            refused = _os_error_in(err)
            if refused is None:
                raise
            # a new OSError: ``refused`` is already ``err``'s context (no loop in the chain)
            raise OSError(refused.errno, refused.strerror, refused.filename) from err

    return atomic_write(path, write)


def _os_error_in(err: BaseException) -> OSError | None:
    """The first ``OSError`` among ``err``'s causes and contexts (``None`` if there is none)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def write_failures(
    listing: str | os.PathLike, failed: list[tuple[Any, str]], what: str, log: Any
) -> None:
    """Keep ``listing`` the TSV of ``(path, reason)`` for every input that failed (one line each),
    log them, or remove a stale listing of an earlier run when nothing failed.

    ``what`` completes "N image(s) could not be ...", e.g. ``"translated"``. UTF-8; a path not
    in UTF-8 (a name from an old zip: ``caf\xe9.jpg``) keeps its bytes as on disk, so the list
    can be written and names the file that a script can then find. When the listing cannot
    be written (a full disk), the failures are logged all the same before its error is raised.
    """
    listing = Path(listing)
    if not failed:
        listing.unlink(missing_ok=True)  # a stale list of an earlier run
        return
    text = "".join(f"{p}\t{reason}\n" for p, reason in failed)
    lines = "\n".join(f"  {p}: {reason}" for p, reason in failed)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8", "surrogateescape"))

    try:
        atomic_write(listing, write)
    except OSError:  # a full disk: the failures are still said, before the error naming the file
        log.error("%d image(s) could not be %s:\n%s", len(failed), what, lines)
        raise
    log.error("%d image(s) could not be %s (listed in %s):\n%s", len(failed), what, listing, lines)


def load_weights_file(
    path: str | os.PathLike,
    name: str,
    expected: str,
    error: type[Exception] = ValueError,
) -> Any:
    """``torch.load`` a file made elsewhere, safely (CPU, ``weights_only=True``).

    ``name`` says how the file is referred to in errors (``"fan_weights='wing.ckpt'"``, or just
    the path); ``expected`` what it should hold. A missing file raises ``FileNotFoundError``, an
    unreadable one ``error``, both naming the file and what was expected.
    """
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"{name}: no such file; expected {expected}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise error(
            f"{name} could not be read with torch.load(weights_only=True): "
            f"{_load_failure(err)}; expected {expected}"
        ) from err


def _load_failure(err: BaseException) -> str:
    """torch.load's reason in one line: its refusal of a file that is no safe weights file (an
    image, a pickle of objects) runs over several paragraphs and advises weights_only=False,
    which would run whatever code the file holds."""
    text = str(err)
    if "Weights only load failed" in text:
        return "not a plain file of weights (an image, a text file, a pickle of Python objects?)"
    first = text.splitlines()[0] if text.strip() else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
