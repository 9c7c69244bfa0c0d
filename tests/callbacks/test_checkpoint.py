"""The iteration checkpoint is Lightning's ModelCheckpoint: trainer.checkpoint_callback,
ckpt_path="last", ordinary file permissions, a checkpoint before a stop on unreadable data,
SIGTERM or Ctrl-C (of a complete iteration), keep_last that deletes only its own run's files."""

from __future__ import annotations

import logging
import os
import signal
import stat
from types import SimpleNamespace

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


def test_keep_last_deletes_only_this_runs_files(tmp_path):
    """A new run in a folder that holds another run's checkpoints (the training command refuses
    that; from Python it can happen): pruning by the iteration in the name deleted the file just
    saved (iter_0000001) and the new run's iter_0000002, and kept the old run's iter_0000004."""
    old = StarGANv2Module(**TINY, total_iters=4)
    quiet_trainer(callbacks=[IterationCheckpoint(tmp_path, every_n_iters=2)]).fit(
        old, random_loader(n=8)
    )
    new = StarGANv2Module(**TINY, total_iters=2)
    cb = IterationCheckpoint(tmp_path, every_n_iters=1, keep_last=1)
    quiet_trainer(callbacks=[cb]).fit(new, random_loader(n=8))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["iter_0000002.ckpt", "iter_0000004.ckpt", "last.ckpt"]
    saved = torch.load(tmp_path / "iter_0000002.ckpt", weights_only=False)
    assert saved["hyper_parameters"]["total_iters"] == 2  # the new run's
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["starganv2"]["iteration"] == 2


def test_keep_last_of_a_resumed_run_prunes_its_earlier_files(tmp_path):
    first = StarGANv2Module(**TINY, total_iters=2)
    cb = IterationCheckpoint(tmp_path, every_n_iters=1, keep_last=1)
    quiet_trainer(callbacks=[cb]).fit(first, random_loader(n=8))
    second = StarGANv2Module(**TINY, total_iters=3)
    cb = IterationCheckpoint(tmp_path, every_n_iters=1, keep_last=1)
    quiet_trainer(callbacks=[cb]).fit(second, random_loader(n=8), ckpt_path="last")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_0000003.ckpt", "last.ckpt"]


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


class _CtrlCDuring(L.Callback):
    """Sends this process SIGINT (Ctrl-C) just before optimizer steps ``steps`` (1-based) of
    iteration ``at`` (1-based): with ``steps=(3,)`` the discriminator has been updated, the
    generator not yet."""

    def __init__(self, at: int, steps: tuple[int, ...] = (3,)):
        self.at = at
        self.steps = steps
        self.step = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if pl_module.iteration != self.at - 1:
            return
        self.step += 1
        if self.step in self.steps:
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler, "no handler"
            os.kill(os.getpid(), signal.SIGINT)


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_ctrl_c_stops_after_the_iteration_in_progress_with_its_checkpoint(tmp_path, caplog):
    """Python raised KeyboardInterrupt between the D and G updates, and the checkpoint written
    then held a half-done iteration under the previous one's number."""
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=100)
    model = StarGANv2Module(**TINY, total_iters=50)
    trainer = quiet_trainer(callbacks=[cb, _CtrlCDuring(at=2)])
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as stop:
        trainer.fit(model, train_dataloaders=random_loader())
    assert isinstance(stop.value.__context__, KeyboardInterrupt)  # Lightning's Ctrl-C exit
    assert "Ctrl-C: stopping after iteration 2; press again to stop now" in caplog.text
    assert model.iteration == 2  # the iteration in progress ended
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["starganv2"]["iteration"] == 2
    for key, value in _state(model).items():  # the model as that iteration left it
        assert torch.equal(saved["state_dict"][key], value), key
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "iter_0000002.ckpt",
        "last.ckpt",
    ]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's is back


def test_a_second_ctrl_c_stops_at_once_without_a_checkpoint_of_half_an_iteration(tmp_path, caplog):
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=100)
    model = StarGANv2Module(**TINY, total_iters=50)
    trainer = quiet_trainer(callbacks=[cb, _CtrlCDuring(at=2, steps=(2, 3))])
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit):
        trainer.fit(model, train_dataloaders=random_loader())
    assert model.iteration == 1  # stopped inside iteration 2
    assert "Ctrl-C in the middle of iteration 2: no checkpoint of it is written" in caplog.text
    assert not (tmp_path / "ckpt").exists()  # nothing saved since the start: nothing written
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own SIGINT handler during the test, as in a terminal (a shell that starts the
    tests in the background, ``cmd &`` or a CI job, makes them ignore SIGINT, and the checkpoint
    callback leaves an ignored SIGINT alone); the test's handler put back after it, whatever
    happened in it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _fake_fit(cb: IterationCheckpoint, world_size: int = 1) -> SimpleNamespace:
    """What the Ctrl-C handling reads of a trainer in ``fit``, before the first iteration."""
    module = SimpleNamespace(iteration=0)
    trainer = SimpleNamespace(
        world_size=world_size,
        should_stop=False,
        lightning_module=module,
        ckpt_path=None,
        is_global_zero=False,  # writes nothing, removes nothing
        fast_dev_run=0,
    )
    cb.dirpath = "unused"
    cb.on_train_start(trainer, module)
    return trainer


def test_ctrl_c_between_iterations_stops_at_once_and_the_handler_goes_with_fit(python_sigint):
    cb = IterationCheckpoint("unused", every_n_iters=100)
    trainer = _fake_fit(cb)
    handler = signal.getsignal(signal.SIGINT)
    assert handler is not signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):  # no iteration in progress: nothing to wait for
        handler(signal.SIGINT, None)
    cb.on_train_batch_start(trainer, trainer.lightning_module, None, 0)
    handler(signal.SIGINT, None)  # held until the iteration has ended
    with pytest.raises(KeyboardInterrupt):  # pressed again: at once
        handler(signal.SIGINT, None)
    cb.teardown(trainer, trainer.lightning_module, "fit")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("last", [False, True])
def test_a_held_ctrl_c_is_raised_once_the_iteration_has_ended(python_sigint, caplog, last):
    """The batch end raises it, so that Lightning's own Ctrl-C path runs (and on_exception saves
    this complete iteration); unless that iteration was the last, which then simply ends."""
    cb = IterationCheckpoint("unused", every_n_iters=100)
    trainer = _fake_fit(cb)
    module = trainer.lightning_module
    cb.on_train_batch_start(trainer, module, None, 0)
    handler = signal.getsignal(signal.SIGINT)
    assert handler is not signal.default_int_handler  # (which would stop this test session)
    with caplog.at_level(logging.WARNING):
        handler(signal.SIGINT, None)
    assert "Ctrl-C: stopping after iteration 1; press again to stop now" in caplog.text
    module.iteration += 1  # the training step has ended
    trainer.should_stop = last
    if last:
        cb.on_train_batch_end(trainer, module, None, None, 0)
    else:
        with pytest.raises(KeyboardInterrupt):
            cb.on_train_batch_end(trainer, module, None, None, 0)


def test_ctrl_c_is_left_to_python_in_a_multi_process_run(python_sigint):
    """A rank that waited for the end of its iteration would wait for ranks already gone."""
    cb = IterationCheckpoint("unused", every_n_iters=100)
    _fake_fit(cb, world_size=2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


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


def test_saves_cut_off_by_a_killed_process_are_removed_when_a_run_starts(tmp_path, caplog):
    """A process killed while writing a checkpoint leaves its hidden temporary file, as large as
    a checkpoint; the next run writing into the folder removes it (and nothing else)."""
    import subprocess
    import sys

    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    die_mid_save = (
        "import os, sys\n"
        "from starganv2.utils.files import atomic_path\n"
        "open_saves = [atomic_path(name) for name in sys.argv[1:]]\n"
        "for save in open_saves:\n"
        "    save.__enter__().write_bytes(b'half a checkpoint')\n"
        "os._exit(9)\n"  # no cleanup, as after kill -9
    )
    paths = [str(ckpt_dir / "iter_0000002.ckpt"), str(ckpt_dir / "last.ckpt")]
    subprocess.run([sys.executable, "-c", die_mid_save, *paths], check=False)
    left = sorted(p.name for p in ckpt_dir.iterdir())
    assert len(left) == 2 and all(n.startswith((".iter_0000002.", ".last.")) for n in left)
    (ckpt_dir / ".notes.ckpt").write_text("mine")  # other hidden files stay
    with caplog.at_level(logging.INFO, logger="starganv2.callbacks.checkpoint"):
        cb = IterationCheckpoint(ckpt_dir, every_n_iters=5)
        quiet_trainer(callbacks=[cb]).fit(
            StarGANv2Module(**TINY, total_iters=1), random_loader(n=2)
        )
    assert sorted(p.name for p in ckpt_dir.iterdir()) == [
        ".notes.ckpt",
        "iter_0000001.ckpt",
        "last.ckpt",
    ]
    assert caplog.text.count("a checkpoint save cut off when its process died") == 2


class _FallingEvaluator:
    """A validation figure that improves at every measurement: minus the iteration."""

    def evaluate(self, model, datamodule) -> dict[str, float]:
        return {"FID_latent/mean": -float(model.iteration)}


def test_a_checkpoint_at_a_validated_iteration_holds_that_validation(tmp_path):
    """Checkpoint and validation intervals meet at iteration 4: its checkpoint must hold the
    monitoring callbacks' state after that validation, since a resume does not repeat it."""
    from lightning.pytorch.callbacks import EarlyStopping

    from starganv2.data.datamodule import ImageDomainDataModule
    from tests.evaluation.conftest import write_domain_data

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    module = StarGANv2Module(**TINY, total_iters=4)
    module.evaluator = _FallingEvaluator()
    ckpt_dir = tmp_path / "ckpt"
    best = ModelCheckpoint(tmp_path / "best", monitor="val/fid/latent", mode="min", save_top_k=1)
    stop = EarlyStopping(monitor="val/fid/latent", mode="min", patience=5)
    callbacks = [IterationCheckpoint(ckpt_dir, every_n_iters=2), best, stop]
    trainer = quiet_trainer(
        callbacks=callbacks,
        val_check_interval=2,
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=dm)
    assert float(best.best_model_score) == -4.0
    for it in (2, 4):
        saved = torch.load(ckpt_dir / f"iter_{it:07d}.ckpt", weights_only=False)["callbacks"]
        assert float(saved[best.state_key]["best_model_score"]) == -it
        assert float(saved[stop.state_key]["best_score"]) == -it
    last = torch.load(ckpt_dir / "last.ckpt", weights_only=False)["callbacks"]
    assert last[best.state_key]["best_model_path"] == best.best_model_path
