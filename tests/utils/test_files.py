"""The one atomic write: whole files only, ordinary permissions under the umask, nothing left over."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from starganv2.utils.files import (
    OutputWriteError,
    atomic_link_or_copy,
    atomic_path,
    atomic_write,
    atomic_write_text,
    current_umask,
    save_json,
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    def set_umask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_get_ordinary_permissions_under_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert path.read_text() == "hello"
    assert _mode(path) == 0o666 & ~mask  # not the 0600 of a temporary file
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what any tool gives a new file
    assert _mode(path) == _mode(plain)


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_path_keeps_the_suffix_and_hides_the_temporary(tmp_path):
    with atomic_path(tmp_path / "grid.png") as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".grid.")
        assert not (tmp_path / "grid.png").exists()  # nothing under the final name yet
        tmp.write_bytes(b"png")
    assert (tmp_path / "grid.png").read_bytes() == b"png"


def test_link_or_copy_replaces_the_target(tmp_path):
    a = atomic_write_text(tmp_path / "iter_1.ckpt", "one")
    last = atomic_link_or_copy(a, tmp_path / "last.ckpt")
    b = atomic_write_text(tmp_path / "iter_2.ckpt", "two")
    atomic_link_or_copy(b, last)
    assert last.read_text() == "two" and a.read_text() == "one"


def test_save_json_writes_non_finite_as_strings(tmp_path):
    path = save_json({"FID_latent/mean": 1.5, "x": float("nan")}, tmp_path / "o" / "r.json")
    assert json.loads(path.read_text()) == {"FID_latent/mean": 1.5, "x": "nan"}


def test_temporary_of_a_killed_writer_is_removed_by_the_next_one(tmp_path):
    """kill -9 while writing through atomic_path leaves the hidden temporary (no ``finally``
    runs); the next write into the folder removes those of gone processes on this host and
    keeps those of live ones and of other hosts."""
    import signal
    import socket
    import subprocess
    import sys

    script = (
        "import os, signal, sys\n"
        "from starganv2.utils.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out.png")])
    assert killed.returncode == -signal.SIGKILL
    (dead,) = [p for p in tmp_path.iterdir()]
    host = socket.gethostname()
    assert dead.name.startswith(".out.") and host in dead.name and dead.suffix == ".png"
    other_host = tmp_path / dead.name.replace(host, "elsewhere")
    other_host.write_bytes(b"x")
    with atomic_path(tmp_path / "live.png") as live:
        live.write_bytes(b"y")
        atomic_write_text(tmp_path / "next.txt", "done")
        assert not dead.exists()
        assert live.is_file() and other_host.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other_host.name, "live.png", "next.txt"]
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_where_no_file_can_be_made_names_the_file_to_write():
    """/proc takes no new files: the error named only the hidden temporary
    (``/proc/.x.tmp-<host>.<pid>.<random>.txt``), not the file the caller asked for."""
    with pytest.raises(OSError) as err:
        atomic_write_text("/proc/x.txt", "a")
    assert "cannot write /proc/x.txt" in str(err.value)
    assert ".tmp-" not in str(err.value)


def _disk_full(tmp):
    tmp.write_text("half")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path):
    """It was the bare ``OSError: [Errno 28] No space left on device``, naming no file, at the
    end of a traceback."""
    path = atomic_write_text(tmp_path / "a.json", "old")
    with pytest.raises(OutputWriteError, match="disk is full") as info:
        atomic_write(path, _disk_full)
    assert str(info.value).startswith(f"cannot write {path}: No space left on device;")
    assert info.value.errno == errno.ENOSPC
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_an_encoders_own_oserror_is_left_as_it_is(tmp_path):
    def refused(tmp):
        raise OSError("cannot write mode RGBA as JPEG")

    with pytest.raises(OSError, match="^cannot write mode RGBA as JPEG$") as info:
        atomic_write(tmp_path / "a.jpg", refused)
    assert not isinstance(info.value, OutputWriteError)


def test_a_file_in_place_of_a_folder_is_named(tmp_path):
    """It was a ``NotADirectoryError`` traceback from the folder's ``mkdir``."""
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputWriteError, match="taken is a file, not a folder"):
        atomic_write_text(tmp_path / "taken" / "sub" / "a.txt", "hello")


def test_the_failures_are_logged_when_their_listing_cannot_be_written(
    tmp_path, monkeypatch, caplog
):
    """On a full disk the listing's error was all that was said: the list of the images that
    failed (the summary of a whole folder's run) was lost with its file."""
    import logging

    from starganv2.utils.files import write_failures
    from tests.helpers.full_disk import full_disk_at

    full_disk_at(monkeypatch, "failures.tmp", room=10)
    listing = tmp_path / "out" / "failures.tsv"
    log = logging.getLogger("test_write_failures")
    with caplog.at_level(logging.ERROR, logger="test_write_failures"):
        with pytest.raises(OutputWriteError, match=f"cannot write {listing}: No space left"):
            write_failures(listing, [(tmp_path / "bad.png", "not an image")], "translated", log)
    assert f"{tmp_path / 'bad.png'}: not an image" in caplog.text
    assert not listing.exists()
    assert os.listdir(listing.parent) == []  # no temporary left either
