"""``benchmarks/gpu_figures.sh``: the one command for the GPU figures runs every step and keeps
to its time budget (on the CPU, with ``SMOKE=1``'s tiny sizes), and without ``SMOKE=1`` refuses
at once where torch has no CUDA device.

The GPU sessions are few and short, so the script must work the first time it meets a GPU: every
step's command runs to exit 0 and prints its table, and a budget too small for all steps skips
the later ones instead of overrunning. On a machine without a GPU it must not start the 256 px
benchmarks on the CPU (10 GB resident before it was stopped).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_figures.sh"
STEPS = [
    "train_speed",
    "train_profile",
    "infer_speed",
    "data_speed",
    "train_compile",
    "max_batch_fp32",
    "max_batch_bf16",
]


def _run(
    out: Path,
    tmp_path: Path,
    budget: int,
    python: str = sys.executable,
    returncode: int = 0,
    **extra: str,
) -> tuple[str, float]:
    env = {
        **os.environ,
        **extra,
        "SMOKE": "1",
        "BUDGET": str(budget),
        "PYTHON": python,
        "JPEG_DIR": str(tmp_path / "jpeg"),
        "OMP_NUM_THREADS": "1",
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == returncode, proc.stdout + proc.stderr
    return (out / "steps.txt").read_text(), elapsed


def _python_without_starganv2(tmp_path: Path) -> str:
    """This interpreter with its site-packages on ``PYTHONPATH`` but ``-S``: torch, lightning and
    the rest import, the editable install of starganv2 (a ``.pth`` hook) does not, as on a GPU
    machine that has the four packages and no package index."""
    import site

    shim = tmp_path / "python-without-starganv2"
    shim.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{site.getsitepackages()[0]}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{sys.executable}" -S "$@"\n'
    )
    shim.chmod(0o755)
    check = subprocess.run([str(shim), "-c", "import starganv2"], capture_output=True)
    assert check.returncode != 0, "the shim should hide the installed starganv2"
    return str(shim)


@pytest.mark.slow
def test_every_step_runs_and_prints_its_table(tmp_path: Path) -> None:
    """With starganv2 installed; without it (src/ on PYTHONPATH, as on a GPU machine with no
    package index) the small-budget test below runs the first steps."""
    out = tmp_path / "out"
    source = "installed starganv2"
    pack = tmp_path / "figures.tgz"
    steps, _ = _run(out, tmp_path, budget=480, PACK=str(pack))
    assert "skipped" not in steps
    assert steps.count("exit 0 after") == len(STEPS), steps
    for name in STEPS:
        text = (out / f"{name}.txt").read_text()
        assert re.search(r"^\|[^|\n]+\|\s*[\d.]+", text, re.M) or "images/s" in text, (
            name,
            text,
        )
    assert f"starganv2 from: {source};" in (out / "env.txt").read_text()
    # PACK: every table, steps.txt and env.txt in one archive (a lent GPU returns few files)
    with tarfile.open(pack) as tar:
        names = set(tar.getnames())
        packed_steps = tar.extractfile("out/steps.txt").read().decode()
    assert {f"out/{n}.txt" for n in [*STEPS, "steps", "env"]} <= names, names
    assert packed_steps == steps and "done in" in packed_steps
    assert not pack.with_name(pack.name + ".part").exists()


@pytest.mark.slow
def test_a_small_budget_skips_the_later_steps(tmp_path: Path) -> None:
    """With 45 s, the first steps run (each cut to what is left) and the rest are skipped; the
    whole run ends near the budget, not after the sum of the steps' own deadlines. Run by a
    Python without the installed starganv2: the script puts src/ on PYTHONPATH, and the steps
    that ran exit 0 with it."""
    budget = 45
    out = tmp_path / "out"
    python = _python_without_starganv2(tmp_path)
    steps, elapsed = _run(out, tmp_path, budget=budget, python=python)
    assert "starganv2 from: src/ on PYTHONPATH;" in (out / "env.txt").read_text()
    ran = re.findall(r"^\s+exit (\d+) after", steps, re.M)
    assert ran and set(ran) == {"0"}, steps
    assert "== max_batch_bf16: skipped" in steps, steps
    limits = [int(m) for m in re.findall(r"\(at most (\d+) s\)", steps)]
    assert limits and all(limit <= budget - 15 for limit in limits), steps
    assert elapsed < budget + 30, (elapsed, steps)
    # never a negative budget left (it once said "-1 s of the budget left" at 31 s of 45)
    assert not re.search(r"-\d+ s", steps), steps
    assert re.search(r"^done in \d+ s \(budget 45 s\): \d step\(s\) ran, .* skipped", steps, re.M)


@pytest.mark.parametrize(
    ("budget", "skip_line"),
    [
        (0, "skipped, the budget (0 s) is used up"),
        (30, "s of the budget left and a step needs 35 s (20 s to run, 15 s kept"),
    ],
)
def test_skipped_steps_say_why_without_a_negative_budget(
    tmp_path: Path, budget: int, skip_line: str
) -> None:
    """A budget too small for any step skips them all at once, each line saying why."""
    steps, elapsed = _run(tmp_path / "out", tmp_path, budget=budget)
    lines = steps.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"== {n}" for n in STEPS], steps
    assert all(skip_line in line for line in lines[:-1]), steps
    assert not re.search(r"-\d+ s", steps), steps
    assert re.match(rf"done in \d+ s \(budget {budget} s\): 0 step\(s\) ran, ", lines[-1])
    assert "7 skipped (budget)" in lines[-1], steps
    assert elapsed < 60, elapsed


def test_without_cuda_it_refuses_at_once(tmp_path: Path) -> None:
    """Without ``SMOKE=1`` and with no CUDA device for torch (none here; hidden on a GPU machine
    by ``CUDA_VISIBLE_DEVICES=``), the script stops before any step with one line on stderr, in
    ``steps.txt`` and the pack too, instead of running the 256 px benchmarks on the CPU."""
    out, pack = tmp_path / "out", tmp_path / "figures.tgz"
    env = {k: v for k, v in os.environ.items() if k != "SMOKE"}
    env.update(
        CUDA_VISIBLE_DEVICES="",
        PYTHON=sys.executable,
        BUDGET="45",
        PACK=str(pack),
        JPEG_DIR=str(tmp_path / "jpeg"),
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == "", proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("gpu_figures.sh: no CUDA device that torch can use ("), line
    assert "this script measures GPU figures" in line and "use SMOKE=1" in line, line
    assert (out / "steps.txt").read_text() == line + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["steps.txt"]  # no step, no env.txt
    with tarfile.open(pack) as tar:
        assert tar.extractfile("out/steps.txt").read().decode() == line + "\n"
    assert elapsed < 60, elapsed


@pytest.mark.slow
def test_a_step_that_ignores_sigterm_is_killed_within_the_budget(tmp_path: Path) -> None:
    """A step that outlives its SIGTERM (as Lightning's trainer did during a compile on the first
    H200 run) is killed a grace period later, together with what it started, so the run still
    ends within its budget and its figures come back."""
    python = tmp_path / "python-ignoring-sigterm"
    python.write_text(
        "#!/bin/sh\n"
        # the script's own import checks pass; every step ignores SIGTERM and runs on
        f'case "$1" in -c) exec "{sys.executable}" "$@";; esac\n'
        "trap '' TERM\n"
        "sleep 1000 &\n"
        "wait\n"
    )
    python.chmod(0o755)
    budget = 40  # exit status 1: a step that ran did not exit 0
    steps, elapsed = _run(tmp_path / "out", tmp_path, budget, python=str(python), returncode=1)
    assert "exit 137" in steps and "killed" in steps, steps
    assert "== max_batch_bf16: skipped" in steps, steps
    assert elapsed < budget, (elapsed, steps)


@pytest.mark.slow
def test_pack_keeps_the_finished_steps_when_the_run_is_killed(tmp_path: Path) -> None:
    """``PACK`` re-packs after every step: a run killed during its second step (as a lease's end
    kills it) has already packed the first step's table and exit line."""
    python = tmp_path / "python-killing-the-run"
    python.write_text(
        "#!/bin/sh\n"
        # the profile step (the second) kills the script itself: PPID is timeout, its parent bash
        'case "$*" in *--profile*) kill -KILL "$(cut -d" " -f4 /proc/$PPID/stat)"; exit 1;; esac\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    pack = tmp_path / "figures.tgz"
    _run(tmp_path / "out", tmp_path, 480, python=str(python), returncode=-9, PACK=str(pack))
    with tarfile.open(pack) as tar:
        steps = tar.extractfile("out/steps.txt").read().decode()
        table = tar.extractfile("out/train_speed.txt").read().decode()
    assert "== train_speed" in steps and "exit 0" in steps and "train_profile" not in steps, steps
    assert "| original |" in table
