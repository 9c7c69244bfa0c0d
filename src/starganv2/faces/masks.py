"""The two face masks of StarGAN v2's high-pass skip, drawn from the FAN's landmark heatmaps.

The FAN predicts one heatmap per landmark of the 98-point WFLW layout (jaw line 0-32, eyebrows
33-50, nose 51-59, eyes 60-75, mouth 76-95, pupils 96-97) at 64x64. The masks are made as in the
original code, step for step, so they match it to rounding:

1. upsample each heatmap to 256x256 (bilinear, corners aligned);
2. set values below 0.1 to 0; min-max normalise each heatmap over its pixels (``+1e-6`` in the
   denominator);
3. move some parts up or down by whole rows, *wrapping around* the image edge as the original's
   shift does, and raise them to a power, which narrows their blobs (:data:`PARTS`); the eyes
   become ``down8(eyes)**3 + down24(eyes)``;
4. drop the outer jaw line (0-7, 25-32), two eyebrow ends (33, 46) and the mouth corners (76, 82);
5. ``mask_a``: the sum of every remaining heatmap (used at 32 px); ``mask_b``: the sum of nose,
   eyes and pupils only (used at 64 and 128 px); both clipped to ``[0, 1]``.

The original zeroes NaNs of the first mask and then tests the *first* mask again when it meant to
clean the second, so NaNs of ``mask_b`` survive. This is kept on purpose (``mask_b`` can hold NaN
exactly where the original's does, i.e. only for non-finite heatmaps).

Summing each part before moving it, instead of moving every heatmap, gives the same values: a
row shift only permutes pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["NUM_LANDMARKS", "MASK_SIZE", "Part", "PARTS", "face_masks"]

NUM_LANDMARKS = 98
MASK_SIZE = 256
"""Side of the masks; the generator resizes them to each skip's feature size."""
_THRESHOLD = 0.1
_EPS = 1e-6


class Part(NamedTuple):
    """Landmark heatmaps treated alike: ``channels``, moved ``down`` rows (negative: up), raised to
    ``power``, and whether they enter ``mask_b`` (all enter ``mask_a``)."""

    name: str
    channels: tuple[int, ...]
    down: int
    power: int
    in_mask_b: bool


def _span(start: int, stop: int, *skip: int) -> tuple[int, ...]:
    return tuple(c for c in range(start, stop) if c not in skip)


PARTS: tuple[Part, ...] = (
    Part("jaw", _span(8, 25), 0, 3, False),
    Part("eyebrows", _span(34, 51, 46), 7, 2, False),
    Part("nose_bridge_top", (51,), 0, 1, True),
    Part("nose_bridge", _span(52, 55), -4, 1, True),
    Part("nostrils", _span(55, 60), -8, 4, True),
    Part("upper_lip", _span(77, 82), 8, 4, False),
    Part("lower_lip", _span(83, 88), -8, 4, False),
    Part("inner_lips", _span(88, 96), 2, 3, False),
    Part("pupils", (96, 97), 0, 1, True),
)
"""Every heatmap that reaches a mask, except the eyes (60-75, see the module docstring)."""
_EYES = _span(60, 76)


def _normalized(heatmaps: torch.Tensor, channels: tuple[int, ...]) -> torch.Tensor:
    """Steps 1-2 for ``channels``: ``(N, 98, 64, 64) -> (N, len(channels), 256, 256)``."""
    index = torch.tensor(channels, device=heatmaps.device)
    x = heatmaps.index_select(1, index)
    x = F.interpolate(x, size=(MASK_SIZE, MASK_SIZE), mode="bilinear", align_corners=True)
    x = torch.where(x < _THRESHOLD, torch.zeros_like(x), x)
    low = x.amin(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    high = x.amax(dim=(2, 3), keepdim=True)
    return (x - low) / (high - low + _EPS)


def _down(x: torch.Tensor, rows: int) -> torch.Tensor:
    """Move ``x (N, 1, H, W)`` down by ``rows`` (up when negative), wrapping around."""
    return x if rows == 0 else torch.roll(x, shifts=rows, dims=2)


def face_masks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``mask_a, mask_b`` (each ``(N, 1, 256, 256)``, in ``[0, 1]``) of raw FAN heatmaps
    ``(N, 98, 64, 64)``; see the module docstring."""
    if heatmaps.dim() != 4 or heatmaps.size(1) != NUM_LANDMARKS:
        raise ValueError(
            f"face_masks expects FAN heatmaps of shape (N, {NUM_LANDMARKS}, H, W), got "
            f"{tuple(heatmaps.shape)}"
        )
    channels = tuple(c for part in PARTS for c in part.channels) + _EYES
    x = _normalized(heatmaps, channels)
    mask_a = mask_b = None
    start = 0
    for part in PARTS:
        group = x[:, start : start + len(part.channels)]
        start += len(part.channels)
        term = _down(group.pow(part.power).sum(1, keepdim=True), part.down)  # (N, 1, S, S)
        mask_a = term if mask_a is None else mask_a + term
        if part.in_mask_b:
            mask_b = term if mask_b is None else mask_b + term
    eyes = x[:, start:]
    eyes = _down(eyes.pow(3).sum(1, keepdim=True), 8) + _down(eyes.sum(1, keepdim=True), 24)
    mask_a = mask_a + eyes
    mask_b = mask_b + eyes
    # The original's NaN guard: it zeroes the first mask's NaNs and, by testing the first mask
    # again, leaves the second mask's NaNs in place. Kept so the outputs stay equal.
    mask_a = torch.where(torch.isnan(mask_a), torch.zeros_like(mask_a), mask_a)
    return mask_a.clamp(0, 1), mask_b.clamp(0, 1)
