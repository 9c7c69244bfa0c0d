"""``benchmarks/ablation_gpu.sh``: the architecture study's GPU version in one command refuses at
once without a CUDA device, installs starganv2 only where it does not import, and shows the end
of the log of any part that fails; ``SMOKE=1`` runs the same steps on the CPU (a slow test).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "ablation_gpu.sh"


def _run(
    tmp_path: Path, python: str = sys.executable, timeout: float = 120, **extra: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k != "SMOKE"}
    env.update(OUT=str(tmp_path / "out"), PYTHON=python, OMP_NUM_THREADS="1", **extra)
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, time.monotonic() - t0


def _shim(tmp_path: Path, name: str, cases: str, flags: str = "") -> str:
    """An interpreter that answers the commands matched by ``cases`` (``sh`` case branches) and
    runs the others with this Python (``flags`` added)."""
    shim = tmp_path / name
    shim.write_text(
        f'#!/bin/sh\ncase "$*" in\n{cases}\nesac\nexec "{sys.executable}" {flags} "$@"\n'
    )
    shim.chmod(0o755)
    return str(shim)


# pip is never run where starganv2 imports; here it would only leave a mark and fail
PIP_MARK = '  *"-m pip"*) touch "{mark}"; echo "ERROR: no index (offline)" >&2; exit 1;;'


def test_without_cuda_it_refuses_at_once(tmp_path: Path) -> None:
    """No CUDA device for torch (none here; hidden on a GPU machine by ``CUDA_VISIBLE_DEVICES=``):
    one line on stderr, exit 1, before pip, the memory step or any ``--device cuda`` run."""
    mark = tmp_path / "pip-was-run"
    python = _shim(tmp_path, "python", PIP_MARK.format(mark=mark))
    proc, elapsed = _run(tmp_path, python, CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == "", proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("ablation_gpu.sh: no CUDA device that torch can use ("), line
    assert "use SMOKE=1" in line, line
    assert not mark.exists()
    assert list((tmp_path / "out").iterdir()) == []
    assert elapsed < 60, elapsed


def test_a_failed_install_shows_the_end_of_its_log(tmp_path: Path) -> None:
    """Where starganv2 does not import (hidden: ``-S`` skips its editable install's ``.pth``),
    ``pip install -e .`` runs; when it fails, its log's last lines are on the console."""
    mark = tmp_path / "pip-was-run"
    python = _shim(
        tmp_path,
        "python-without-starganv2",
        PIP_MARK.format(mark=mark),
        flags="-S",
    )
    env = {"PYTHONPATH": site.getsitepackages()[0]}  # torch and the rest, not starganv2
    check = subprocess.run([python, "-c", "import starganv2"], capture_output=True, env=env)
    assert check.returncode != 0, "the shim should hide the installed starganv2"
    proc, elapsed = _run(tmp_path, python, SMOKE="1", **env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert mark.exists()
    assert "pip install -e . failed (exit 1)" in proc.stderr, proc.stderr
    assert "  | ERROR: no index (offline)" in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "arch_memory.txt").exists()
    assert elapsed < 60, elapsed


def test_failed_parts_show_their_logs_and_the_exit_status_says_so(tmp_path: Path) -> None:
    """Each part that fails prints the end of its log; the others still run; exit 1 at the end."""
    python = _shim(
        tmp_path,
        "python-failing",
        '  *arch_memory.py*) echo "RuntimeError: arch memory boom" >&2; exit 3;;\n'
        '  *"--experiment ablation "*) echo "ValueError: study boom" >&2; exit 4;;\n'
        '  *"--experiment ablation_paper"*) echo "curve ran"; exit 0;;\n'
        '  *--summary-only*) echo "KeyError: summary boom" >&2; exit 5;;',
    )
    proc, elapsed = _run(tmp_path, python, SMOKE="1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    for part, status, line in [
        ("arch_memory", 3, "RuntimeError: arch memory boom"),
        ("study", 4, "ValueError: study boom"),
        ("paper_curve summary", 5, "KeyError: summary boom"),
    ]:
        assert f"ablation_gpu.sh: {part} failed (exit {status})" in err, err
        assert f"  | {line}" in err, err
    assert "done, with failures (arch_memory, study, paper_curve summary" in err, err
    assert elapsed < 60, elapsed


@pytest.mark.slow
def test_smoke_runs_every_step_on_the_cpu(tmp_path: Path) -> None:
    """``SMOKE=1``: the memory step, the paper curve and the study (2 arms, 2 iterations each) on
    the CPU, to exit 0, with both tables on the console (about 70 s on 2 cores)."""
    proc, _ = _run(tmp_path, SMOKE="1", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "out"
    assert "starganv2 imports: no install" in proc.stdout
    assert not (out / "pip.log").exists()
    assert "highpass" in (out / "arch_memory.txt").read_text()
    for summary in (out / "study" / "summary.md", out / "paper_curve" / "summary.md"):
        assert "| avgpool | 2 |" in summary.read_text()
    assert "| blur_all | 2 |" in proc.stdout
    assert proc.stdout.rstrip().endswith(f"ablation_gpu.sh: done: {out}")


def test_failed_runs_of_the_study_are_listed_and_the_script_goes_on(tmp_path: Path) -> None:
    """ablation.py finishes its other runs and its summary after a failed run, then exits 1: the
    script lists the failed runs with the first one's log (not also as "study failed (exit 1)"),
    goes on with the paper curve and its summary, and exits 1 at the end; a run the deadline
    stopped is not a failure."""
    study = tmp_path / "out" / "study"
    study.mkdir(parents=True)
    (study / "avgpool_seed0.log").write_text("ValueError: run boom\n")
    python = _shim(
        tmp_path,
        "python-runs-fail",
        "  *arch_memory.py*) exit 0;;\n"
        '  *"--experiment ablation "*) echo "run (\'avgpool\', 0) failed (rc 1), see its log"; '
        'echo "1 of 2 run(s) failed" >&2; exit 1;;\n'
        '  *"--experiment ablation_paper"*) echo "deadline of 5 s reached: stopping 1 run(s)"; '
        "echo \"run ('avgpool', 0) stopped at the deadline (rc 143)\"; exit 0;;\n"
        '  *--summary-only*) echo "curve summary ran" > "$OUT/curve-summary"; exit 0;;',
    )
    proc, elapsed = _run(tmp_path, python, SMOKE="1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert "ablation_gpu.sh: runs that failed, from" in err, err
    assert "  run ('avgpool', 0) failed (rc 1)" in err, err
    assert "  | ValueError: run boom" in err, err
    assert "study failed (exit" not in err, err
    assert "paper_curve runs" not in err and "paper_curve failed" not in err, err
    assert (tmp_path / "out" / "curve-summary").exists()
    assert "done, with failures (study runs" in err, err
    assert elapsed < 60, elapsed
