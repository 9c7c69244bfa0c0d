"""Tiling a large picture for the model and blending it back: the tiles cover every pixel, the
weights cross-fade to exactly 1, and an unchanged tile set gives the picture back."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from starganv2.synthesis.tiles import (
    blend_tiles,
    check_tile_options,
    cut_tiles,
    tile_layout,
    tile_starts,
    tile_window,
)


def noise(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A picture ``(3, h, w)`` of pixel noise in [-1, 1]: any resampling shows."""
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("h, w", [(128, 192), (32, 32), (33, 100), (70, 41)])
def test_tiles_cover_every_pixel_and_stay_inside(h, w):
    layout = tile_layout(h, w, 32, 32, 0.25)
    covered = torch.zeros(h, w, dtype=torch.int64)
    for top, left in layout.origins:
        assert 0 <= top <= h - 32 and 0 <= left <= w - 32
        covered[top : top + 32, left : left + 32] += 1
    assert covered.min() >= 1


def test_starts_step_by_the_stride_and_the_last_ends_at_the_edge():
    assert tile_starts(192, 32, 24) == [0, 24, 48, 72, 96, 120, 144, 160]
    assert tile_starts(128, 32, 24) == [0, 24, 48, 72, 96]  # 96 + 32 = 128 already
    assert tile_starts(32, 32, 24) == [0]
    layout = tile_layout(128, 192, 32, 32, 0.25)
    assert len(layout) == 5 * 8 and layout.ramp == 8


def test_windows_fall_off_toward_the_edges_and_neighbours_sum_to_one():
    w = tile_window(32, 8)
    assert w[16, 16] == 1 and 0 < w[0, 0] < w[2, 2] < w[6, 6] < 1
    assert torch.equal(w, w.T) and torch.equal(w, w.flip(0))
    row = torch.zeros(32 + 24)  # two tiles, 24 px apart: they share 8 px
    row[:32] += w[16]
    row[24:] += w[16]
    assert torch.allclose(row[8:48], torch.ones(40), atol=1e-6)  # inside: exactly 1
    assert torch.equal(tile_window(16, 0), torch.ones(16, 16))  # no overlap: no ramp


@pytest.mark.parametrize("h, w", [(128, 192), (70, 41)])
def test_unchanged_tiles_at_native_size_give_the_picture_back(h, w):
    x = noise(h, w)
    layout = tile_layout(h, w, 32, 32, 0.25)
    tiles = cut_tiles(x, layout)
    assert tiles.shape == (len(layout), 3, 32, 32)
    assert torch.allclose(blend_tiles(tiles, layout), x, atol=1e-5)


def test_a_constant_change_per_tile_blends_without_seams():
    x = noise(96, 160)
    layout = tile_layout(96, 160, 32, 32, 0.25)
    same = blend_tiles(cut_tiles(x, layout) * 0.5 + 0.2, layout)
    assert torch.allclose(same, x * 0.5 + 0.2, atol=1e-5)  # one change for all: no trace of tiles
    # tiles changed differently meet in a ramp, not at a hard border (weights without one)
    offsets = torch.linspace(-0.3, 0.3, len(layout)).view(-1, 1, 1, 1)
    flat = torch.zeros(len(layout), 3, 32, 32) + offsets

    def largest_step(picture: torch.Tensor) -> float:
        return max(picture.diff(dim=1).abs().max(), picture.diff(dim=2).abs().max()).item()

    hard = largest_step(blend_tiles(flat, dataclasses.replace(layout, ramp=0)))
    assert hard > 0.07 and largest_step(blend_tiles(flat, layout)) < hard / 2


def test_tiles_of_another_size_are_resized_for_the_model_and_back():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 128), indexing="ij")
    x = torch.stack([0.8 * xx, 0.8 * yy, 0.4 * xx * yy])  # smooth: resizing loses little
    layout = tile_layout(96, 128, 64, 32, 0.25)
    tiles = cut_tiles(x, layout)
    assert tiles.shape == (len(layout), 3, 32, 32)
    assert (blend_tiles(tiles, layout) - x).abs().mean() < 0.01


def test_a_picture_smaller_than_a_tile_has_no_layout():
    assert tile_layout(31, 200, 32, 32) is None and tile_layout(200, 20, 32, 32) is None


@pytest.mark.parametrize(
    "size, overlap, key",
    [(1, 0.25, "tile_size=1"), (True, 0.25, "tile_size=True"), (32.0, 0.25, "tile_size=32.0"),
     (32, 0.6, "tile_overlap=0.6"), (32, -0.1, "tile_overlap=-0.1"), (32, "x", "tile_overlap='x'")],
)  # fmt: skip
def test_bad_tile_options_name_the_key(size, overlap, key):
    with pytest.raises(ValueError, match=rf"^{key} is invalid"):
        check_tile_options(size, overlap)


def test_blend_refuses_tiles_that_do_not_match_the_layout():
    layout = tile_layout(64, 64, 32, 32, 0.25)
    with pytest.raises(
        ValueError, match=r"expected 9 tiles \(T, 3, 32, 32\), got \(4, 3, 32, 32\)"
    ):
        blend_tiles(torch.zeros(4, 3, 32, 32), layout)
