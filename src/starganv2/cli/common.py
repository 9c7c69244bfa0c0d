"""Helpers shared by the entry points: device and model loading, the exit on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_device(name: str | None) -> Any:
    """``auto`` (or ``None``): the current accelerator if there is one, else the CPU."""
    import torch

    if name in (None, "auto"):
        acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        return acc if acc is not None else torch.device("cpu")
    return torch.device(name)


def load_module(ckpt_path: str | Path, device: Any) -> Any:
    """The model of a checkpoint (any registered class), in eval mode on ``device``.

    Raises ``FileNotFoundError`` naming the key and path when the file does not exist.
    """
    from starganv2.models.registry import load_model

    return load_model(ckpt_path).to(device).eval()


BAD_INPUT: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError, ImportError)
"""Errors that mean bad input (a path, a key, a missing extra): one log line and exit status 1."""


def run_or_exit(
    run: Any, cfg: Any, log: Any, errors: tuple[type[BaseException], ...] = BAD_INPUT
) -> Any:
    """``run(cfg)``; on one of ``errors`` log its message (no traceback) and exit with status 1."""
    import sys

    try:
        return run(cfg)
    except errors as err:
        log.error("%s", err)
        sys.exit(1)
