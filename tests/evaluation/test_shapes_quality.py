"""Shapes quality check: ground-truth estimators, the cached deterministic classifier, and the
figures for an identity "translator" whose expected values are known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from starganv2.data.shapes import make_shapes_dataset, render_shape
from starganv2.evaluation import shapes_quality as Q
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.helpers.translators import IdentityTranslator

STEPS = 10  # classifier steps in the fast tests (the default, 300, is for real use)


@pytest.fixture(scope="module")
def classifier(shapes_root) -> nn.Module:
    return Q.load_or_train_classifier(shapes_root, steps=STEPS)[0]  # cached once trained


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory) -> Path:
    return make_shapes_dataset(
        tmp_path_factory.mktemp("shapes") / "data", img_size=32, n_train=12, n_val=4
    )


def _img(shape="square", cx=12.0, cy=20.0, size=6.0, color=(200, 30, 30), texture="solid"):
    pil = render_shape(shape, 32, cx, cy, size, color, texture, (120, 120, 120))
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1).float()[None]


def test_centroid_and_colour_of_a_rendered_shape():
    img = _img()
    mask = Q.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    assert torch.allclose(Q.mask_centroid(mask), torch.tensor([[12.0, 20.0]]), atol=0.05)
    assert torch.allclose(Q.shape_color(img, mask), torch.tensor([[200.0, 30.0, 30.0]]), atol=1)


@pytest.mark.parametrize("texture", ["stripes", "dots", "checker"])
def test_colour_ignores_the_darker_texture_shade(texture):
    img = _img(texture=texture, size=7, cx=16, cy=16)
    mask = Q.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    col = Q.shape_color(img, mask)[0]
    assert (col - torch.tensor([200.0, 30.0, 30.0])).norm() < 2
    assert Q.shape_mask(img, torch.tensor([[0.0, 0.0, 0.0]])).float().mean() > 0.9  # wrong bg


def test_empty_mask_gives_nan():
    img = torch.full((1, 3, 8, 8), 120.0)
    mask = Q.shape_mask(img, torch.tensor([[120.0, 120.0, 120.0]]))
    assert not mask.any()
    assert torch.isnan(Q.mask_centroid(mask)).all() and torch.isnan(Q.shape_color(img, mask)).all()


def test_classifier_is_deterministic_and_cached(shapes_root, monkeypatch):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    net1, info = Q.load_or_train_classifier(shapes_root, steps=STEPS)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    assert (shapes_root / Q.CLASSIFIER_FILE).is_file()
    assert info["domains"] == ["circle", "square", "triangle"] and 0 <= info["val_accuracy"] <= 1
    with torch.no_grad():  # shapes_quality() runs under no_grad: training must still work
        net2, _ = Q.train_classifier(shapes_root, steps=STEPS)
    for a, b in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)

    def boom(*a, **k):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(Q, "train_classifier", boom)
    net3, _ = Q.load_or_train_classifier(shapes_root, steps=STEPS)
    assert torch.equal(net3.fc.weight, net1.fc.weight)


def test_identity_translator_figures(shapes_root, classifier):
    results = Q.shapes_quality(
        IdentityTranslator(latent_dim=2),
        shapes_root,
        num_outs_per_domain=2,
        batch_size=3,
        classifier=classifier,
    )
    # Outputs are the sources: position error equals the estimator floor on the real images ...
    assert results["shapes/position_error_px_latent"] == pytest.approx(
        results["shapes/position_error_px_real"], rel=1e-5
    )
    assert results["shapes/position_error_px_real"] < 0.5
    assert results["shapes/empty_shape_rate_latent"] == 0
    # ... the colour stays the source's, from another domain's palette: far from the reference,
    # farther than a random reference of the right domain.
    assert results["shapes/ref_color_error"] > results["shapes/ref_color_error_chance"]
    assert results["shapes/color_error_real"] < 20
    # ... and the class never changes (a trained classifier should see the source class).
    assert set(results) >= {"shapes/target_accuracy_latent", "shapes/target_accuracy_reference"}


def test_target_accuracy_counts_target_predictions(shapes_root, monkeypatch):
    calls = []

    def always_target(x):
        # translate_task runs one task at a time: answer its target, recorded from the stream
        return torch.nn.functional.one_hot(torch.full((x.size(0),), calls[-1]), 3).float()

    orig = Q.translate_task

    def spy(module, src_files, src, trg, mode, **kw):
        calls.append(trg)
        yield from orig(module, src_files, src, trg, mode, **kw)

    monkeypatch.setattr(Q, "translate_task", spy)
    results = Q.shapes_quality(
        IdentityTranslator(latent_dim=2),
        shapes_root,
        modes=["latent"],
        classifier=_Fn(always_target),
    )
    assert results["shapes/target_accuracy_latent"] == 1.0
    results = Q.shapes_quality(
        IdentityTranslator(latent_dim=2),
        shapes_root,
        modes=["latent"],
        classifier=_Fn(lambda x: -always_target(x)),
    )
    assert results["shapes/target_accuracy_latent"] == 0.0


class _Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.slow
def test_real_module_gives_all_keys(shapes_root):
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "num_domains": 3}).eval()
    results = Q.shapes_quality(module, shapes_root, num_outs_per_domain=2)  # trains, caches
    for mode in ("latent", "reference"):
        assert 0 <= results[f"shapes/target_accuracy_{mode}"] <= 1
        assert f"shapes/position_error_px_{mode}" in results
    assert "shapes/classifier_val_accuracy" in results and "shapes/ref_color_error" in results


def test_not_shapes_data_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        Q.shapes_quality(IdentityTranslator(num_domains=1), tmp_path)


@pytest.mark.slow
def test_classifier_learns_the_shapes(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", img_size=32, n_train=100, n_val=30)
    net, info = Q.train_classifier(root)  # the default 300 steps
    assert info["val_accuracy"] >= 0.95
    # and on noisy copies, like the speckled outputs of a young generator (the reason for
    # the training augmentation; the first classifier put such images in one class)
    x_val, y_val = Q._load_split(Q.list_domain_files(root / "val"), Q.CLASSIFIER_SIZE)
    g = torch.Generator().manual_seed(1)
    noisy = (x_val + 0.2 * torch.randn(x_val.shape, generator=g)).clamp(-1, 1)
    assert Q._accuracy(net, noisy, y_val) >= 0.85


def test_degrade_keeps_range_and_shape_and_is_seeded():
    x = torch.cat([_img(), _img("circle", 16, 16, 7)]).repeat(8, 1, 1, 1) / 127.5 - 1
    a = Q.degrade(x, torch.Generator().manual_seed(0))
    b = Q.degrade(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 1e-6
    assert changed.any() and not torch.equal(a, x)
