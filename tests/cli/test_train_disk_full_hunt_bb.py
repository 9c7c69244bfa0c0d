"""A disk that is full before training starts: the loggers' first files are one error line too."""

from __future__ import annotations

import errno

import pytest

from starganv2.cli.common import BAD_INPUT
from starganv2.cli.train import run
from starganv2.utils.files import OutputWriteError
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train


def test_a_full_disk_at_the_loggers_hparams_names_the_run_folder(tmp_path, monkeypatch):
    """CSV's (and TensorBoard's) ``hparams.yaml``, written before the fit, was the bare
    ``OSError: [Errno 28] No space left on device`` after a traceback (three chained ones on a
    real full disk: the write, then fsspec's flush at close)."""
    from lightning.pytorch.loggers import csv_logs

    def full(path, hparams):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(csv_logs, "save_hparams_to_yaml", full)
    out = tmp_path / "run"
    overrides = [*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={tmp_path / 'cache'}"]
    with pytest.raises(OutputWriteError) as info:
        run(compose_train([*overrides, "run_name=full"], out))
    assert isinstance(info.value, BAD_INPUT)  # reported in one line by every console script
    message = str(info.value)
    assert message.startswith(f"cannot write a log file of the run folder {out}"), message
    assert "the disk is full" in message
