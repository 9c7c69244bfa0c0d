"""Fitting pictures of any shape to the model's square and back: sizes, where the content goes,
what the pad holds, and that a round trip returns the picture."""

from __future__ import annotations

import pytest
import torch

from starganv2.synthesis.fit import fit_square, resize, unfit


def smooth(h: int, w: int) -> torch.Tensor:
    """A smooth picture ``(3, h, w)`` in [-1, 1] (resizing it loses little)."""
    yy = torch.linspace(-1, 1, h).view(h, 1).expand(h, w)
    xx = torch.linspace(-1, 1, w).view(1, w).expand(h, w)
    return torch.stack([0.8 * xx, 0.8 * yy, 0.4 * xx * yy])


@pytest.mark.parametrize("h, w", [(40, 60), (60, 40), (50, 50), (7, 300)])
def test_letterbox_keeps_every_pixel_and_returns_the_source_size(h, w):
    x = smooth(h, w)
    x_fit, how = fit_square(x, 64, "letterbox")
    assert x_fit.shape == (3, 64, 64) and (how.out_height, how.out_width) == (h, w)
    back = unfit(x_fit, how)
    assert back.shape == (3, h, w)
    if min(h, w) >= 40:  # thin strips lose detail when squeezed to a few rows
        assert (back - x).abs().mean() < 0.03


def test_letterbox_pads_the_short_side_symmetrically_with_grey_or_edges():
    x = torch.ones(3, 20, 40)  # white, wide: 10 rows of pad above and below at 40 px
    x_fit, how = fit_square(x, 40, "letterbox")
    assert how.box == (10.0, 0.0, 20.0, 40.0)
    assert torch.all(x_fit[:, :10] == 0) and torch.all(x_fit[:, 30:] == 0)  # mid-grey
    assert torch.all(x_fit[:, 10:30] == 1)
    edge, _ = fit_square(x, 40, "letterbox", pad="replicate")
    assert torch.all(edge == 1)


def test_unfit_crops_exactly_the_pad_away():
    x = torch.ones(3, 20, 40)
    x_fit, how = fit_square(x, 40, "letterbox")
    y = torch.full_like(x_fit, -1.0)
    y[:, 10:30] = 0.5  # what a model made of the content band
    assert torch.all(unfit(y, how) == 0.5)


@pytest.mark.parametrize("h, w", [(33, 200), (200, 33), (50, 120), (17, 160)])
def test_letterbox_round_trip_keeps_edges_where_they_were(h, w):
    # the content band of these sizes ends inside a model pixel (33 rows of 200 at 32 px are
    # 5.28 model rows): cutting the square at whole model pixels moved edges by 2 source pixels
    long = max(h, w)
    for at in (long // 4, long // 2, 3 * long // 4):
        x = -torch.ones(3, h, w)
        if h < w:
            x[:, at * h // w :] = 1.0  # a step across the short (padded) axis
        else:
            x[:, :, at * w // h :] = 1.0
        back = unfit(*fit_square(x, 32, "letterbox"))
        profile = back[0].mean(1) if h < w else back[0].mean(0)
        assert int((profile > 0).nonzero()[0]) == at * min(h, w) // long


def test_crop_takes_the_central_square_at_its_own_resolution():
    x = torch.zeros(3, 40, 60)
    x[:, :, 10:50] = 1  # the central 40x40 square is white
    x_fit, how = fit_square(x, 32, "crop")
    assert torch.allclose(x_fit, torch.ones(3, 32, 32))
    assert (how.out_height, how.out_width) == (40, 40)
    assert unfit(x_fit, how).shape == (3, 40, 40)


def test_stretch_ignores_the_aspect_and_comes_back_at_the_source_size():
    x = smooth(30, 90)
    x_fit, how = fit_square(x, 32, "stretch")
    assert x_fit.shape == (3, 32, 32) and unfit(x_fit, how).shape == (3, 30, 90)


def test_batched_outputs_and_range():
    _, how = fit_square(smooth(40, 60), 32)
    y = torch.rand(5, 3, 32, 32) * 4 - 2  # outputs are not clamped by the nets
    out = unfit(y, how)
    assert out.shape == (5, 3, 40, 60) and out.min() >= -1 and out.max() <= 1
    assert resize(y[0], 8, 8).shape == (3, 8, 8)


def test_errors_name_the_setting_and_the_choices():
    with pytest.raises(ValueError, match=r"fit='zoom' is invalid.*letterbox"):
        fit_square(smooth(8, 8), 8, "zoom")
    with pytest.raises(ValueError, match=r"pad='mirror' is invalid"):
        fit_square(smooth(8, 8), 8, pad="mirror")
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        fit_square(torch.zeros(1, 3, 8, 8), 8)
    _, how = fit_square(smooth(8, 8), 8)
    with pytest.raises(ValueError, match="8x8"):
        unfit(torch.zeros(3, 16, 16), how)
