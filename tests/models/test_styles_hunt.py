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


def test_style_means_refuses_a_batch_size_below_one():
    """``batch_size=0`` drew no codes per round and looped forever; it is a ``ValueError`` naming
    it. Run in a thread so that, without the check, the test fails instead of hanging."""
    import threading

    import pytest

    module = StarGANv2Module(**TINY)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            style_means(module, num=10, batch_size=0)
        except ValueError as err:
            errors.append(err)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "style_means(batch_size=0) did not return"
    assert len(errors) == 1
    with pytest.raises(ValueError, match="batch_size=0"):
        raise errors[0]
