"""Style means under another default dtype (Lightning's ``precision="64-true"`` sets float64
while it predicts): the codes drawn from a seeded generator, and so the means, stay the same."""

from __future__ import annotations

import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.styles import style_means
from tests.helpers import TINY


def test_style_means_do_not_depend_on_the_default_dtype():
    torch.manual_seed(0)
    module = StarGANv2Module(**TINY)
    want = style_means(module, num=50, batch_size=20, generator=torch.Generator().manual_seed(3))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = style_means(
            module.double(), num=50, batch_size=20, generator=torch.Generator().manual_seed(3)
        )
    finally:
        torch.set_default_dtype(previous)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
