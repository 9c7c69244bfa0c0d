"""Checkpoints written straight into their folder (starganv2.utils.checkpoint_io): Lightning's
TorchCheckpointIO staged each one in the system's temporary folder (fsspec's transaction) and
copied it in memory, so a small $TMPDIR on a cluster node stopped the save of a run whose own
disk had room."""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from starganv2.cli.train import build_trainer
from starganv2.utils.checkpoint_io import FileCheckpointIO, use_file_checkpoint_io
from starganv2.utils.files import OutputWriteError
from tests.helpers.full_disk import full_disk_at
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train


@pytest.fixture
def no_temporary_folder(tmp_path, monkeypatch) -> Path:
    """The system's temporary folder set to one that does not exist (as a full $TMPDIR)."""
    gone = tmp_path / "no-tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    return gone


def test_a_save_needs_no_room_in_the_temporary_folder(tmp_path, no_temporary_folder) -> None:
    checkpoint = {"state_dict": {"w": torch.arange(6.0)}, "global_step": 3}
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(OSError):  # Lightning's own: staged in the missing temporary folder
        TorchCheckpointIO().save_checkpoint(checkpoint, path)
    FileCheckpointIO().save_checkpoint(checkpoint, path)
    loaded = FileCheckpointIO().load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(6.0))
    assert loaded["global_step"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary left
    assert not no_temporary_folder.exists()


def test_a_failed_save_keeps_the_earlier_checkpoint(tmp_path) -> None:
    path = tmp_path / "last.ckpt"
    FileCheckpointIO().save_checkpoint({"v": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - torch.save's own error for a lambda
        FileCheckpointIO().save_checkpoint({"v": lambda: 2}, path)
    assert FileCheckpointIO().load_checkpoint(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_the_training_trainer_saves_with_it_and_a_users_own_io_is_kept(tmp_path) -> None:
    cfg = compose_train([*TINY_OVERRIDES, *TINY_SHAPES], tmp_path / "run")
    trainer = build_trainer(cfg, [], [])
    assert type(trainer.strategy.checkpoint_io) is FileCheckpointIO

    class Own(TorchCheckpointIO):
        pass

    own = L.Trainer(plugins=[Own()], logger=False, enable_progress_bar=False, accelerator="cpu")
    use_file_checkpoint_io(own)
    assert type(own.strategy.checkpoint_io) is Own


def test_a_full_disk_names_the_checkpoint_and_keeps_the_earlier_one(tmp_path, monkeypatch):
    """torch's writer said only 'RuntimeError: [enforce fail at inline_container.cc:...]
    unexpected pos 576 vs 534' on a full disk, a traceback naming no file; the earlier
    checkpoint stays and no temporary file is left."""
    path = tmp_path / "last.ckpt"
    FileCheckpointIO().save_checkpoint({"v": 1}, path)
    full_disk_at(monkeypatch, "last")
    with pytest.raises(OutputWriteError, match=r"the disk is full") as info:
        FileCheckpointIO().save_checkpoint({"w": torch.zeros(100_000)}, path)
    assert str(info.value).startswith(f"cannot write {path}: No space left on device;")
    assert info.value.errno == 28
    assert isinstance(info.value.__cause__.__cause__, RuntimeError)  # torch's own, kept
    assert FileCheckpointIO().load_checkpoint(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
