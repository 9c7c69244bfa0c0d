"""Data that used to train silently: one domain folder, and images smaller than ``img_size``
(upscaled without a word). The first is refused, the second is one warning with counts."""

from __future__ import annotations

import logging

import pytest

from tests.helpers.images import make_root, save_image, small_datamodule


def test_num_domains_below_2_is_refused():
    with pytest.raises(ValueError, match=r"data\.num_domains=1 is invalid: expected at least 2"):
        small_datamodule("unused", num_domains=1)


def test_a_single_domain_folder_is_refused(tmp_path):
    root = make_root(tmp_path, {"cat": 3})
    with pytest.raises(ValueError, match=r"found 1 domain folder under .*\['cat'\]; expected at "):
        small_datamodule(root).setup("fit")


def test_images_smaller_than_img_size_are_counted_in_one_warning(tmp_path, caplog):
    root = make_root(tmp_path, {"cat": 3, "dog": 2}, val=None)  # 8 x 8 images
    save_image(root / "train" / "cat" / "big.png", size=(16, 20))
    save_image(root / "train" / "dog" / "big.png", size=(20, 16))
    save_image(root / "train" / "dog" / "tiny.png", size=(4, 6))
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        small_datamodule(root, img_size=16).setup("fit")
    warnings = [r.getMessage() for r in caplog.records if "smaller than" in r.getMessage()]
    assert len(warnings) == 1
    assert "6 of 8 images under" in warnings[0]
    assert "smaller than data.img_size=16 and will be upscaled" in warnings[0]
    assert "cat: 3 of 4, dog: 3 of 4" in warnings[0]
    # the file named is the smallest (it named the first small file as if it were)
    assert f"the smallest, 4x6: {root / 'train' / 'dog' / 'tiny.png'})" in warnings[0]


def test_no_warning_when_every_image_is_large_enough(tmp_path, caplog):
    root = make_root(tmp_path, {"cat": 2, "dog": 2})  # 8 x 8 images
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        small_datamodule(root, img_size=8).setup("fit")
    assert not [r for r in caplog.records if "smaller than" in r.getMessage()]
