"""Cover a picture larger than the model with overlapping square tiles, and blend them back.

``fit=tile`` of the detection augmentation translates a large frame at the source's own
resolution instead of shrinking it to the model's square: the picture is covered by tiles of
``tile`` source pixels (:func:`tile_layout`), each tile resized to the model's side ``S`` (no
resampling when ``tile == S``) and translated (:func:`cut_tiles`), and the translated tiles are
resized back and blended into a picture of the source's size (:func:`blend_tiles`).

Blending weights fall off toward a tile's edges (:func:`tile_window`): ``1`` inside, a raised
cosine over the ``ramp`` pixels the tile shares with its neighbour, never ``0``, and every pixel is
divided by the sum of the weights it got. Two neighbours on the regular grid cross-fade with
weights summing to exactly 1, so a seam is a smooth transition over the overlap, never a hard
border. The last tile of a row or column is moved back to end at the picture's edge (it overlaps
its neighbour more); the division by the weight sum makes that exact too.

Images are float tensors ``(3, H, W)`` in ``[-1, 1]`` here, like :mod:`starganv2.synthesis.fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from starganv2.synthesis.fit import resize

__all__ = [
    "MAX_TILE_OVERLAP",
    "TileLayout",
    "check_tile_options",
    "tile_starts",
    "tile_layout",
    "tile_window",
    "cut_tiles",
    "blend_tiles",
]

MAX_TILE_OVERLAP = 0.5
"""Largest ``tile_overlap``: beyond half a tile a pixel lies in more than two tiles of a row."""


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of a ``height x width`` picture lie.

    Attributes:
        height, width: the picture's size in pixels.
        tile: a tile's side in source pixels.
        size: the model's side ``S`` each tile is resized to (equal to ``tile``: none).
        ramp: pixels over which a tile's weight rises from its edge (the regular overlap).
        origins: ``(top, left)`` of every tile, row by row.
    """

    height: int
    width: int
    tile: int
    size: int
    ramp: int
    origins: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.origins)


def check_tile_options(tile_size: int | None, tile_overlap: float) -> None:
    """``ValueError`` naming the key when ``tile_size`` is not ``None`` or an int >= 2, or
    ``tile_overlap`` is not a number in ``[0, MAX_TILE_OVERLAP]``."""
    if tile_size is not None and (
        isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 2
    ):
        raise ValueError(
            f"tile_size={tile_size!r} is invalid: expected null (the model's img_size) or an "
            "int >= 2 (source pixels per tile side)"
        )
    ok = isinstance(tile_overlap, (int, float)) and not isinstance(tile_overlap, bool)
    if not ok or not 0 <= tile_overlap <= MAX_TILE_OVERLAP:
        raise ValueError(
            f"tile_overlap={tile_overlap!r} is invalid: expected the share of a tile that "
            f"overlaps its neighbour, in [0, {MAX_TILE_OVERLAP}]"
        )


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Starts of tiles of ``tile`` pixels every ``stride`` pixels along ``length >= tile``
    pixels, the last moved back to end at ``length``: they cover every pixel."""
    if length < tile:
        raise ValueError(f"length={length} is shorter than a tile ({tile}): nothing to tile")
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def tile_layout(
    height: int, width: int, tile: int, size: int, overlap: float = 0.25
) -> TileLayout | None:
    """The tiles of a ``height x width`` picture: squares of ``tile`` pixels, neighbours sharing
    ``round(tile * overlap)`` pixels (the stride is at least 1); ``None`` when a side of the
    picture is shorter than a tile (the caller letterboxes it instead)."""
    check_tile_options(tile, overlap)
    if height < tile or width < tile:
        return None
    stride = max(1, tile - int(round(tile * overlap)))
    rows, cols = tile_starts(height, tile, stride), tile_starts(width, tile, stride)
    origins = tuple((top, left) for top in rows for left in cols)
    return TileLayout(int(height), int(width), int(tile), int(size), tile - stride, origins)


def tile_window(tile: int, ramp: int) -> torch.Tensor:
    """Blending weights of one tile, ``(tile, tile)`` in ``(0, 1]``: the outer product of a 1-D
    window that is 1 farther than ``ramp`` pixels from both edges and a raised cosine
    ``(1 - cos(pi * d / ramp)) / 2`` of the distance ``d`` of a pixel's centre from the nearer
    edge within them. Two windows ``tile - ramp`` pixels apart sum to 1 over their overlap."""
    if ramp <= 0:
        return torch.ones(tile, tile)
    i = torch.arange(tile, dtype=torch.float64)
    d = torch.minimum(i + 0.5, tile - i - 0.5)  # distance of each pixel centre to the edge
    u = (d / ramp).clamp(max=1.0)
    w = 0.5 - 0.5 * torch.cos(math.pi * u)  # (tile,), > 0 since d >= 0.5
    return torch.outer(w, w).float()  # (tile, tile)


def cut_tiles(x: torch.Tensor, layout: TileLayout) -> torch.Tensor:
    """The tiles of ``x (3, H, W)`` at the model's side: ``(T, 3, S, S)`` in ``[-1, 1]``,
    ``T = len(layout)``, in the order of ``layout.origins``."""
    if x.dim() != 3 or tuple(x.shape[1:]) != (layout.height, layout.width):
        raise ValueError(
            f"expected a picture (3, {layout.height}, {layout.width}) (the layout's), got "
            f"{tuple(x.shape)}"
        )
    t = layout.tile
    tiles = torch.stack([x[:, top : top + t, left : left + t] for top, left in layout.origins])
    return resize(tiles, layout.size, layout.size)  # (T, 3, S, S)


def blend_tiles(y: torch.Tensor, layout: TileLayout) -> torch.Tensor:
    """Translated tiles ``y (T, 3, S, S)`` (in the order of ``layout.origins``) resized back to
    ``tile`` pixels and blended into the picture ``(3, H, W)`` in ``[-1, 1]``: each pixel is the
    weighted mean (:func:`tile_window`) of the tiles that cover it."""
    if y.dim() != 4 or y.size(0) != len(layout) or tuple(y.shape[2:]) != (layout.size,) * 2:
        raise ValueError(
            f"expected {len(layout)} tiles (T, 3, {layout.size}, {layout.size}), got "
            f"{tuple(y.shape)}"
        )
    t = layout.tile
    tiles = resize(y, t, t)  # (T, 3, t, t)
    window = tile_window(t, layout.ramp)  # (t, t)
    out = torch.zeros(3, layout.height, layout.width)
    weight = torch.zeros(layout.height, layout.width)
    for tile, (top, left) in zip(tiles, layout.origins):
        out[:, top : top + t, left : left + t] += tile * window
        weight[top : top + t, left : left + t] += window
    return (out / weight).clamp(-1, 1)
