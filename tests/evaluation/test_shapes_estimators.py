"""What a shapes image shows from its pixels alone: shape mask, centroid and colour, checked on
rendered shapes whose values are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from starganv2.data.shapes import render_shape
from starganv2.evaluation import shapes_estimators as E


def _img(shape="square", cx=12.0, cy=20.0, size=6.0, color=(200, 30, 30), texture="solid"):
    pil = render_shape(shape, 32, cx, cy, size, color, texture, (120, 120, 120))
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1).float()[None]


def test_centroid_and_colour_of_a_rendered_shape():
    img = _img()
    mask = E.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    assert torch.allclose(E.mask_centroid(mask), torch.tensor([[12.0, 20.0]]), atol=0.05)
    assert torch.allclose(E.shape_color(img, mask), torch.tensor([[200.0, 30.0, 30.0]]), atol=1)


@pytest.mark.parametrize("texture", ["stripes", "dots", "checker"])
def test_colour_ignores_the_darker_texture_shade(texture):
    img = _img(texture=texture, size=7, cx=16, cy=16)
    mask = E.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    col = E.shape_color(img, mask)[0]
    assert (col - torch.tensor([200.0, 30.0, 30.0])).norm() < 2
    assert E.shape_mask(img, torch.tensor([[0.0, 0.0, 0.0]])).float().mean() > 0.9  # wrong bg


def test_empty_mask_gives_nan():
    img = torch.full((1, 3, 8, 8), 120.0)
    mask = E.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    assert not mask.any()
    assert torch.isnan(E.mask_centroid(mask)).all() and torch.isnan(E.shape_color(img, mask)).all()


def test_pairwise_l1_is_the_mean_over_output_pairs():
    img = torch.zeros(2, 3, 3, 1, 1)  # (B, K, 3, H, W)
    img[0, 1] = 6.0
    img[1, 2] = 3.0
    torch.testing.assert_close(E.pairwise_l1(img), torch.tensor([4.0, 2.0]))
