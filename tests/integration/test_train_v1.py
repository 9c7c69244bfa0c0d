"""``starganv2-train experiment=stargan_v1``: the composed baseline writes checkpoints, label grids
and its loss terms, and resumes where it stopped."""

from __future__ import annotations

from pathlib import Path

import torch

from starganv2.cli.train import run
from tests.integration.conftest import (
    TINY_SHAPES,
    compose_train,
    tiny_overrides,
)
from tests.integration.test_train_cli import read_metrics


def _cfg(tmp_path: Path, shapes_cache: Path, extra: list[str] = ()):
    base = ["experiment=stargan_v1", "trainer.accelerator=cpu"]
    probe = compose_train(base, tmp_path / "probe")
    overrides = tiny_overrides(probe) + TINY_SHAPES + [f"data.cache_dir={shapes_cache}"]
    return compose_train([*base, *overrides, "model.n_critic=2", *extra], tmp_path / "run")


def test_v1_experiment_settings(tmp_path):
    cfg = compose_train(["experiment=stargan_v1"], tmp_path)
    assert cfg.model._target_.endswith("StarGANv1Module")
    assert (cfg.data.batch_size, cfg.data.transform, cfg.data.load_references) == (
        16,
        "stargan_v1",
        False,
    )
    assert (cfg.model.total_iters, cfg.model.n_critic, cfg.model.g_lr) == (200000, 5, 1e-4)


def test_v1_run_writes_checkpoints_grids_logs_and_resumes(tmp_path, shapes_cache):
    cfg = _cfg(tmp_path, shapes_cache)
    assert run(cfg)["iteration"] == 2
    out = Path(cfg.paths.output_dir)
    last = torch.load(out / "checkpoints/last.ckpt", weights_only=False)
    assert last["starganv2"] == {
        "iteration": 2,
        "model": "stargan_v1",
        "processes": 1,
        "batch_size": cfg.data.batch_size,
    }
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["0000002_label.png"]
    rows = read_metrics(out)
    assert {"train/d/real", "train/d/gp", "train/g/rec", "train/g_lr"} <= set(rows[0])
    assert [r["train/g/rec"] != "" for r in rows] == [False, True]  # G steps on iteration 2 only

    resumed = _cfg(tmp_path, shapes_cache, ["model.total_iters=4", "resume=auto"])
    assert run(resumed)["iteration"] == 4
    its = [float(r["train/iteration"]) for r in read_metrics(out)]
    assert its == [1, 2, 3, 4]
