"""What an image of the shapes data shows, measured from its pixels alone: which pixels are the
shape (:func:`shape_mask`), where it is (:func:`mask_centroid`), its colour (:func:`shape_color`),
and how much two outputs of one source differ (:func:`pairwise_l1`).

Images here are float ``(N, 3, H, W)`` in 0-255 holding the 8-bit values a saved image would
have (:func:`to_255`), so the thresholds are in RGB units. Run on the real validation images the
same estimators give the floors the translation figures are read against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from starganv2.utils.images import to_uint8

__all__ = [
    "COLOR_TOP_SHARE",
    "MASK_THRESHOLD",
    "mask_centroid",
    "pairwise_l1",
    "shape_color",
    "shape_mask",
    "to_255",
]

MASK_THRESHOLD = 40.0  # RGB distance (0-255) from the background that counts as shape
COLOR_TOP_SHARE = 0.1  # share of the brightest interior pixels that gives a shape's colour


def to_255(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` -> float 0-255 holding the 8-bit values a saved image would have."""
    return to_uint8(x).float()


def shape_mask(img: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Shape pixels: RGB distance to ``background`` above :data:`MASK_THRESHOLD`.

    ``img`` (N, 3, H, W) in 0-255, ``background`` (N, 3) in 0-255 -> bool (N, H, W).
    """
    return (img - background[:, :, None, None]).norm(dim=1) > MASK_THRESHOLD


def mask_centroid(mask: torch.Tensor) -> torch.Tensor:
    """Centroids ``(N, 2)`` as ``(x, y)`` in pixels (pixel centres at ``i + 0.5``); NaN if empty."""
    n, h, w = mask.shape
    m = mask.float()
    total = m.sum(dim=(1, 2))
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    cx = (m.sum(1) * xs).sum(1) / total
    cy = (m.sum(2) * ys).sum(1) / total
    return torch.stack([cx, cy], dim=1)


def shape_color(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Colour ``(N, 3)`` of each shape: mean of the brightest :data:`COLOR_TOP_SHARE` (by
    luminance) of its interior pixels, so textures (a darker shade of the colour, blended at
    stripe edges) do not bias it.

    Interior = the mask eroded by one pixel (anti-aliased edges mix with the background), or the
    mask itself when erosion leaves nothing. NaN for an empty mask.
    """
    eroded = -F.max_pool2d(-mask[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0.5
    out = torch.full((img.size(0), 3), float("nan"))
    lum_w = torch.tensor([0.299, 0.587, 0.114])
    for k in range(img.size(0)):
        m = eroded[k] if eroded[k].any() else mask[k]
        if not m.any():
            continue
        pix = img[k].permute(1, 2, 0)[m]  # (P, 3)
        lum = pix @ lum_w
        out[k] = pix[lum >= lum.quantile(1 - COLOR_TOP_SHARE)].mean(0)
    return out


def pairwise_l1(img: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (0-255) over the pairs of each source's outputs, a pixel-space
    stand-in for LPIPS diversity that needs no weights: ``(B, K, 3, H, W) -> (B,)``."""
    k = img.size(1)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    diffs = [(img[:, i] - img[:, j]).abs().mean(dim=(1, 2, 3)) for i, j in pairs]  # each (B,)
    return torch.stack(diffs).mean(0)
