"""``data.pin_memory``: pin the batches' host memory only when they go to a CUDA device.

Pinned (page-locked) host memory speeds up copies to a CUDA device and nothing else. A loader
that pins on a machine without an accelerator makes PyTorch warn at every epoch ("'pin_memory'
argument is set as true but no accelerator is found"), and on a GPU machine told to train on the
CPU it pins for nothing. ``"auto"`` (the default) decides from the device the run trains on: the
trainer's accelerator when a trainer drives the data module, else whether CUDA is available.
"""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator

__all__ = ["check_pin_memory", "resolve_pin_memory"]


def check_pin_memory(value: object, key: str = "data.pin_memory") -> None:
    """``ValueError`` naming ``key`` unless ``value`` is ``True``, ``False`` or ``"auto"``."""
    if not (isinstance(value, bool) or value == "auto"):
        raise ValueError(f"{key}={value!r} is invalid: expected true, false or auto")


def resolve_pin_memory(value: bool | Literal["auto"], trainer: L.Trainer | None) -> bool:
    """Whether the loaders pin memory: ``value`` itself when it is a bool; for ``"auto"``,
    whether ``trainer`` trains on a CUDA device (with no trainer: whether CUDA is available)."""
    if isinstance(value, bool):
        return value
    if trainer is None:
        return torch.cuda.is_available()
    return isinstance(trainer.accelerator, CUDAAccelerator)
