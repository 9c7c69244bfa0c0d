"""Models by name: which class a checkpoint holds and how to load it without knowing it first.

Checkpoints written by this library record their model's name under
``checkpoint["starganv2"]["model"]`` (checkpoints from before that field are StarGAN v2).
:func:`load_model` reads it and calls that class's ``load_from_checkpoint``.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MODELS",
    "DEFAULT_MODEL",
    "register_model",
    "model_class",
    "checkpoint_model_name",
    "check_checkpoint_path",
    "load_model",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "stargan_v2"
MODELS: dict[str, str] = {
    "stargan_v2": "starganv2.models.stargan_v2.module:StarGANv2Module",
    "stargan_v1": "starganv2.models.stargan_v1.module:StarGANv1Module",
}


def register_model(name: str, target: str | type) -> None:
    """Make checkpoints naming ``name`` load with ``target`` (a class or ``"module:Class"``)."""
    MODELS[name] = (
        target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
    )


def model_class(name: str) -> type:
    """The LightningModule class registered as ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    module, attr = MODELS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def checkpoint_model_name(checkpoint: dict[str, Any]) -> str:
    """The model name a checkpoint dict records (``stargan_v2`` for older checkpoints)."""
    return str(checkpoint.get("starganv2", {}).get("model", DEFAULT_MODEL))


def check_checkpoint_path(ckpt_path: str | os.PathLike) -> Path:
    """``ckpt_path`` as a ``Path``, or ``FileNotFoundError`` naming the key when it is no file."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={str(ckpt_path)!r}: no such checkpoint file (original StarGAN v2 files "
            "must be converted first: starganv2-convert <iter>_nets_ema.ckpt out.ckpt)"
        )
    return path


def load_model(ckpt_path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """The model of a checkpoint written by this library (or by ``starganv2-convert``), in eval
    mode, whatever its class.

    Raises ``FileNotFoundError`` naming ``ckpt_path`` when there is no such file.
    """
    path = check_checkpoint_path(ckpt_path)
    peek = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    cls = model_class(checkpoint_model_name(peek))
    del peek
    model = cls.load_from_checkpoint(path, map_location=map_location)
    log.info("loaded %s (%s, iteration %d)", path, cls.__name__, getattr(model, "iteration", 0))
    return model.eval()
