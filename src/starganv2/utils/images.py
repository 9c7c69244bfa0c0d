"""The one conversion between the nets' pixels and stored pixels.

The nets see images as float tensors in ``[-1, 1]`` (``x = 2 * p / 255 - 1`` for 8-bit ``p``).
Everything that leaves the nets as pixels (PNG grids, video frames, translated files, FID inputs,
the shapes figures) goes through :func:`to_uint8`, which clamps and rounds exactly as
``torchvision.utils.save_image`` does (``floor(255 * u + 0.5)``), so an image saved as PNG and one
handed to a metric carry the same 8-bit values.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "to_unit",
    "to_uint8",
    "quantize",
    "from_uint8",
    "to_pil",
    "to_hwc_uint8",
    "pil_format",
    "image_format",
    "save_picture",
    "COMMON_SUFFIXES",
    "QUALITY",
]

COMMON_SUFFIXES = (".png", ".jpg", ".webp", ".bmp", ".tif")
"""Suffixes named in messages as examples of formats an image can be written in."""
QUALITY = 95
"""JPEG / WebP quality of written images (``translate_folder``'s default)."""


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` -> ``[0, 1]`` float32, clamped. Any shape; a new tensor."""
    return ((x.float() + 1) / 2).clamp_(0, 1)


def to_uint8(x: torch.Tensor, unit: bool = False) -> torch.Tensor:
    """``[-1, 1]`` (or ``[0, 1]`` with ``unit=True``, e.g. a grid) -> uint8 ``0..255``, rounded
    as a saved PNG would be. Any shape, same layout."""
    u = x.float().clamp(0, 1) if unit else to_unit(x)
    return u.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` -> ``[0, 1]`` float holding the 8-bit values ``k / 255`` of :func:`to_uint8`."""
    return to_uint8(x).float().div_(255)


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``0..255`` -> float ``[-1, 1]`` (the inverse of :func:`to_uint8` on its values)."""
    return x.float().div(127.5).sub_(1)


def to_hwc_uint8(x: torch.Tensor, unit: bool = False) -> torch.Tensor:
    """One image ``(3, H, W)`` in ``[-1, 1]`` (``[0, 1]`` with ``unit``) -> ``(H, W, 3)`` uint8
    on the CPU (for PIL, PyAV)."""
    if x.dim() != 3 or x.size(0) != 3:
        raise ValueError(f"expected one image of shape (3, H, W), got {tuple(x.shape)}")
    return to_uint8(x.detach(), unit=unit).permute(1, 2, 0).contiguous().cpu()


def to_pil(x: torch.Tensor, unit: bool = False):  # noqa: ANN201 - PIL is imported lazily
    """One image ``(3, H, W)`` in ``[-1, 1]`` (``[0, 1]`` with ``unit``, e.g. a grid) ->
    ``PIL.Image`` (RGB)."""
    from PIL import Image

    return Image.fromarray(to_hwc_uint8(x, unit=unit).numpy(), mode="RGB")


@functools.lru_cache(maxsize=64)
def pil_format(suffix: str) -> str | None:
    """The PIL format that ``suffix`` names (``.tif`` -> ``TIFF``, as PIL registers them), or
    ``None`` when PIL cannot write RGB images under it (checked once per suffix by writing one
    pixel)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(suffix.lower())
    if fmt is None:
        return None
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
    except (KeyError, OSError, ValueError):
        return None
    return fmt


def image_format(path: str | os.PathLike) -> str:
    """The PIL format ``path`` is written in: the one its suffix names, PNG when it has no
    suffix; a ``ValueError`` naming ``path`` for a suffix PIL cannot write RGB images as (no file
    would hold what its name says)."""
    path = Path(path)
    if not path.suffix:
        return "PNG"
    fmt = pil_format(path.suffix)
    if fmt is None:
        raise ValueError(
            f"path={str(path)!r}: PIL cannot write RGB images as {path.suffix!r}; name the file "
            f"with a suffix PIL writes, e.g. one of {list(COMMON_SUFFIXES)}, or none (PNG)"
        )
    return fmt


def save_picture(picture: Any, path: str | os.PathLike, quality: int = QUALITY) -> Path:
    """Write a ``PIL.Image`` to ``path`` atomically in the format of its suffix
    (:func:`image_format`; JPEG and WebP at ``quality``); returns ``path``. The format is
    checked before anything is written."""
    from starganv2.utils.files import atomic_path

    path = Path(path)
    fmt = image_format(path)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        picture.save(tmp, format=fmt, **options)
    return path
