"""The data options StarGAN v1 uses: its transform (flip, center crop, resize) and training items
without reference images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from starganv2.data.folders import v1_eval_transform, v1_train_transform
from tests.helpers.images import SIZE, make_root, small_datamodule


def _framed(size: int = 12, inner: int = 6) -> Image.Image:
    """A white square of side ``inner`` centred in a black image of side ``size``."""
    img = Image.new("RGB", (size, size), (0, 0, 0))
    lo = (size - inner) // 2
    img.paste((255, 255, 255), (lo, lo, lo + inner, lo + inner))
    return img


def test_v1_transform_center_crops_then_resizes():
    x = v1_eval_transform(4, crop_size=6)(_framed())
    assert x.shape == (3, 4, 4) and torch.equal(x, torch.ones(3, 4, 4))  # only the white square
    whole = v1_eval_transform(4)(_framed())  # no crop: the frame stays
    assert whole.shape == (3, 4, 4) and whole.min() < 0
    torch.manual_seed(0)
    flips = {v1_train_transform(4, 6)(_framed()).sum().item() for _ in range(8)}
    assert flips == {48.0}  # a symmetric image: flipped or not, the same
    with pytest.raises(ValueError, match="data.crop_size=0"):
        v1_train_transform(4, 0)


def test_datamodule_v1_transform_and_no_references(tmp_path: Path):
    dm = small_datamodule(
        make_root(tmp_path, {"a": 2, "b": 3}),
        transform="stargan_v1",
        crop_size=6,
        load_references=False,
        batch_size=4,
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x_real", "y_org", "y_trg"}
    assert batch["x_real"].shape == (4, 3, SIZE, SIZE)
    assert next(iter(dm.val_dataloader()))["x"].shape[1:] == (3, SIZE, SIZE)
    assert "CenterCrop(size=(6, 6))" in repr(dm.train_set.transform)


def test_references_are_not_read_when_off(tmp_path: Path, monkeypatch):
    import starganv2.data.sampling as sampling

    reads = []
    real = sampling.load_image
    monkeypatch.setattr(sampling, "load_image", lambda p: reads.append(p) or real(p))
    for load_references, per_item in ((True, 3), (False, 1)):
        reads.clear()
        dm = small_datamodule(
            make_root(tmp_path, {"a": 2, "b": 2}), batch_size=2, load_references=load_references
        )
        dm.setup("fit")
        next(iter(dm.train_dataloader()))
        assert len(reads) == 2 * per_item


def test_bad_transform_options_name_the_key(tmp_path: Path):
    root = make_root(tmp_path, {"a": 2, "b": 2})
    with pytest.raises(ValueError, match="data.transform='v3'"):
        small_datamodule(root, transform="v3")
    with pytest.raises(ValueError, match="data.crop_size=178 is an option of the stargan_v1"):
        small_datamodule(root, crop_size=178)
    with pytest.raises(ValueError, match="data.crop_size=-1"):
        small_datamodule(root, transform="stargan_v1", crop_size=-1)
