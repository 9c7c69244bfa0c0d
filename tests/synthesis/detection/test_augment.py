"""The augmentation on a tiny untrained model: every image translated, its boxes kept, the input
untouched, bad records reported one line each, a rerun skipping what is done."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.detection.augment import REPORT_FILE, augment_dataset, output_rel
from starganv2.synthesis.detection.coco import read_coco
from starganv2.synthesis.detection.voc import read_voc
from starganv2.synthesis.detection.yolo import read_yolo
from tests.helpers import TINY
from tests.synthesis.detection.datasets import (
    make_coco,
    make_voc,
    make_yolo,
    save_image,
    tree_bytes,
)

NAMES = ["day", "night"]


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


def augment(module, src, out, **kw):
    kw = {"domain_names": NAMES, "accelerator": "cpu", **kw}
    return augment_dataset(module, src, out, **kw)


def test_output_names_sit_beside_their_source():
    assert output_rel("images/train/a.jpg", "night", 2) == "images/train/a_night_2.jpg"
    assert output_rel("a.png", "day", 0) == "a_day_0.png"


def test_coco_outputs_keep_sizes_boxes_and_leave_the_input_alone(module, tmp_path):
    src = make_coco(tmp_path / "in")
    before = tree_bytes(src.parent)
    report = augment(module, src, tmp_path / "out", source_domain=0, styles=2)
    assert tree_bytes(src.parent) == before
    assert (report.written, report.skipped, report.failed) == (6, 0, 0)  # 3 images x night x 2
    out = read_coco(tmp_path / "out" / "annotations.json")
    # the box outside its image (annotation 301) is copied as it is, once per translation
    assert [p.what.split(" lies")[0] for p in out.problems] == ["box [30.0, 30.0, 50.0, 50.0]"] * 2
    by_rel = {im.rel: im for im in out.images}
    made = by_rel["sub/über bild_night_1.png"]
    assert Image.open(made.path).size == (32, 40)  # letterbox: the source's size, exactly
    src_img = next(im for im in read_coco(src).images if im.rel == "sub/über bild.png")
    assert [b.xyxy for b in made.boxes] == [b.xyxy for b in src_img.boxes]
    assert "empty_night_0.jpg" in by_rel  # images without objects are augmented too
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8"))
    assert saved["counts"] == {"written": 6, "skipped": 0, "failed": 0, "copied": 0}
    assert len(saved["problems"]) == 3 and {o["check"] for o in saved["outputs"]} == {None}


def test_rerun_skips_finished_outputs_and_writes_the_same(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    first = augment(module, src, tmp_path / "out")
    assert first.written == 6  # 3 images x 2 domains (the source domain is unknown)
    made = tmp_path / "out/images/train/a_night_0.jpg"
    pixels = np.asarray(Image.open(made), dtype=float)
    made.unlink()
    second = augment(module, src, tmp_path / "out")
    assert (second.written, second.skipped) == (1, 5)
    again = np.asarray(Image.open(made), dtype=float)
    assert np.abs(again - pixels).mean() < 0.5  # the style depends on the output, not on the run
    assert (tmp_path / "out/labels/train/a_night_0.txt").is_file()


def test_an_unreadable_image_is_one_line_and_the_run_goes_on(module, tmp_path):
    src = make_voc(tmp_path / "in", broken=False)
    voc = src / "VOC2007"
    (voc / "JPEGImages/ü2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # header only
    report = augment(module, src, tmp_path / "out", targets=[1], include_source=True)
    assert (report.written, report.failed) == (1, 2)  # its translation and its copy
    assert [p.where for p in report.problems] == ["JPEGImages/ü2.png"]
    out = read_voc(tmp_path / "out")
    assert sorted(im.rel for im in out.images) == [
        "JPEGImages/000001.jpg",
        "JPEGImages/000001_night_0.jpg",
    ]
    assert read_voc(voc).images  # the input is still there


def test_reference_guided_and_truncated_styles(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    save_image(tmp_path / "refs/night/r.png", 32, 32, 9)
    report = augment(module, src, tmp_path / "ref_out", targets=[1], ref_dir=tmp_path / "refs")
    assert report.written == 3
    with pytest.raises(
        ValueError, match=r"ref_dir=.* has no images for target domain\(s\) \['day'\]"
    ):
        augment(module, src, tmp_path / "bad", targets=[0], ref_dir=tmp_path / "refs")
    assert augment(module, src, tmp_path / "psi_out", targets=[1], psi=0.5).written == 3


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"fit": "crop"}, r"fit='crop' is invalid: expected one of \['letterbox', 'stretch'\]"),
        ({"check": "detector"}, r"check='detector' is invalid"),
        ({"styles": 0}, r"styles=0 is invalid"),
        ({"psi": 1.5}, r"psi=1.5 is invalid"),
        (
            {"domain_names": ["a"]},
            r"domain_names=\['a'\] has 1 names but the model has num_domains=2",
        ),
    ],
)
def test_bad_options_are_one_clear_error(module, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        augment(module, make_coco(tmp_path / "in"), tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


def test_output_inside_the_input_is_refused(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match="lies in the input"):
        augment(module, src, src / "augmented")
    assert read_yolo(src).images and not (src / "augmented").exists()
    coco = make_coco(tmp_path / "c", broken=False)
    with pytest.raises(ValueError, match="lies in the input"):
        augment(module, coco, coco.parent)


def test_a_deterministic_model_makes_one_output_per_domain(tmp_path):
    from starganv2.models.stargan_v1.module import StarGANv1Module

    v1 = StarGANv1Module(img_size=16, num_domains=2, g_conv_dim=4, d_conv_dim=4, g_repeat_num=1)
    src = make_yolo(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match="styles=2 but StarGANv1Module is deterministic"):
        augment(v1.eval(), src, tmp_path / "out", styles=2)
    report = augment(v1, src, tmp_path / "out", source_domain=0)
    assert report.written == 3
    assert Image.open(tmp_path / "out/images/train/a_night_0.jpg").size == (48, 32)


def test_an_image_whose_size_differs_from_its_annotation_is_one_line(module, tmp_path):
    src = make_coco(tmp_path / "in", broken=False)
    doc = json.loads(src.read_text(encoding="utf-8"))
    doc["images"][0].update(width=32, height=48)  # a.jpg is 48 x 32 (a rotated record, say)
    src.write_text(json.dumps(doc), encoding="utf-8")
    report = augment(module, src, tmp_path / "out", targets=[1], styles=2)
    assert report.written == 6
    assert [p.line() for p in report.problems] == [
        "a.jpg: the image is 48x32 but its annotation says 32x48 (an EXIF rotation?); "
        "translated at 48x32, boxes unchanged"
    ]
