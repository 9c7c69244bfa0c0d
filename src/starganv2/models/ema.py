"""Exponential moving average of the generator-side nets (G, F, E).

Samples and metrics use the EMA copies. Build and initialise the online net first, then
:func:`make_ema` copies it; :func:`update_ema` moves the copy towards the online weights in place.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["make_ema", "update_ema"]


def make_ema(net: nn.Module) -> nn.Module:
    """A frozen deep copy of ``net`` in eval mode (no gradients, never trained directly)."""
    ema = copy.deepcopy(net)
    ema.eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, beta: float = 0.999) -> None:
    """``ema = beta * ema + (1 - beta) * net`` for every parameter; buffers are copied.

    ``beta=0`` copies ``net``; ``beta=1`` leaves ``ema`` unchanged.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta={beta!r} is invalid: expected a value in [0, 1]")
    ema_params = list(ema.parameters())
    net_params = list(net.parameters())
    if len(ema_params) != len(net_params):
        raise ValueError("update_ema: ema and net have different parameter lists")
    if ema_params:
        torch._foreach_lerp_(ema_params, [p.detach() for p in net_params], 1.0 - beta)
    for b_ema, b_net in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b_net)
