"""Checks on what a training run starts from: a checkpoint already at ``model.total_iters``
would end the run at once with nothing written, which looks like success (training says so); a
new run in a run folder that holds checkpoints would mix two runs (refused); ``resume=auto`` says
which damaged checkpoints it passed over and renamed, and that it renamed none when it stops."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from starganv2.cli.config_check import ConfigError
from starganv2.cli.train import _warn_nothing_left, resolve_ckpt_path, set_aside


def _model(total_iters):
    return SimpleNamespace(hparams=SimpleNamespace(total_iters=total_iters))


@pytest.mark.parametrize(
    ("done", "total", "warned"), [(100000, 100000, True), (900, 100000, False)]
)
def test_a_checkpoint_at_the_last_iteration_is_named(caplog, done, total, warned):
    checkpoint = {"starganv2": {"iteration": done, "model": "stargan_v2"}}
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        _warn_nothing_left(checkpoint, _model(total), "afhq.ckpt")
    assert ("nothing is left to train" in caplog.text) is warned
    if warned:
        assert "ckpt_path=afhq.ckpt is at iteration 100000 and model.total_iters=100000" in (
            caplog.text
        )
        assert "--iteration 0" in caplog.text


def test_a_finished_job_resumed_with_resume_auto_is_one_info_line(caplog):
    """A relaunched sweep (resume=auto, README "Sweeps") resumes its finished jobs from their own
    folders: that is the normal flow, not a converted release to convert again."""
    checkpoint = {"starganv2": {"iteration": 8, "model": "stargan_v2"}}
    with caplog.at_level(logging.INFO, logger="starganv2.train"):
        _warn_nothing_left(checkpoint, _model(8), "run/checkpoints/last.ckpt", resumed=True)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "already finished (iteration 8, model.total_iters=8)" in caplog.text
    assert "--iteration 0" not in caplog.text


# --------------------------------------------------------------- a new run in a used run folder
def _cfg(run_dir: Path, **top) -> DictConfig:
    """The keys :func:`resolve_ckpt_path` reads, for a run folder ``run_dir``."""
    keys = {"run_name": "mine", "ckpt_path": None, "resume": None, **top}
    return OmegaConf.create({**keys, "paths": {"output_dir": str(run_dir)}})


def _checkpoint(path: Path, iteration: int) -> Path:
    """A file :func:`read_checkpoint` takes: a ``state_dict`` and the model's iteration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "starganv2": {"iteration": iteration}}, path)
    return path


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_new_run_in_a_folder_with_checkpoints_is_refused(tmp_path, monkeypatch):
    """A run_name given twice without resume=auto: the new run replaced last.ckpt and mixed its
    iter_*.ckpt files with the old run's."""
    monkeypatch.setattr("starganv2.cli.train._hydra_config", lambda: None)  # not a sweep
    ckpts = tmp_path / "run" / "checkpoints"
    for it in (2, 4, 6):
        _checkpoint(ckpts / f"iter_{it:07d}.ckpt", it)
    (ckpts / "last.ckpt").hardlink_to(ckpts / "iter_0000006.ckpt")
    with pytest.raises(ConfigError) as err:
        resolve_ckpt_path(_cfg(tmp_path / "run"))
    assert str(err.value) == (
        f"run folder {tmp_path / 'run'} already holds a run's checkpoints (the newest at "
        "iteration 6): add resume=auto to continue that run, or give another run_name or "
        "hydra.run.dir to start a new one"
    )
    assert _names(ckpts) == [
        "iter_0000002.ckpt",
        "iter_0000004.ckpt",
        "iter_0000006.ckpt",
        "last.ckpt",
    ]


def test_a_last_ckpt_alone_is_refused_with_its_iteration(tmp_path):
    _checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", 7)
    with pytest.raises(ConfigError, match=r"\(the newest at iteration 7\)"):
        resolve_ckpt_path(_cfg(tmp_path / "run"))
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_text("not a checkpoint\n")
    with pytest.raises(ConfigError, match=r"\(checkpoints/last.ckpt\): add resume=auto"):
        resolve_ckpt_path(_cfg(tmp_path / "run"))


def test_a_relaunched_sweep_job_names_the_sweep_folder(tmp_path, monkeypatch):
    from hydra.types import RunMode

    import starganv2.cli.train as train

    monkeypatch.setattr(train, "_hydra_config", lambda: SimpleNamespace(mode=RunMode.MULTIRUN))
    _checkpoint(tmp_path / "job" / "checkpoints" / "iter_0000003.ckpt", 3)
    with pytest.raises(ConfigError, match=r"another run_name or hydra\.sweep\.dir to start"):
        resolve_ckpt_path(_cfg(tmp_path / "job"))


@pytest.mark.parametrize("made", ["nothing", "folder", "checkpoints", "temporary file"])
def test_a_new_run_folder_or_one_without_checkpoints_starts_anew(tmp_path, made):
    run_dir = tmp_path / "run"
    if made != "nothing":
        run_dir.mkdir()
    if made in ("checkpoints", "temporary file"):
        (run_dir / "checkpoints").mkdir()
    if made == "temporary file":  # a save killed half-way leaves no checkpoint
        (run_dir / "checkpoints" / ".iter_0000002.abc123.ckpt").write_bytes(b"")
    assert resolve_ckpt_path(_cfg(run_dir)) == (None, [])


def test_resume_auto_and_ckpt_path_are_not_refused(tmp_path):
    last = _checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", 4)
    assert resolve_ckpt_path(_cfg(tmp_path / "run", resume="auto")) == (str(last), [])
    given = _cfg(tmp_path / "run", ckpt_path=str(last))
    assert resolve_ckpt_path(given) == (str(last), [])


def test_train_refuses_before_anything_is_written(tmp_path):
    """The refusal comes before the data, the lock or the resolved config are touched."""
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train

    run_dir = tmp_path / "run"
    _checkpoint(run_dir / "checkpoints" / "iter_0000006.ckpt", 6)
    cache = tmp_path / "cache"
    cfg = compose_train([*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={cache}"], run_dir)
    with pytest.raises(ConfigError, match="already holds a run's checkpoints"):
        run(cfg)
    assert _names(run_dir) == ["checkpoints"] and not cache.exists()


# ------------------------------------------------------------ resume=auto past damaged files
def test_resume_auto_with_nothing_that_loads_says_nothing_was_renamed(tmp_path, caplog):
    """It warned "passed over, kept as last.ckpt.damaged" and then stopped, renaming nothing."""
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "last.ckpt").write_text("not a checkpoint\n")
    (ckpts / "iter_0000002.ckpt").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="starganv2"), pytest.raises(ConfigError) as err:
        resolve_ckpt_path(_cfg(tmp_path / "run", resume="auto"))
    assert f"none of the checkpoints under {ckpts} loads (last.ckpt, iter_0000002.ckpt), and " in (
        str(err.value)
    )
    assert "none was renamed" in str(err.value)
    assert ".damaged" not in caplog.text and "passed over" not in caplog.text
    assert "last.ckpt' is a text file" in caplog.text and "iter_0000002.ckpt' is empty" in (
        caplog.text
    )
    assert _names(ckpts) == ["iter_0000002.ckpt", "last.ckpt"]


def test_resume_auto_says_which_checkpoint_it_took_and_each_rename(tmp_path, caplog):
    ckpts = tmp_path / "run" / "checkpoints"
    _checkpoint(ckpts / "iter_0000002.ckpt", 2)
    (ckpts / "last.ckpt").write_text("not a checkpoint\n")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        found, damaged = resolve_ckpt_path(_cfg(tmp_path / "run", resume="auto"))
    assert (found, damaged) == (str(ckpts / "iter_0000002.ckpt"), [ckpts / "last.ckpt"])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].endswith("; passed over for iter_0000002.ckpt")
    assert _names(ckpts) == ["iter_0000002.ckpt", "last.ckpt"]  # renamed once the lock is held
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="starganv2"):
        set_aside(damaged)
    assert _names(ckpts) == ["iter_0000002.ckpt", "last.ckpt.damaged"]
    assert "renamed the damaged last.ckpt to last.ckpt.damaged" in caplog.text


# ------------------------------------------------ a run restarted from an earlier checkpoint
def test_the_newest_grid_named_is_of_this_runs_iterations(tmp_path, caplog):
    """Restarted from iter_0000003.ckpt of a run that had reached iteration 7, the run ends at
    iteration 4: the report named 0000007_reference.png, a grid of the abandoned later run."""
    from starganv2.cli.train import _report

    samples = tmp_path / "samples"
    samples.mkdir()
    for it in (3, 4, 7):
        for kind in ("latent", "reference"):
            (samples / f"{it:07d}_{kind}.png").write_bytes(b"")
    cfg = OmegaConf.create({})
    with caplog.at_level(logging.INFO, logger="starganv2.train"):
        _report(cfg, tmp_path, SimpleNamespace(iteration=4))
    assert "(newest: 0000004_reference.png)" in caplog.text


@pytest.mark.parametrize(("start", "warned"), [(3, True), (7, False)])
def test_going_back_to_an_earlier_checkpoint_of_the_folder_is_said(tmp_path, caplog, start, warned):
    """ckpt_path=<run>/checkpoints/iter_0000003.ckpt in the run's own folder, which holds files
    up to iteration 7: the run silently replaced iter_0000004.ckpt and later ones."""
    folder = tmp_path / "checkpoints"
    for it in range(1, 8):
        _checkpoint(folder / f"iter_{it:07d}.ckpt", it)
    cfg = _cfg(tmp_path, ckpt_path=str(folder / f"iter_{start:07d}.ckpt"))
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        resolve_ckpt_path(cfg)
    assert ("holds 4 checkpoint(s) of later iterations" in caplog.text) is warned
    if warned:
        assert "iter_0000004.ckpt ... iter_0000007.ckpt" in caplog.text
        assert "another run_name" in caplog.text
        # the loggers get iterations 4..7 twice (found by hunt AZ)
        assert "get iterations 4 and on a second time" in caplog.text


def test_a_checkpoint_of_another_run_folder_is_not_going_back(tmp_path, caplog):
    """Fine-tuning another run's checkpoint into a new folder: nothing to warn about."""
    other = _checkpoint(tmp_path / "other" / "checkpoints" / "iter_0000003.ckpt", 3)
    _checkpoint(tmp_path / "other" / "checkpoints" / "iter_0000007.ckpt", 7)
    cfg = _cfg(tmp_path / "new", ckpt_path=str(other))
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        resolve_ckpt_path(cfg)
    assert "later iterations" not in caplog.text
