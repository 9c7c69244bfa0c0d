"""A full disk during training is one error line naming the file and the command that continues
the run; the checkpoints written before it stay whole."""

from __future__ import annotations

import errno

import pytest
import torch
from PIL import Image

from starganv2.cli.common import BAD_INPUT
from starganv2.cli.train import run
from starganv2.utils.files import OutputWriteError
from tests.helpers.full_disk import full_disk_at
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train


def _train_onto_a_disk_full_at_iteration_2(tmp_path, out, callback: str) -> str:
    """Train 2 iterations into ``out`` with ``callback``'s files written every iteration, on a
    disk (patched by the test) that refuses a file of iteration 2; the error's message, once
    checked to be one line's error ending with the command that continues the run, and that
    the checkpoint of iteration 1 is whole and the newest."""
    overrides = [
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={tmp_path / 'cache'}",
        f"callbacks.{callback}.every_n_iters=1",
        "run_name=full",
    ]
    with pytest.raises(OutputWriteError) as info:
        run(compose_train(overrides, out))
    assert isinstance(info.value, BAD_INPUT)  # reported in one line by every console script
    assert f"hydra.run.dir={out.resolve()} resume=auto" in str(info.value)
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["starganv2"]["iteration"] == 1  # whole, and the newest
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "iter_0000001.ckpt",
        "last.ckpt",
    ]
    return str(info.value)


def test_a_full_disk_at_a_sample_grid_names_it_and_how_to_continue(tmp_path, monkeypatch):
    """It was ``OSError: [Errno 28] No space left on device`` at the end of a traceback, naming
    no file, and the same command again would not have continued the run."""
    save = Image.Image.save

    def full_at_iteration_2(self, fp, *args, **kwargs):
        if "0000002" in str(fp):
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full_at_iteration_2)
    out = tmp_path / "run"
    message = _train_onto_a_disk_full_at_iteration_2(tmp_path, out, "samples")
    assert message.startswith(f"cannot write {out.resolve() / 'samples'}")
    assert "the disk is full" in message


def test_a_full_disk_at_a_checkpoint_names_it_and_how_to_continue(tmp_path, monkeypatch):
    """On a real full disk torch's writer raised a RuntimeError ('unexpected pos ...'): a
    traceback naming no file and no way to continue. Then the message named the checkpoint's
    temporary file (the callback's, around the checkpoint IO's own)."""
    full_disk_at(monkeypatch, "iter_0000002")
    out = tmp_path / "run"
    message = _train_onto_a_disk_full_at_iteration_2(tmp_path, out, "checkpoint")
    expected = out.resolve() / "checkpoints" / "iter_0000002.ckpt"
    assert message.startswith(f"cannot write {expected}: No space left on device;"), message


def test_a_full_disk_at_the_csv_log_names_the_run_folder(tmp_path, monkeypatch):
    """Lightning's CSV writer raised the bare ``[Errno 28] No space left on device`` (twice: at
    its flush, then again at its ``finalize``) after a traceback."""
    from lightning.fabric.loggers.csv_logs import _ExperimentWriter

    save = _ExperimentWriter.save
    out = tmp_path / "run"

    failed = []

    def full_after_a_checkpoint(self):
        # once: a second failure, in the writer's finalize, would leave Lightning's SIGTERM
        # handler installed for the tests after this one (it skips its teardown then)
        if (out / "checkpoints" / "last.ckpt").is_file() and not failed:
            failed.append(True)
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self)

    monkeypatch.setattr(_ExperimentWriter, "save", full_after_a_checkpoint)
    overrides = [
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={tmp_path / 'cache'}",
        "trainer.log_every_n_steps=1",
        "run_name=full",
    ]
    with pytest.raises(OutputWriteError) as info:
        run(compose_train(overrides, out))
    message = str(info.value)
    assert message.startswith(f"cannot write a log file of the run folder {out}")
    assert "the disk is full" in message
    assert f"hydra.run.dir={out.resolve()} resume=auto" in message


def test_a_refused_read_outside_the_run_folder_is_not_called_a_log_write(tmp_path):
    """A PermissionError naming a data folder (no read permission) during fit would have been
    reported as "cannot write a log file of the run folder": only errors that name no file, or a
    file of the run folder, are the run's writes."""
    from starganv2.cli.train import refused_write

    out = tmp_path / "run"
    data = tmp_path / "data" / "train" / "cat"
    assert refused_write(PermissionError(errno.EACCES, "Permission denied", str(data)), out) is None
    inside = refused_write(OSError(errno.EACCES, "Permission denied", str(out / "csv")), out)
    assert str(inside).startswith(f"cannot write a log file of the run folder {out}")
    bare = refused_write(OSError(errno.ENOSPC, "No space left on device"), out)
    assert "the disk is full" in str(bare)
    assert refused_write(OSError(errno.ENOENT, "No such file"), out) is None
