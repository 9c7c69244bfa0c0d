"""Training goes on from checkpoints written before the hyperparameters were saved as plain
containers (a per-net ``downsample`` as an OmegaConf ``DictConfig``), and ``ckpt_path=<folder>``
names a checkpoint in the folder."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from starganv2.cli.train import run
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train

DOWNSAMPLE = "model.downsample={generator: strided, style_encoder: avgpool, discriminator: avgpool}"


def common(tmp_path, total: int) -> list[str]:
    keep = [o for o in TINY_OVERRIDES if not o.startswith("model.total_iters")]
    return [
        *keep,
        *TINY_SHAPES,
        f"data.cache_dir={tmp_path / 'cache'}",
        DOWNSAMPLE,
        f"model.total_iters={total}",
    ]


def test_a_checkpoint_with_omegaconf_hyperparameters_resumes(tmp_path):
    assert run(compose_train(common(tmp_path, 2), tmp_path / "first"))["iteration"] == 2
    ckpt = torch.load(tmp_path / "first/checkpoints/last.ckpt", weights_only=True)
    hp = ckpt["hyper_parameters"]
    hp["downsample"] = OmegaConf.create(dict(hp["downsample"]))  # as older versions saved it
    legacy = tmp_path / "legacy.ckpt"
    torch.save(ckpt, legacy)
    with pytest.raises(Exception, match="Unsupported global|weights_only"):
        torch.load(legacy, weights_only=True)  # what Lightning's load met
    cfg = compose_train([*common(tmp_path, 3), f"ckpt_path={legacy}"], tmp_path / "second")
    assert run(cfg)["iteration"] == 3


def test_a_folder_as_ckpt_path_names_a_checkpoint_in_it(tmp_path):
    run_dir = tmp_path / "first"
    assert run(compose_train(common(tmp_path, 1), run_dir))["iteration"] == 1
    cfg = compose_train([*common(tmp_path, 2), f"ckpt_path={run_dir}"], tmp_path / "second")
    with pytest.raises(
        FileNotFoundError,
        match=r"is a folder, not a checkpoint file: pass a "
        r"file in it, e\.g\. ckpt_path='.*last\.ckpt'",
    ):
        run(cfg)
