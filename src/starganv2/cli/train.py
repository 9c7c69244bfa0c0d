"""Training entry point: ``starganv2-train [overrides]`` or ``python -m starganv2.cli.train``.

``run(cfg)`` only wires objects together: data module, module, callbacks, loggers and trainer
from their ``_target_`` s, then ``fit``. See ``conf/train.yaml`` for the keys.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from starganv2.cli.common import (
    SIGINT_EXIT,
    SIGTERM_EXIT,
    check_logger_folders,
    finish_wandb,
    from_launch_folder,
    hydra_arg,
    stopped_by_ctrl_c,
)
from starganv2.cli.common import hydra_config as _hydra_config
from starganv2.cli.overrides_check import checked_command_line
from starganv2.utils.files import WRITE_FAILURES, OutputWriteError, atomic_write_text

log = logging.getLogger("starganv2.train")


def resolve_ckpt_path(cfg: DictConfig) -> tuple[str | None, list[Path]]:
    """The checkpoint to resume from, and the damaged checkpoints passed over to find it.

    ``ckpt_path``, or with ``resume=auto`` the newest of the run folder's
    ``checkpoints/last.ckpt`` and ``iter_*.ckpt`` that loads (a fresh start when there is none);
    each damaged newer one is named in a warning (see :func:`set_aside`). A given ``ckpt_path``
    that does not load is one ``CheckpointError`` line. Without either, a run folder that already
    holds checkpoints is refused (:func:`check_new_run_folder`). A SLURM job that SLURM
    restarted continues from its run folder's checkpoints without ``resume=auto``
    (:func:`_requeued_run`)."""
    from starganv2.cli.config_check import ConfigError
    from starganv2.models.registry import check_checkpoint_path, read_checkpoint

    check_one_start(cfg)
    resume = cfg.get("resume")
    requeued = None if resume else _requeued_run(Path(cfg.paths.output_dir) / "checkpoints")
    if requeued is not None:
        return requeued
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if path.is_dir():
            check_checkpoint_path(path)  # says it is a folder, naming a checkpoint in it
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path!r}: no such checkpoint file")
        read_checkpoint(path)
        _warn_going_back(path, Path(cfg.paths.output_dir) / "checkpoints")
        return str(path), []
    if resume is None:
        check_new_run_folder(Path(cfg.paths.output_dir))
        return None, []
    if resume != "auto":
        raise ConfigError(f"resume={resume!r} is invalid: expected auto or null")
    found = _newest_loadable(Path(cfg.paths.output_dir) / "checkpoints")
    if found[0] is None:
        # only then: a folder given by path (hydra.run.dir) resumes whatever run_name says
        if str(OmegaConf.to_container(cfg, resolve=False).get("run_name", "")).startswith("${now:"):
            log.warning(
                "resume=auto without run_name: this run's folder is named by its start time "
                "(run_name=%s), so it holds no earlier checkpoint; to continue a run, give its "
                "run_name (the name of its folder)",
                cfg.run_name,
            )
        _warn_other_jobs(Path(cfg.paths.output_dir))
    return found


def check_one_start(cfg: DictConfig) -> None:
    """``ConfigError`` when both ``ckpt_path`` and ``resume`` say where the run starts."""
    from starganv2.cli.config_check import ConfigError

    if cfg.get("ckpt_path") and cfg.get("resume"):
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path!r} and resume={cfg.resume!r} both given: use one of them"
        )


def slurm_restarts() -> int:
    """How many times SLURM restarted this job (``SLURM_RESTART_COUNT``): 0 outside SLURM and
    in a job's first run."""
    text = os.environ.get("SLURM_RESTART_COUNT", "").strip()
    return int(text) if text.isdigit() else 0


def _requeued_run(folder: Path) -> tuple[str | None, list[Path]] | None:
    """In a SLURM job that SLURM restarted (a requeue after a time limit, ``max_num_timeout``
    of ``hydra/launcher=slurm``, or a pre-emption) whose run folder holds checkpoints: the newest
    that loads, as ``resume=auto`` finds it; else ``None``. The launcher requeues the job with
    the command it was submitted with, without ``resume=auto``, so the requeued job refused its
    own folder's checkpoints (or went back to the given ``ckpt_path``) instead of continuing."""
    from starganv2.callbacks.checkpoint import iteration_checkpoints

    restarts = slurm_restarts()
    if not restarts or not (iteration_checkpoints(folder) or (folder / "last.ckpt").is_file()):
        return None
    log.info(
        "SLURM restarted this job (SLURM_RESTART_COUNT=%d, a requeue): it continues from its "
        "run folder's checkpoints, as resume=auto does",
        restarts,
    )
    return _newest_loadable(folder)


def check_new_run_folder(out: Path) -> None:
    """Refuse to start a new run in ``out`` when its ``checkpoints/`` already holds checkpoints
    (a ``run_name`` given twice without ``resume=auto``): the new run would replace the old one's
    ``last.ckpt`` and mix the two runs' ``iter_*.ckpt`` files. One line naming the folder, the
    newest checkpoint's iteration and the two ways out."""
    from hydra.types import RunMode

    from starganv2.callbacks.checkpoint import iteration_checkpoints
    from starganv2.cli.config_check import ConfigError

    folder = out / "checkpoints"
    found = iteration_checkpoints(folder)
    last = folder / "last.ckpt"
    if not found and not last.is_file():
        return
    newest = found[-1][0] if found else _iteration_of(last)
    held = "checkpoints/last.ckpt" if newest is None else f"the newest at iteration {newest}"
    hc = _hydra_config()
    multirun = hc is not None and hc.mode == RunMode.MULTIRUN
    raise ConfigError(
        f"run folder {out} already holds a run's checkpoints ({held}): add resume=auto to "
        "continue that run, or give another run_name or "
        f"{'hydra.sweep.dir' if multirun else 'hydra.run.dir'} to start a new one"
    )


def _warn_going_back(path: Path, folder: Path) -> None:
    """A warning when ``path`` is a checkpoint of this run folder and the folder holds
    ``iter_*.ckpt`` files of later iterations: the run goes back to ``path``'s iteration and
    replaces each of those files when it reaches its iteration (and ``last.ckpt`` at its first
    save), which was silent, and logs those iterations again (a new csv ``version_N``, a second
    TensorBoard events file, the folder's wandb run)."""
    from starganv2.callbacks.checkpoint import iteration_checkpoints

    if path.resolve().parent != folder.resolve():
        return
    start = _iteration_of(path)
    later = [p for it, p in iteration_checkpoints(folder) if start is not None and it > start]
    if later:
        log.warning(
            "ckpt_path=%s is at iteration %d, and this run folder holds %d checkpoint(s) of later "
            "iterations (%s ... %s): this run replaces each when it reaches its iteration, and "
            "its logs (csv, TensorBoard, the same wandb run) get iterations %d and on a second "
            "time; to keep them apart, start from it in a new run folder (another run_name)",
            path,
            start,
            len(later),
            later[0].name,
            later[-1].name,
            start + 1,
        )


def _iteration_of(path: Path) -> int | None:
    """The iteration of the checkpoint ``path`` (memory-mapped: its tensors are not read), or
    ``None`` when it does not load."""
    from starganv2.models.registry import CheckpointError, read_checkpoint

    try:
        return int(read_checkpoint(path)["starganv2"]["iteration"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


def _warn_other_jobs(out: Path) -> None:
    """In a relaunched sweep: a job with nothing to resume beside jobs that have checkpoints and
    whose folders are named by other keys (a narrower or wider sweep) was almost surely meant to
    continue one of them, so it starts anew. Beside jobs named by the same keys it is a job that
    had not started yet (or a new trial of a search): nothing to say."""
    from hydra.types import RunMode

    from starganv2.cli.job_names import folder_keys

    hc = _hydra_config()
    if hc is None or hc.mode != RunMode.MULTIRUN or not out.parent.is_dir():
        return
    keys = folder_keys(out.name)
    others = sorted(
        p.name
        for p in out.parent.iterdir()
        if p != out and (p / "checkpoints" / "last.ckpt").is_file() and folder_keys(p.name) != keys
    )
    if others:
        log.warning(
            "resume=auto: job folder %s has no checkpoint, while %d other job(s) of this sweep "
            "have (%s): a job's folder is named by the keys the command line sweeps, so relaunch "
            "with the same swept keys and values to continue them (a narrower sweep names its "
            "jobs differently)",
            out.name,
            len(others),
            ", ".join(others[:3]) + (", ..." if len(others) > 3 else ""),
        )


def _newest_loadable(folder: Path) -> tuple[str | None, list[Path]]:
    """``last.ckpt``, else the ``iter_*.ckpt`` files newest first: the first that loads."""
    from starganv2.cli.config_check import ConfigError
    from starganv2.models.registry import CheckpointError, read_checkpoint

    iters = sorted(folder.glob("iter_*.ckpt"), reverse=True)  # zero-padded: newest first
    candidates = [p for p in [folder / "last.ckpt", *iters] if p.is_file()]
    if not candidates:
        log.info("resume=auto: no checkpoint under %s yet, starting from scratch", folder)
        return None, []
    damaged: list[tuple[Path, CheckpointError]] = []
    for path in candidates:
        try:
            read_checkpoint(path, key="resume=auto")
        except CheckpointError as err:
            damaged.append((path, err))
            continue
        for _, err in damaged:  # said once it is known that an older one is taken instead
            log.warning("%s; passed over for %s", err, path.name)
        log.info("resume=auto: continuing from %s", path)
        return str(path), [bad for bad, _ in damaged]
    for _, err in damaged:
        log.warning("%s", err)
    raise ConfigError(
        f"resume=auto: none of the checkpoints under {folder} loads "
        f"({', '.join(p.name for p, _ in damaged)}), and none was renamed; move them aside to "
        "start from scratch, or give ckpt_path"
    )


def _aside_name(path: Path) -> Path:
    return path.with_name(path.name + ".damaged")


def set_aside(damaged: list[Path]) -> None:
    """Rename each damaged checkpoint to ``<name>.damaged``: kept for a person to inspect, never
    deleted, and neither overwritten by the resumed run's saves nor offered to the next resume.
    Called once the run folder's lock is held; each rename is said in a warning."""
    for path in damaged:
        if path.is_file():
            os.replace(path, _aside_name(path))
            log.warning(
                "resume=auto: renamed the damaged %s to %s (kept, never deleted)",
                path.name,
                _aside_name(path).name,
            )


def build_callbacks(cfg: DictConfig) -> list[Any]:
    """The ``callbacks`` group, built. A weights error of the evaluation callback under
    ``metrics: auto`` on the built-in shapes data gives its overrides in the form that keeps
    ``shapes_quality`` (:func:`~starganv2.cli.eval.keep_auto_metrics`)."""
    from omegaconf import open_dict

    from starganv2.cli.eval import keep_auto_metrics
    from starganv2.evaluation.backbones import MissingWeightsError, WeightsFileError

    group = cfg.get("callbacks")
    warn_settings_without_a_callback(group)
    evaluation = group.get("evaluation") if group else None
    if evaluation is not None and evaluation.get("evaluator") is not None:
        with open_dict(evaluation):
            evaluation.evaluator = _auto_on_attributes(cfg, evaluation.evaluator)
    try:
        return _instantiate_all(group)
    except (MissingWeightsError, WeightsFileError) as err:
        key = "callbacks.evaluation.evaluator.metrics"
        keep_auto_metrics(err, cfg, OmegaConf.select(cfg, key), key)
        raise


def warn_settings_without_a_callback(group: DictConfig | None) -> None:
    """Warn about entries of ``callbacks`` that hold settings but no ``_target_``: an experiment's
    intervals (``checkpoint.every_n_iters``) for a callback the chosen set lacks. They are
    skipped, so ``callbacks=timing`` (an option ``--help`` lists) trained with no checkpoint, and
    no sample grid, without a word. ``callbacks=none`` asks for no callbacks: no warning."""
    hc = _hydra_config()
    choice = hc.runtime.choices.get("callbacks") if hc is not None else None
    idle = [name for name, node in (group or {}).items() if node and "_target_" not in node]
    if not idle or choice == "none":
        return
    chosen = f"callbacks={choice}" if choice else "the callbacks"
    log.warning(
        "%s has no callback for callbacks.%s: those settings are not used and the callbacks do "
        "not run; with the default callbacks (checkpoints, sample grids) too: callbacks=[default,%s]",
        chosen,
        ", callbacks.".join(idle),
        choice or "<set>",
    )


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    from starganv2.cli.config_check import instantiate

    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


WANDB_ID_FILE = "wandb_id.txt"
"""The run folder's file holding the id of the wandb run its training logs to."""


def keep_wandb_run(cfg: DictConfig, out: Path, resuming: bool) -> str | None:
    """Give each ``WandbLogger`` of ``cfg.logger`` without an ``id`` (or ``version``) the id of
    the run folder's wandb run, so that a resumed run (``resume=auto``, a SLURM requeue, a
    ``ckpt_path``) continues that wandb run (Lightning's ``resume="allow"``) instead of starting
    another one whose curves are split from it: the id recorded in ``out``'s
    :data:`WANDB_ID_FILE` when ``resuming`` from a checkpoint, else a new one (a new run, or one
    started again from scratch, whose steps would clash with the recorded run's). A user's
    ``logger.wandb.id`` wins. Returns the id to record, None without a wandb logger."""
    import secrets
    import string

    from omegaconf import open_dict

    nodes = [
        node
        for node in (cfg.get("logger") or {}).values()
        if node and str(node.get("_target_", "")).endswith("WandbLogger")
    ]
    if not nodes:
        return None
    given = [str(n.get("id") or n.get("version")) for n in nodes if n.get("id") or n.get("version")]
    recorded = out / WANDB_ID_FILE
    if given:
        run_id = given[0]
    elif resuming and recorded.is_file() and recorded.read_text().strip():
        run_id = recorded.read_text().strip()
    else:  # wandb's own form: 8 lowercase letters and digits
        alphabet = string.ascii_lowercase + string.digits
        run_id = "".join(secrets.choice(alphabet) for _ in range(8))
    for node in nodes:
        if not (node.get("id") or node.get("version")):
            with open_dict(node):
                node.id = run_id
    return run_id


def log_run_config(loggers: list[Any], resolved: dict) -> None:
    """Hand the resolved config to every logger, which starts a wandb run. One that cannot start
    (``logger.wandb.offline=false`` with no API key or no network) is one ``ConfigError`` line
    naming the key and the ways on, where it was wandb's traceback
    (:func:`starganv2.cli.common.wandb_must_start`)."""
    from starganv2.cli.common import wandb_must_start

    for logger in loggers:
        with wandb_must_start(logger):
            logger.log_hyperparams(resolved)


def _honour_trainer_switches(cfg: DictConfig, callbacks: list[Any]) -> list[Any]:
    """Leave out the checkpoint callback under ``trainer.enable_checkpointing=false``, the
    progress bar under ``trainer.enable_progress_bar=false`` (Lightning refuses the combination)
    and the summary under ``trainer.enable_model_summary=false`` (Lightning would keep it)."""
    from lightning.pytorch.callbacks import Checkpoint, ModelSummary, ProgressBar

    kept = []
    for cb in callbacks:
        if isinstance(cb, Checkpoint) and cfg.trainer.get("enable_checkpointing") is False:
            log.info("trainer.enable_checkpointing=false: no checkpoints are written")
            continue
        if isinstance(cb, ProgressBar) and cfg.trainer.get("enable_progress_bar") is False:
            continue
        if isinstance(cb, ModelSummary) and cfg.trainer.get("enable_model_summary") is False:
            continue
        kept.append(cb)
    return kept


_CLIP_KEYS = {"gradient_clip_val": None, "gradient_clip_algorithm": "norm"}  # with defaults


def clip_in_the_model(cfg: DictConfig) -> None:
    """Move ``trainer.gradient_clip_val``/``gradient_clip_algorithm`` to ``model.*``, in place.

    Lightning refuses them for manually optimized modules; these models clip each net's
    gradients themselves before its optimizer steps, so the flag a Lightning user types works.
    Said in one info line; a model value that disagrees is a ``ConfigError``."""
    from omegaconf import open_dict

    from starganv2.cli.config_check import ConfigError
    from starganv2.models.training_checks import check_gradient_clipping

    given = {k: cfg.trainer.get(k) for k in _CLIP_KEYS if cfg.trainer.get(k) is not None}
    if not given:
        return
    check_gradient_clipping(
        given.get("gradient_clip_val"), given.get("gradient_clip_algorithm", "norm"), "trainer"
    )
    for key, value in given.items():
        if key not in cfg.model:
            raise ConfigError(
                f"trainer.{key}={value!r}: {cfg.model.get('_target_')} takes no {key} (it "
                "optimizes manually, so Lightning cannot clip for it)"
            )
        current = cfg.model.get(key)
        if current not in (value, _CLIP_KEYS[key]):
            raise ConfigError(
                f"trainer.{key}={value!r} and model.{key}={current!r} disagree: set one of them"
            )
    with open_dict(cfg):
        for key, value in given.items():
            cfg.trainer.pop(key)
            cfg.model[key] = value
    log.info(
        "%s: the model clips each net's gradients before its optimizer step (Lightning clips "
        "only automatically optimized modules): model.gradient_clip_val=%s "
        "model.gradient_clip_algorithm=%s",
        " ".join(f"trainer.{k}={v}" for k, v in given.items()),
        cfg.model.get("gradient_clip_val"),
        cfg.model.get("gradient_clip_algorithm"),
    )


def check_validation_interval(cfg: DictConfig) -> None:
    """Refuse a ``trainer.val_check_interval`` that ``val_every_n_iters`` does not set.

    ``val_every_n_iters`` sets Lightning's interval, its validation batch and the evaluator
    (``conf/trainer/default.yaml``). Given alone, the interval was ignored (no validation batch,
    nothing to measure) while Lightning said validation would run; given beside another
    ``val_every_n_iters``, it would validate on another schedule than the one configured."""
    from starganv2.cli.config_check import ConfigError

    given = cfg.trainer.get("val_check_interval")
    every = cfg.get("val_every_n_iters")
    if given is None or given == every:
        return
    if every is None:
        counted = isinstance(given, int) and not isinstance(given, bool) and given > 0
        raise ConfigError(
            f"trainer.val_check_interval={given!r} without val_every_n_iters: validation is "
            f"off, so it would be ignored; set val_every_n_iters={given if counted else 'N'} "
            "instead (iterations between validations; it sets trainer.val_check_interval)"
        )
    raise ConfigError(
        f"trainer.val_check_interval={given!r} and val_every_n_iters={every!r} disagree: set "
        "val_every_n_iters only (it sets trainer.val_check_interval)"
    )


def check_process_options(cfg: DictConfig) -> None:
    """Refuse a ``keep_freed_memory`` that is not a bool and an unknown ``matmul_precision``.

    Both were read as they came: ``keep_freed_memory='false'`` (a quoted string) is truthy and
    turned the option on, and torch only warns about an unknown matmul precision and keeps its
    own, so either typo trained on settings other than the ones given."""
    from starganv2.cli.config_check import ConfigError

    keep = cfg.get("keep_freed_memory")
    if keep is not None and not isinstance(keep, bool):
        raise ConfigError(f"keep_freed_memory={keep!r} is invalid: expected true or false")
    precision = cfg.get("matmul_precision")
    if precision is not None and precision not in ("highest", "high", "medium"):
        raise ConfigError(
            f"matmul_precision={precision!r} is invalid: expected highest, high, medium or null "
            "(torch's default)"
        )


def _one_process(node: DictConfig) -> bool:
    """Whether a trainer node surely runs one process (the default ``devices: 1``)."""
    return node.get("devices", "auto") in (1, "1") and node.get("num_nodes", 1) == 1


def check_accelerator_present(node: DictConfig, key: str = "trainer") -> None:
    """Refuse ``accelerator: gpu`` (or ``cuda``) on a machine without one, in one line that says
    what to set (Lightning's answer is a multi-line ``No supported gpu backend found!``)."""
    import torch

    from starganv2.cli.config_check import ConfigError

    accelerator = str(node.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda") or torch.cuda.is_available():
        return
    if accelerator == "gpu" and torch.backends.mps.is_available():
        return
    why = (
        f"torch {torch.__version__} is a CPU build (install one with CUDA to use a GPU)"
        if torch.version.cuda is None
        else f"torch {torch.__version__} sees no CUDA device (no driver or device, or "
        "CUDA_VISIBLE_DEVICES hides them)"
    )
    raise ConfigError(
        f"{key}.accelerator={accelerator} but {why}; to run on the CPU set "
        f"{key}.accelerator=cpu (or trainer=cpu)"
    )


def build_trainer(cfg: DictConfig, callbacks: list[Any], loggers: list[Any]) -> Any:
    """``cfg.trainer`` instantiated, with the strategy and the options checked.

    With ``strategy: auto`` and several processes (``devices`` > 1, ``devices: auto`` finding
    several, ``num_nodes`` > 1) Lightning would pick plain ``ddp``, which stops at the second
    backward pass of an iteration: the DDP that trains these models
    (``ddp_find_unused_parameters_true``) is used instead, said in one info line. A strategy
    that cannot work and ``accumulate_grad_batches`` are refused in one line each, before any
    data is read or process started."""
    from lightning.pytorch.strategies import DDPStrategy

    from starganv2.models.training_checks import (
        FIND_UNUSED_STRATEGY,
        check_manual_optimization,
        check_strategy,
        check_strategy_name,
        check_trainer_counts,
        strategy_problem,
    )
    from starganv2.utils.checkpoint_io import use_file_checkpoint_io
    from starganv2.utils.quiet import info_held_back
    from starganv2.utils.sigterm import notify_sigterm_without_collectives

    check_accelerator_present(cfg.trainer)
    kw: dict[str, Any] = {"callbacks": callbacks, "logger": loggers or False}
    given = cfg.trainer.get("strategy", "auto")
    check_strategy_name(given)  # FSDP, DeepSpeed: before Lightning builds (and refuses) them
    if given == "auto" and not _one_process(cfg.trainer):
        # what `auto` resolves to (devices: auto counts the devices); built quietly, as the
        # trainer below says the same device lines
        with info_held_back():
            probe = _instantiate_trainer(cfg.trainer, **kw).strategy
        if type(probe) is DDPStrategy and strategy_problem(probe) is not None:
            log.info(
                "trainer.strategy=auto with %d processes (trainer.devices=%s, "
                "trainer.num_nodes=%s): using %s, the DDP that trains this model (each update "
                "leaves the other nets' parameters without gradients, which plain ddp refuses)",
                probe.world_size,
                cfg.trainer.get("devices"),
                cfg.trainer.get("num_nodes", 1),
                FIND_UNUSED_STRATEGY,
            )
            kw["strategy"] = FIND_UNUSED_STRATEGY
    trainer = _instantiate_trainer(cfg.trainer, **kw)
    use_file_checkpoint_io(trainer)  # no checkpoint staged in $TMPDIR, nor copied in memory
    notify_sigterm_without_collectives(trainer)  # Lightning's handler can deadlock DDP
    check_strategy(trainer, given)
    check_trainer_counts(trainer, "model.total_iters")
    check_manual_optimization(trainer, cfg.get("data", {}).get("batch_size"))
    return trainer


def _instantiate_trainer(node: DictConfig, **kw: Any) -> Any:
    """``node`` (``cfg.trainer``) instantiated; a ``devices`` value Lightning refuses (``two``,
    ``0``, ``-1`` on the CPU) is one ``ConfigError`` line naming ``trainer.devices``, not Hydra's
    wrapped instantiation error."""
    from hydra.errors import InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from starganv2.cli.config_check import ConfigError, instantiate

    try:
        return instantiate(node, **kw)
    except (InstantiationException, MisconfigurationException, TypeError) as err:
        cause = err
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if "devices" not in str(cause):
            raise
        raise ConfigError(
            f"trainer.devices={node.get('devices')!r} is invalid with "
            f"trainer.accelerator={node.get('accelerator', 'auto')}: {cause} (expected auto or a "
            "positive number of devices; on GPUs also a list of indices, or -1 for all)"
        ) from None


def check_one_process_per_job(trainer: Any) -> None:
    """Refuse several processes started by Lightning inside a Hydra multirun.

    Lightning starts the other ranks by running this process's command line again: under a local
    multirun that is the whole ``-m`` sweep, so each of them would run every job (one job trained
    as one process, another crashing, or writing to another folder). Processes that a cluster
    starts (``hydra/launcher=slurm``: srun, one task per GPU) are fine. One line, before the run
    folder is written."""
    from hydra.types import RunMode
    from lightning.fabric.plugins.environments import LightningEnvironment

    from starganv2.cli.config_check import ConfigError

    hc = _hydra_config()
    if hc is None or hc.mode != RunMode.MULTIRUN or trainer.world_size <= 1:
        return
    # not `creates_processes_externally`: an earlier job of the sweep leaves LOCAL_RANK set, which
    # makes Lightning take the processes for started already and train this job as one
    if not isinstance(getattr(trainer.strategy, "cluster_environment", None), LightningEnvironment):
        return  # SLURM, torchrun...: the scheduler starts every process with this job's arguments
    raise ConfigError(
        f"trainer.devices={trainer.num_devices} starts {trainer.world_size} processes, which a "
        "multirun (-m) on this machine cannot run: Lightning would start the other processes "
        "with the whole sweep's command line; run the jobs one at a time (without -m), or use "
        "hydra/launcher=slurm, which gives each job its own processes"
    )


def _launch() -> tuple[list[str], list[str]]:
    """How this job was launched, for the commands it prints: the task overrides, and the options
    that find the configs (``--config-dir`` given on the command line, made absolute, and
    ``hydra.searchpath`` overrides), so a printed command finds a user's own config groups, and
    ``hydra.job.chdir``, so the launch's relative paths name the same files (with it, relative to
    the run folder)."""
    hc = _hydra_config()
    if hc is None:
        return [], []
    options: list[str] = []
    for source in hc.runtime.config_sources:
        if source.provider == "command-line" and source.schema == "file":
            options += ["--config-dir", str(Path(source.path).resolve())]
    kept = ("hydra.searchpath=", "hydra.job.chdir=", "+hydra.job.chdir=", "++hydra.job.chdir=")
    options += [o for o in hc.overrides.hydra if o.startswith(kept)]
    return list(hc.overrides.task), options


def eval_command(cfg: DictConfig, ckpt: Path) -> str:
    """The ``starganv2-eval`` command line for ``ckpt`` with this run's data overrides, run from
    the launch folder (it works from any folder)."""
    overrides, options = _launch()
    data_args = [o for o in overrides if o.startswith(("data=", "data.", "+data."))]
    data_args = [o for o in data_args if not o.startswith("data.seed")]
    hc = _hydra_config()
    choice = hc.runtime.choices.get("data") if hc is not None else None
    if choice and not any(o.startswith("data=") for o in data_args):
        data_args.insert(0, f"data={choice}")  # chosen by an experiment: eval's default differs
    data_args += _data_from_configs(data_args, options)
    data_args += _cache_dir_from_env(cfg, data_args)
    # The built-in shapes evaluate offline with their own figures; `auto` would add FID/LPIPS,
    # whose Inception and AlexNet weights cannot be downloaded on an offline machine. Attribute
    # labels (StarGAN v1) are scored by their own classifier, offline too.
    target = str(cfg.get("data", {}).get("_target_", ""))
    metrics = []
    if _is_builtin_shapes(cfg):
        metrics = ["metrics=[shapes_quality]"]
    elif target.endswith("AttributeDataModule"):
        metrics = ["metrics=[attribute_accuracy]"]
    ckpt_arg = hydra_arg("ckpt_path", ckpt)
    return from_launch_folder(["starganv2-eval", *options, ckpt_arg, *data_args, *metrics])


def _data_from_configs(data_args: list[str], options: list[str]) -> list[str]:
    """``data.<key>=<value>`` for each setting of where the images come from (``root``,
    ``num_domains``, ``img_size``...: not the loader settings of ``data/common/loader.yaml``) that
    this launch took from a config file, not its command line, and that ``starganv2-eval`` with
    ``data_args`` would not compose alike: a user's experiment or top config that sets
    ``data.root`` under ``data=folder``. Without them the printed command stopped on a required
    ``data.root`` not set, or measured another folder. Both configs are composed again from
    their files (the run has changed its own); outside a Hydra app (tests, Python) none."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    hc = _hydra_config()
    if hc is None or not GlobalHydra.instance().is_initialized():
        return []
    searchpath = [o for o in options if o.startswith("hydra.searchpath=")]
    try:
        trained = compose(hc.job.config_name, overrides=[*searchpath, *hc.overrides.task]).data
        evaluated = compose("eval", overrides=[*searchpath, *data_args]).data
    except HydraException:
        return []
    from importlib import resources

    loader = OmegaConf.load(resources.files("starganv2.conf") / "data/common/loader.yaml")
    args = []
    for key in trained:
        if key in loader or key == "_target_" or key not in evaluated.keys():
            continue
        value = _resolved(trained, key)
        if OmegaConf.is_missing(evaluated, key) or value != _resolved(evaluated, key):
            args.append(_data_arg(key, value))
    return args


def _resolved(node: DictConfig, key: str) -> Any:
    """``node[key]`` resolved to plain Python (``None`` where it cannot be resolved)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        value = node[key]
    except OmegaConfBaseException:
        return None
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _data_arg(key: str, value: Any) -> str:
    """``data.<key>=<value>`` as Hydra reads it back: a list as ``[a,b]``, ``None`` as ``null``."""
    if isinstance(value, list):
        return f"data.{key}=[{','.join(_data_arg('x', v)[len('data.x=') :] for v in value)}]"
    if value is None or isinstance(value, bool):
        return f"data.{key}={str(value).lower() if value is not None else 'null'}"
    return hydra_arg(f"data.{key}", value)


def _cache_dir_from_env(cfg: DictConfig, data_args: list[str]) -> list[str]:
    """``data.cache_dir=<folder>`` when generated data (``cache_dir: null``) were found through
    ``$STARGANV2_CACHE``: the printed command is run from another shell too, where the variable
    is unset and the same data would be generated again in ``~/.cache/starganv2``."""
    from starganv2.data.shapes import CACHE_ENV, default_cache_dir

    data = cfg.get("data") or {}
    given = any(o.startswith(("data.cache_dir=", "+data.cache_dir=")) for o in data_args)
    if given or "cache_dir" not in data or data.get("cache_dir") is not None:
        return []
    if not os.environ.get(CACHE_ENV):
        return []
    return [hydra_arg("data.cache_dir", default_cache_dir().resolve())]


def _is_builtin_shapes(cfg: DictConfig) -> bool:
    """Whether the run trained on the built-in shapes data (``ShapesDataModule``)."""
    target = str(cfg.get("data", {}).get("_target_", ""))
    return target.endswith(".ShapesDataModule")


def name_all_attributes(cfg: DictConfig) -> None:
    """``data.attributes=null`` on an attribute table ("all of the table's") becomes the table's
    names, in its order, before the model is built: the model records them (``model.attributes``
    interpolates ``data.attributes``), so its ``exclusive`` groups can be checked against them
    and its checkpoints, grids and metrics name the attributes. Without this the model saw
    ``None``: the default hair-colour group was refused as naming unknown attributes, and with
    ``data.exclusive=[]`` the checkpoint named them ``attr0, attr1, ...``."""
    from omegaconf import open_dict

    from starganv2.data.attributes import read_attribute_table

    data = cfg.get("data")
    if data is None or "attr_file" not in data or data.get("attributes", "unset") is not None:
        return
    names = [str(n) for n in read_attribute_table(data.attr_file).names]
    with open_dict(data):
        data.attributes = names
    log.info("data.attributes=null: all %d attributes of %s, %s", len(names), data.attr_file, names)


def name_label_modes(cfg: DictConfig, model: Any) -> None:
    """``modes: null`` ("every mode the model has") of the run's evaluators (validation and
    ``callbacks=eval``) as the model's modes when it only has ``label`` (StarGAN v1), before
    they are built: ``fid_lpips`` then measures FID alone and does not ask for the AlexNet
    weights of LPIPS, which does not apply to one deterministic output (as in ``starganv2-eval``)."""
    from omegaconf import open_dict

    from starganv2.models.interface import MODE_LABEL

    if tuple(getattr(model, "guidance_modes", ())) != (MODE_LABEL,):
        return
    callbacks = cfg.get("callbacks") or {}
    nodes = [cfg.get("evaluator"), (callbacks.get("evaluation") or {}).get("evaluator")]
    for node in nodes:
        if isinstance(node, DictConfig) and "modes" in node and node.modes is None:
            with open_dict(node):
                node.modes = [MODE_LABEL]


def validation_evaluator(cfg: DictConfig) -> Any:
    """What the module's validation measures (``module.evaluator``): the ``evaluator`` node, built
    now so that missing weights stop the run before it starts; ``None`` when
    ``val_every_n_iters`` is null. On the built-in shapes data ``metrics: auto`` is
    ``[shapes_quality]``, which needs no download (as in :func:`eval_command`)."""
    from starganv2.cli.config_check import instantiate
    from starganv2.utils.checks import check_int

    every = cfg.get("val_every_n_iters")
    if every is None:
        return None
    check_int(every, "val_every_n_iters")
    node = cfg.evaluator
    if node.get("metrics") == "auto" and _is_builtin_shapes(cfg):
        node = OmegaConf.merge(node, {"metrics": ["shapes_quality"]})
    return instantiate(_auto_on_attributes(cfg, node))


def _auto_on_attributes(cfg: DictConfig, node: DictConfig) -> DictConfig:
    """The evaluator ``node`` with ``metrics: auto`` as ``[attribute_accuracy]`` on attribute
    data, which is all ``auto`` runs there: built from ``auto`` it would ask for the FID/LPIPS
    weights it never uses (as in ``starganv2-eval``)."""
    from starganv2.cli.eval import is_attribute_config
    from starganv2.evaluation.evaluator import AUTO, AUTO_ATTRIBUTES

    if node.get("metrics") != AUTO or not is_attribute_config(cfg):
        return node
    return OmegaConf.merge(node, {"metrics": [AUTO_ATTRIBUTES]})


def _report(cfg: DictConfig, out: Path, model: Any, has_val: bool = True) -> None:
    """Say where the results are and how to evaluate them (``has_val``: the data has a
    validation split, which ``starganv2-eval`` measures; without one its command would fail)."""
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    samples = out / "samples"
    log.info("finished at iteration %d; run folder %s", model.iteration, out.resolve())
    if last.is_file():
        log.info("checkpoints: %s (newest: %s)", ckpt_dir.resolve(), last.resolve())
        if has_val:
            log.info("evaluate it: %s", eval_command(cfg, last.resolve()))
        else:
            log.info(
                "no evaluate command: starganv2-eval measures a validation split, and these "
                "data have none (for image folders: root/val/<domain>/ images)"
            )
    if samples.is_dir():
        grids = _grids_up_to(samples, model.iteration)
        if grids:
            log.info("sample grids: %s (newest: %s)", samples.resolve(), grids[-1].name)


def _grids_up_to(samples: Path, iteration: int) -> list[Path]:
    """The sample grids in ``samples`` of iterations up to ``iteration``, oldest first: a run
    restarted from an earlier checkpoint of its folder (``ckpt_path=.../iter_0000300.ckpt``)
    leaves the grids of the later iterations it went back from, which are not its newest."""
    grids = []
    for path in sorted(samples.glob("*.png")):  # zero-padded iterations: oldest first
        prefix = path.name.split("_", 1)[0]
        if not prefix.isdigit() or int(prefix) <= iteration:
            grids.append(path)
    return grids


_NOT_REPEATED = ("run_name=", "resume=", "ckpt_path=", "+ckpt_path=", "++ckpt_path=")


def resume_command(cfg: DictConfig, out: Path) -> str:
    """The command that continues this run in ``out``: the launch's overrides and config options
    with ``resume=auto``, the run's ``run_name`` and its folder given whole (``hydra.run.dir``),
    run from the launch folder, so it works from any folder (and from any shell: generated data
    found through ``$STARGANV2_CACHE`` are named by ``data.cache_dir``). Quoted for a POSIX
    shell and for Hydra."""
    overrides, options = _launch()
    hc = _hydra_config()
    if hc is not None and hc.job.config_name != "train":
        options += ["--config-name", hc.job.config_name]
    kept = [o for o in overrides if not o.startswith(_NOT_REPEATED)]
    kept += _cache_dir_from_env(cfg, kept)  # the data found through $STARGANV2_CACHE, as eval's
    folder = hydra_arg("hydra.run.dir", out.resolve())
    args = [*options, *kept, hydra_arg("run_name", cfg.run_name), folder, "resume=auto"]
    return from_launch_folder(["starganv2-train", *args])


def sweep_folder_args(cfg: DictConfig) -> str:
    """The overrides that name this sweep's folder again in a relaunch: ``run_name=<name>``, and
    ``hydra.sweep.dir=<absolute folder>`` when the launch gave that folder (then ``run_name``
    alone would name another)."""
    import shlex

    hc = _hydra_config()
    words = [hydra_arg("run_name", cfg.run_name)]
    if any(o.split("=", 1)[0].lstrip("+") == "hydra.sweep.dir" for o in hc.overrides.hydra):
        folder = Path(hc.runtime.cwd) / str(hc.sweep.dir)  # a relative one is the launch's
        words.insert(0, hydra_arg("hydra.sweep.dir", folder.resolve()))
    return shlex.join(words)


def _report_stopped(cfg: DictConfig, out: Path, model: Any, cause: str = "SIGTERM") -> None:
    """Say that ``cause`` (SIGTERM or Ctrl-C) stopped the run, what was kept and how to continue
    it."""
    last = out / "checkpoints" / "last.ckpt"
    total = getattr(getattr(model, "hparams", {}), "total_iters", None)
    of = f" of {total}" if total else ""
    log.warning("stopped by %s at iteration %d%s; run folder %s", cause, model.iteration, of, out)
    if not last.is_file():
        log.warning(
            "no checkpoint in %s (none was due yet, or checkpointing is off): nothing to resume",
            last.parent,
        )
        return
    from hydra.types import RunMode

    hc = _hydra_config()
    if hc is not None and hc.mode == RunMode.MULTIRUN:
        log.warning(
            "continue it: launch the same sweep again from %s with %s resume=auto (each job "
            "resumes in its own folder)",
            hc.runtime.cwd,
            sweep_folder_args(cfg),
        )
    else:
        log.warning("continue it: %s", resume_command(cfg, out))


def refused_write(err: OSError, out: Path) -> OutputWriteError | None:
    """``err`` as an :class:`OutputWriteError` when the file system refused a write of the run
    (a full disk...), else ``None``. The library's own writes name their file; a logger's
    (``metrics.csv``, TensorBoard's events) was a bare ``[Errno 28] No space left on device``
    after a traceback, so the run folder is named. An error that names a file outside the run
    folder (a data folder without read permission) is not the run's write: ``None``."""
    if isinstance(err, OutputWriteError):
        return err
    todo = WRITE_FAILURES.get(err.errno)
    if todo is None:
        return None
    named = Path(os.path.abspath(str(err.filename))) if err.filename is not None else None
    if named is not None and not named.is_relative_to(os.path.abspath(out)):
        return None
    return OutputWriteError(
        f"cannot write a log file of the run folder {out}: {err.strerror}; {todo}", err.errno
    )


def with_resume_command(err: OutputWriteError, cfg: DictConfig, out: Path) -> OutputWriteError:
    """``err`` (a checkpoint, sample grid or log the file system refused during training: a full
    disk) ending with the command that continues the run from its newest checkpoint once the
    cause is fixed: the same command again would start a new run (a time-named folder) or be
    refused (a folder that holds checkpoints). ``err`` itself when there is no checkpoint."""
    if not (out / "checkpoints" / "last.ckpt").is_file():
        return err
    from hydra.types import RunMode

    hc = _hydra_config()
    if hc is not None and hc.mode == RunMode.MULTIRUN:
        how = (
            f"launch the same sweep again from {hc.runtime.cwd} with {sweep_folder_args(cfg)} "
            "resume=auto"
        )
    else:
        how = resume_command(cfg, out)
    return OutputWriteError(f"{err}; then continue the run: {how}", err.errno)


def check_settings(cfg: DictConfig) -> None:
    """The checks of a training configuration that read neither its run folder nor its data:
    keys and types (:func:`~starganv2.cli.config_check.check_config`), the clipping, validation
    and process settings (``keep_freed_memory``, ``matmul_precision``), ``ckpt_path`` with
    ``resume``, the attribute table's names, and the data
    and model constructors' own value checks (the model built on the meta device: no memory, no
    weights drawn). A sweep runs it for each job before the first starts
    (:class:`~starganv2.cli.sweep_check.SweepSettingsCheck`); :func:`run` makes the same checks.
    Changes ``cfg`` as :func:`run` does (clipping moved to the model, attributes named)."""
    import torch

    from starganv2.cli.config_check import check_config, instantiate

    check_config(cfg, ["data", "model", "trainer", "callbacks", "logger"])
    check_one_start(cfg)
    clip_in_the_model(cfg)
    check_validation_interval(cfg)
    check_process_options(cfg)
    name_all_attributes(cfg)
    instantiate(cfg.data)
    with torch.device("meta"):
        instantiate(cfg.model)


def run(cfg: DictConfig) -> dict[str, float]:
    """Train as configured by ``cfg``; returns the final callback metrics as floats."""
    import lightning as L
    import torch
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from starganv2.cli.config_check import check_config, instantiate
    from starganv2.cli.logs import quiet_third_party
    from starganv2.models.registry import (
        check_checkpoint_fits,
        legacy_checkpoint_globals,
        read_checkpoint,
    )
    from starganv2.utils.malloc import keep_freed_memory
    from starganv2.utils.run_lock import RunLock

    quiet_third_party()
    check_config(cfg, ["data", "model", "trainer", "callbacks", "logger"])
    ckpt_path, damaged = resolve_ckpt_path(cfg)
    clip_in_the_model(cfg)
    check_validation_interval(cfg)
    check_process_options(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    if cfg.get("keep_freed_memory"):
        keep_freed_memory()

    name_all_attributes(cfg)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    name_label_modes(cfg, model)
    model.evaluator = validation_evaluator(cfg)
    if ckpt_path is not None:
        checkpoint = read_checkpoint(ckpt_path)
        take_frozen_weights(checkpoint, model)
        check_checkpoint_fits(checkpoint, model, ckpt_path)
        _warn_nothing_left(checkpoint, model, ckpt_path, resumed=bool(cfg.get("resume")))
        del checkpoint
    callbacks = _honour_trainer_switches(cfg, build_callbacks(cfg))
    _check_optimized_metric(cfg, callbacks, model)
    _check_monitored_keys(cfg, callbacks, model)
    out = Path(cfg.paths.output_dir)
    check_logger_folders(cfg)
    wandb_id = keep_wandb_run(cfg, out, resuming=ckpt_path is not None)
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = build_trainer(cfg, callbacks, loggers)
    check_one_process_per_job(trainer)

    # one job per run folder: the process that writes (global rank 0) holds its lock
    lock = RunLock(out).acquire() if trainer.is_global_zero else None
    try:
        if lock is not None:
            set_aside(damaged)
            if wandb_id is not None and not trainer.fast_dev_run:
                atomic_write_text(out / WANDB_ID_FILE, wandb_id + "\n")
        resolved = OmegaConf.to_container(cfg, resolve=True)
        log_run_config(trainer.loggers, resolved)  # none that writes under fast_dev_run
        if trainer.is_global_zero:
            atomic_write_text(
                out / "config_resolved.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved))
            )
            log.info("run folder: %s", out.resolve())
            if trainer.fast_dev_run:
                log.info(
                    "trainer.fast_dev_run=%s: %d iteration(s) to try the set-up; no checkpoints, "
                    "sample grids or logger files are written",
                    cfg.trainer.get("fast_dev_run"),
                    int(trainer.fast_dev_run),
                )

        try:
            with legacy_checkpoint_globals():  # files saved with OmegaConf hyperparameters
                trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        except SIGTERMException:
            if trainer.is_global_zero:
                _report_stopped(cfg, out, model)
            raise
        except (KeyboardInterrupt, SystemExit) as err:  # Lightning ends Ctrl-C with exit(1)
            if not stopped_by_ctrl_c(err):
                raise
            if trainer.is_global_zero:
                _report_stopped(cfg, out, model, "Ctrl-C")
            err.reported = True
            raise
        if trainer.is_global_zero:
            _report(cfg, out, model, getattr(datamodule, "val_set", True) is not None)
    except OSError as err:  # a full disk: say how to go on once there is space
        # the loggers' first files (hparams.yaml) too: a bare '[Errno 28]' after a traceback
        refused = refused_write(err, out)
        if trainer.is_global_zero and refused is not None:
            raise with_resume_command(refused, cfg, out) from err
        raise
    finally:
        if lock is not None:
            lock.release()
        finish_wandb(loggers, failed=sys.exc_info()[0] is not None)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if trainer.is_global_zero:
        metrics.update(_last_evaluation(callbacks, metrics))
        metrics.update(_last_csv_values(out, metrics))
    metrics["iteration"] = float(model.iteration)
    return metrics


def take_frozen_weights(checkpoint: dict, model: Any) -> None:
    """Give ``model`` the frozen FAN of the checkpoint it resumes from. The module reads
    ``model.fan_weights`` in ``setup``, which Lightning calls before it restores the checkpoint,
    so a resumed CelebA-HQ run stopped when that file had moved since, although the checkpoint
    carries the weights (as it does for ``load_model``)."""
    fan = getattr(model, "fan", None)
    state = {k[4:]: v for k, v in checkpoint.get("state_dict", {}).items() if k.startswith("fan.")}
    if fan is not None and state:
        fan.load_state_dict(state)  # marks the weights as provided: the file is not read


def _warn_nothing_left(
    checkpoint: dict, model: Any, ckpt_path: str | Path, resumed: bool = False
) -> None:
    """A warning when ``ckpt_path`` is already at ``model.total_iters``: the run would end at
    once and write nothing, which looks like success (a converted release is at its last
    iteration, 100000). A checkpoint that ``resume=auto`` found in the run folder (``resumed``)
    is a job that finished, as every finished job of a relaunched sweep is: one INFO line."""
    done = int(checkpoint.get("starganv2", {}).get("iteration", 0))
    total = getattr(getattr(model, "hparams", {}), "total_iters", None)
    if total is None or done < int(total):
        return
    if resumed:
        log.info(
            "resume=auto: this job is already finished (iteration %d, model.total_iters=%d): "
            "nothing to train; raise model.total_iters to train on",
            done,
            int(total),
        )
        return
    log.warning(
        "ckpt_path=%s is at iteration %d and model.total_iters=%d: nothing is left to "
        "train, so nothing is written. To train on, raise model.total_iters; to fine-tune a "
        "converted release from iteration 0, convert it again with --iteration 0",
        ckpt_path,
        done,
        int(total),
    )


_RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "fid_lpips": (r"(FID|LPIPS)_{mode}/[^/]+",),
    "shapes_quality": (
        r"shapes/(target_accuracy|position_error_px|empty_shape_rate|size_error_px|box_iou"
        r"|diversity_l1)_{mode}",
        r"shapes/(position_error_px|color_error|size_error_px|box_iou)_real",
        r"shapes/(ref_color_error|ref_color_error_chance|classifier_val_accuracy)",
        r"shapes/(shift_error_px|shift_gain|shift_error_px_\d+px)",
    ),
    "attribute_accuracy": (
        r"attr/(real|target|kept)/[^/]+",
        r"attr/(position_error_px|position_error_px_real|empty_share)",
    ),
}
"""The result keys of the built-in metrics (``{mode}``: a guidance mode), as their modules
(:mod:`starganv2.evaluation`) make them, for checking ``optimized_metric`` before training."""

_EXAMPLES = {
    "fid_lpips": "FID_{mode}/mean",
    "shapes_quality": "shapes/position_error_px_{mode}",
    "attribute_accuracy": "attr/target/mean",
}


def _metrics_that_run(evaluator: Any, cfg: DictConfig) -> list[str] | None:
    """The metric names ``evaluator`` runs on this run's data; ``None`` when unknown (an
    evaluator of another class)."""
    from starganv2.evaluation.evaluator import AUTO_ATTRIBUTES, Evaluator, auto_metric_names

    if not isinstance(evaluator, Evaluator):
        return None
    if not evaluator.auto:
        return list(evaluator.metrics)
    if str(cfg.get("data", {}).get("_target_", "")).endswith("AttributeDataModule"):
        return [AUTO_ATTRIBUTES]
    return auto_metric_names(_is_builtin_shapes(cfg))


def _evaluator_key(logged: str) -> str:
    """A validation key without ``val/`` as the evaluator names it (``fid/latent`` ->
    ``FID_latent/mean``, :func:`~starganv2.models.lightning_steps.logged_name` undone)."""
    import re

    match = re.fullmatch(r"(fid|lpips)/([^/]+)(?:/([^/]+))?", logged)
    if match is None:
        return logged
    metric, mode, task = match.groups()
    return f"{metric.upper()}_{mode}/{task or 'mean'}"


def _check_optimized_metric(cfg: DictConfig, callbacks: list[Any], model: Any) -> None:
    """An ``optimized_metric`` that the run will not log could only fail after the whole
    training: refused before it starts, in one line (:func:`_check_logged_key`)."""
    key = cfg.get("optimized_metric")
    if key:
        _check_logged_key(cfg, callbacks, model, str(key), "optimized_metric", "optimize")


def _check_monitored_keys(cfg: DictConfig, callbacks: list[Any], model: Any) -> None:
    """The ``monitor`` of a callback added to the ``callbacks`` group (``EarlyStopping``,
    ``ModelCheckpoint``) that the run will not log stopped it at the first validation, with
    Lightning's traceback and no checkpoint of the iterations done: refused before training, in
    one line naming ``callbacks.<name>.monitor`` (:func:`_check_logged_key`)."""
    group = cfg.get("callbacks") or {}
    for name, node in group.items():
        key = node.get("monitor") if isinstance(node, DictConfig) else None
        if isinstance(key, str) and key:
            _check_logged_key(cfg, callbacks, model, key, f"callbacks.{name}.monitor", "monitor")


def _check_logged_key(
    cfg: DictConfig, callbacks: list[Any], model: Any, key: str, setting: str, verb: str
) -> None:
    """Refuse ``setting=key`` unless the run logs ``key``, in one line (``verb``: what the
    setting does with it). A key of the evaluation (``eval/...``) needs its callback
    (``callbacks=eval``), one of validation (``val/...``) needs ``val_every_n_iters``; after the
    prefix, the key must be one the configured metrics make for the model's guidance modes
    (built-in metrics; another metric's keys are not known until it runs)."""
    import re

    from starganv2.callbacks.evaluation import EvaluationCallback
    from starganv2.cli.config_check import ConfigError
    from starganv2.models.lightning_steps import logged_name

    sources = {
        cb.log_prefix: cb.evaluator for cb in callbacks if isinstance(cb, EvaluationCallback)
    }
    if cfg.get("val_every_n_iters") is not None:
        sources.setdefault("val/", getattr(model, "evaluator", None))
    if key.startswith("eval/") and "eval/" not in sources:
        raise ConfigError(
            f"{setting}={key!r} is a result of the evaluation during training, which is "
            "off: add callbacks=eval (see README, Sweeps)"
        )
    if key.startswith("val/") and "val/" not in sources:
        raise ConfigError(
            f"{setting}={key!r} is a result of validation, which is off "
            "(val_every_n_iters=null): set val_every_n_iters=N (iterations between validations), "
            f"or {verb} a key of the evaluation (callbacks=eval, eval/...)"
        )
    prefix = next(
        (p for p in sorted(sources, key=len, reverse=True) if p and key.startswith(p)), None
    )
    if prefix is None:
        return
    evaluator = sources[prefix]
    names = _metrics_that_run(evaluator, cfg)
    if names is None or any(n not in _RESULT_KEYS for n in names):
        return
    modes = list(getattr(evaluator, "modes", None) or getattr(model, "guidance_modes", ()))
    name = key[len(prefix) :]
    if prefix == "val/":
        name = _evaluator_key(name)
    mode = "(" + "|".join(map(re.escape, modes)) + ")"
    patterns = [p.replace("{mode}", mode) for n in names for p in _RESULT_KEYS[n]]
    if any(re.fullmatch(p, name) for p in patterns):
        return
    shown = [_EXAMPLES[n].replace("{mode}", modes[0] if modes else "latent") for n in names]
    if prefix == "val/":
        examples = [logged_name(e, "val") for e in shown]
        where = "validation (evaluator"
    else:
        examples = [prefix + e for e in shown]
        where = "evaluation (callbacks.evaluation.evaluator"
    raise ConfigError(
        f"{setting}={key!r} is not a key the {where}.metrics={names}, modes {modes}) "
        f"logs: expected e.g. {', '.join(examples)} (the keys: docs/evaluation.md)"
    )


def _last_evaluation(callbacks: list[Any], logged: dict[str, float]) -> dict[str, float]:
    """The newest results each evaluation callback wrote (``dirpath/eval_<iteration>.json``),
    under their logged keys, where this process logged none: a relaunched sweep job that had
    already finished trains and evaluates nothing, yet its sweeper needs ``optimized_metric``."""
    import json

    from starganv2.callbacks.evaluation import EvaluationCallback

    found: dict[str, float] = {}
    for cb in callbacks:
        if not isinstance(cb, EvaluationCallback) or cb.dirpath is None:
            continue
        files = sorted(Path(cb.dirpath).glob("eval_*.json"))  # zero-padded: newest last
        if not files:
            continue
        for key, value in json.loads(files[-1].read_text(encoding="utf-8")).items():
            name = cb.log_prefix + key
            if name not in logged and isinstance(value, (int, float)):
                found[name] = float(value)
    return found


def _last_csv_values(out: Path, logged: dict[str, float]) -> dict[str, float]:
    """The last value of each key in the run folder's CSV logs (``csv/version_<n>/metrics.csv``,
    one per segment of the run, read oldest first; not the logger's ``step`` column) where this
    process logged none: a relaunched sweep job that had already finished logs nothing, and an
    ``optimized_metric`` of training or validation (``train/...``, ``val/...``) was a
    ``KeyError`` that ended the search."""
    import csv

    def version(path: Path) -> int:
        number = path.parent.name.removeprefix("version_")
        return int(number) if number.isdigit() else -1

    found: dict[str, float] = {}
    for path in sorted((out / "csv").glob("version_*/metrics.csv"), key=version):
        with path.open(newline="", encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                for key, value in row.items():
                    if key and key != "step" and key not in logged and value not in (None, ""):
                        try:
                            found[key] = float(value)
                        except ValueError:
                            continue
    return found


def _global_rank() -> int:
    """This process's rank in a run of several (0 in a single process), as the trainer set it."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))


def run_errors() -> tuple[type[BaseException], ...]:
    """The errors a run reports in one line (no traceback): bad input, and the run-time
    failures the user acts on: a non-finite loss, training images unreadable in a row, and a
    validation image that does not decode (damaged in the middle, which the start-up check of
    each file's header and end does not read)."""
    from starganv2.cli.common import BAD_INPUT
    from starganv2.data.folders import ImageLoadError
    from starganv2.data.sampling import UnreadableDataError
    from starganv2.models.training_checks import NonFiniteLossError

    return (*BAD_INPUT, NonFiniteLossError, UnreadableDataError, ImageLoadError)


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra shim around :func:`run`; returns ``optimized_metric`` for sweepers. A run stopped by
    SIGTERM exits with :data:`SIGTERM_EXIT` once its checkpoint is written, one stopped by Ctrl-C
    with :data:`SIGINT_EXIT` (Lightning's own status for it is 1, that of bad input)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from starganv2.cli.common import run_or_exit

    try:  # bad input (ConfigError is a ValueError) and the run-time failures to act on
        metrics = run_or_exit(run, cfg, log, run_errors())
    except SIGTERMException:  # reported, checkpointed: a status that is not "finished"
        sys.exit(SIGTERM_EXIT)
    except (KeyboardInterrupt, SystemExit) as err:
        if not stopped_by_ctrl_c(err):
            raise
        if not getattr(err, "reported", False):  # before or after training: nothing to continue
            log.warning("stopped by Ctrl-C")
        sys.exit(SIGINT_EXIT)
    key = cfg.get("optimized_metric")
    if key and _global_rank() != 0:  # the evaluation's results reach rank 0 alone; it reports
        return None
    if key:
        if key not in metrics:
            raise KeyError(f"optimized_metric={key!r} was not logged; logged: {sorted(metrics)}")
        return metrics[key]
    return None


if __name__ == "__main__":
    main()
