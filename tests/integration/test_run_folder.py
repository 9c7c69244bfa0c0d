"""Run folders that survive mistakes: one job per folder, resume past a damaged checkpoint, and
one-line answers for files that are no checkpoint of this run (issue 20)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from starganv2.cli.config_check import ConfigError
from starganv2.cli.train import run
from starganv2.models.registry import CheckpointError
from tests.integration.conftest import (
    TINY_OVERRIDES,
    TINY_SHAPES,
    compose_train,
    run_cli,
    tiny_overrides,
    tiny_train_cfg,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes_cache) -> Path:
    """The checkpoints folder of a tiny 3-iteration run (iter_1..3 and last.ckpt)."""
    root = tmp_path_factory.mktemp("trained")
    run(tiny_train_cfg(root, shapes_cache, ["model.total_iters=3"]))
    return root / "run" / "checkpoints"


def damage(path: Path, content: bytes) -> None:
    """Replace ``path`` by ``content`` (a new file: ``last.ckpt`` is a hard link of an iter_)."""
    path.unlink()
    path.write_bytes(content)


def test_resume_auto_skips_a_damaged_last_ckpt_and_keeps_it(
    tmp_path, shapes_cache, trained, caplog
):
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["model.total_iters=4", "resume=auto"])
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    shutil.copytree(trained, ckpts)
    damage(ckpts / "last.ckpt", (trained / "last.ckpt").read_bytes()[:5000])
    damage(ckpts / "iter_0000003.ckpt", b"")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        metrics = run(cfg)
    assert metrics["iteration"] == 4
    assert "resume=auto: continuing from " + str(ckpts / "iter_0000002.ckpt") in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("last.ckpt' is a damaged or truncated checkpoint" in w for w in warned), warned
    assert any("iter_0000003.ckpt' is empty" in w for w in warned), warned
    # the damaged files are kept for a person to look at, out of the way of the new saves
    assert (ckpts / "iter_0000003.ckpt.damaged").stat().st_size == 0
    assert (ckpts / "last.ckpt.damaged").stat().st_size == 5000
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["starganv2"]["iteration"] == 4


def test_resume_auto_with_no_loadable_checkpoint_is_one_line(tmp_path, shapes_cache):
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["resume=auto"])
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "last.ckpt").write_text("not a checkpoint\n")
    with pytest.raises(ConfigError, match=r"none of the checkpoints under .* loads \(last.ckpt\)"):
        run(cfg)
    assert (ckpts / "last.ckpt").read_text() == "not a checkpoint\n"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"hello\n", "is a text file, not a checkpoint (it begins 'hello')"),
        (b"", "is empty"),
        (None, "is a damaged or truncated checkpoint"),
        (b"\x00\x01\x02\xff" * 10, "is not a PyTorch checkpoint (40 bytes of unknown content)"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_named_in_one_line(
    tmp_path, shapes_cache, trained, content, what
):
    bad = tmp_path / "model.ckpt"
    bad.write_bytes((trained / "last.ckpt").read_bytes()[:5000] if content is None else content)
    with pytest.raises(CheckpointError) as err:
        run(tiny_train_cfg(tmp_path, shapes_cache, [f"ckpt_path={bad}"]))
    assert str(err.value).startswith(f"ckpt_path={str(bad)!r} {what}")
    assert "\n" not in str(err.value)


def test_a_torch_file_without_a_state_dict_says_what_it_expected(tmp_path, shapes_cache):
    bad = tmp_path / "100000_nets_ema.ckpt"
    torch.save({"generator": {"w": torch.zeros(1)}}, bad)
    with pytest.raises(CheckpointError, match="no training checkpoint .*'generator'.*convert"):
        run(tiny_train_cfg(tmp_path, shapes_cache, [f"ckpt_path={bad}"]))


def test_a_checkpoint_of_another_model_names_both(tmp_path, shapes_cache, trained):
    other = tmp_path / "v1.ckpt"
    checkpoint = torch.load(trained / "last.ckpt", weights_only=True)
    checkpoint["starganv2"]["model"] = "stargan_v1"
    torch.save(checkpoint, other)
    with pytest.raises(CheckpointError) as err:
        run(tiny_train_cfg(tmp_path, shapes_cache, [f"ckpt_path={other}"]))
    assert str(err.value) == (
        f"ckpt_path={str(other)!r} holds a stargan_v1 model (StarGANv1Module) but this run "
        "trains stargan_v2 (StarGANv2Module): choose model=stargan_v1 (with an experiment of that "
        "model, e.g. experiment=stargan_v1_quick, if any), or another checkpoint"
    )


def test_the_advice_for_a_checkpoint_of_another_model_resumes_as_printed(tmp_path, shapes_cache):
    """Resuming a StarGAN v1 run under ``experiment=quick`` (StarGAN v2's) advised
    ``model=stargan_v1``, which then failed on the experiment's v2-only arguments."""
    from starganv2.models.registry import MODEL_EXPERIMENTS

    experiment = f"experiment={MODEL_EXPERIMENTS['stargan_v1']}"
    base = [*TINY_SHAPES, f"data.cache_dir={shapes_cache}", experiment]
    v1 = compose_train(base, tmp_path / "v1")
    v1 = compose_train([*tiny_overrides(v1), *base], tmp_path / "v1")
    run(v1)
    ckpt = tmp_path / "v1" / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=re.escape(experiment)):  # the v2 quick run's advice
        run(tiny_train_cfg(tmp_path / "v2", shapes_cache, [f"ckpt_path={ckpt}"]))
    again = compose_train(
        [*tiny_overrides(v1), *base, "model.total_iters=3", f"ckpt_path={ckpt}"], tmp_path / "again"
    )
    assert run(again)["iteration"] == 3


def test_a_checkpoint_of_other_net_sizes_names_both(tmp_path, shapes_cache, trained):
    cfg = tiny_train_cfg(
        tmp_path, shapes_cache, ["model.dim_in=32", f"ckpt_path={trained / 'last.ckpt'}"]
    )
    with pytest.raises(CheckpointError) as err:
        run(cfg)
    msg = str(err.value)
    assert "holds stargan_v2 nets of other sizes than this run's" in msg
    assert "is (16, 3, 3, 3) there, (32, 3, 3, 3) here" in msg
    assert "dim_in=16 there, 32 here" in msg
    assert len(msg) < 1000 and "\n" not in msg


def train_args(run_name: str, total_iters: int, cache: Path) -> list[str]:
    return [
        "starganv2.cli.train",
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={cache}",
        f"run_name={run_name}",
        f"model.total_iters={total_iters}",
        "callbacks.samples.every_n_iters=1000",
        "trainer.enable_progress_bar=false",
        "resume=auto",
    ]


@pytest.mark.slow
def test_a_second_job_on_a_run_folder_is_refused_then_takes_a_stale_lock(tmp_path, shapes_cache):
    """Two real training processes on one run folder: the second refuses in one line while the
    first trains; once the first is killed (its lock left behind) a third takes over."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    first = subprocess.Popen(
        [sys.executable, "-m", *train_args("shared", 400, shapes_cache)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = tmp_path / "outputs/train/shared"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (folder / "run.lock").is_file():
            time.sleep(0.2)
        assert (folder / "run.lock").is_file(), "the first job never took the lock"
        second = run_cli(train_args("shared", 400, shapes_cache), cwd=tmp_path)
        assert second.returncode == 1
        console = second.stdout + second.stderr
        errors = [line for line in console.splitlines() if "[ERROR]" in line]
        assert len(errors) == 1, console[-3000:]
        assert f"is in use by pid {first.pid} on " in errors[0]
        assert "Traceback" not in console
        assert first.poll() is None, "the refused job must not stop the first"
    finally:
        first.kill()
        first.wait()
    assert (folder / "run.lock").is_file()  # killed: the lock stays behind
    last = folder / "checkpoints/last.ckpt"
    done = torch.load(last, weights_only=True)["starganv2"]["iteration"] if last.is_file() else 0
    third = run_cli(train_args("shared", done + 1, shapes_cache), cwd=tmp_path)
    assert third.returncode == 0, (third.stdout + third.stderr)[-3000:]
    assert f"took over a stale lock (pid {first.pid} on " in third.stdout + third.stderr
    assert not (folder / "run.lock").exists()


@pytest.mark.slow
def test_a_relaunched_multirun_with_resume_auto_continues_each_job(tmp_path, shapes_cache):
    """The same sweep launched again (same run_name, resume=auto) finds each job's folder by
    its overrides, not by its position, and continues it."""
    args = [*TINY_OVERRIDES, *TINY_SHAPES, f"data.cache_dir={shapes_cache}", "run_name=sweep"]
    args = [a for a in args if not a.startswith("model.total_iters")]
    sweep = tmp_path / "outputs/train/multirun/sweep"
    first = run_cli(
        ["starganv2.cli.train", "-m", "model.lambda_sty=0.5,2", *args, "model.total_iters=1"],
        cwd=tmp_path,
        timeout=600,
    )
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    # listed the other way round: job 0 is now lambda_sty=2, and must still find its own folder
    again = run_cli(
        [
            "starganv2.cli.train",
            "-m",
            "model.lambda_sty=2,0.5",
            *args,
            "model.total_iters=2",
            "resume=auto",
        ],
        cwd=tmp_path,
        timeout=600,
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["model.lambda_sty-0.5", "model.lambda_sty-2"]
    for job, value in (("model.lambda_sty-0.5", 0.5), ("model.lambda_sty-2", 2.0)):
        ckpts = sweep / job / "checkpoints"
        assert sorted(p.name for p in ckpts.glob("iter_*.ckpt")) == [
            "iter_0000001.ckpt",
            "iter_0000002.ckpt",
        ]
        last = torch.load(ckpts / "last.ckpt", weights_only=True)
        assert last["starganv2"]["iteration"] == 2
        assert last["hyper_parameters"]["lambda_sty"] == value
    resumed = sweep / "model.lambda_sty-2" / "checkpoints" / "last.ckpt"
    assert f"resume=auto: continuing from {resumed}" in again.stdout + again.stderr


def test_resume_auto_without_run_name_warns_that_nothing_can_be_resumed(
    tmp_path, shapes_cache, caplog
):
    """The default run_name is the start time: resume=auto then always starts a new folder, which
    is almost surely a forgotten run_name. Said as a warning, not hidden in an INFO line."""
    from starganv2.cli.train import resolve_ckpt_path

    for extra, warned in ((["resume=auto"], True), (["resume=auto", "run_name=mine"], False)):
        caplog.clear()
        cfg = tiny_train_cfg(tmp_path / extra[-1], shapes_cache, extra)
        with caplog.at_level(logging.INFO, logger="starganv2"):
            assert resolve_ckpt_path(cfg) == (None, [])
        said = [r for r in caplog.records if "resume=auto without run_name" in r.getMessage()]
        assert len(said) == int(warned) and all(r.levelno == logging.WARNING for r in said)
        assert "no checkpoint under" in caplog.text  # the fresh start is still said


def test_resume_auto_into_a_given_folder_with_checkpoints_does_not_say_nothing_resumes(
    shapes_cache, trained, caplog
):
    """A run folder given by path (hydra.run.dir, as printed "continue it" commands do) holds
    checkpoints whatever run_name says: the warning that nothing can be resumed was false there."""
    from starganv2.cli.train import resolve_ckpt_path

    cfg = tiny_train_cfg(trained.parent.parent, shapes_cache, ["resume=auto"])
    with caplog.at_level(logging.INFO, logger="starganv2"):
        found, _ = resolve_ckpt_path(cfg)
    assert found is not None and Path(found).parent == trained
    assert "resume=auto without run_name" not in caplog.text


def test_a_resume_with_another_batch_size_is_warned_and_saved(
    tmp_path, shapes_cache, trained, caplog
):
    """Checkpoints keep the batch layout they trained with; a resume that changes it continues
    with one warning (an epoch's draws and each step's batch are not the run's as before)."""
    saved = torch.load(trained / "last.ckpt", weights_only=True)["starganv2"]
    assert (saved["processes"], saved["batch_size"]) == (1, 2)
    extra = [f"ckpt_path={trained / 'last.ckpt'}", "data.batch_size=3", "model.total_iters=4"]
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        run(tiny_train_cfg(tmp_path, shapes_cache, extra))
    said = [
        r.getMessage() for r in caplog.records if "the checkpoint trained with" in r.getMessage()
    ]
    assert said == [
        "resuming at iteration 3 with batch 3 per step (1 process x data.batch_size=3), but the "
        "checkpoint trained with batch 2 per step (1 process x data.batch_size=2): each step now "
        "averages another number of images (the learning rates and R1 weight are not "
        "rescaled), and the rest of this epoch's draws is not the uninterrupted run's (some "
        "images are trained twice, others skipped); to continue as before, set data.batch_size=2"
    ]
    again = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)["starganv2"]
    assert (again["iteration"], again["batch_size"]) == (4, 3)


def test_resume_refuses_domain_folders_whose_labels_moved(tmp_path, caplog):
    """Checkpoints keep the domain names (the data module's state): a folder renamed so that
    another domain's label changes is refused on resume; a rename that keeps every label is
    said in a warning and training goes on."""
    from tests.integration.conftest import compose_train, make_folder_dataset

    root = make_folder_dataset(tmp_path / "images", ["cat", "dog"], n=2, size=32)

    def train(total: int) -> dict:
        data = ["data=folder", f"data.root={root}", "data.num_domains=2", "resume=auto"]
        over = [*TINY_OVERRIDES, *data, f"model.total_iters={total}"]
        return run(compose_train(over, tmp_path / "run"))

    def rename(old: str, new: str) -> None:
        for split in ("train", "val"):
            (root / split / old).rename(root / split / new)

    assert train(1)["iteration"] == 1
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=False)
    assert ckpt["ImageDomainDataModule"] == {"domains": ["cat", "dog"]}
    rename("cat", "zebra")  # sorted: dog, zebra: dog would become label 0
    with pytest.raises(ValueError, match=r"\['dog'\] would change label"):
        train(2)
    rename("zebra", "ant")  # ant, dog: every label where it was
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        assert train(2)["iteration"] == 2
    assert "trained with the domains (0: cat, 1: dog), the folders now give (0: ant, 1: dog)" in (
        caplog.text
    )


def test_a_finished_job_relaunched_with_resume_auto_returns_its_last_evaluation(
    tmp_path, shapes_cache
):
    """A sweep relaunched with resume=auto: a job that had already finished trains and evaluates
    nothing, but its sweeper still needs optimized_metric (it raised KeyError, ending the sweep):
    the evaluation callback's history, restored from the checkpoint, gives it."""
    extra = [
        "callbacks=eval",
        "callbacks.evaluation.evaluator.metrics=[shapes_quality]",
        "callbacks.evaluation.evaluator.max_images_per_domain=2",
        "model.total_iters=2",
        "run_name=done",
    ]
    key = "eval/shapes/target_accuracy_latent"
    first = run(tiny_train_cfg(tmp_path, shapes_cache, extra))
    again = run(tiny_train_cfg(tmp_path, shapes_cache, [*extra, "resume=auto"]))
    assert again["iteration"] == first["iteration"] == 2
    assert again[key] == pytest.approx(first[key])


def test_a_finished_job_relaunched_with_resume_auto_returns_its_last_logged_loss(
    tmp_path, shapes_cache
):
    """The same with an optimized_metric of training (train/..., accepted before training): no
    evaluation file holds it, so it was a KeyError that ended the search; the run folder's CSV
    log gives the value the first launch returned."""
    extra = ["model.total_iters=2", "trainer.log_every_n_steps=1", "run_name=done"]
    key = "train/g_latent/adv"
    first = run(tiny_train_cfg(tmp_path, shapes_cache, extra))
    again = run(tiny_train_cfg(tmp_path, shapes_cache, [*extra, "resume=auto"]))
    assert again["iteration"] == first["iteration"] == 2
    assert again[key] == pytest.approx(first[key])
    assert "step" not in again


def test_an_evaluation_metric_without_the_evaluation_is_refused_before_training(
    tmp_path, shapes_cache
):
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["optimized_metric=eval/FID_latent/mean"])
    with pytest.raises(ConfigError, match=r"optimized_metric='eval/FID_latent/mean' is a result"):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    ("monitor", "says"),
    [
        ("val/shapes/target_acc", "is not a key the validation"),
        ("eval/shapes/target_accuracy_latent", "is a result of the evaluation"),
    ],
)
def test_a_monitor_key_the_run_does_not_log_is_refused_before_training(
    tmp_path, shapes_cache, monitor, says
):
    """EarlyStopping on a misspelt key stopped the run at its first validation, with Lightning's
    traceback and no checkpoint of the iterations done: one line naming the setting instead."""
    stop = (
        "+callbacks.early_stop={_target_: lightning.pytorch.callbacks.EarlyStopping, "
        f"monitor: {monitor}, mode: max}}"
    )
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["val_every_n_iters=1", stop])
    with pytest.raises(ConfigError, match=f"callbacks.early_stop.monitor='{monitor}' {says}"):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_narrowed_sweep_job_with_nothing_to_resume_says_why(tmp_path, monkeypatch, caplog):
    """Relaunching only some values (model.lambda_ds=1 instead of 1,2) drops that key from the
    folder names, so resume=auto finds nothing: said as a warning, naming the jobs that have
    checkpoints."""
    from types import SimpleNamespace

    from hydra.types import RunMode

    import starganv2.cli.train as train_cli

    sweep = tmp_path / "multirun" / "s"
    for job in ("model.lambda_ds-1__model.lambda_sty-2", "model.lambda_ds-2__model.lambda_sty-2"):
        (sweep / job / "checkpoints").mkdir(parents=True)
        (sweep / job / "checkpoints" / "last.ckpt").write_bytes(b"x")
    new = sweep / "model.lambda_sty-2"
    new.mkdir()
    for mode, warned in ((RunMode.RUN, False), (RunMode.MULTIRUN, True)):
        caplog.clear()
        monkeypatch.setattr(train_cli, "_hydra_config", lambda m=mode: SimpleNamespace(mode=m))
        with caplog.at_level(logging.WARNING, logger="starganv2"):
            train_cli._warn_other_jobs(new)
        said = "job folder model.lambda_sty-2 has no checkpoint, while 2 other job(s)"
        assert (said in caplog.text) == warned
