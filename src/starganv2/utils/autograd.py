"""Autograd helpers shared by the models' training steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["frozen"]


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Within the block the modules' parameters need no gradient: autograd still carries
    gradients *through* them to their inputs, but computes none for their weights (a G update
    needs D's input gradient, never its weight gradient). Parameters that did not require
    gradients before stay so; the others are restored on exit, also after an exception."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
