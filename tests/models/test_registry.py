"""Checkpoints load by the model name they record; older checkpoints (no name) are StarGAN v2."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from starganv2.models.registry import load_model, model_class
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader


def _save(model, path):
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def test_load_model_reads_the_class_from_the_checkpoint(tmp_path):
    model = StarGANv2Module(**TINY)
    model.iteration = 7
    path = _save(model, tmp_path / "m.ckpt")
    assert torch.load(path, weights_only=False)["starganv2"]["model"] == "stargan_v2"
    loaded = load_model(path)
    assert type(loaded) is StarGANv2Module and loaded.iteration == 7 and not loaded.training
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, 4)
    torch.testing.assert_close(loaded.translate(x, 1, z=z), model.eval().translate(x, 1, z=z))


def test_checkpoints_from_before_the_layout_change_still_load_and_resume(tmp_path):
    """0.1 checkpoints: no model name, no checkpoint-callback state."""
    model = StarGANv2Module(**TINY, total_iters=3)
    model.iteration = 2
    path = _save(model, tmp_path / "old.ckpt")
    ckpt = torch.load(path, weights_only=False)
    ckpt["starganv2"] = {"iteration": 2}  # what 0.1 wrote
    ckpt["callbacks"] = {}
    torch.save(ckpt, path)
    assert type(load_model(path)) is StarGANv2Module
    resumed = StarGANv2Module(**TINY, total_iters=3)
    quiet_trainer().fit(resumed, random_loader(n=4), ckpt_path=path)
    assert resumed.iteration == 3


def test_unknown_model_name_is_a_clear_error(tmp_path):
    path = _save(StarGANv2Module(**TINY), tmp_path / "m.ckpt")
    ckpt = torch.load(path, weights_only=False)
    ckpt["starganv2"]["model"] = "stargan_v9"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="unknown model 'stargan_v9'; known: \\[.*'stargan_v2'"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="ckpt_path='nope.ckpt'"):
        load_model("nope.ckpt")
    assert model_class("stargan_v2") is StarGANv2Module
