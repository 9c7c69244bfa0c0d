"""The console of a real 3-iteration training run, as a person sees it: stdout and stderr in one
stream, carriage returns applied. Log lines never continue the progress bar's line, one nets
summary stands in place of Lightning's table, and no warning shows that a user cannot act on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.console import screen_lines
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, make_folder_dataset

HYDRA_LOG_LINE = "] - "  # Hydra's console format: [time][logger][LEVEL] - message
BAR_TEXT = re.compile(r"\d/3 \[\d\d:\d\d")  # the bar's count and clock: "2/3 [00:01<00:00"


def train_console(args: list[str], cwd: Path) -> str:
    """What ``starganv2-train args`` prints, stdout and stderr in the order they were written."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}
    res = subprocess.run(
        [sys.executable, "-m", "starganv2.cli.train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    return res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("data", ["shapes", "folder"])
def test_console_of_a_three_iteration_run(data, tmp_path, shapes_cache):
    # a checkpoint every iteration: a log line while the bar is shown; the summary on
    args = [o for o in TINY_OVERRIDES if not o.startswith("trainer.enable_model_summary")]
    args += ["model.total_iters=3", "run_name=r"]
    if data == "shapes":
        args += [*TINY_SHAPES, f"data.cache_dir={shapes_cache}"]
    else:
        root = make_folder_dataset(tmp_path / "images", ["cat", "dog"], n=3, size=40)
        args += ["data=folder", f"data.root={root}", "data.num_domains=2"]
    console = train_console(args, tmp_path)
    lines = screen_lines(console)

    bars = [line for line in lines if line.startswith("train:")]
    assert bars and "3/3" in bars[-1], console
    saved = [line for line in lines if "saved checkpoint" in line]
    assert len(saved) == 3, console
    for line in lines:  # a log line starts its own line; bar text stays on bar lines
        if HYDRA_LOG_LINE in line:
            assert line.startswith("["), line
        if BAR_TEXT.search(line):
            assert line.startswith("train:"), line

    assert sum(line.endswith("] - nets of StarGANv2Module:") for line in lines) == 1, console
    assert any(line.strip().startswith("nets_ema.generator") for line in lines), console
    for lightning_table in ("FLOPs", "Total estimated model params size", "model summary"):
        assert lightning_table not in console, lightning_table
    for noise in ("pin_memory", "Warning:", "warn("):
        assert noise not in console, noise
