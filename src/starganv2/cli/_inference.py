"""Helpers shared by the inference entry points (sample, translate, export)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def resolve_device(name: str | None) -> Any:
    """``auto`` (or ``None``): the current accelerator if there is one, else the CPU."""
    import torch

    if name in (None, "auto"):
        acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        return acc if acc is not None else torch.device("cpu")
    return torch.device(name)


def load_module(ckpt_path: str | Path, device: Any) -> Any:
    """A :class:`StarGANv2Module` from a checkpoint, in eval mode on ``device``.

    Raises ``FileNotFoundError`` naming the key and path when the file does not exist.
    """
    from starganv2.module import StarGANv2Module

    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={str(ckpt_path)!r}: no such checkpoint file (original StarGAN v2 files "
            "must be converted first: starganv2-convert <iter>_nets_ema.ckpt out.ckpt)"
        )
    module = StarGANv2Module.load_from_checkpoint(path, map_location="cpu")
    log.info("loaded %s (iteration %d)", path, module.iteration)
    return module.to(device).eval()
