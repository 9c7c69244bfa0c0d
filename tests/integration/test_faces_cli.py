"""``experiment=celeba_hq`` end to end at tiny size: without FAN weights it stops at once naming
``model.fan_weights``; with them it trains, and the checkpoint samples without the weights file."""

from __future__ import annotations

import pytest
import torch

from starganv2.cli.train import run
from starganv2.models.registry import load_model
from tests.helpers.fan import write_wing_ckpt
from tests.integration.conftest import TINY_OVERRIDES, compose_train, make_folder_dataset


def _cfg(tmp_path, *extra):
    root = make_folder_dataset(tmp_path / "data", ["female", "male"])
    overrides = [*TINY_OVERRIDES, "experiment=celeba_hq", "trainer.accelerator=cpu"]
    return compose_train([*overrides, f"data.root={root}", *extra], tmp_path / "run")


def test_celeba_hq_without_fan_weights_stops_before_training(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(ValueError, match=r"model.fan_weights is not set: download wing.ckpt"):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_celeba_hq_trains_with_masks_and_its_checkpoint_carries_the_fan(tmp_path):
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=1)
    cfg = _cfg(tmp_path, f"model.fan_weights={wing}")
    assert run(cfg)["iteration"] == 2
    wing.unlink()
    model = load_model(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert model.fan is not None and model.hparams.w_hpf == 1.0
    out = model.translate(torch.rand(2, 3, 32, 32) * 2 - 1, 1)
    assert torch.isfinite(out).all()


def test_a_celeba_hq_run_resumes_after_its_fan_file_moved(tmp_path):
    """The checkpoint carries the FAN, so resuming needs no model.fan_weights file: Lightning
    calls the module's setup (which read the file) before it restores the checkpoint, so the
    resumed run stopped with 'no such file' for weights it already had."""
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=1)
    fast = ["model.total_iters=1", "callbacks.samples.every_n_iters=100"]
    assert run(_cfg(tmp_path, f"model.fan_weights={wing}", *fast))["iteration"] == 1
    wing.unlink()
    more = ["model.total_iters=2", "callbacks.samples.every_n_iters=100", "resume=auto"]
    assert run(_cfg(tmp_path, f"model.fan_weights={wing}", *more))["iteration"] == 2
