"""``TimingCallback``: seconds per training iteration and peak memory, as JSON lines.

Benchmarks (``benchmarks/ablation.py``, ``quick_tuning.py``, ``compare_baseline.py``) train through
``starganv2-train`` with this callback and read what it writes, so their seconds per iteration are
those of the library's own training loop. Every ``every_n_iters`` iterations of the model's own
counter, and when training ends, one row goes to ``dirpath/timing.jsonl``::

    {"iteration": 200, "train_s": 131.2, "cpu_s": 130.8, "s_per_iter": 0.655,
     "cpu_s_per_iter": 0.653, "wall_s": 160.4, "peak_rss_gb": 1.21, "peak_device_gb": null}

What is timed: the training step of each iteration (forward passes, backward passes, optimizer
steps and EMA), from the start of the batch to its end, before any other callback's end-of-batch
work. Evaluations, sample grids and checkpoints written by other callbacks are left out, and so
is the data loader's time between steps (included in ``wall_s``). To be first at the end of the
batch the callback moves itself to the front of ``trainer.callbacks`` in ``setup``. On an
accelerator the device is synchronised before each clock reading (``synchronize``), so a step's
seconds are its own and not those of the kernels it queued.

Columns: ``train_s``, ``cpu_s``: step seconds since training began (wall clock and the process's
CPU seconds, which count the work rather than the waiting on a shared machine; a resumed run
continues the sums); ``s_per_iter``, ``cpu_s_per_iter``: their means over the iterations since the
previous row; ``wall_s``: seconds since training began in this process, everything included;
``peak_rss_gb``: the process's peak resident memory (GiB, since the process started);
``peak_device_gb``: the accelerator's peak allocated memory since training began (``None`` on the
CPU).

``budget_s`` stops training once ``train_s`` reaches it (equal training time for settings
compared side by side; Lightning's ``max_time`` would count evaluations too).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from starganv2.callbacks.checkpoint import model_iteration
from starganv2.utils.checks import check_int
from starganv2.utils.files import atomic_write_text

__all__ = ["TimingCallback", "read_timing", "TIMING_FILE"]

log = logging.getLogger(__name__)

TIMING_FILE = "timing.jsonl"
"""The file name of the rows in ``dirpath``."""


def read_timing(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``timing.jsonl`` file (or of ``<folder>/timing.jsonl``); ``[]`` if missing."""
    path = Path(path)
    if path.is_dir():
        path = path / TIMING_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _peak_rss_gb() -> float | None:
    try:
        import resource
    except ImportError:  # not on this platform (Windows)
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20  # bytes on macOS, else KiB


class TimingCallback(L.Callback):
    """Time the training steps and record peak memory (see the module docstring for the columns).

    Args:
        dirpath: folder of ``timing.jsonl`` (the run folder); ``None``: rows are kept in
            :attr:`rows` only.
        every_n_iters: a row every this many iterations (``>= 1``), and one at the end.
        budget_s: stop training when the summed step seconds (``train_s``) reach this;
            ``None``: no budget.
        synchronize: wait for the accelerator before each clock reading (no effect on the CPU).
    """

    def __init__(
        self,
        dirpath: str | os.PathLike | None = None,
        every_n_iters: int = 100,
        budget_s: float | None = None,
        synchronize: bool = True,
    ) -> None:
        super().__init__()
        check_int(every_n_iters, "every_n_iters")
        if budget_s is not None and not budget_s > 0:
            raise ValueError(f"budget_s={budget_s!r} is invalid: expected seconds > 0 or null")
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.every_n_iters = every_n_iters
        self.budget_s = budget_s
        self.synchronize = synchronize
        self.rows: list[dict[str, Any]] = []
        self.train_s = 0.0
        self.cpu_s = 0.0
        self._interval = [0.0, 0.0, 0]  # step seconds, CPU seconds, iterations since the last row
        self._step_start = (0.0, 0.0)
        self._wall_start = 0.0
        self._device: torch.device | None = None

    @property
    def path(self) -> Path | None:
        """The rows' file, or ``None`` without ``dirpath``."""
        return self.dirpath / TIMING_FILE if self.dirpath is not None else None

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # First at every hook: the end of the step is read before other callbacks' work.
        if trainer.callbacks and trainer.callbacks[0] is not self:
            trainer.callbacks.remove(self)
            trainer.callbacks.insert(0, self)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        it = model_iteration(pl_module)
        old = read_timing(self.path) if self.path is not None else []
        self.rows = [r for r in old if r.get("iteration", 0) <= it]  # a resumed run keeps its rows
        self._interval = [0.0, 0.0, 0]
        self._device = pl_module.device if pl_module.device.type != "cpu" else None
        module = self._device_module()
        if module is not None and hasattr(module, "reset_peak_memory_stats"):
            module.reset_peak_memory_stats(self._device)
        self._wall_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._sync()
        self._step_start = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._sync()
        step_s = time.perf_counter() - self._step_start[0]
        cpu_s = time.process_time() - self._step_start[1]
        self.train_s += step_s
        self.cpu_s += cpu_s
        self._interval[0] += step_s
        self._interval[1] += cpu_s
        self._interval[2] += 1
        it = model_iteration(pl_module)
        over_budget = self.budget_s is not None and self.train_s >= self.budget_s
        if it % self.every_n_iters == 0 or over_budget:
            self._record(trainer, it)
        if over_budget and not trainer.should_stop:
            log.info(
                "budget_s=%s reached at iteration %d (%.1f s of training steps): stopping",
                self.budget_s,
                it,
                self.train_s,
            )
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        it = model_iteration(pl_module)
        if not self.rows or self.rows[-1]["iteration"] != it:
            self._record(trainer, it)

    # ------------------------------------------------------------------ rows
    def _device_module(self) -> Any:
        return torch.get_device_module(self._device) if self._device is not None else None

    def _sync(self) -> None:
        module = self._device_module()
        if self.synchronize and module is not None and hasattr(module, "synchronize"):
            module.synchronize(self._device)

    def _record(self, trainer: L.Trainer, iteration: int) -> None:
        step_s, cpu_s, n = self._interval
        module = self._device_module()
        peak_device = None
        if module is not None and hasattr(module, "max_memory_allocated"):
            peak_device = round(module.max_memory_allocated(self._device) / 2**30, 3)
        rss = _peak_rss_gb()
        row = {
            "iteration": iteration,
            "train_s": round(self.train_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "s_per_iter": round(step_s / n, 5) if n else None,
            "cpu_s_per_iter": round(cpu_s / n, 5) if n else None,
            "wall_s": round(time.perf_counter() - self._wall_start, 3),
            "peak_rss_gb": round(rss, 3) if rss is not None else None,
            "peak_device_gb": peak_device,
        }
        self.rows.append(row)
        self._interval = [0.0, 0.0, 0]
        if self.path is not None and trainer.is_global_zero:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))

    def state_dict(self) -> dict[str, Any]:
        return {"train_s": self.train_s, "cpu_s": self.cpu_s}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train_s = float(state_dict.get("train_s", 0.0))
        self.cpu_s = float(state_dict.get("cpu_s", 0.0))
