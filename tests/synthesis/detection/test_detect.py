"""Telling the formats apart, and the one clear error for a wrong format or an empty dataset."""

from __future__ import annotations

import pytest

from starganv2.synthesis.detection.dataset import DetectionFormatError
from starganv2.synthesis.detection.detect import detect_format, read_dataset
from tests.synthesis.detection.datasets import make_coco, make_voc, make_yolo


def test_each_format_is_recognised(tmp_path):
    assert detect_format(make_coco(tmp_path / "c")) == "coco"
    assert detect_format(make_yolo(tmp_path / "y")) == "yolo"
    assert detect_format(make_voc(tmp_path / "v")) == "voc"
    assert detect_format(tmp_path / "v" / "VOCdevkit" / "VOC2007") == "voc"


def test_unknown_input_says_what_was_expected(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DetectionFormatError, match="of no known format.*format=coco"):
        detect_format(tmp_path / "stuff")
    with pytest.raises(DetectionFormatError, match="no such file or folder"):
        detect_format(tmp_path / "nope.json")


def test_a_wrong_format_is_one_clear_error(tmp_path):
    coco = make_coco(tmp_path / "c")
    with pytest.raises(DetectionFormatError, match="format='pascal' is invalid"):
        read_dataset(coco, format="pascal")
    with pytest.raises(DetectionFormatError, match="is not a Pascal VOC folder"):
        read_dataset(coco, format="voc")
    with pytest.raises(DetectionFormatError, match="images=.* is for COCO files"):
        read_dataset(make_yolo(tmp_path / "y"), images_dir=tmp_path)


def test_an_empty_dataset_is_one_clear_error(tmp_path):
    (tmp_path / "empty.json").write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(DetectionFormatError, match="holds no usable image: no image records"):
        read_dataset(tmp_path / "empty.json")
    coco = make_coco(tmp_path / "c")
    with pytest.raises(DetectionFormatError, match="holds no usable image: .*no such file"):
        read_dataset(coco, images_dir=tmp_path / "elsewhere")


@pytest.mark.parametrize("format", ["auto", "voc"])
def test_a_devkit_of_several_years_names_them_and_the_input_to_give(tmp_path, format):
    """``VOCdevkit/`` with ``VOC2007/`` and ``VOC2012/``: the error named no known format and
    advised ``format=voc``, which then said it is not a VOC folder."""
    import shutil

    devkit = make_voc(tmp_path / "v")
    shutil.copytree(devkit / "VOC2007", devkit / "VOC2012")
    expected = (
        rf"input={devkit} holds 2 Pascal VOC folders \(VOC2007, VOC2012\): expected one of "
        rf"them as the input \(input={devkit / 'VOC2007'}\), one run each"
    )
    with pytest.raises(DetectionFormatError, match=expected):
        read_dataset(devkit, format=format)
    assert read_dataset(devkit / "VOC2012").format == "voc"
