"""Offline evaluation fixtures: a torch hub cache with random AlexNet weights, a tiny FID feature
net that records its inputs, tiny image folders and a tiny StarGAN v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from starganv2.evaluation.backbones import ALEXNET_FILE
from starganv2.evaluation.evaluator import Evaluator
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    """A torch hub cache holding a randomly initialised AlexNet (the LPIPS backbone file)."""
    from torchvision.models import alexnet

    home = tmp_path_factory.mktemp("torch_home")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), home / "hub" / "checkpoints" / ALEXNET_FILE)
    return home


@pytest.fixture
def offline_hub(torch_home, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home / "hub" / "checkpoints"


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    return tmp_path / "empty_home" / "hub" / "checkpoints"


class TinyFeatures(nn.Module):
    """A small fixed random conv net: (N, 3, H, W) in [0, 1] -> (N, 8)."""

    num_features = 8

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.3)
            self.conv.bias.zero_()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return torch.tanh(self.conv(x * 2 - 1)).mean(dim=(2, 3))


def write_domain_data(root: Path, domains: list[str], n_train: int, n_val: int, size: int = 32):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for k, d in enumerate(domains):
            (root / split / d).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                arr[..., k % 3] = 40 + 60 * k  # domains differ in one channel
                Image.fromarray(arr).save(root / split / d / f"{i:03d}.png")
    return root


@pytest.fixture
def tiny_module() -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**{**TINY, "num_domains": 2}).eval()


FID_LPIPS_SETTINGS = (
    "fid_features",
    "fid_weights",
    "lpips_weights",
    "feature_extractor",
    "quantize",
)


def evaluate(model, root, **kwargs) -> dict[str, float]:
    """FID/LPIPS of ``model`` on the folder ``root``: ``kwargs`` are ``fid_lpips`` settings
    (:data:`FID_LPIPS_SETTINGS`) and ``Evaluator`` arguments (the protocol)."""
    settings = {k: kwargs.pop(k) for k in FID_LPIPS_SETTINGS if k in kwargs}
    return Evaluator(metrics={"fid_lpips": settings}, **kwargs).evaluate(model, root)
