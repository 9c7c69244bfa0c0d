"""Per-attribute accuracy: a classifier trained on real images judges the translations into the
original's test labels; an oracle translator scores 1, one that ignores the labels scores 0 on
the switched attributes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from starganv2.evaluation.attribute_accuracy import attribute_accuracy, train_attribute_classifier

ATTRS = ["red", "green", "blue", "big"]
GROUP = [(0, 1, 2)]


def _paint(c: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Images that show their attributes: one quadrant per attribute, bright when on."""
    x = -torch.ones(c.size(0), 3, size, size)
    h = size // 2
    for a, (r, q) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        x[:, :, r * h : (r + 1) * h, q * h : (q + 1) * h] += 2 * c[:, a, None, None, None]
    return x


class _Set(torch.utils.data.Dataset):
    def __init__(self, c):
        self.c, self.x = c, _paint(c)

    def __len__(self):
        return len(self.c)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.c[i]}


def _labels(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    hair = torch.nn.functional.one_hot(torch.randint(3, (n,), generator=g), 3).float()
    return torch.cat([hair, torch.randint(2, (n, 1), generator=g).float()], 1)


class _Translator(nn.Module):
    def __init__(self, oracle: bool):
        super().__init__()
        self.oracle = oracle
        self.w = nn.Parameter(torch.zeros(1))

    def translate_labels(self, x, c_trg):
        return _paint(c_trg) if self.oracle else x


def test_attribute_accuracy_tells_edits_from_no_edits():
    train, val = _Set(_labels(64, 0)), _Set(_labels(24, 1))
    net = train_attribute_classifier(train.x, train.c, steps=100)
    out = attribute_accuracy(_Translator(True), train, val, ATTRS, GROUP, classifier=net)
    assert out["attr/real/mean"] == 1.0
    assert out["attr/target/mean"] == out["attr/kept/mean"] == 1.0
    out = attribute_accuracy(_Translator(False), train, val, ATTRS, GROUP, classifier=net)
    assert out["attr/kept/big"] == 1.0  # never touched by the other columns
    assert out["attr/kept/red"] < 1.0  # another colour's column clears red: not done
    assert out["attr/target/big"] == 0.0  # never switched
    # a hair column is already right for the rows that had that colour (about a third)
    assert 0.0 < out["attr/target/red"] < 0.7


def test_attribute_accuracy_needs_label_vectors():
    with pytest.raises(ValueError, match="has no translate_labels"):
        attribute_accuracy(nn.Linear(1, 1), _Set(_labels(4, 0)), _Set(_labels(4, 1)), ATTRS)


class _Identity(nn.Module):
    """A translator driven by attribute vectors that changes nothing (or blanks its outputs)."""

    num_domains, img_size, has_styles, guidance_modes = 6, 16, False, ("attribute",)

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def translate_labels(self, x, c_trg):
        return x


def test_evaluator_runs_it_on_attribute_data(tmp_path):
    from starganv2.data.attribute_datamodule import ShapesAttributeDataModule
    from starganv2.evaluation.evaluator import Evaluator

    dm = ShapesAttributeDataModule(tmp_path, img_size=16, n_train=24, n_val=6, scan_workers=1)
    evaluator = Evaluator(metrics={"attribute_accuracy": {"classifier_steps": 5}})
    out = evaluator.evaluate(_Identity(), dm)
    names = ["circle", "square", "triangle", "warm", "large", "outline"]
    geometry = {"attr/position_error_px", "attr/position_error_px_real", "attr/empty_share"}
    assert (
        set(out)
        == {f"attr/{k}/{a}" for k in ("real", "target", "kept") for a in [*names, "mean"]}
        | geometry
    )
    # the identity puts every shape where the source had it: the real images' floor, < 1 px
    assert out["attr/position_error_px"] == pytest.approx(out["attr/position_error_px_real"])
    assert out["attr/position_error_px_real"] < 1.0 and out["attr/empty_share"] == 0.0
    blank = type("Blank", (_Identity,), {"translate_labels": lambda self, x, c: 0 * x + 0.0039})
    out = evaluator.evaluate(blank(), dm)  # the mid-gray background only: no shape anywhere
    assert out["attr/empty_share"] == 1.0 and math.isnan(out["attr/position_error_px"])
    assert out["attr/target/warm"] + out["attr/real/warm"] == pytest.approx(1.0)  # never switched
    with pytest.raises(ValueError, match="the data has 6 attributes .* num_domains=3"):
        evaluator.evaluate(type("M", (_Identity,), {"num_domains": 3})(), dm)


class _Flipping(_Set):
    """Items through a random flip, as the training transform does (it uses the global RNG)."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        if torch.rand(()) < 0.5:
            item = {"x": item["x"].flip(-1), "y": item["y"]}
        return item


def test_the_classifier_sees_the_same_images_whatever_the_global_rng(monkeypatch):
    from starganv2.evaluation import attribute_accuracy as module

    seen = []
    train = module.train_attribute_classifier

    def spy(x, c, *args, **kw):
        seen.append(x.clone())
        return train(x, c, *args, **kw)

    monkeypatch.setattr(module, "train_attribute_classifier", spy)
    data, val = _Flipping(_labels(32, 0)), _Set(_labels(8, 1))
    for seed in (1, 2):
        torch.manual_seed(seed)  # the caller's RNG state must not change what it learns from
        attribute_accuracy(_Translator(False), data, val, ATTRS, classifier_steps=2)
    assert torch.equal(seen[0], seen[1])
    assert not torch.equal(seen[0], data.x)  # some images were flipped: the check is real


def test_a_converted_model_gets_its_own_dtype_and_is_judged_in_float32():
    """A model converted to float64 (``trainer.precision=64-true``) gets the test images in its
    dtype, and its outputs are judged like a float32 model's."""
    seen = []

    class _Double(_Translator):
        input_dtype = torch.float64

        def translate_labels(self, x, c_trg):
            seen.append(x.dtype)
            return super().translate_labels(x, c_trg).double()

    train, val = _Set(_labels(64, 0)), _Set(_labels(24, 1))
    net = train_attribute_classifier(train.x, train.c, steps=100)
    ref = attribute_accuracy(_Translator(False), train, val, ATTRS, GROUP, classifier=net)
    got = attribute_accuracy(_Double(False), train, val, ATTRS, GROUP, classifier=net)
    assert set(seen) == {torch.float64}
    assert got == ref


class _Recorder(_Identity):
    """A translator trained without exclusive groups that records the targets it is given."""

    exclusive_groups: list[tuple[int, ...]] = []

    def __init__(self):
        super().__init__()
        self.targets = []

    def translate_labels(self, x, c_trg):
        self.targets.append(c_trg.clone())
        return x


def test_the_test_labels_keep_the_models_exclusive_groups_not_the_datas(tmp_path, caplog):
    """The figures judge the targets the model's sample grid shows: a model trained without
    groups gets each shape switched, though the data's default groups the shapes (a shape set on
    and the others cleared), and a warning names both."""
    from starganv2.data.attribute_datamodule import ShapesAttributeDataModule
    from starganv2.evaluation.evaluator import Evaluator

    dm = ShapesAttributeDataModule(tmp_path, img_size=16, n_train=24, n_val=6, scan_workers=1)
    evaluator = Evaluator(metrics={"attribute_accuracy": {"classifier_steps": 2}})
    model = _Recorder()
    with caplog.at_level("WARNING"):
        evaluator.evaluate(model, dm)
    c_src = torch.stack([dm.val_set[i]["y"] for i in range(len(dm.val_set))])
    circle = torch.cat(model.targets)[: len(c_src)]  # the first column: circle
    assert torch.equal(circle[:, 0], 1 - c_src[:, 0])  # switched, also where it was on
    assert torch.equal(circle[:, 1:], c_src[:, 1:])  # the other shapes kept
    assert "the model was trained with exclusive groups []" in caplog.text
