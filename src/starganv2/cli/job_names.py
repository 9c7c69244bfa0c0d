"""Multirun job folders named from their overrides, so a relaunched sweep finds its jobs again.

``conf/hydra/default.yaml`` sets ``hydra.sweep.subdir: ${job_folder:${hydra.overrides.task}}``:
a job's folder is named by the values of the swept keys (``model.lambda_sty-0.5``, several
joined by ``__``; no ``=`` or ``,``, so a printed ``ckpt_path=<folder>/...`` parses), so the same
combination gets the same folder in every launch, whatever its position in the sweep, and
``resume=auto`` continues it. The swept keys are those the command line sweeps (``a=1,2``,
``range(...)``, ``choice(...)``, ``glob(...)``); without such a key, the overrides that are not on
the command line (an Optuna trial's values: ``model.lambda_ds-0.7__model.lambda_sty-1.3``, not a
prefix of the fixed ones cut at :data:`MAX_NAME`), and where the command line is not the sweep's
(a job started on a cluster node) every override names the folder. ``run_name``,
``resume`` and ``ckpt_path`` never do. A name that cannot be a folder name as it is (a ``/`` in a
value, longer than :data:`MAX_NAME`) keeps a readable prefix and ends in a short hash of the whole.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

__all__ = [
    "MAX_NAME",
    "NOT_NAMING",
    "job_folder",
    "job_label",
    "swept_keys",
    "register_resolvers",
]

MAX_NAME = 120
"""Longest folder name kept as it is (file systems allow 255 bytes)."""

NOT_NAMING = ("run_name", "resume", "ckpt_path")
"""Keys that never name a job: they say where and how to run it, not what it trains."""

_SWEEPS = ("range(", "choice(", "glob(", "interval(")


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


def job_folder(overrides: Sequence[str]) -> str:
    """The folder name of a multirun job with ``overrides`` (``["model.lambda_sty=0.5", ...]``):
    the swept ones as ``key-value`` joined by ``__`` (all of them when none is known to be
    swept); ``default`` for a job without any."""
    items = [o for o in map(str, overrides) if o.split("=", 1)[0].lstrip("+~") not in NOT_NAMING]
    argv = sys.argv[1:]
    swept = swept_keys(argv)
    chosen = [o for o in items if o.split("=", 1)[0].lstrip("+~") in swept]
    if not swept:  # a sweeper's own choices (an Optuna trial's values) are not on the line
        chosen = [o for o in items if o not in argv]
    chosen = chosen or items
    whole = ",".join(sorted(chosen))
    if not whole:
        return "default"
    parts = ["-".join(o.lstrip("+~").split("=", 1)) for o in sorted(chosen)]
    name = "__".join(parts)
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", name)
    if len(safe) <= MAX_NAME and safe == name:
        return name
    digest = hashlib.sha1(whole.encode()).hexdigest()[:10]
    return f"{safe[: MAX_NAME - 11]}-{digest}"


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


def register_resolvers() -> None:
    """Make ``${job_folder:...}`` and ``${job_label:}`` available to the configs (idempotent)."""
    if not OmegaConf.has_resolver("job_folder"):
        OmegaConf.register_new_resolver("job_folder", job_folder)
    if not OmegaConf.has_resolver("job_label"):
        OmegaConf.register_new_resolver("job_label", job_label)
