"""Fit an image of any size and aspect into the model's square input, and map the output back.

The nets see ``(3, S, S)`` squares. A picture of another shape is fitted in one of three ways
(:data:`FIT_MODES`), recorded in a :class:`Fit` so that the translated square can be mapped back
to the picture's own geometry by :func:`unfit`:

- ``"letterbox"``: pad the short side to a square (the picture keeps its aspect ratio and all of
  its content), resize to ``S``, translate, crop the pad away, resize back to the picture's size.
  The output has exactly the input's size.
- ``"crop"``: the central square (side ``min(H, W)``), resized to ``S``; the output is that square
  at its original resolution (``min(H, W)`` pixels a side): the rest of the picture is not seen.
- ``"stretch"``: resize to ``S x S`` ignoring the aspect ratio (what the evaluation transform and
  folder translation do); the output is resized back to the input's size.

Images are float tensors ``(3, H, W)`` in ``[-1, 1]`` here (see :mod:`starganv2.utils.images`).
Resizing is bilinear with antialiasing on the way down and bicubic on the way up, clamped to
``[-1, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["FIT_MODES", "PAD_MODES", "Fit", "fit_square", "unfit", "resize"]

FIT_MODES = ("letterbox", "crop", "stretch")
"""How a non-square picture becomes the model's square input (see the module docstring)."""
PAD_MODES = ("constant", "replicate")
"""How the letterbox pad is filled: mid-grey (``0`` in ``[-1, 1]``) or the picture's edge pixels."""


@dataclass(frozen=True)
class Fit:
    """Where a picture of ``height x width`` went in the ``size x size`` model input.

    Attributes:
        mode: one of :data:`FIT_MODES`.
        height, width: the picture's size in pixels.
        size: the model input's side ``S``.
        box: ``(top, left, h, w)`` of the picture's content inside the ``S x S`` square, in
            (fractional) pixels of that square: the whole square for ``crop`` and ``stretch``,
            the unpadded band for ``letterbox``.
        out_height, out_width: the size :func:`unfit` returns.
    """

    mode: str
    height: int
    width: int
    size: int
    box: tuple[float, float, float, float]
    out_height: int
    out_width: int


def resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``x (3, h, w)`` or ``(N, 3, h, w)`` in ``[-1, 1]`` resized to ``height x width``: bilinear
    with antialiasing when shrinking, bicubic when enlarging; clamped to ``[-1, 1]``."""
    batched = x.dim() == 4
    xb = x if batched else x.unsqueeze(0)
    h, w = xb.shape[-2:]
    if (h, w) == (height, width):
        out = xb.float()
    elif height <= h and width <= w:
        out = F.interpolate(xb.float(), (height, width), mode="bilinear", antialias=True)
    else:
        out = F.interpolate(xb.float(), (height, width), mode="bicubic", align_corners=False)
    out = out.clamp(-1, 1)
    return out if batched else out[0]


def fit_square(
    x: torch.Tensor, size: int, mode: str = "letterbox", pad: str = "constant"
) -> tuple[torch.Tensor, Fit]:
    """Fit a picture ``x (3, H, W)`` in ``[-1, 1]`` into the model's ``(3, size, size)`` input.

    Args:
        x: the picture, any size and aspect ratio.
        size: the model's image side ``S``.
        mode: one of :data:`FIT_MODES` (see the module docstring).
        pad: letterbox fill, one of :data:`PAD_MODES`.

    Returns: ``(x_fit (3, size, size), fit)``; pass ``fit`` to :func:`unfit` with the output.
    """
    if mode not in FIT_MODES:
        raise ValueError(f"fit={mode!r} is invalid: expected one of {list(FIT_MODES)}")
    if pad not in PAD_MODES:
        raise ValueError(f"pad={pad!r} is invalid: expected one of {list(PAD_MODES)}")
    if x.dim() != 3 or x.size(0) != 3:
        raise ValueError(f"expected one image of shape (3, H, W), got {tuple(x.shape)}")
    if size < 1:
        raise ValueError(f"size={size!r} is invalid: expected a positive image side")
    _, h, w = x.shape
    full = (0.0, 0.0, float(size), float(size))
    if mode == "stretch":
        return resize(x, size, size), Fit(mode, h, w, size, full, h, w)
    if mode == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = x[:, top : top + side, left : left + side]
        return resize(square, size, size), Fit(mode, h, w, size, full, side, side)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    # (left, right, top, bottom) padding of the last two dims
    padding = (left, side - w - left, top, side - h - top)
    if pad == "constant":
        square = F.pad(x.float(), padding, mode="constant", value=0.0)
    else:
        square = F.pad(x.float().unsqueeze(0), padding, mode="replicate")[0]
    scale = size / side
    box = (top * scale, left * scale, h * scale, w * scale)
    return resize(square, size, size), Fit(mode, h, w, size, box, h, w)


def unfit(y: torch.Tensor, fit: Fit) -> torch.Tensor:
    """Map the model's output ``y (3, S, S)`` or ``(N, 3, S, S)`` back to the picture's geometry
    recorded in ``fit``: crop the letterbox pad away and resize to ``(fit.out_height,
    fit.out_width)``. Returns ``(3, out_height, out_width)`` or ``(N, 3, out_height, out_width)``
    in ``[-1, 1]``."""
    if y.shape[-2:] != (fit.size, fit.size):
        raise ValueError(
            f"expected outputs of {fit.size}x{fit.size} (the fitted input), got {tuple(y.shape)}"
        )
    if fit.mode == "letterbox":
        return _unletterbox(y, fit)
    return resize(y, fit.out_height, fit.out_width)


def _unletterbox(y: torch.Tensor, fit: Fit) -> torch.Tensor:
    """The letterboxed output ``y (..., S, S)`` back at the picture's ``height x width``: the
    padded axis is resized to the padded square's side and the pad (whole source pixels) cut
    away, then the other axis is resized. Cropping the square at whole model pixels instead
    would move the content by up to half a model pixel (several source pixels), so boxes would
    no longer sit on their objects. The padded axis goes first, while the other is still ``S``
    pixels, so no ``side x side`` picture is ever made; a square picture (no pad) is resized
    at once, as ``stretch`` does."""
    h, w, side = fit.height, fit.width, max(fit.height, fit.width)
    top, left = (side - h) // 2, (side - w) // 2  # the pad fit_square added
    if h < w:
        y = resize(y, side, fit.size)[..., top : top + h, :]
    elif w < h:
        y = resize(y, fit.size, side)[..., left : left + w]
    return resize(y, h, w)
