"""The training application: composition, runs, resume, faults, sweeps, loggers, bad configs."""

from __future__ import annotations

import csv
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from starganv2.cli.config_check import ConfigError, check_config
from starganv2.cli.train import run
from tests.helpers.fan import write_wing_ckpt
from tests.integration.conftest import (
    CONF_DIR,
    TINY_OVERRIDES,
    TINY_SHAPES,
    compose_train,
    make_folder_dataset,
    run_cli,
    start_train,
    tiny_overrides,
    tiny_train_cfg,
)

ODD_FOLDER = "runs, v1 (it's)"
"""A folder name that a shell (space, quote) and Hydra's override grammar (comma: a sweep; quote,
brackets) both misread unless a printed command quotes it."""


def hydra_value(override: str, key: str) -> str:
    """The value Hydra reads from one command-line word ``key=...``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(override)
    assert parsed.key_or_group == key, override
    value = parsed.value()
    assert isinstance(value, str), f"{override!r} reads as {value!r}"
    return value


def user_config_dir(root: Path) -> Path:
    """A user's own config folder (``--config-dir``) with a data group ``tiny``: the built-in
    shapes at the tiny test size. A printed command that drops ``--config-dir`` cannot find it."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "tiny.yaml").write_text(
        "defaults:\n  - shapes\n  - _self_\n\nn_train: 6\nn_val: 2\n"
    )
    return root


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "override",
    [f"data={o}" for o in group_options("data")]
    + [f"model={o}" for o in group_options("model")]
    + [f"trainer={o}" for o in group_options("trainer")]
    + [f"logger={o}" for o in group_options("logger")]
    + [f"callbacks={o}" for o in group_options("callbacks")]
    + [f"experiment={o}" for o in group_options("experiment")]
    + [f"hparams_search={o}" for o in group_options("hparams_search")]
    + ["hydra/launcher=slurm"],
)
def test_every_group_option_composes(override, tmp_path):
    cfg = compose_train([override], tmp_path)
    if override.startswith("data="):  # your own data: the values it cannot guess (root...)
        missing = [k for k in cfg.data if OmegaConf.is_missing(cfg.data, k)]
        extra = [f"data.{k}={'2' if k == 'num_domains' else '/some/where'}" for k in missing]
        cfg = compose_train([override, *extra], tmp_path)
    assert cfg.model.img_size == cfg.data.img_size
    assert cfg.model.num_domains == cfg.data.num_domains
    if not override.startswith("hydra/"):
        check_config(cfg, ["data", "model", "callbacks"])


def test_paper_experiments_settings(tmp_path):
    afhq = compose_train(["experiment=afhq"], tmp_path)
    assert (afhq.data.num_domains, afhq.model.w_hpf, afhq.model.lambda_ds) == (3, 0.0, 2.0)
    assert (afhq.data.batch_size, afhq.model.total_iters, afhq.model.dim_in) == (8, 100000, None)
    celeba = compose_train(["experiment=celeba_hq"], tmp_path)
    assert (celeba.data.num_domains, celeba.model.w_hpf, celeba.model.lambda_ds) == (2, 1.0, 1.0)
    assert celeba.data.img_size == 256 and celeba.model.max_conv_dim == 512


def read_metrics(run_dir: Path) -> list[dict]:
    """Rows of every CSV segment of a run (a resumed run writes version_1, version_2, ...)."""
    rows = []
    for path in sorted((run_dir / "csv").glob("version_*/metrics.csv")):
        with open(path) as fh:
            rows += list(csv.DictReader(fh))
    return rows


def test_quick_run_writes_checkpoints_samples_config_and_logs(tmp_path, shapes_cache):
    cfg = tiny_train_cfg(tmp_path, shapes_cache)
    metrics = run(cfg)
    out = Path(cfg.paths.output_dir)
    assert metrics["iteration"] == 2
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["iter_0000001.ckpt", "iter_0000002.ckpt", "last.ckpt"]
    assert torch.load(out / "checkpoints/last.ckpt", weights_only=False)["starganv2"] == {
        "iteration": 2,
        "model": "stargan_v2",
        "processes": 1,
        "batch_size": 2,
    }
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "0000002_latent.png",
        "0000002_reference.png",
    ]
    assert (out / "config_resolved.yaml").is_file()
    rows = read_metrics(out)
    assert {"train/d_latent/real", "train/g_ref/cyc", "train/lambda_ds"} <= set(rows[0])
    # the losses of iteration N are at step N, as evaluations and sample grids (they were at N-1)
    losses = [r for r in rows if r.get("train/d_latent/real")]
    assert [int(r["step"]) for r in losses] == [1, 2]
    assert [float(r["train/iteration"]) for r in losses] == [1.0, 2.0]


@pytest.mark.parametrize("experiment", group_options("experiment"))
@pytest.mark.slow
def test_every_experiment_runs_two_iterations(experiment, tmp_path, shapes_cache):
    GlobalHydra.instance().clear()
    cfg = compose_train([f"experiment={experiment}"], tmp_path)
    extra = [f"experiment={experiment}", "trainer.accelerator=cpu"]
    if "root" in cfg.data:
        names = [f"d{i}" for i in range(cfg.data.num_domains)]
        extra.append(f"data.root={make_folder_dataset(tmp_path / 'data', names)}")
    else:
        extra += TINY_SHAPES + [f"data.cache_dir={shapes_cache}"]
    if cfg.model.get("w_hpf", 0) > 0:  # the face masks need the landmark net's weights
        extra.append(f"model.fan_weights={write_wing_ckpt(tmp_path / 'wing.ckpt')}")
    cfg = compose_train(tiny_overrides(cfg) + extra, tmp_path / "run")
    assert run(cfg)["iteration"] == 2


def test_resume_continues_counter_lambda_ds_and_ema(tmp_path, shapes_cache):
    common = ["model.lambda_ds=2.0", "model.ds_iter=4", "model.ema_beta=0.5"]
    first = tiny_train_cfg(tmp_path, shapes_cache, common)
    run(first)
    out = Path(first.paths.output_dir)
    saved = torch.load(out / "checkpoints/iter_0000002.ckpt", weights_only=False)
    ema_key = next(k for k in saved["state_dict"] if k.startswith("nets_ema.generator."))

    second = tiny_train_cfg(tmp_path, shapes_cache, [*common, "model.total_iters=4", "resume=auto"])
    assert run(second)["iteration"] == 4
    rows = read_metrics(out)
    its = [float(r["train/iteration"]) for r in rows if r.get("train/iteration")]
    lam = [float(r["train/lambda_ds"]) for r in rows if r.get("train/lambda_ds")]
    assert its == [1, 2, 3, 4]
    assert lam == pytest.approx([2.0, 1.5, 1.0, 0.5])
    resumed = torch.load(out / "checkpoints/iter_0000003.ckpt", weights_only=False)
    # EMA continued from the saved EMA (beta 0.5), not from the online weights or a fresh copy
    online = resumed["state_dict"][ema_key.replace("nets_ema.", "nets.")]
    expected_lo = saved["state_dict"][ema_key]
    got = resumed["state_dict"][ema_key]
    assert not torch.equal(got, online)
    assert torch.allclose(got, 0.5 * expected_lo + 0.5 * online, atol=1e-6)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, shapes_cache, monkeypatch):
    import starganv2.models.stargan_v2.step as mod
    from starganv2.models.training_checks import NonFiniteLossError

    real = mod.d_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        loss, stats = real(*a, **k)
        calls["n"] += 1
        if calls["n"] >= 5:  # iteration 2 (0-based), first D step
            loss = loss * float("nan")
            stats["real"] = loss.detach()
        return loss, stats

    monkeypatch.setattr(mod, "d_loss", poisoned)
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["model.total_iters=5"])
    with pytest.raises(NonFiniteLossError, match=r"iteration 2 in term\(s\) d_latent/real"):
        run(cfg)
    out = Path(cfg.paths.output_dir)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "iter_0000001.ckpt",
        "iter_0000002.ckpt",
        "last.ckpt",
    ]
    last = torch.load(out / "checkpoints/last.ckpt", weights_only=False)
    assert last["starganv2"]["iteration"] == 2
    assert all(
        torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point()
    )


def test_bad_config_values_name_the_key(tmp_path, shapes_cache):
    with pytest.raises(ConfigError, match=r"model\.lr='abc'"):
        run(tiny_train_cfg(tmp_path, shapes_cache, ["model.lr=abc"]))
    with pytest.raises(Exception, match="img_size=48"):
        run(tiny_train_cfg(tmp_path, shapes_cache, ["data.img_size=48"]))
    with pytest.raises(ConfigError, match=r"data\.root is required"):
        run(compose_train(["data=folder", "data.num_domains=2"], tmp_path))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cfg = compose_train(
            TINY_OVERRIDES + ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"],
            tmp_path / "run",
        )
        run(cfg)
    with pytest.raises(ConfigError, match="ckpt_path"):
        run(tiny_train_cfg(tmp_path, shapes_cache, [f"ckpt_path={tmp_path}/missing.ckpt"]))


@pytest.mark.slow
def test_cli_unknown_key_and_bad_type_fail_before_training(tmp_path):
    res = run_cli(["starganv2.cli.train", "model.not_a_key=1"], cwd=tmp_path, timeout=120)
    assert res.returncode != 0 and "not_a_key" in res.stderr
    res = run_cli(["starganv2.cli.train", "model.total_iters=abc"], cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    assert "model.total_iters='abc'" in res.stderr + res.stdout
    assert not list((tmp_path / "outputs/train").glob("*/checkpoints/*.ckpt"))


@pytest.mark.slow
def test_multirun_two_jobs_two_folders(tmp_path, shapes_cache):
    args = TINY_OVERRIDES + TINY_SHAPES + [f"data.cache_dir={shapes_cache}", "model.total_iters=1"]
    res = run_cli(
        ["starganv2.cli.train", "-m", "model.lambda_sty=0.5,2", *args], cwd=tmp_path, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "outputs/train/multirun").glob("*/*") if p.is_dir())
    assert [j.name for j in jobs] == ["model.lambda_sty-0.5", "model.lambda_sty-2"]
    for job, value in zip(jobs, ("0.5", "2")):
        assert f"model.lambda_sty={value}" in (job / ".hydra/overrides.yaml").read_text()
        assert (job / "csv/version_0/metrics.csv").is_file() and (
            job / "checkpoints/last.ckpt"
        ).is_file()


@pytest.mark.slow
def test_wandb_offline_run_writes_files(tmp_path, shapes_cache, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["logger=wandb"])
    run(cfg)
    runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb")), "no wandb event file written"


def test_a_wandb_run_that_cannot_start_is_one_line_naming_the_key():
    """``logger.wandb.offline=false`` without an API key was wandb's traceback."""
    from lightning.pytorch.loggers import WandbLogger
    from wandb.errors import UsageError

    from starganv2.cli.train import log_run_config

    class NoKey(WandbLogger):
        def __init__(self) -> None:  # no wandb run: it fails as wandb.init does without a key
            pass

        def log_hyperparams(self, params) -> None:
            raise UsageError("No API key configured. Use `wandb login` to log in.")

    with pytest.raises(ConfigError, match=r"^logger\.wandb: .*No API key.*offline=true"):
        log_run_config([NoKey()], {"seed": 0})


@pytest.mark.slow
def test_wandb_runs_of_jobs_in_one_process_are_their_own(tmp_path, shapes_cache, monkeypatch):
    """A sweep's jobs run in one process (basic launcher, Optuna): the second job logged into
    the first one's wandb run, which was still open, and wrote no run of its own."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for job in ("a", "b"):
        cfg = tiny_train_cfg(tmp_path / job, shapes_cache, ["logger=wandb", f"run_name={job}"])
        run(cfg)
        runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, f"job {job}: {runs}"


@pytest.mark.slow
def test_wandb_run_resumed_in_its_folder_continues_its_wandb_run(tmp_path, shapes_cache):
    """``resume=auto`` (or a SLURM requeue) started a new wandb run each time, named and grouped
    the same: one training showed as several runs with its curves split. A new folder's run
    gets a new id."""

    def wandb_ids(out: Path) -> list[str]:
        # offline-run-<start second>-<id>, and -1, -2... after it for a start in the same second
        names = [p.name for p in (out / "wandb").glob("offline-run-*")]
        return sorted(
            re.fullmatch(r"offline-run-\d{8}_\d{6}-([a-z0-9]+)(-\d+)?", n)[1] for n in names
        )

    first = tiny_train_cfg(tmp_path, shapes_cache, ["logger=wandb", "run_name=wb"])
    run(first)
    out = Path(first.paths.output_dir)
    [first_id] = wandb_ids(out)
    second = tiny_train_cfg(
        tmp_path,
        shapes_cache,
        ["logger=wandb", "run_name=wb", "model.total_iters=4", "resume=auto"],
    )
    assert run(second)["iteration"] == 4
    # one folder per start, each named with the run's id
    assert wandb_ids(out) == [first_id, first_id]
    assert (out / "wandb_id.txt").read_text().strip() == first_id
    other = tiny_train_cfg(tmp_path / "other", shapes_cache, ["logger=wandb", "run_name=wb"])
    run(other)
    assert wandb_ids(Path(other.paths.output_dir)) != [first_id]


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_auto(tmp_path, shapes_cache):
    args = (
        TINY_OVERRIDES
        + TINY_SHAPES
        + [
            f"data.cache_dir={shapes_cache}",
            "run_name=killed",
            "model.total_iters=400",
            "callbacks.checkpoint.every_n_iters=2",
            "callbacks.samples.every_n_iters=1000",
        ]
    )
    proc = start_train(args, tmp_path)
    ckpt_dir = tmp_path / "outputs/train/killed/checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(ckpt_dir.glob("iter_*.ckpt"))) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = sorted(ckpt_dir.glob("iter_*.ckpt"))
    assert saved, "no checkpoint was written before the kill"
    last = torch.load(ckpt_dir / "last.ckpt", weights_only=False)
    killed_at = last["starganv2"]["iteration"]
    assert killed_at >= 2 and killed_at % 2 == 0
    total = killed_at + 2
    res = run_cli(
        [
            "starganv2.cli.train",
            *args[:-3],
            "run_name=killed",
            f"model.total_iters={total}",
            "callbacks.checkpoint.every_n_iters=2",
            "resume=auto",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    final = torch.load(ckpt_dir / "last.ckpt", weights_only=False)
    assert final["starganv2"]["iteration"] == total
    assert not list(ckpt_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_sigterm_saves_exits_143_and_prints_a_resume_command_that_works(tmp_path, shapes_cache):
    """A ``kill``/``timeout``/scheduler stop: Lightning ends the iteration in progress, the run
    writes its checkpoint, says how to continue and exits 128+15 (not 0: it did not finish). The
    printed command, run from another folder, continues the same run folder."""
    conf = user_config_dir(tmp_path / "my conf")
    args = [
        "--config-dir",
        str(conf),
        *TINY_OVERRIDES,
        "data=tiny",
        "data.cache_dir=cache",  # relative to the launch folder
        "run_name=stopped",
        "model.total_iters=100000",
        "callbacks.checkpoint.every_n_iters=100000",
    ]
    cwd = tmp_path / ODD_FOLDER
    cwd.mkdir()
    (cwd / "cache").symlink_to(shapes_cache, target_is_directory=True)
    proc = start_train(args, cwd, keep_output=True)
    run_dir = cwd / "outputs/train/stopped"
    deadline = time.time() + 240
    while time.time() < deadline and not list((run_dir / "samples").glob("*.png")):
        time.sleep(0.2)  # the first grid (iteration 2): training is under way
    proc.send_signal(signal.SIGTERM)
    printed, _ = proc.communicate(timeout=240)
    assert proc.returncode == 143, printed[-3000:]
    ckpt_dir = run_dir / "checkpoints"
    stopped_at = torch.load(ckpt_dir / "last.ckpt", weights_only=False)["starganv2"]["iteration"]
    assert stopped_at >= 2
    assert (ckpt_dir / f"iter_{stopped_at:07d}.ckpt").is_file()
    assert f"stopped by SIGTERM at iteration {stopped_at} of 100000" in printed
    assert "finished at iteration" not in printed
    line = next(x for x in printed.splitlines() if "continue it: " in x)
    line = line.split("continue it: ", 1)[1].strip()
    command = shlex.split(line)
    assert command[:3] == ["cd", str(cwd.resolve()), "&&"]  # data.cache_dir=cache is relative
    command = command[3:]
    assert command[:3] == ["starganv2-train", "--config-dir", str(conf.resolve())]
    assert command[-1] == "resume=auto" and "data=tiny" in command
    assert hydra_value(command[-2], "hydra.run.dir") == str(run_dir.resolve())
    assert "run_name=stopped" in command
    # the printed line, from another folder, with a near end so that the test stays short
    total = stopped_at + 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert line.count(" model.total_iters=100000 ") == 1
    line = line.replace(" model.total_iters=100000 ", f" model.total_iters={total} ")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    res = subprocess.run(
        ["bash", "-c", line], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert not list(elsewhere.iterdir())  # no shapes data made anew there, no outputs
    assert (
        f"resume=auto: continuing from {ckpt_dir.resolve() / 'last.ckpt'}"
        in res.stderr + res.stdout
    )
    final = torch.load(ckpt_dir / "last.ckpt", weights_only=False)
    assert final["starganv2"]["iteration"] == total
    assert not (elsewhere / "outputs").exists()


@pytest.mark.slow
def test_ctrl_c_saves_exits_130_and_prints_the_resume_command(tmp_path, shapes_cache):
    """Ctrl-C: Lightning turns it into exit status 1 (that of bad input) with no word on what
    was kept; the run says where it stopped and how to continue it, and exits 128+2."""
    args = ["--config-dir", str(user_config_dir(tmp_path / "conf")), *TINY_OVERRIDES]
    args += ["data=tiny", f"data.cache_dir={shapes_cache}", "run_name=ctrl_c"]
    args += ["model.total_iters=100000", "callbacks.checkpoint.every_n_iters=100000"]
    proc = start_train(args, tmp_path, keep_output=True)
    run_dir = tmp_path / "outputs/train/ctrl_c"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if list((run_dir / "samples").glob("*.png")):
            break  # the first grid (iteration 2): training is under way
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    printed, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, printed[-3000:]
    stopped_at = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=False)["starganv2"][
        "iteration"
    ]
    assert f"stopped by Ctrl-C at iteration {stopped_at} of 100000" in printed
    (line,) = [x for x in printed.splitlines() if "continue it: " in x]
    assert line.rstrip().endswith("resume=auto") and "run_name=ctrl_c" in line


@pytest.mark.parametrize("cli", ["train", "eval", "sample", "translate"])
def test_console_entry_points_find_their_configs_from_any_folder(cli, tmp_path):
    """Console scripts import ``starganv2.cli.<cli>:main`` (not ``__main__``), so Hydra looks the
    configs up as the package ``starganv2.conf``; run it that way from a folder without conf/."""
    code = (
        f"import sys; from starganv2.cli.{cli} import main; "
        f"sys.argv = ['starganv2-{cli}', '--cfg', 'job']; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "task_name: " + cli in res.stdout


def test_accelerator_is_auto_except_for_the_built_in_quick_run(tmp_path):
    assert compose_train([], tmp_path).trainer.accelerator == "cpu"  # the quick run, as tuned
    mine = ["data=folder", "data.root=x", "data.num_domains=2"]
    assert compose_train(mine, tmp_path).trainer.accelerator == "auto"  # your data: any device
    assert compose_train(["experiment=paper"], tmp_path).trainer.accelerator == "gpu"
    assert compose_train(["trainer.accelerator=cpu", *mine], tmp_path).trainer.accelerator == "cpu"
    assert compose_train(["trainer=cpu", *mine], tmp_path).trainer.accelerator == "cpu"
    assert compose_train(["trainer=gpu"], tmp_path).trainer.accelerator == "gpu"  # asked for
    assert compose_train(["model=stargan_v1"], tmp_path).trainer.accelerator == "cpu"
    assert compose_train(["experiment=ablation"], tmp_path).trainer.accelerator == "auto"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "trainer.max_steps=100",
            r"trainer\.max_steps=100 counts optimizer steps.*model\.total_iters",
        ),
        # an integer trainer.val_check_interval counts batches, one per iteration: accepted
        # (tests/models/test_training_checks.py)
    ],
)
def test_step_counted_trainer_settings_are_refused(override, expected, tmp_path, shapes_cache):
    with pytest.raises(ValueError, match=expected):
        run(
            tiny_train_cfg(
                tmp_path, shapes_cache, [f"+{override}" if "val_check" in override else override]
            )
        )
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_enable_checkpointing_false_writes_no_checkpoint(tmp_path, shapes_cache):
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["trainer.enable_checkpointing=false"])
    assert run(cfg)["iteration"] == 2
    out = Path(cfg.paths.output_dir)
    assert not (out / "checkpoints").exists() and (out / "samples").is_dir()


def test_callbacks_none_runs_without_checkpoints_or_samples(tmp_path, shapes_cache):
    tiny = [o for o in TINY_OVERRIDES if not o.startswith("callbacks.")]
    extra = [*TINY_SHAPES, f"data.cache_dir={shapes_cache}", "callbacks=none"]
    cfg = compose_train(tiny + extra, tmp_path / "run")
    assert run(cfg)["iteration"] == 2
    out = Path(cfg.paths.output_dir)
    assert not (out / "checkpoints").exists() and not (out / "samples").exists()


def test_evaluation_settings_in_the_callback_are_checked(tmp_path, shapes_cache):
    cfg = tiny_train_cfg(
        tmp_path, shapes_cache, ["callbacks=eval", "+callbacks.evaluation.evaluator.not_a_key=1"]
    )
    with pytest.raises(ConfigError, match=r"callbacks\.evaluation\.evaluator\.not_a_key"):
        run(cfg)


@pytest.mark.slow
def test_console_shows_each_line_once_without_noise_and_ends_with_the_eval_command(
    tmp_path, shapes_cache
):
    conf = user_config_dir(tmp_path / "my conf")
    args = [*TINY_OVERRIDES, "data=tiny", "data.cache_dir=cache", "run_name=r"]  # relative
    cwd = tmp_path / ODD_FOLDER  # the printed command must quote its paths for bash and Hydra
    cwd.mkdir()
    (cwd / "cache").symlink_to(shapes_cache, target_is_directory=True)
    res = run_cli(["starganv2.cli.train", "--config-dir", str(conf), *args], cwd=cwd, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    console = res.stdout + res.stderr
    assert console.count("GPU available") == 1  # Lightning's handler and the job's: once
    for noise in (
        "Tip:",
        "litlogger",
        "weights_only",
        "val_dataloader",
        "DeprecationWarning",
        "is deprecated",
        "eval mode at the start",
    ):
        assert noise not in console, noise
    out = (cwd / "outputs" / "train" / "r").resolve()
    assert f"checkpoints: {out / 'checkpoints'}" in console
    assert f"sample grids: {out / 'samples'}" in console
    eval_line = console.split("evaluate it:")[1].splitlines()[0]
    words = shlex.split(eval_line)
    assert words[:3] == ["cd", str(cwd.resolve()), "&&"]
    words = words[3:]  # from the launch folder: data.cache_dir=cache names the same data
    assert words[:3] == ["starganv2-eval", "--config-dir", str(conf.resolve())]
    assert hydra_value(words[3], "ckpt_path") == str(out / "checkpoints" / "last.ckpt")
    assert "data=tiny" in words
    assert "data.img_size=32" in eval_line
    # the built-in shapes evaluate offline: no FID/LPIPS (their weights need a download)
    assert eval_line.endswith("'metrics=[shapes_quality]'")
    # ... and the command works exactly as printed, offline (no weights in the torch hub cache)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TORCH_HOME": str(tmp_path / "empty_torch_home"),
        "HYDRA_FULL_ERROR": "0",
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    printed = subprocess.run(
        ["bash", "-c", eval_line.strip()],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert printed.returncode == 0, (printed.stdout + printed.stderr)[-3000:]
    assert not list(elsewhere.iterdir())  # no shapes data made anew there, no outputs
    assert "shapes/" in Path(printed.stdout.strip().splitlines()[-1]).read_text()
    log = (out / "train.log").read_text()
    assert log.count("saved checkpoint") == 2


BAD_INPUT_COMMANDS = {
    "train": ["starganv2.cli.train", "ckpt_path=/nowhere/model.ckpt"],
    "eval": ["starganv2.cli.eval", "ckpt_path=/nowhere/model.ckpt"],
    "sample": ["starganv2.cli.sample", "ckpt_path=/nowhere/model.ckpt"],
    "translate": [
        "starganv2.cli.translate",
        "ckpt_path=/nowhere/model.ckpt",
        "input_dir=in",
        "output_dir=out",
    ],
    "convert": ["starganv2.cli.convert", "/nowhere/100000_nets_ema.ckpt", "out.ckpt"],
    "export": ["starganv2.cli.export", "/nowhere/model.ckpt", "onnx"],
    "align": [
        "starganv2.cli.align",
        "in",
        "out",
        "--fan",
        "/nowhere/wing.ckpt",
        "--mean-landmarks",
        "/nowhere/lm.npz",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("cli", sorted(BAD_INPUT_COMMANDS))
def test_every_console_script_reports_bad_input_the_same_way(cli, tmp_path):
    """One error line naming the input, no traceback, exit status 1; the traceback only with
    hydra.verbose=true (Hydra entry points) or --verbose (the others)."""
    args = BAD_INPUT_COMMANDS[cli]
    res = run_cli(args, cwd=tmp_path, timeout=120)
    console = res.stdout + res.stderr
    assert res.returncode == 1, console[-2000:]
    errors = [line for line in console.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "/nowhere/" in errors[0], console[-2000:]
    assert "Traceback" not in console
    if cli in ("sample", "align"):  # one of each kind: the others share the same function
        verbose = "--verbose" if cli == "align" else "hydra.verbose=true"
        res = run_cli([*args, verbose], cwd=tmp_path, timeout=120)
        assert res.returncode == 1 and "Traceback" in res.stdout + res.stderr
