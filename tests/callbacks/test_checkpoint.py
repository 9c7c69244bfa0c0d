"""The iteration checkpoint is Lightning's ModelCheckpoint: trainer.checkpoint_callback,
ckpt_path="last", ordinary file permissions, a checkpoint before a stop on unreadable data or
SIGTERM."""

from __future__ import annotations

import os
import signal
import stat

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from starganv2.callbacks.checkpoint import IterationCheckpoint
from starganv2.data.sampling import UnreadableDataError
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.images import make_root, small_datamodule


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_is_the_trainers_checkpoint_callback_and_writes_ordinary_files(tmp_path):
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=2)
    trainer = quiet_trainer(callbacks=[cb])
    assert isinstance(cb, ModelCheckpoint) and trainer.checkpoint_callback is cb
    trainer.fit(StarGANv2Module(**TINY, total_iters=3), random_loader(n=8))
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["iter_0000002.ckpt", "iter_0000003.ckpt", "last.ckpt"]  # + the final one
    plain = tmp_path / "plain"
    plain.write_text("x")
    for name in names:
        assert _mode(tmp_path / "ckpt" / name) == _mode(plain)  # not the 0600 of a temp file
    assert cb.last_model_path == str(tmp_path / "ckpt" / "last.ckpt")
    assert cb.best_model_path.endswith("iter_0000003.ckpt")
    assert torch.load(cb.last_model_path, weights_only=False)["starganv2"]["iteration"] == 3


def test_fit_ckpt_path_last_resumes_from_its_last_checkpoint(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    first = StarGANv2Module(**TINY, total_iters=2)
    quiet_trainer(callbacks=[IterationCheckpoint(ckpt_dir, every_n_iters=1)]).fit(
        first, random_loader(n=8)
    )
    second = StarGANv2Module(**TINY, total_iters=4)
    cb = IterationCheckpoint(ckpt_dir, every_n_iters=1)
    quiet_trainer(callbacks=[cb]).fit(second, random_loader(n=8), ckpt_path="last")
    assert second.iteration == 4
    for a, b in zip(first.nets_ema.parameters(), second.nets_ema.parameters()):
        assert not torch.equal(a, b)  # continued training from iteration 2
    assert sorted(p.name for p in ckpt_dir.iterdir())[-1] == "last.ckpt"


def test_fast_dev_run_writes_no_checkpoint(tmp_path):
    """A try of the set-up: not even the end-of-training checkpoint or ``last.ckpt``."""
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=1)
    module = StarGANv2Module(**TINY, total_iters=10)
    quiet_trainer(callbacks=[cb], fast_dev_run=2).fit(module, random_loader(n=8))
    assert module.iteration == 2
    assert not (tmp_path / "ckpt").exists()
    assert cb.last_model_path == "" and cb.best_model_path == ""


def test_keep_last_prunes_old_files(tmp_path):
    cb = IterationCheckpoint(tmp_path, every_n_iters=1, keep_last=2)
    quiet_trainer(callbacks=[cb]).fit(StarGANv2Module(**TINY, total_iters=4), random_loader(n=8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "iter_0000003.ckpt",
        "iter_0000004.ckpt",
        "last.ckpt",
    ]


class _DeleteTrainingFiles(L.Callback):
    """Deletes every training image after iteration ``at`` (storage gone mid-run)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.iteration == self.at:
            for path in trainer.datamodule.train_set.files:
                path.unlink(missing_ok=True)


def test_unreadable_data_stops_the_run_after_a_checkpoint(tmp_path):
    dm = small_datamodule(
        make_root(tmp_path / "data", {"a": 8, "b": 8}),
        img_size=32,
        batch_size=2,
        max_consecutive_failures=4,
    )
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=100)
    model = StarGANv2Module(**TINY, total_iters=50)
    trainer = quiet_trainer(callbacks=[cb, _DeleteTrainingFiles(at=2)])
    with pytest.raises(UnreadableDataError, match="in a row could not be read"):
        trainer.fit(model, datamodule=dm)
    assert model.iteration == 2
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["starganv2"]["iteration"] == 2
    assert (tmp_path / "ckpt" / "iter_0000002.ckpt").is_file()


class _SigtermAt(L.Callback):
    """Sends this process SIGTERM at the end of iteration ``at`` (a ``kill``, ``timeout`` or a
    scheduler's stop), through the handler Lightning installs for ``fit``."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.iteration == self.at:
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "no handler"
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_the_run_after_a_checkpoint_of_the_iteration_it_ended(tmp_path):
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=100)
    model = StarGANv2Module(**TINY, total_iters=50)
    trainer = quiet_trainer(callbacks=[cb, _SigtermAt(at=3)])
    with pytest.raises(SIGTERMException):
        trainer.fit(model, train_dataloaders=random_loader())
    assert model.iteration == 3  # Lightning let the iteration in progress end, then stopped
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["starganv2"]["iteration"] == 3
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "iter_0000003.ckpt",
        "last.ckpt",
    ]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # Lightning put the default back


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_invalid_interval_names_the_key(bad):
    with pytest.raises(ValueError, match="every_n_iters"):
        IterationCheckpoint("x", every_n_iters=bad)


def test_the_state_key_does_not_depend_on_the_interval(tmp_path):
    """Resuming with another every_n_iters restores the callback's state; with the interval in
    the key Lightning warned at every such resume that a callback was missing."""
    a = IterationCheckpoint(tmp_path, every_n_iters=10)
    b = IterationCheckpoint(tmp_path, every_n_iters=250)
    assert a.state_key == b.state_key == "IterationCheckpoint{}"
