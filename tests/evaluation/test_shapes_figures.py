"""The shapes figures a detector's labels need: boxes, size error, box IoU and shift consistency,
and the pixel diversity stand-in, on rendered shapes and on stand-in translators whose answers
are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from starganv2.data.shapes import make_shapes_dataset, render_shape
from starganv2.evaluation import shapes_quality as Q
from starganv2.evaluation.shapes_geometry import (
    box_iou,
    mask_boxes,
    outline_box,
    shift_figures,
    shift_images,
    size_error,
)
from tests.helpers.translators import IdentityTranslator


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory) -> Path:
    return make_shapes_dataset(
        tmp_path_factory.mktemp("shapes") / "data", img_size=32, n_train=12, n_val=4
    )


class _AnyClass(nn.Module):
    """A classifier stand-in (the figures here do not depend on it)."""

    def forward(self, x):
        return torch.zeros(x.size(0), 3)


def test_boxes_of_rendered_shapes():
    assert outline_box("square", 32, 16, 16, 5).tolist() == [11, 11, 21, 21]
    circle = outline_box("circle", 32, 10.5, 20.5, 4)
    assert circle.tolist() == [6, 16, 15, 25]  # edge pixels half covered count
    tri = outline_box("triangle", 64, 32, 32, 10)  # 2.2 r wide, 1.9 r high
    assert (tri[2] - tri[0]).item() == pytest.approx(22, abs=1)
    assert (tri[3] - tri[1]).item() == pytest.approx(19, abs=1)


def test_mask_boxes_drop_speckle_and_empty_masks_are_nan():
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[0, 4:8, 5:10] = True
    mask[0, 14, 1] = True  # an isolated pixel
    boxes = mask_boxes(mask)
    assert boxes[0].tolist() == [5, 4, 10, 8]
    assert torch.isnan(boxes[1]).all()
    assert mask_boxes(mask, despeckle=False)[0].tolist() == [1, 4, 10, 15]


def test_iou_and_size_error():
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    b = torch.tensor([[5.0, 0, 15, 10], [0, 0, 10, 10]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([50 / 150, 1.0]))
    torch.testing.assert_close(
        size_error(a, torch.tensor([[0.0, 0, 12, 16]] * 2)), torch.tensor([4.0, 4.0])
    )
    assert torch.isnan(box_iou(torch.full((1, 4), float("nan")), a[:1])).all()


def test_shift_images_moves_content_and_repeats_the_edges():
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 2, 2] = 1.0
    moved = shift_images(x, 2, -1)
    assert moved[0, 0].nonzero().tolist() == [[1, 4]]
    edge = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 6, 6)
    assert shift_images(edge, 2, 0)[0, 0, 0].tolist() == [0, 0, 0, 1, 2, 3]
    err, gain = shift_figures(torch.tensor([[3.0, 3.0]]), torch.tensor([[5.0, 3.0]]), (2, 0))
    assert err.item() == 0 and gain.item() == 1


def test_identity_translator_keeps_boxes_and_follows_shifts(shapes_root):
    """The identity keeps the source's box: its size error and IoU are those of the estimator on
    the real images when the target is the source's own shape, and it follows every shift."""
    res = Q.shapes_quality(
        IdentityTranslator(latent_dim=2),
        shapes_root,
        num_outs_per_domain=2,
        classifier=_AnyClass(),
        shift_px=(1, 2),
    )
    assert res["shapes/box_iou_real"] > 0.85 and res["shapes/size_error_px_real"] < 1.0
    # sources keep their own outline, the expected box is the target's: the IoU is below 1
    assert res["shapes/box_iou_latent"] < res["shapes/box_iou_real"]
    assert res["shapes/diversity_l1_latent"] == 0  # one output whatever the style
    assert res["shapes/shift_error_px"] < 0.05 and res["shapes/shift_gain"] == pytest.approx(
        1, abs=0.02
    )
    assert {"shapes/shift_error_px_1px", "shapes/shift_error_px_2px"} <= set(res)
    assert "shapes/shift_error_px" not in Q.shapes_quality(
        IdentityTranslator(latent_dim=2), shapes_root, modes=["latent"], classifier=_AnyClass()
    )


class _Redraw(IdentityTranslator):
    """Draws the target shape at a fixed place (ignores the source's position and size), in two
    colours for two styles: diverse, never shift-consistent."""

    def translate(self, x, y_trg, z=None, x_ref=None, s=None):
        out = []
        for i in range(x.size(0)):
            shape = ("circle", "square", "triangle")[int(y_trg[i])]
            colour = (200, 30, 30) if s is None or float(s[i].sum()) > 0 else (30, 30, 200)
            img = render_shape(shape, 32, 16, 16, 6, colour, "solid", (128, 128, 128))
            out.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1)
        return torch.stack(out)


def test_a_translator_that_ignores_the_source_scores_badly(shapes_root):
    res = Q.shapes_quality(
        _Redraw(latent_dim=2),
        shapes_root,
        modes=["latent"],
        num_outs_per_domain=2,
        classifier=_AnyClass(),
        shift_px=(2,),
    )
    assert res["shapes/shift_gain"] == pytest.approx(0, abs=0.05)
    assert res["shapes/shift_error_px"] == pytest.approx(2, abs=0.1)
    assert res["shapes/box_iou_latent"] < 0.6
    assert res["shapes/diversity_l1_latent"] > 2


def test_evaluator_passes_its_shifts_to_shapes_quality(shapes_root, monkeypatch):
    """``metrics={shapes_quality: {shift_px: ...}}`` (config
    ``evaluator.metrics.shapes_quality.shift_px``) reaches the metric, with the protocol's seed
    and batch; a shift below 1 px is rejected with the key's name."""
    from starganv2.evaluation.evaluator import Evaluator
    from starganv2.evaluation.protocol import EvalData

    seen = {}

    def fake(model, root, **kwargs):
        seen.update(kwargs)
        return {}

    monkeypatch.setattr(Q, "shapes_quality", fake)
    data = EvalData(["a"], {"a": []}, {"a": []}, shapes_root)
    for settings, expected in (({"shift_px": [1, 2]}, (1, 2)), ({}, ())):
        ev = Evaluator({"shapes_quality": settings}, seed=3, batch_size=5)
        ev._runners["shapes_quality"](IdentityTranslator(latent_dim=2), data, ["latent"])
        assert seen["shift_px"] == expected
        assert (seen["seed"], seen["batch_size"], seen["num_outs_per_domain"]) == (3, 5, 2)
    with pytest.raises(ValueError, match=r"metrics.shapes_quality.shift_px \(each shift\)=0"):
        Evaluator({"shapes_quality": {"shift_px": [0]}})
    with pytest.raises(ValueError, match="metrics.shapes_quality.num_outs_per_domain=0"):
        Evaluator({"shapes_quality": {"num_outs_per_domain": 0}})


class _KeepsOrRedraws(_Redraw):
    """Keeps the source for a style with a positive first entry, else draws the target shape at
    a fixed place: its shift figures depend on which style each image gets."""

    def translate(self, x, y_trg, z=None, x_ref=None, s=None):
        keep = (s[:, 0] > 0).view(-1, 1, 1, 1)
        return torch.where(keep, x, super().translate(x, y_trg, s=s))


def test_shift_figures_do_not_depend_on_the_batch_size(shapes_root):
    """The style of the shifted translations is seeded by the image, as every other latent code
    (it came from one generator drawn batch by batch: other draws at another batch size)."""
    figures = [
        Q.shapes_quality(
            _KeepsOrRedraws(latent_dim=8),
            shapes_root,
            modes=["latent"],
            num_outs_per_domain=2,
            batch_size=batch_size,
            classifier=_AnyClass(),
            shift_px=(2,),
        )
        for batch_size in (1, 4)
    ]
    assert 0.1 < figures[0]["shapes/shift_gain"] < 0.9  # some sources kept, some redrawn
    assert figures[0]["shapes/shift_gain"] == pytest.approx(figures[1]["shapes/shift_gain"])
    assert figures[0]["shapes/shift_error_px"] == pytest.approx(figures[1]["shapes/shift_error_px"])
