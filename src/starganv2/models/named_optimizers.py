"""Optimizers handed to Lightning under the names of the nets they train.

Lightning's ``LearningRateMonitor`` names an optimizer that has no scheduler after its class
(``lr-Adam``, ``lr-Adam-1``, ...), which does not say which net it trains. Its documented way to
name one is the ``name`` of an ``lr_scheduler`` config returned by ``configure_optimizers``, so
each optimizer gets a scheduler that only carries the name: a ``ConstantLR`` with factor 1, which
leaves the learning rate as it is. Under manual optimization Lightning never steps a scheduler
and neither does this library, so the learning rates stay those the module sets (constant for
StarGAN v2; StarGAN v1 sets its decay itself at every iteration, from the checkpointed iteration
counter). ``interval="step"`` makes the monitor read the rates on its logging steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import ConstantLR

__all__ = ["named_optimizers", "monitor_name"]


def monitor_name(net: str) -> str:
    """The key under which ``LearningRateMonitor`` logs the learning rate of ``net``'s
    optimizer: ``lr-<net>``."""
    return f"lr-{net}"


def named_optimizers(optimizers: Mapping[str, torch.optim.Optimizer]) -> list[dict[str, Any]]:
    """``configure_optimizers``' return value for ``{net name: optimizer}``, in that order: one
    ``{"optimizer", "lr_scheduler": {"scheduler", "name", "interval"}}`` dict per optimizer.

    The scheduler multiplies the learning rate by 1 once, when it is built (``ConstantLR`` with
    ``total_iters=0``): the rates are unchanged, exactly."""
    return [
        {
            "optimizer": opt,
            "lr_scheduler": {
                "scheduler": ConstantLR(opt, factor=1.0, total_iters=0),
                "name": monitor_name(name),
                "interval": "step",
            },
        }
        for name, opt in optimizers.items()
    ]
