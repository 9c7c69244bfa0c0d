"""A disk that fills up while the library writes a torch file: the first ``room`` bytes go to
the file, the write that does not fit is cut short and the next one fails with ``ENOSPC``, as
the kernel answers on a full disk."""

from __future__ import annotations

import builtins
import errno
import io
import os

import pytest

from starganv2.utils import files


class FillingFile(io.RawIOBase):
    """A file opened for writing on a disk with ``room`` bytes left."""

    def __init__(self, path: str | os.PathLike, room: int) -> None:
        self.file = builtins.open(path, "wb", buffering=0)
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = min(len(data), self.room)
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return self.file.write(bytes(memoryview(data)[:n]))

    def close(self) -> None:
        self.file.close()
        super().close()


def full_disk_at(monkeypatch: pytest.MonkeyPatch, fragment: str, room: int = 1000) -> None:
    """Make :func:`starganv2.utils.files.save_torch` write on a disk with ``room`` bytes left
    when the file it opens has ``fragment`` in its path (its temporary file is named after the
    final one). Through torch's own writer this was a ``RuntimeError`` ('unexpected pos ...')
    whose context is the ``OSError``."""

    def open_(file, mode="r", *args, **kwargs):
        if fragment in str(file) and "w" in mode:
            return io.BufferedWriter(FillingFile(file, room))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", open_, raising=False)
