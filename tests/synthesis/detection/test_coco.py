"""COCO files read into the common structure and written back losing nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from starganv2.synthesis.detection.coco import read_coco, write_coco
from starganv2.synthesis.detection.dataset import OutputImage
from tests.synthesis.detection.datasets import make_coco, save_image


def check_coco_schema(doc: dict) -> None:
    """What a COCO detection reader relies on: unique integer ids, every annotation on a listed
    image and category, ``[x, y, w, h]`` boxes, ``iscrowd`` and ``area``."""
    image_ids = [im["id"] for im in doc["images"]]
    assert all(isinstance(i, int) for i in image_ids) and len(set(image_ids)) == len(image_ids)
    for im in doc["images"]:
        assert isinstance(im["file_name"], str) and im["width"] > 0 and im["height"] > 0
    ann_ids = [a["id"] for a in doc["annotations"]]
    assert all(isinstance(i, int) for i in ann_ids) and len(set(ann_ids)) == len(ann_ids)
    categories = {c["id"] for c in doc["categories"]}
    for a in doc["annotations"]:
        assert a["image_id"] in set(image_ids) and a["category_id"] in categories
        assert len(a["bbox"]) == 4 and a["iscrowd"] in (0, 1) and a["area"] > 0


def test_reads_boxes_as_pixel_xyxy_with_every_record_verbatim(tmp_path):
    path = make_coco(tmp_path)
    ds = read_coco(path)
    assert ds.format == "coco" and ds.categories == ["car", "person"]
    by_rel = {im.rel: im for im in ds.images}
    assert sorted(by_rel) == ["a.jpg", "empty.jpg", "sub/über bild.png"]  # missing.jpg left out
    a = by_rel["a.jpg"]
    assert (a.width, a.height) == (48, 32)
    assert [b.xyxy for b in a.boxes] == [(4.0, 4.0, 14.0, 12.0), (20.5, 2.0, 32.5, 22.0)]
    assert [b.category for b in a.boxes] == ["car", "person"]
    assert a.boxes[1].raw["segmentation"]["counts"] == [100, 20, 12, 20, 1384]  # RLE kept
    assert by_rel["empty.jpg"].boxes == []


def test_each_broken_record_is_one_problem(tmp_path):
    ds = read_coco(make_coco(tmp_path))
    lines = [p.line() for p in ds.problems]
    assert len(lines) == 3, lines
    assert any("missing.jpg" in line and "no such file" in line for line in lines)
    assert any("annotation id 300" in line and "image id 99" in line for line in lines)
    assert any("annotation id 301" in line and "outside the 32x40 image" in line for line in lines)
    # the box outside is kept as it is; the annotation of a missing image id is not
    ann_ids = [b.raw["id"] for im in ds.images for b in im.boxes]
    assert sorted(ann_ids) == [100, 101, 205, 301]


def test_sources_written_back_are_the_input_less_its_broken_records(tmp_path):
    path = make_coco(tmp_path / "in")
    original = json.loads(path.read_text(encoding="utf-8"))
    ds = read_coco(path)
    out = write_coco(ds, [OutputImage(im, im.rel) for im in ds.images], tmp_path / "out")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert list(doc) == list(original)  # info, licenses, images, x_tool, annotations, categories
    for key in ("info", "licenses", "x_tool", "categories"):
        assert doc[key] == original[key]
    assert doc["images"] == [im for im in original["images"] if im["id"] != 20]
    assert doc["annotations"] == [a for a in original["annotations"] if a["id"] != 300]
    assert out.name == "annotations.json"


def test_translations_get_new_ids_and_copies_of_their_sources_annotations(tmp_path):
    ds = read_coco(make_coco(tmp_path / "in", broken=False))
    outputs = [OutputImage(im, im.rel) for im in ds.images]
    outputs += [OutputImage(im, f"night/{im.rel}", "night", 0) for im in ds.images]
    doc = json.loads(write_coco(ds, outputs, tmp_path / "out").read_text(encoding="utf-8"))
    check_coco_schema(doc)
    sources, made = doc["images"][:3], doc["images"][3:]
    assert [im["id"] for im in sources] == [7, 3, 12]  # the sources keep theirs
    assert [im["id"] for im in made] == [13, 14, 15]  # above the largest id, never colliding
    assert made[0] == {**sources[0], "id": 13, "file_name": "night/a.jpg"}  # other keys kept
    new_anns = [a for a in doc["annotations"] if a["image_id"] >= 13]
    assert [a["id"] for a in new_anns] == [206, 207, 208]
    old = {a["id"]: a for a in doc["annotations"] if a["image_id"] < 13}
    for new, old_id in zip(new_anns, [100, 205, 101]):
        assert new == {**old[old_id], "id": new["id"], "image_id": new["image_id"]}
    assert not [a for a in doc["annotations"] if a["image_id"] == 15]  # empty image, still listed


def test_images_dir_finds_file_names_elsewhere(tmp_path):
    path = make_coco(tmp_path / "pictures", broken=False)
    moved = tmp_path / "labels" / "train.json"
    moved.parent.mkdir()
    path.rename(moved)
    assert len(read_coco(moved).images) == 0
    assert len(read_coco(moved, images_dir=tmp_path / "pictures").images) == 3


def test_output_loads_in_pycocotools_and_torchmetrics(tmp_path):
    """The written file in the two loaders a detector's evaluation uses: pycocotools' ``COCO``
    (ids, the kept polygon and RLE segmentations decode) and torchmetrics' ``coco_to_tm``, where
    the annotations given back as predictions score an mAP of 1 (every id links up)."""
    from pycocotools.coco import COCO
    from torchmetrics.detection import MeanAveragePrecision

    ds = read_coco(make_coco(tmp_path / "in", broken=False))
    outputs = [OutputImage(im, im.rel) for im in ds.images]
    outputs += [OutputImage(im, f"night/{im.rel}", "night", 0) for im in ds.images]
    out = write_coco(ds, outputs, tmp_path / "out")
    api = COCO(str(out))
    assert sorted(api.getImgIds()) == [3, 7, 12, 13, 14, 15] and len(api.getAnnIds()) == 6
    assert api.getCatIds() == [5, 9] and api.getAnnIds(imgIds=[15]) == []  # the empty image
    made = api.loadAnns(api.getAnnIds(imgIds=[13]))  # the translation of a.jpg
    source = api.loadAnns(api.getAnnIds(imgIds=[7]))
    for new, old in zip(made, source):
        assert (api.annToMask(new) == api.annToMask(old)).all() and api.annToMask(new).sum() > 0

    doc = json.loads(out.read_text(encoding="utf-8"))
    results = [
        {**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 1.0}
        for a in doc["annotations"]
        if not a["iscrowd"]
    ]
    preds_path = tmp_path / "results.json"
    preds_path.write_text(json.dumps(results), encoding="utf-8")
    metric = MeanAveragePrecision(box_format="xywh", iou_type="bbox")
    preds, target = metric.coco_to_tm(str(preds_path), str(out), iou_type="bbox")
    assert len(target) == 4  # the images with annotations: two sources, two translations
    assert [t["labels"].tolist() for t in target] == [[5, 9], [9], [5, 9], [9]]
    assert [t["iscrowd"].tolist() for t in target] == [[0, 1], [0], [0, 1], [0]]
    metric.update(preds, target)
    assert float(metric.compute()["map"]) == 1.0


def test_a_file_that_is_not_coco_is_one_clear_error(tmp_path):
    from starganv2.synthesis.detection.dataset import DetectionFormatError

    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    with pytest.raises(
        DetectionFormatError, match=r"input=.*list.json is not a COCO detection file"
    ):
        read_coco(bad)
    assert issubclass(DetectionFormatError, ValueError)  # reported in one line by the CLI


def _coco(path, *file_names, sizes=True):
    images = [
        {"id": i, "file_name": f, **({"width": 40, "height": 30} if sizes else {})}
        for i, f in enumerate(file_names, 1)
    ]
    doc = {"images": images, "annotations": [], "categories": []}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_windows_separators_in_file_names_are_separators(tmp_path):
    save_image(tmp_path / "images/a.jpg", 40, 30)
    ds = read_coco(_coco(tmp_path / "w.json", "images\\a.jpg"))
    assert [im.rel for im in ds.images] == ["images/a.jpg"] and ds.problems == []


def test_file_names_outside_the_folder_keep_the_folders_that_tell_them_apart(tmp_path):
    for site in ("s1", "s2"):
        save_image(tmp_path / site / "a.jpg", 40, 30)
    path = _coco(tmp_path / "ann/t.json", "../s1/a.jpg", str(tmp_path / "s2/a.jpg"), "../s1/a.jpg")
    ds = read_coco(path)
    assert [im.rel for im in ds.images] == ["s1/a.jpg", "s2/a.jpg"]
    assert [p.line() for p in ds.problems] == [
        f"{path}: image id 3 ('../s1/a.jpg') has the path s1/a.jpg of image id 1 (the same file,"
        " or one that differs only in its folders outside the dataset); left out with its "
        "annotations: give each image one record and its own file_name"
    ]


def test_a_record_without_a_size_gets_the_upright_size(tmp_path):
    img = Image.fromarray(np.zeros((40, 60, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # shown turned a quarter: upright 40 x 60
    img.save(tmp_path / "e.jpg", exif=exif.tobytes())
    (im,) = read_coco(_coco(tmp_path / "t.json", "e.jpg", sizes=False)).images
    assert (im.width, im.height) == (40, 60)
