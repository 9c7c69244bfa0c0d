"""Prediction from seeds under another default dtype: Lightning's ``precision="64-true"`` sets
torch's default dtype to float64 while it predicts, and seeded float64 draws are other numbers;
the latent code of a request must stay the one its seed names. (CPU draws of fewer than 16
numbers agree between the dtypes, so the codes here have the paper's 16.)"""

from __future__ import annotations

import copy

import torch
from torch.utils.data import DataLoader

from starganv2.models.prediction import latent_codes
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer


def test_latent_codes_do_not_depend_on_the_default_dtype():
    seed = torch.tensor([11, 12, 2**62])
    want = latent_codes(seed, 16)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = latent_codes(seed, 16)
        empty = latent_codes(torch.zeros(0, dtype=torch.long), 16)
    finally:
        torch.set_default_dtype(previous)
    assert got.dtype == empty.dtype == torch.float32
    assert torch.equal(got, want)


def test_64_true_precision_predicts_the_styles_of_the_same_seeds():
    torch.manual_seed(0)
    model = StarGANv2Module(**{**TINY, "latent_dim": 16}).eval()
    g = torch.Generator().manual_seed(1)
    items = [
        {
            "x": torch.rand(3, 32, 32, generator=g) * 2 - 1,
            "y_trg": torch.tensor(i % 2),
            "seed": torch.tensor(10 + i),
        }
        for i in range(3)
    ]
    loader = DataLoader(items, batch_size=3)
    want = quiet_trainer(precision="32-true").predict(copy.deepcopy(model), loader)[0]["x_fake"]
    got = quiet_trainer(precision="64-true").predict(copy.deepcopy(model), loader)[0]["x_fake"]
    assert got.dtype == torch.float64
    torch.testing.assert_close(got.float(), want, rtol=0, atol=1e-5)
