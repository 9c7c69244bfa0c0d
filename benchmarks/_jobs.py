"""What the benchmark drivers share: runs side by side as subprocesses, and a bare Trainer.

Imported by ``ablation.py``, ``quick_tuning.py`` and ``compare_baseline.py`` (each puts this
folder on ``sys.path`` first, so they also work when loaded by file path).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["quiet_trainer", "run_side_by_side"]


def run_side_by_side(
    jobs: Sequence[tuple[str, Sequence[str], Path]],
    max_jobs: int,
    env: Mapping[str, str],
    deadline_s: float | None = None,
    poll_s: float = 1.0,
    what: str = "run",
) -> None:
    """Run ``(name, command, log file)`` jobs as subprocesses, ``max_jobs`` at a time, in order;
    each writes stdout and stderr to its log. After ``deadline_s`` seconds every running job is
    terminated and the rest are not started. A job that fails is reported by name."""
    pending = list(jobs)
    running: list[tuple[subprocess.Popen, Any, str]] = []
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < max_jobs:
            name, cmd, log_path = pending.pop(0)
            log = open(log_path, "w")  # noqa: SIM115 - closed when the job ends
            proc = subprocess.Popen(list(cmd), env=dict(env), stdout=log, stderr=subprocess.STDOUT)
            running.append((proc, log, name))
        time.sleep(poll_s)
        if deadline_s is not None and time.perf_counter() - start > deadline_s:
            print(f"deadline of {deadline_s} s reached: stopping {len(running)} {what}(s)")
            pending.clear()
            for proc, _, _ in running:
                proc.terminate()
            for proc, _, _ in running:
                proc.wait()
        for item in list(running):
            if item[0].poll() is not None:
                item[1].close()
                running.remove(item)
                if item[0].returncode:
                    print(f"{what} {item[2]} failed (rc {item[0].returncode}), see its log")


def quiet_trainer(accelerator: str, callbacks: list[Any]) -> Any:
    """A one-device ``lightning.Trainer`` that trains until a callback stops it, with no logger,
    checkpoints, progress bar, summary or validation: the drivers measure with their callbacks."""
    import lightning as L

    return L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=10**9,
        callbacks=callbacks,
    )
