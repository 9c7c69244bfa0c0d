"""The batch a run trains with (processes x images per process), saved in its checkpoints and
compared on resume.

A resumed run may change ``data.batch_size`` or the number of processes (``trainer.devices``,
``trainer.num_nodes``): moving to more GPUs is legitimate. But both change what an iteration
is: DDP averages the gradients of all processes, so the batch behind each optimizer step is
``processes x batch_size``, and the learning rates and R1 weight are not rescaled for it. And
the data continue mid-epoch by counting batches (:func:`starganv2.data.sampling.resume_position`),
so with another layout the rest of the epoch's draws is not the uninterrupted run's: some of its
images are trained twice, others skipped. Both are allowed, with one warning naming the change.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["BATCH_KEYS", "batch_layout", "warn_batch_change"]

log = logging.getLogger(__name__)

BATCH_KEYS = ("processes", "batch_size")


def batch_layout(trainer: Any) -> dict[str, int]:
    """``{"processes": world size, "batch_size": images per process}`` of ``trainer``'s fit;
    keys whose value is unknown (no trainer, a data module without ``batch_size``) are left out."""
    if trainer is None:
        return {}
    layout = {"processes": int(getattr(trainer, "world_size", 1))}
    batch_size = getattr(getattr(trainer, "datamodule", None), "batch_size", None)
    if isinstance(batch_size, int) and not isinstance(batch_size, bool):
        layout["batch_size"] = batch_size
    return layout


def _describe(layout: dict[str, int]) -> str:
    p, b = layout["processes"], layout["batch_size"]
    return f"batch {p * b} per step ({p} process{'es' if p != 1 else ''} x data.batch_size={b})"


def warn_batch_change(saved: dict[str, Any], now: dict[str, int], iteration: int) -> bool:
    """One warning when the checkpoint's layout ``saved`` differs from this run's ``now`` (both
    as :func:`batch_layout` gives them); ``True`` if it warned. A checkpoint written before
    layouts were saved, or a run whose layout is unknown, is not compared. The caller warns on
    one process only."""
    if any(not isinstance(saved.get(k), int) or k not in now for k in BATCH_KEYS):
        return False
    before = {k: int(saved[k]) for k in BATCH_KEYS}
    if before == now:
        return False
    steps = (
        "each step averages as many images, but"
        if before["processes"] * before["batch_size"] == now["processes"] * now["batch_size"]
        else "each step now averages another number of images (the learning rates and R1 "
        "weight are not rescaled), and"
    )
    back = [f"data.batch_size={before['batch_size']}"] * (before["batch_size"] != now["batch_size"])
    if before["processes"] != now["processes"]:
        back.append(f"{before['processes']} processes (trainer.devices x trainer.num_nodes)")
    log.warning(
        "resuming at iteration %d with %s, but the checkpoint trained with %s: %s the rest of "
        "this epoch's draws is not the uninterrupted run's (some images are trained twice, "
        "others skipped); to continue as before, set %s",
        iteration,
        _describe(now),
        _describe(before),
        steps,
        " and ".join(back),
    )
    return True
