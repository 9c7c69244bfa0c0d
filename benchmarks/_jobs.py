"""What the benchmark drivers share: ``starganv2-train`` runs side by side, and reading what they
write.

Imported by ``ablation.py``, ``quick_tuning.py`` and ``compare_baseline.py`` (each puts this
folder on ``sys.path`` first, so they also work when loaded by file path). A run is the library's
own training command, ``python -m starganv2.cli.train <overrides>``, with its run folder at
``hydra.run.dir``; the drivers use the evaluation callback (``callbacks=shapes_eval``, or the one
the experiment chose: the evaluator's results in ``<run>/eval/eval_{iteration:07d}.json``), add
the timing callback (``+callbacks@_global_=timing``: ``<run>/timing.jsonl``) and read those
files.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CONF_DIR",
    "compose",
    "compose_error",
    "exit_if_failed",
    "failure_line",
    "make_out_folder",
    "prepare_shapes",
    "results_folder",
    "read_run",
    "run_side_by_side",
    "thread_env",
    "train_command",
]

CONF_DIR = Path(__file__).resolve().parents[1] / "src" / "starganv2" / "conf"
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
"""Overrides every benchmark run gets: no logger, no progress bar (their logs stay readable)."""


def train_command(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """``starganv2-train`` with ``overrides`` and its run folder at ``run_dir``."""
    return [
        sys.executable,
        "-m",
        "starganv2.cli.train",
        *QUIET,
        *overrides,
        f"hydra.run.dir={run_dir}",
    ]


def make_out_folder(out: Path) -> Path:
    """``--out``, made if missing; a one-line error (before any run starts or any earlier result
    is cleared) where it is a file or cannot be made."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"--out {out} is a file, not a folder: pass a folder for the runs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"--out {out}: cannot make the folder: {e.strerror or e}") from None
    return out


def results_folder(out: Path) -> Path:
    """``--out`` of ``--summary-only``: a one-line error where there is no such folder (a typo, or
    the runs were never made there)."""
    if not out.is_dir():
        raise SystemExit(
            f"--out {out}: no such folder; run the driver without --summary-only first"
        )
    return out


def measurement_overrides(args: Any) -> list[str]:
    """The overrides every driver adds to a run: the timing callback beside the experiment's
    evaluation, both every ``args.eval_every`` iterations, the device, and the optional image
    limit, length and data cache (``args.eval_images``, ``args.iters``, ``args.cache_dir``)."""
    overrides = [
        "+callbacks@_global_=timing",  # added to the experiment's callbacks (its evaluation)
        f"callbacks.evaluation.every_n_iters={args.eval_every}",
        f"callbacks.timing.every_n_iters={args.eval_every}",
        f"trainer.accelerator={args.device}",
    ]
    if args.device != "cpu":
        overrides.append("data.pin_memory=true")
    if args.eval_images is not None:
        overrides.append(f"callbacks.evaluation.evaluator.max_images_per_domain={args.eval_images}")
    if args.iters is not None:
        overrides += [f"model.total_iters={args.iters}", f"model.ds_iter={args.iters}"]
    if args.cache_dir:
        overrides.append(f"data.cache_dir={args.cache_dir}")
    return overrides


def compose(overrides: Sequence[str]) -> Any:
    """``conf/train.yaml`` with ``overrides``, composed as ``starganv2-train`` composes it (no
    Hydra run: for reading settings and preparing data before the runs)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides))


def prepare_shapes(overrides_per_run: Sequence[Sequence[str]]) -> None:
    """Make each run's shapes dataset and its quality classifier once, before the runs race for
    them (each run would otherwise build them itself, at the same time). Settings that do not
    compose or whose data is invalid (a wrong key, ``--experiment`` that does not exist,
    ``data.batch_size=-1``) are one line (:func:`compose_error`), before any run starts."""
    from hydra.errors import HydraException

    from starganv2.cli.config_check import instantiate

    try:
        from starganv2.evaluation.shapes_classifier import load_or_train_classifier
    except ImportError:  # before the classifier had its own module
        from starganv2.evaluation.shapes_quality import load_or_train_classifier

    done: set[str] = set()
    for overrides in overrides_per_run:
        try:
            cfg = compose(overrides)
            if "Shapes" not in str(cfg.data.get("_target_", "")):
                continue
            dm = instantiate(cfg.data)
        except (HydraException, ValueError) as err:
            raise compose_error(err) from None
        dm.prepare_data()
        if str(dm.root) not in done:
            load_or_train_classifier(dm.root)
            done.add(str(dm.root))


def compose_error(err: BaseException) -> SystemExit:
    """The one-line exit for a run's settings that do not compose: the first line of Hydra's or
    the library's message (which names the key), and where to look; it was a traceback."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return SystemExit(
        f"a run's settings are invalid: {reason} (check --setting, --override and --experiment)"
    )


def _number(value: Any) -> Any:
    """JSON results write non-finite floats as strings ("nan", "inf"): read them back."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if not math.isfinite(number) else value
    return value


def read_run(run_dir: Path) -> list[dict[str, Any]]:
    """One row per evaluation of a run: ``iteration``, the timing callback's columns at that
    iteration (``train_s``, ``s_per_iter``, ``cpu_s_per_iter``, ``peak_rss_gb``,
    ``peak_device_gb``...) and the evaluator's results; sorted by iteration."""
    from starganv2.callbacks.timing import read_timing

    timing = {r["iteration"]: r for r in read_timing(run_dir)}
    rows = []
    for path in sorted((run_dir / "eval").glob("eval_*.json")):
        it = int(path.stem.split("_")[1])
        results = {k: _number(v) for k, v in json.loads(path.read_text()).items()}
        rows.append({"iteration": it, **timing.get(it, {}), **results})
    return rows


def run_side_by_side(
    jobs: Sequence[tuple[str, Sequence[str], Path]],
    max_jobs: int,
    env: Mapping[str, str],
    deadline_s: float | None = None,
    poll_s: float = 1.0,
    what: str = "run",
) -> list[str]:
    """Run ``(name, command, log file)`` jobs as subprocesses, ``max_jobs`` at a time, in order;
    each writes stdout and stderr to its log. After ``deadline_s`` seconds every running job is
    terminated and the rest are not started. A job that fails is reported by name, with its log and
    the line of that log that says why (:func:`failure_line`). Returns the names of the jobs that
    failed, for :func:`exit_if_failed`; those the deadline stopped are not failures (the deadline
    is the limit asked for) and are reported as stopped."""
    pending = list(jobs)
    logs = {name: log_path for name, _, log_path in jobs}
    running: list[tuple[subprocess.Popen, Any, str]] = []
    failed: list[str] = []
    stopped: set[str] = set()
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < max_jobs:
            name, cmd, log_path = pending.pop(0)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "w")  # noqa: SIM115 - closed when the job ends
            proc = subprocess.Popen(list(cmd), env=dict(env), stdout=log, stderr=subprocess.STDOUT)
            running.append((proc, log, name))
        time.sleep(poll_s)
        if deadline_s is not None and time.perf_counter() - start > deadline_s:
            print(f"deadline of {deadline_s} s reached: stopping {len(running)} {what}(s)")
            pending.clear()
            for proc, _, name in running:
                stopped.add(name)
                proc.terminate()
            for proc, _, _ in running:
                proc.wait()
        for item in list(running):
            if item[0].poll() is not None:
                item[1].close()
                running.remove(item)
                if item[0].returncode and item[2] in stopped:
                    print(f"{what} {item[2]} stopped at the deadline (rc {item[0].returncode})")
                elif item[0].returncode:
                    log_path = logs[item[2]]
                    print(
                        f"{what} {item[2]} failed (rc {item[0].returncode}), see its log "
                        f"{log_path}: {failure_line(log_path)}"
                    )
                    failed.append(item[2])
    return failed


def exit_if_failed(failed: Sequence[str], total: int, what: str = "run") -> None:
    """Exit 1 with a one-line count where ``failed`` (of ``total`` jobs) is not empty: called
    after the summary, so a script or CI running the driver sees that some runs failed (the
    driver used to exit 0, the failures only in its console)."""
    if failed:
        raise SystemExit(
            f"{len(failed)} of {total} {what}(s) failed: {', '.join(failed)} (their logs: above)"
        )


def failure_line(log_path: Path) -> str:
    """Why a run failed, in one line: the last ``ERROR`` line of its log (the training command's
    one-line refusals, e.g. ``trainer.accelerator=cuda`` with no CUDA device), else its last
    line (a traceback's exception), so the driver's console says why without opening the log."""
    try:
        lines = [line.strip() for line in Path(log_path).read_text(errors="replace").splitlines()]
    except OSError:
        return "(no log)"
    lines = [line for line in lines if line]
    errors = [line for line in lines if "ERROR" in line]
    return (errors or lines or ["(empty log)"])[-1]


def thread_env(threads: int) -> dict[str, str]:
    """The environment of the runs: ``threads`` torch CPU threads each."""
    import os

    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
