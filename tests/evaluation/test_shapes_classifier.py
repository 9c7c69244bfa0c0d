"""The judge of the target accuracy: deterministic, cached next to the dataset, trained to see
shapes through a young generator's artefacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from starganv2.data.folders import list_domain_files
from starganv2.data.shapes import make_shapes_dataset, render_shape
from starganv2.evaluation import shapes_classifier as C

STEPS = 10  # classifier steps in the fast tests (the default, 300, is for real use)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory) -> Path:
    return make_shapes_dataset(
        tmp_path_factory.mktemp("shapes") / "data", img_size=32, n_train=12, n_val=4
    )


def _img(shape="square", cx=12.0, cy=20.0, size=6.0, color=(200, 30, 30), texture="solid"):
    pil = render_shape(shape, 32, cx, cy, size, color, texture, (120, 120, 120))
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1).float()[None]


def test_classifier_is_deterministic_and_cached(shapes_root, monkeypatch):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    net1, info = C.load_or_train_classifier(shapes_root, steps=STEPS)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    assert (shapes_root / C.CLASSIFIER_FILE).is_file()
    assert info["domains"] == ["circle", "square", "triangle"] and 0 <= info["val_accuracy"] <= 1
    with torch.no_grad():  # shapes_quality() runs under no_grad: training must still work
        net2, _ = C.train_classifier(shapes_root, steps=STEPS)
    for a, b in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)

    def boom(*a, **k):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(C, "train_classifier", boom)
    net3, _ = C.load_or_train_classifier(shapes_root, steps=STEPS)
    assert torch.equal(net3.fc.weight, net1.fc.weight)


@pytest.mark.slow
def test_classifier_learns_the_shapes(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", img_size=32, n_train=100, n_val=30)
    net, info = C.train_classifier(root)  # the default 300 steps
    assert info["val_accuracy"] >= 0.95
    # and on noisy copies, like the speckled outputs of a young generator (the reason for
    # the training augmentation; the first classifier put such images in one class)
    x_val, y_val = C._load_split(list_domain_files(root / "val"), C.CLASSIFIER_SIZE)
    g = torch.Generator().manual_seed(1)
    noisy = (x_val + 0.2 * torch.randn(x_val.shape, generator=g)).clamp(-1, 1)
    assert C._accuracy(net, noisy, y_val) >= 0.85


def test_degrade_keeps_range_and_shape_and_is_seeded():
    x = torch.cat([_img(), _img("circle", 16, 16, 7)]).repeat(8, 1, 1, 1) / 127.5 - 1
    a = C.degrade(x, torch.Generator().manual_seed(0))
    b = C.degrade(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 1e-6
    assert changed.any() and not torch.equal(a, x)


def test_classify_resizes_and_clamps():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return torch.tensor([[0.0, 1.0, 0.0]]).expand(x.size(0), 3)

    labels = C.classify(Spy(), torch.full((2, 3, 64, 64), 3.0))
    assert labels.tolist() == [1, 1]
    assert seen[0].shape == (2, 3, C.CLASSIFIER_SIZE, C.CLASSIFIER_SIZE)
    assert seen[0].max() <= 1


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated", b"<html>not found</html>"])
def test_damaged_cache_file_is_retrained(tmp_path, damage):
    """A damaged or truncated cached classifier is a cache miss (retrained and rewritten), not a
    crash of the evaluation with torch.load's traceback."""
    root = make_shapes_dataset(tmp_path / "data", img_size=32, n_train=4, n_val=0)
    (root / C.CLASSIFIER_FILE).write_bytes(damage)
    net, info = C.load_or_train_classifier(root, steps=2)
    assert info["steps"] == 2 and isinstance(net, C.ShapeClassifier)
    saved = torch.load(root / C.CLASSIFIER_FILE, weights_only=True)
    assert saved["info"]["steps"] == 2


def test_unwritable_dataset_folder_only_costs_the_cache(tmp_path, monkeypatch, caplog):
    """A read-only dataset folder (a shared cache) still gives the classifier, with a warning,
    where writing the cache file crashed the evaluation."""
    root = make_shapes_dataset(tmp_path / "data", img_size=32, n_train=4, n_val=0)

    def refuse(obj, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(C, "save_torch", refuse)
    net, info = C.load_or_train_classifier(root, steps=2)
    assert isinstance(net, C.ShapeClassifier) and info["steps"] == 2
    assert not (root / C.CLASSIFIER_FILE).exists()
    assert "cannot cache the shape classifier (Permission denied)" in caplog.text
