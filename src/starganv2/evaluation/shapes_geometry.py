"""Geometry of a translated shape: its box against the box it should have, and how it follows a
shifted source. What an object detector's labels need from a translation.

- **Expected box**: the box of the *target* shape drawn at the source's centre and half-extent
  from the metadata (:func:`outline_box`). A translation that keeps position and size draws
  exactly that, whichever the shapes: a circle of half-extent ``r`` has a ``2r x 2r`` box, the
  triangle that replaces it a ``2.2r x 1.9r`` one, so the source's own box would penalise the
  change of outline that the translation is asked for.
- **Output box** (:func:`mask_boxes`): the extent of the output's shape pixels, after dropping
  isolated ones (fewer than 2 shape pixels among their 8 neighbours: a young generator's speckle).
- **Box IoU** and **size error** (the mean of the absolute width and height differences, px)
  between the two (:func:`box_iou`, :func:`size_error`).
- **Shift consistency**: translate a source and the same source shifted by ``(dx, dy)`` pixels
  (background colour filled in, :func:`shift_images`) with the same style; the output's centroid
  should move by ``(dx, dy)``. :func:`shift_figures` gives the distance between the move and the
  shift (px) and the gain (move projected on the shift, over the shift: 1 follows exactly, 0 does
  not move). Strided downsampling without a low-pass filter is expected to follow odd shifts
  worse than even ones.

Boxes are ``(x0, y0, x1, y1)`` in pixel edges (a box over pixels 3..5 is ``x0=3, x1=6``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from starganv2.data.shapes import render_shape

__all__ = [
    "box_iou",
    "mask_boxes",
    "outline",
    "outline_box",
    "shift_figures",
    "shift_images",
    "size_error",
]


@lru_cache(maxsize=4096)
def _outline(shape: str, img_size: int, cx: float, cy: float, size: float) -> np.ndarray:
    img = render_shape(shape, img_size, cx, cy, size, (255, 255, 255), "solid", (0, 0, 0))
    return np.asarray(img)[:, :, 0].astype(np.float32) / 255.0


def outline(shape: str, img_size: int, cx: float, cy: float, size: float) -> torch.Tensor:
    """Coverage ``(img_size, img_size)`` in ``[0, 1]`` of ``shape`` with centre ``(cx, cy)`` and
    half-extent ``size`` (pixels), drawn as the shapes data draws it (anti-aliased)."""
    return torch.from_numpy(_outline(shape, img_size, float(cx), float(cy), float(size)).copy())


def outline_box(shape: str, img_size: int, cx: float, cy: float, size: float) -> torch.Tensor:
    """Box ``(4,)`` of the pixels :func:`outline` covers at least half."""
    return mask_boxes(outline(shape, img_size, cx, cy, size)[None] >= 0.5, despeckle=False)[0]


def mask_boxes(mask: torch.Tensor, despeckle: bool = True) -> torch.Tensor:
    """Boxes ``(N, 4)`` of bool masks ``(N, H, W)``; NaN rows for empty masks. With ``despeckle``,
    pixels with fewer than 2 mask pixels among their 8 neighbours are left out first."""
    m = mask.float()
    if despeckle:
        neighbours = F.avg_pool2d(m[:, None], 3, stride=1, padding=1)[:, 0] * 9 - m
        m = m * (neighbours >= 2)
    n, h, w = m.shape
    boxes = torch.full((n, 4), float("nan"))
    cols, rows = m.amax(1) > 0, m.amax(2) > 0  # (N, W), (N, H)
    for k in range(n):
        xs, ys = cols[k].nonzero(), rows[k].nonzero()
        if len(xs) and len(ys):
            boxes[k] = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
    return boxes


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``(N,)`` of boxes ``a, b (N, 4)``; NaN where either is NaN."""
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter)


def size_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute width and height difference ``(N,)`` of boxes ``a, b (N, 4)`` (px)."""
    dw = ((a[:, 2] - a[:, 0]) - (b[:, 2] - b[:, 0])).abs()
    dh = ((a[:, 3] - a[:, 1]) - (b[:, 3] - b[:, 1])).abs()
    return (dw + dh) / 2


def shift_images(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``x (N, C, H, W)`` moved right by ``dx`` and down by ``dy`` pixels (negative: left, up);
    the uncovered border repeats the edge pixels (the shapes data's background)."""
    h, w = x.shape[-2:]
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))  # left, right, top, bottom
    padded = F.pad(x, pad, mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + h, left : left + w]


def shift_figures(
    centre: torch.Tensor, moved: torch.Tensor, shift: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the distance between the centroid's move and ``shift`` (px) and the gain
    (the move projected on the shift, over the shift's length): ``centre, moved (N, 2)`` are the
    output centroids without and with the shift; NaN where either is."""
    s = torch.tensor(shift, dtype=torch.float32)
    move = moved - centre  # (N, 2)
    return (move - s).norm(dim=1), (move @ s) / (s @ s)
