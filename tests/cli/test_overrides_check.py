"""Overrides Hydra stopped on with a twenty-line Python traceback naming none of our keys:
``logger=null`` (a config group set to null) and ``'metrics=[shapes_quality]'
metrics.shapes_quality.seed=3`` (a setting under an entry of a list). Each is one line now,
saying what to type instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from starganv2.cli.overrides_check import config_groups, override_problem
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_config_groups_are_read_from_the_package() -> None:
    groups = config_groups()
    assert groups["logger"] == ["csv", "many", "none", "tensorboard", "wandb"]
    assert "shapes" in groups["data"] and "slurm" in groups["hydra/launcher"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["logger=null"],
            "logger=null: logger is a config group, set to the name of one of its "
            "options: csv, many, none, tensorboard, wandb (logger=none turns it off)",
        ),
        (["logger=false"], "logger=false: logger is a config group"),
        (["trainer=1"], "trainer=1: trainer is a config group"),
        (
            ["metrics=[shapes_quality]", "metrics.shapes_quality.seed=3"],
            "metrics.shapes_quality.seed=3: metrics=[shapes_quality] makes metrics a list, which "
            "has no key 'shapes_quality'; the metrics of a list take no settings: give metrics as "
            "a mapping of metrics to their settings instead, e.g. "
            "'metrics={shapes_quality: {seed: 3}}'",
        ),
        (
            ["evaluator.metrics=[fid_lpips]", "++evaluator.metrics.fid_lpips.fid_weights=w.pth"],
            "evaluator.metrics.fid_lpips.fid_weights=w.pth: evaluator.metrics=[fid_lpips] makes",
        ),
        (
            ["data.domains=[a,b]", "data.domains.x=1"],
            "data.domains.x=1: data.domains=[a,b] makes data.domains a list, which has no key 'x'",
        ),
    ],
)
def test_what_hydra_stops_on_with_a_traceback_is_one_line(
    overrides: list[str], expected: str
) -> None:
    problem = override_problem(overrides)
    assert problem is not None and problem.startswith(expected), problem


@pytest.mark.parametrize(
    "overrides",
    [
        ["logger=csv", "logger=none", "~logger"],
        ["model.lambda_sty=null", "ckpt_path=null"],  # values, not groups
        ["logger=null,csv"],  # a sweep: composed per job
        ["hydra/launcher=null"],  # Hydra's own groups: their options come from its plugins
        ["'metrics={shapes_quality: {seed: 3}}'", "metrics=[a,b]", "metrics.0=c"],
        # the list replaced (as docs/evaluation.md gives it) before the setting, or set after it
        ["metrics=[fid_lpips]", "~metrics", "+metrics={fid_lpips: {}}", "metrics.fid_lpips.x=1"],
        ["metrics.fid_lpips.x=1", "metrics=[fid_lpips]"],
        ["metrics=auto", "metrics.fid_lpips.fid_weights=w.pth"],  # Hydra reports it in a line
        ["not an override ="],  # Hydra's parser reports it
    ],
)
def test_other_overrides_are_left_to_hydra(overrides: list[str]) -> None:
    assert override_problem(overrides) is None


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("train", ["logger=null"], "Error: logger=null: logger is a config group"),
        (
            "eval",
            ["ckpt_path=x.ckpt", "metrics=[shapes_quality]", "metrics.shapes_quality.seed=3"],
            "Error: metrics.shapes_quality.seed=3: metrics=[shapes_quality] makes metrics a list",
        ),
    ],
)
def test_the_tools_say_it_in_one_line(
    tmp_path: Path, tool: str, args: list[str], expected: str
) -> None:
    proc = run_cli(
        [f"starganv2.cli.{tool}", *args],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("package", [None, "hydra.run"])
def test_cfg_hydra_resolve_prints_the_resolved_run_folder(tmp_path: Path, package: str | None):
    """``--cfg hydra --resolve``: Hydra resolves the hydra block without the job's keys, of which
    the run folder is made; it stopped with omegaconf's traceback (``Interpolation key
    'paths.log_dir' not found``). It prints the block resolved, ``--package`` kept."""
    args = ["--cfg", "hydra", "--resolve", "run_name=mine"]
    proc = run_cli(
        ["starganv2.cli.train", *args, *(["-p", package] if package else [])],
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"# @package {package or 'hydra'}\n")
    assert "dir: ./outputs/train/mine\n" in proc.stdout
    assert "${" not in proc.stdout
    assert not (tmp_path / "outputs").exists()
