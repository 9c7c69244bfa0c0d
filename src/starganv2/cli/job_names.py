"""Multirun job folders named from their overrides, so a relaunched sweep finds its jobs again.

``conf/hydra/default.yaml`` sets ``hydra.sweep.subdir`` to ``${job_folder:...}``: a job's folder
is named by the values of the swept keys (``model.lambda_sty-0.5``, several joined by ``__``; no
``=`` or ``,``, so a printed ``ckpt_path=<folder>/...`` parses), so the same combination gets the
same folder in every launch, whatever its position in the sweep, and ``resume=auto`` continues
it. The swept keys are those the command line sweeps (``a=1,2``, ``range(...)``, ``choice(...)``,
``glob(...)``) and those a sweeper chose that the command line does not give (an Optuna trial's
values: ``model.lambda_ds-0.7__model.lambda_sty-1.3``, not a prefix of the fixed ones cut at
:data:`MAX_NAME`); where the command line is not the sweep's (a job started on a cluster node)
every override names the folder. ``run_name``, ``resume`` and ``ckpt_path`` do only when the
command line sweeps them (``starganv2-eval -m ckpt_path=a.ckpt,b.ckpt``). A sweeper
other than Hydra's basic one (Optuna) may propose one combination twice, so its trials also carry
their number (``trial-003__...``): each trial trains in its own folder, and a relaunched search
whose seeded sampler proposes trial 3 again finds it. A name that cannot be a folder name as it
is (a ``/`` in a value, longer than :data:`MAX_NAME`) keeps a readable prefix and ends in a short
hash of the whole.

``${slurm_count:...}`` gives ``hydra/launcher=slurm`` its task and GPU counts from
``trainer.devices`` and ``trainer.num_nodes``, and ``${run_record:...}`` decides where Hydra writes
a launch's ``.hydra/`` record (not at all for a launch that will be refused);
:class:`KeepSweepRecord` keeps an earlier launch's ``multirun.yaml`` when a sweep is relaunched."""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

__all__ = [
    "MAX_NAME",
    "NOT_NAMING",
    "FIRST_TRIAL_KEY",
    "job_folder",
    "folder_keys",
    "job_label",
    "swept_keys",
    "register_resolvers",
    "keep_sweep_record",
    "KeepSweepRecord",
    "repeated_sweep_value",
    "RepeatedSweepValueCheck",
]

MAX_NAME = 120
"""Longest folder name kept as it is (file systems allow 255 bytes)."""

NOT_NAMING = ("run_name", "resume", "ckpt_path")
"""Keys that name a job only when swept: they say where and how to run it, not what it trains."""

_SWEEPS = ("range(", "choice(", "glob(", "interval(")

FIRST_TRIAL_KEY = "STARGANV2_FIRST_TRIAL"
"""``hydra.job.env_set.<this>``: the number of an Optuna search's first trial in this launch,
which :class:`~starganv2.cli.sweep_check.SweepSettingsCheck` sets (as a Hydra override, so every
job's configuration has it wherever it is composed) when the study in ``hydra.sweeper.storage``
already holds trials; ``hydra.sweep.subdir`` passes it to :func:`job_folder`."""


def _top_level_comma(value: str) -> bool:
    depth, quote = 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys(argv: Sequence[str]) -> set[str]:
    """The keys a Hydra command line sweeps: ``key=a,b`` or ``key=range(...)`` and the like."""
    keys = set()
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        if _top_level_comma(value) or value.startswith(_SWEEPS):
            keys.add(key.lstrip("+~"))
    return keys


def _given_keys(argv: Sequence[str]) -> set[str]:
    """The keys a command line sets, swept or not."""
    return {_key(arg) for arg in argv if not arg.startswith("-") and "=" in arg}


def _is_basic(sweeper: object) -> bool:
    """Whether ``sweeper`` (``hydra.sweeper._target_``) is Hydra's grid sweeper, whose jobs are
    distinct combinations; ``None`` (unknown) counts as basic."""
    return sweeper is None or str(sweeper).endswith("BasicSweeper")


def job_folder(
    overrides: Sequence[str], num: object = None, sweeper: object = None, first: object = 0
) -> str:
    """The folder name of a multirun job with ``overrides`` (``["model.lambda_sty=0.5", ...]``):
    the swept ones and the sweeper's own choices as ``key-value`` joined by ``__`` (all of them
    when none is known to be swept), after ``trial-<first + num>`` (``trial-007``) when
    ``sweeper`` (its ``_target_``) is not Hydra's basic one; ``default`` for a basic job without
    any override. ``first`` is the number of the launch's first trial: that of an Optuna study
    kept in ``hydra.sweeper.storage`` goes on from the trials it holds
    (:data:`FIRST_TRIAL_KEY`), so a relaunch's trials do not take the earlier ones' folders."""
    argv = sys.argv[1:]
    swept, given = swept_keys(argv), _given_keys(argv)
    # a swept key of NOT_NAMING names the job all the same (`starganv2-eval -m ckpt_path=a,b`):
    # else every job has the same folder and each overwrites the one before
    items = [o for o in map(str, overrides) if _key(o) not in NOT_NAMING or _key(o) in swept]
    chosen = [o for o in items if _key(o) in swept or _key(o) not in given] or items
    parts = ["-".join(o.lstrip("+~").split("=", 1)) for o in sorted(chosen)]
    whole = ",".join(sorted(chosen))
    if num is not None and not _is_basic(sweeper):  # first: a shortened name keeps it
        if str(num).isdigit() and str(first).isdigit():
            num = int(first) + int(num)
        number = f"{int(num):03d}" if str(num).isdigit() else str(num)
        parts.insert(0, f"trial-{number}")
        whole = f"trial={number}," + whole
    if not parts:
        return "default"
    name = "__".join(parts)
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", name)
    if len(safe) <= MAX_NAME and safe == name:
        return name
    digest = hashlib.sha1(whole.encode()).hexdigest()[:10]
    return f"{safe[: MAX_NAME - 11]}-{digest}"


_HASHED = re.compile(r"-[0-9a-f]{10}$")


def folder_keys(name: str) -> frozenset[str]:
    """The keys that name the job folder ``name`` (:func:`job_folder`): ``{"model.lambda_ds",
    "model.lambda_sty"}`` for ``model.lambda_ds-1__model.lambda_sty-0.5``, ``trial`` for a
    numbered trial. Of a shortened name (ending in a hash) the last, perhaps cut, part is left
    out."""
    parts = name.split("__")
    if len(name) == MAX_NAME and _HASHED.search(name):
        parts = parts[:-1]
    return frozenset(p.split("-", 1)[0] for p in parts if p != "default")


def job_label() -> str:
    """``-<job folder>`` in a multirun job (so the jobs of a sweep get distinct logger run names,
    e.g. wandb's), ``""`` in a single run or outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return ""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or not hc.runtime.get("output_dir"):
        return ""
    return "-" + Path(hc.runtime.output_dir).name


def slurm_count(value: object, key: str) -> int:
    """``value`` of ``key`` (``trainer.devices``, ``trainer.num_nodes``) as the count
    ``hydra/launcher=slurm`` asks SLURM for. A value that is not a count (``auto``, a list of
    indices) cannot be one on the machine that submits: one error line naming the key, and exit
    status 1 (Hydra resolves this before any job starts, outside the entry point's reporting)."""
    import logging

    text = str(value).strip()
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if text.isdigit() and int(text) > 0:
        return int(text)
    what = "GPUs per node" if key == "trainer.devices" else "nodes"
    logging.getLogger("starganv2.train").error(
        "%s=%s with hydra/launcher=slurm: SLURM needs a count of %s, set on the submitting "
        "machine; set %s=<%s> (e.g. %s=4)",
        key,
        value,
        what,
        key,
        what,
        key,
    )
    sys.exit(1)


def slurm_gpus(accelerator: object, devices: object) -> int | None:
    """GPUs per node for ``hydra/launcher=slurm``: none (``null``, no ``--gpus-per-node``) for
    processes on the CPU (``trainer.accelerator=cpu``, as ``trainer=ddp_cpu`` sets), which asked
    SLURM for as many GPUs as processes and could wait for nodes with GPUs it would not use;
    else :func:`slurm_count` of ``trainer.devices``."""
    if str(accelerator).strip().lower() == "cpu":
        return None
    return slurm_count(devices, "trainer.devices")


def run_folder_name(value: object) -> str:
    """``run_name`` as the last part of a run folder (``outputs/<task>/<run_name>``). A name that
    gives no folder of its own (empty, as ``run_name=$NAME`` with ``NAME`` unset gives; ``null``;
    ``.``; one that climbs with ``..``) would make ``outputs/<task>/`` or a folder above it the
    run folder, and fill it with logs, configs and checkpoints: one error line naming the key, and
    exit status 1 (Hydra resolves this before any job starts, outside the entry point's
    reporting). Nested names (``cats/lr-high``) are fine."""
    import logging

    text = "" if value is None else str(value)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if parts and ".." not in parts:
        return text
    logging.getLogger("starganv2.cli").error(
        "run_name=%s names no folder of its own (the run would write into outputs/<task>/ or "
        "above it); give a name such as run_name=my-run, or leave it out for the start time",
        "null" if value is None else repr(text),
    )
    sys.exit(1)


def run_record(output_dir: object, resume: object, ckpt_path: object) -> str | None:
    """``hydra.output_subdir``: ``.hydra``, or ``None`` (Hydra writes no record) for a launch
    into a folder that holds a run's checkpoints which does not continue that run (neither
    ``resume=auto`` nor a ``ckpt_path`` file, or both), or into a folder whose ``run.lock`` a
    live job holds: the training entry point refuses both, but Hydra writes the record first,
    which replaced that run's ``.hydra/config.yaml`` and ``overrides.yaml`` with a configuration
    never trained. Other tools' folders hold neither: always ``.hydra``."""
    from starganv2.callbacks.checkpoint import iteration_checkpoints
    from starganv2.utils.run_lock import RunLock

    if output_dir is None:
        return ".hydra"
    if RunLock(str(output_dir)).live_holder() is not None:
        return None
    folder = Path(str(output_dir)) / "checkpoints"
    if not (folder / "last.ckpt").is_file() and not iteration_checkpoints(folder):
        return ".hydra"
    if resume == "auto" and not ckpt_path:
        return ".hydra"
    if resume is None and ckpt_path and Path(str(ckpt_path)).is_file():
        return ".hydra"
    return None


def keep_sweep_record(sweep_dir: Path) -> Path | None:
    """Rename ``sweep_dir/multirun.yaml``, the record of an earlier launch into this sweep folder,
    to ``multirun-<its time>.yaml`` (``-2``, ``-3``, ... when taken) and return the new path;
    ``None`` where there is none. Hydra writes each launch's record there, so a relaunch with
    ``resume=auto``, or one whose jobs are all refused, replaced the sweep's record (its swept
    values and settings) with its own."""
    record = sweep_dir / "multirun.yaml"
    if not record.is_file():
        return None
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(record.stat().st_mtime))
    kept, n = sweep_dir / f"multirun-{stamp}.yaml", 1
    while kept.exists():
        n += 1
        kept = sweep_dir / f"multirun-{stamp}-{n}.yaml"
    record.rename(kept)
    return kept


class KeepSweepRecord(Callback):
    """Keep the records of earlier launches into a sweep folder (:func:`keep_sweep_record`)
    before the sweeper writes this launch's ``multirun.yaml``."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Runs before the sweeper, which writes the record when it starts."""
        import logging

        kept = keep_sweep_record(Path(str(config.hydra.sweep.dir)))
        if kept is not None:
            logging.getLogger("starganv2.cli").info(
                "the earlier launch's multirun.yaml of this sweep is kept as %s", kept.name
            )


def repeated_sweep_value(overrides: Sequence[str]) -> tuple[str, str] | None:
    """The first swept key whose list gives a value twice (``model.lambda_sty=1,1``), with that
    value as the command line spells it; ``None`` where each value is listed once. Both jobs of
    such a list would have one folder: the second was refused as a new run in a used folder
    (``add resume=auto``), which hid the typo."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:  # Hydra reports a malformed override itself
        return None
    for override in parsed:
        if not override.is_sweep_override() or not isinstance(override.value(), ChoiceSweep):
            continue
        seen: set[str] = set()
        for value in override.sweep_string_iterator():
            if value in seen:
                return override.get_key_element(), value
            seen.add(value)
    return None


class RepeatedSweepValueCheck(Callback):
    """Refuse a multirun whose swept list gives a value twice (:func:`repeated_sweep_value`):
    one error line naming the key and the value, exit status 1, before any job runs."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Check before the sweeper launches (Hydra turns a callback's exception into a warning,
        so this exits itself, as :class:`~starganv2.cli.cluster.SlurmCommandsCheck` does)."""
        import logging

        repeated = repeated_sweep_value(config.hydra.overrides.task)
        if repeated is None:
            return
        key, value = repeated
        logging.getLogger("starganv2.cli").error(
            "%s lists the value %s twice: each value is one job in its own folder, so list it once",
            key,
            value,
        )
        sys.exit(1)


def has_several_jobs(overrides: Sequence[str]) -> bool:
    """Whether the multirun of ``overrides`` sweeps a key (``ckpt_path=a.ckpt,b.ckpt``), so
    launches more than one job; ``-m ckpt_path=a.ckpt`` is one job."""
    return bool(swept_keys([str(o) for o in overrides]))


def shared_output_key(config: Any, keys: Sequence[str]) -> str | None:
    """The first of ``keys`` that ``config`` sets to a fixed path (no ``${...}``, so one path for
    every job of the multirun), or ``None``: each job would overwrite what the one before wrote
    there, and only the last job's results would remain."""
    for key in keys:
        # unset, absent, or an interpolation that needs the job's Hydra (${paths.output_dir})
        if not OmegaConf.select(config, key, throw_on_resolution_failure=False):
            continue
        if not OmegaConf.is_interpolation(config, key):
            return key
    return None


class SharedOutputCheck(Callback):
    """Refuse a multirun of several jobs (``starganv2-eval -m ckpt_path=a.ckpt,b.ckpt``) that
    gives one of ``keys`` (``output_file``, ``save_images``) a fixed path: every job would write
    the same file or folder, each overwriting the one before, and a comparison of checkpoints
    would keep the last one's figures alone, without a word. One error line naming the key and
    a per-job form, exit status 1, before any job runs."""

    def __init__(self, keys: Sequence[str] = ()):
        self.keys = list(keys)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Check before the sweeper launches (Hydra turns a callback's exception into a warning,
        so this exits itself, as :class:`RepeatedSweepValueCheck` does)."""
        import logging

        if not has_several_jobs(config.hydra.overrides.task):
            return
        key = shared_output_key(config, self.keys)
        if key is None:
            return
        value = OmegaConf.select(config, key)
        logging.getLogger("starganv2.cli").error(
            "%s=%s is one path for every job of this multirun: each job would overwrite what the "
            "one before wrote there; put it in each job's own folder, e.g. "
            "'%s=${paths.output_dir}/%s'",
            key,
            value,
            key,
            Path(str(value)).name,
        )
        sys.exit(1)


def register_resolvers() -> None:
    """Make ``${job_folder:...}``, ``${job_label:}``, ``${slurm_count:...}``, ``${slurm_gpus:...}``,
    ``${run_record:...}`` and ``${run_folder_name:...}`` available to the configs (idempotent)."""
    for name, resolver in (
        ("job_folder", job_folder),
        ("job_label", job_label),
        ("slurm_count", slurm_count),
        ("slurm_gpus", slurm_gpus),
        ("run_record", run_record),
        ("run_folder_name", run_folder_name),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
