"""Tiny checkpoints for the demo tests: freshly initialised models saved as Lightning writes them,
so the demo loads them through ``load_model`` exactly as it loads a trained one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer

TINY_V1 = {"img_size": 32, "num_domains": 3, "g_conv_dim": 8, "d_conv_dim": 8, "g_repeat_num": 1}


def save_checkpoint(module: torch.nn.Module, path: Path) -> Path:
    trainer = quiet_trainer()
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def v2_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(StarGANv2Module(**TINY), tmp_path_factory.mktemp("v2") / "v2.ckpt")


@pytest.fixture(scope="session")
def v1_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(StarGANv1Module(**TINY_V1), tmp_path_factory.mktemp("v1") / "v1.ckpt")


def write_picture(path: Path, width: int = 60, height: int = 40, seed: int = 0, **save) -> Path:
    """A random RGB picture with a bright left half (so orientation and crops are visible)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 128, (height, width, 3), dtype=np.uint8)
    arr[:, : width // 2] += 120
    Image.fromarray(arr).save(path, **save)
    return path
