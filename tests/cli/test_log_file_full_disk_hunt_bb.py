"""A full disk under the run folder: the job's log file stops after one line, instead of a
traceback at every record around the tool's own one-line error."""

from __future__ import annotations

import io
import logging

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from starganv2.cli.logs import RunLogFile
from tests.helpers.full_disk import FillingFile
from tests.integration.conftest import CONF_DIR


def test_the_log_file_stops_after_one_line_on_a_full_disk(tmp_path, capsys):
    """Python's FileHandler printed '--- Logging error ---' and a traceback for each record."""
    path = tmp_path / "eval.log"
    handler = RunLogFile(path, delay=True)
    handler.stream = io.TextIOWrapper(io.BufferedWriter(FillingFile(path, room=100)))
    log = logging.getLogger("test_log_file_full_disk")
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(5):
            log.error("record %d: %s", i, "x" * 40)
    finally:
        log.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert err.splitlines() == [
        f"{path}: this log file is no longer written (No space left on device); the console "
        "shows every line"
    ]
    assert path.read_text().startswith("record 0")  # what fitted stays; no file made again


def test_another_logging_error_is_still_reported(tmp_path, capsys, monkeypatch):
    """Only a write the file system refused is quiet: a bad format string is still shown."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    handler = RunLogFile(tmp_path / "x.log")
    try:
        handler.handle(logging.makeLogRecord({"msg": "%d", "args": ("a",)}))
    finally:
        handler.close()
    assert "Logging error" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["train", "eval", "sample", "translate", "augment", "demo"])
def test_every_tool_logs_to_that_file(tool):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(tool, return_hydra_config=True)
    assert cfg.hydra.job_logging.handlers.file["class"] == "starganv2.cli.logs.RunLogFile"
    GlobalHydra.instance().clear()


def test_tensorboards_writer_thread_on_a_full_disk_prints_no_traceback(tmp_path, monkeypatch):
    """TensorBoard's writer thread printed 'Exception in thread Thread-1' and its traceback before
    the training's one error line (TensorBoard raises the kept error at the next write)."""
    import threading

    from tensorboard.summary.writer.event_file_writer import _AsyncWriter

    from starganv2.cli import logs

    reported = []
    monkeypatch.setattr(threading, "excepthook", reported.append)  # restored afterwards
    monkeypatch.setattr(logs, "_previous_excepthook", logs._previous_excepthook)
    logs.quiet_third_party()
    events = io.BufferedWriter(FillingFile(tmp_path / "events.out.tfevents", room=100))
    writer = _AsyncWriter(events, flush_secs=0)
    writer.write(b"x" * 200)
    with pytest.raises(OSError, match="No space left"):  # in the training's thread
        writer.flush()
    assert reported == []

    def fails():
        raise OSError(28, "No space left on device")

    other = threading.Thread(target=fails)  # another thread's error is reported as before
    other.start()
    other.join()
    assert len(reported) == 1
