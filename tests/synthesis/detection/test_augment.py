"""The augmentation on a tiny untrained model: every image translated, its boxes kept, the input
untouched, bad records reported one line each, a rerun skipping what is done."""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.detection.augment import (
    REPORT_FILE,
    augment_dataset,
    output_rel,
)
from starganv2.synthesis.detection.coco import read_coco
from starganv2.synthesis.detection.detect import read_dataset
from starganv2.synthesis.detection.voc import read_voc
from starganv2.synthesis.detection.yolo import read_yolo
from starganv2.synthesis.requests import reference_index, style_seed
from tests.helpers import TINY
from tests.synthesis.detection import detectors
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
    assert saved["counts"] == {"written": 6, "skipped": 0, "failed": 0, "copied": 0, "dropped": 0}
    assert saved["check_settings"] is None
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
        (
            {"fit": "crop"},
            r"fit='crop' is invalid: expected one of \['letterbox', 'stretch', 'tile'\]",
        ),
        ({"fit": "tile", "tile_overlap": 0.75}, r"^tile_overlap=0.75 is invalid"),
        ({"fit": "tile", "tile_size": 1}, r"^tile_size=1 is invalid: expected null"),
        ({"tile_size": 64}, r"^tile_size=64 is set but fit=letterbox: expected fit=tile"),
        ({"check": "bogus"}, r"check='bogus' is invalid: expected one of \['none', 'detector'"),
        ({"drop_failed": True}, r"drop_failed=true but check=none"),
        ({"check": "detector"}, r"detector=None: check=detector needs detector="),
        (
            {"check": "detector", "detector": "tests.synthesis.detection.detectors:tensor_out"},
            r"returned Tensor for 1 image\(s\)",
        ),
        ({"styles": 0}, r"styles=0 is invalid"),
        (
            {"ref_dir": "refs", "psi": 0.5},
            r"psi=0.5 truncates latent styles only, but ref_dir=refs gives reference styles",
        ),
        ({"quality": 200}, r"quality=200 is invalid: expected an int in \[0, 100\]"),
        ({"quality": -5}, r"quality=-5 is invalid"),
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


def test_tile_keeps_each_source_size_and_box(module, tmp_path):
    src = make_coco(tmp_path / "in", broken=False)  # 48x32, 32x40 and 40x40: one tile or more
    report = augment(module, src, tmp_path / "out", source_domain=0, fit="tile")
    assert (report.written, report.failed) == (3, 0)
    out = {im.rel: im for im in read_coco(tmp_path / "out" / "annotations.json").images}
    for im in read_coco(src).images:
        made = out[output_rel(im.rel, "night", 0)]
        assert Image.open(made.path).size == (im.width, im.height)
        assert [b.xyxy for b in made.boxes] == [b.xyxy for b in im.boxes]


def test_output_inside_the_input_is_refused(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match="lies in the input"):
        augment(module, src, src / "augmented")
    assert read_yolo(src).images and not (src / "augmented").exists()
    coco = make_coco(tmp_path / "c", broken=False)
    for inside in (coco.parent, coco.parent / "sub", coco.parent / "new"):
        with pytest.raises(ValueError, match="lies in the input"):
            augment(module, coco, inside)
    assert (
        not (coco.parent / "new").exists() and not (coco.parent / "sub/annotations.json").exists()
    )


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
        "a.jpg: the image is 48x32 (EXIF orientation applied) but its annotation says 32x48; "
        "translated at 48x32, boxes unchanged"
    ]
    again = augment(module, src, tmp_path / "out", targets=[1], styles=2)  # all skipped
    assert again.skipped == 6 and [p.line() for p in again.problems] == [
        p.line() for p in report.problems
    ]  # the rerun's report still says it


def test_an_exif_rotated_image_annotated_as_stored_is_translated_as_stored(module, tmp_path):
    """A labelling tool that ignored the EXIF tag gives the stored size, and boxes in the stored
    orientation: the translation is of the stored pixels, so the boxes fit it."""
    from tests.synthesis.detection.test_yolo import exif_rotated

    src = make_coco(tmp_path / "in", broken=False)
    doc = json.loads(src.read_text(encoding="utf-8"))
    rec = doc["images"][0]  # a.jpg
    exif_rotated(src.parent / rec["file_name"], rec["width"], rec["height"])  # stored as annotated
    src.write_text(json.dumps(doc), encoding="utf-8")
    report = augment(module, src, tmp_path / "out", targets=[1])
    assert report.problems == []
    out = tmp_path / "out" / output_rel(rec["file_name"], "night", 0)
    assert Image.open(out).size == (rec["width"], rec["height"])


DETECTOR = "tests.synthesis.detection.detectors:SizeDetector"


def answers(ds, width: int, labels=None) -> dict:
    """The stand-in detector re-finds every box of the images ``width`` pixels wide (with the
    dataset's class ids, or ``labels`` by name) and nothing in the others."""
    found = {}
    for im in ds.images:
        if im.width == width:
            found[(im.width, im.height)] = [
                (list(b.xyxy), labels[b.category] if labels else _class_id(b)) for b in im.boxes
            ]
    return found


def _class_id(box) -> int:
    return box.raw["category_id"] if isinstance(box.raw, dict) else int(box.raw.split()[0])


def test_the_check_records_every_box_and_keeps_failed_outputs_by_default(module, tmp_path, caplog):
    src = make_coco(tmp_path / "in", broken=False)
    detectors.reset(answers(read_coco(src), 48))  # a.jpg (48 x 32) is re-found, über bild not
    with caplog.at_level(logging.INFO, logger="starganv2.synthesis.detection.augment"):
        report = augment(
            module, src, tmp_path / "out", targets=[1], check="detector", detector=DETECTOR
        )
    assert "3 kept, 0 dropped; label check (detector): 2 of 3 passed; report" in caplog.text
    assert sorted(detectors.CALLS[1:]) == [(3, 32, 48), (3, 40, 32), (3, 40, 40)]  # source sizes
    checks = {o["image"]: o["check"] for o in report.outputs}
    assert checks["a_night_0.jpg"]["passed"] and checks["empty_night_0.jpg"]["passed"]
    assert checks["sub/über bild_night_0.png"] == {
        "passed": False,
        "boxes": [
            {"index": 0, "category": "person", "iou": 0.0, "matched": False, "required": True}
        ],
    }
    assert (report.written, report.kept, report.dropped) == (3, 3, 0)
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8"))
    assert saved["outputs"] == report.outputs and saved["check_settings"]["iou"] == 0.5
    assert len(read_coco(tmp_path / "out/annotations.json").images) == 3


def coco_out(out):
    return sorted(im.rel for im in read_coco(out / "annotations.json").images)


def yolo_out(out):
    return sorted(im.rel for im in read_yolo(out).images)


def voc_out(out):
    return sorted(im.rel for im in read_voc(out).images)


@pytest.mark.parametrize(
    ("make", "read", "labels", "kept", "dropped"),
    [
        (
            make_coco,
            coco_out,
            None,
            ["a_night_0.jpg", "empty_night_0.jpg"],
            "sub/über bild_night_0.png",
        ),
        (
            make_yolo,
            yolo_out,
            None,
            ["images/train/a_night_0.jpg", "images/train/background_night_0.jpg"],
            "images/val/night/deep/ünï_night_0.png",
        ),
        (
            make_voc,
            voc_out,
            {"car": 3, "person": 1},
            ["JPEGImages/000001_night_0.jpg"],
            "JPEGImages/ü2_night_0.png",
        ),
    ],
    ids=["coco", "yolo", "voc"],
)
def test_drop_failed_leaves_failed_outputs_out_of_each_format(
    module, tmp_path, make, read, labels, kept, dropped
):
    src = make(tmp_path / "in", broken=False)
    ds = read_dataset(src)
    detectors.reset(answers(ds, 48, labels))
    out = tmp_path / "out"
    report = augment(
        module,
        src,
        out,
        targets=[1],
        check="detector",
        detector=DETECTOR,
        check_labels=labels,
        drop_failed=True,
    )
    assert read(out) == kept
    assert not (out / dropped).exists()
    status = {o["image"]: o["status"] for o in report.outputs}
    assert status[dropped] == "dropped" and report.dropped == 1 and report.kept == len(kept)
    assert json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))["counts"]["dropped"] == 1
    if make is make_yolo:
        assert not (out / "labels/val/night/deep/ünï_night_0.txt").exists()
    if make is make_voc:
        assert not (out / "Annotations/ü2_night_0.xml").exists()


def test_a_rerun_remembers_the_checks_and_does_not_translate_dropped_outputs(module, tmp_path):
    src = make_coco(tmp_path / "in", broken=False)
    detectors.reset(answers(read_coco(src), 48))
    kw = {"targets": [1], "check": "detector", "detector": DETECTOR, "drop_failed": True}
    first = augment(module, src, tmp_path / "out", **kw)
    assert (first.written, first.dropped) == (2, 1)  # dropped: translated, failed, deleted
    detectors.CALLS.clear()
    second = augment(module, src, tmp_path / "out", **kw)
    assert (second.written, second.skipped, second.dropped) == (0, 2, 1)
    assert detectors.CALLS == [(3, 32, 48)]  # only the start-up run: every result remembered
    assert [o["check"] for o in second.outputs] == [o["check"] for o in first.outputs]
    assert coco_out(tmp_path / "out") == ["a_night_0.jpg", "empty_night_0.jpg"]
    # other settings: the outputs on disk are checked anew, the dropped one translated again
    detectors.CALLS.clear()
    third = augment(module, src, tmp_path / "out", **{**kw, "check_iou": 0.7})
    assert (third.written, third.skipped, third.dropped) == (0, 2, 1)
    assert len(detectors.CALLS) == 4  # start-up, the 2 on disk, the translated one
    # without drop_failed a rerun keeps it: translated again, its failed check recorded
    fourth = augment(
        module, src, tmp_path / "out", **{**kw, "check_iou": 0.7, "drop_failed": False}
    )
    assert (fourth.written, fourth.skipped, fourth.dropped, fourth.kept) == (1, 2, 0, 3)
    failed = [o for o in fourth.outputs if not o["check"]["passed"]]
    assert [o["image"] for o in failed] == ["sub/über bild_night_0.png"]
    assert (tmp_path / "out/sub/über bild_night_0.png").is_file()


def test_domains_by_name_or_index_and_a_wrong_name_is_one_error(module, tmp_path):
    src = make_coco(tmp_path / "in")
    by_name = augment(module, src, tmp_path / "a", source_domain="day")
    assert {o["domain"] for o in by_name.outputs} == {"night"}  # not into its own domain
    by_index = augment(module, src, tmp_path / "b", targets=[1], source_domain=0)
    assert [o["image"] for o in by_index.outputs] == [o["image"] for o in by_name.outputs]
    with pytest.raises(ValueError, match=r"source_domain: 'dusk' is not one of \['day', 'night'\]"):
        augment(module, src, tmp_path / "c", source_domain="dusk")
    with pytest.raises(ValueError, match="targets: 2 is not one of"):
        augment(module, src, tmp_path / "d", targets=[2])
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_tif_and_gif_sources_get_outputs_in_their_own_format(module, tmp_path):
    save_image(tmp_path / "in/a.tif", 40, 30, 1)
    save_image(tmp_path / "in/b.gif", 40, 30, 2)
    doc = {
        "images": [
            {"id": 1, "file_name": "a.tif", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.gif", "width": 40, "height": 30},
        ],
        "annotations": [],
        "categories": [],
    }
    (tmp_path / "in/t.json").write_text(json.dumps(doc), encoding="utf-8")
    assert augment(module, tmp_path / "in/t.json", tmp_path / "out", targets=[1]).written == 2
    assert Image.open(tmp_path / "out/a_night_0.tif").format == "TIFF"
    assert Image.open(tmp_path / "out/b_night_0.gif").format == "GIF"
    assert output_rel("x/a.heic", "night", 1) == "x/a_night_1.png"  # no writer: a PNG, named so


def test_reference_choices_are_distinct_per_source_and_stable():
    for n in (1, 2, 5):
        picks = [reference_index(0, "a.jpg", 1, k, n) for k in range(2 * n)]
        assert sorted(picks[:n]) == list(range(n)) and sorted(picks[n:]) == list(range(n))
    assert reference_index(0, "a.jpg", 1, 0, 7) == style_seed(0, "a.jpg", 1, 0) % 7


def test_k_styles_take_k_different_references(module, tmp_path, caplog):
    src = make_coco(tmp_path / "in", broken=False)
    for r in range(3):
        save_image(tmp_path / f"refs/night/r{r}.png", 32, 32, 10 + r)
    save_image(tmp_path / "refs/day/r0.png", 32, 32, 20)
    report = augment(
        module, src, tmp_path / "out", targets=[1], styles=3, ref_dir=tmp_path / "refs"
    )
    assert report.written == 9
    for im in read_coco(src).images:
        outs = [(tmp_path / "out" / output_rel(im.rel, "night", k)).read_bytes() for k in range(3)]
        assert len(set(outs)) == 3, im.rel
    with caplog.at_level(logging.WARNING):
        augment(module, src, tmp_path / "out2", targets=[0], styles=2, ref_dir=tmp_path / "refs")
    assert [r.getMessage() for r in caplog.records if "fewer references" in r.getMessage()] == [
        f"styles=2 but ref_dir={tmp_path / 'refs'} has fewer references for day (1): some "
        "outputs of an image share a reference (they differ only where the model is not "
        "deterministic); add references or lower styles"
    ]


def test_one_target_alone_is_a_list_of_one(module, tmp_path):
    src = make_coco(tmp_path / "in", broken=False)
    assert augment(module, src, tmp_path / "a", targets="night").written == 3
    assert augment(module, src, tmp_path / "b", targets=1).written == 3


def test_coco_paths_outside_the_folder_and_clashing_outputs_never_stop_a_run(module, tmp_path):
    for site in ("s1", "s2"):
        save_image(tmp_path / site / "a.jpg", 40, 30)
    save_image(tmp_path / "s1/a_night_0.jpg", 40, 30)  # the translation of s1/a.jpg's name
    names = ["../s1/a.jpg", "../s2/a.jpg", "../s1/a_night_0.jpg"]
    doc = {
        "images": [
            {"id": i, "file_name": f, "width": 40, "height": 30} for i, f in enumerate(names)
        ],
        "annotations": [],
        "categories": [],
    }
    path = tmp_path / "ann/t.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = augment(module, path, tmp_path / "out", targets=[1], include_source=True)
    assert sorted(o["image"] for o in report.outputs) == [
        "s1/a.jpg",
        "s1/a_night_0.jpg",  # the translation of s1/a.jpg; the source of that name is left out
        "s2/a.jpg",
        "s2/a_night_0.jpg",
    ]
    assert [p.line() for p in report.problems] == [
        f"s1/a_night_0.jpg: its output s1/a_night_0.jpg would overwrite that of s1/a.jpg "
        f"({tmp_path / 'ann/../s1/a.jpg'}); left out: rename {tmp_path / 'ann/../s1/a_night_0.jpg'}"
        f" (or {tmp_path / 'ann/../s1/a.jpg'}) and run again"
    ]


def test_an_exif_rotated_yolo_image_is_upright_and_no_problem(module, tmp_path):
    from tests.synthesis.detection.test_yolo import exif_rotated

    exif_rotated(tmp_path / "in/images/e.jpg", 60, 40)
    (tmp_path / "in/labels").mkdir()
    (tmp_path / "in/labels/e.txt").write_text("0 0.75 0.25 0.5 0.5\n")
    (tmp_path / "in/data.yaml").write_text("names: [thing]\n")
    report = augment(module, tmp_path / "in", tmp_path / "out", targets=[1])
    assert report.written == 1 and report.problems == []
    assert Image.open(tmp_path / "out/images/e_night_0.jpg").size == (40, 60)


def test_a_rerun_from_another_dataset_or_quality_is_refused(module, tmp_path):
    """Two sites' datasets name the same files: the second must not keep the first's pixels under
    its own boxes. ``quality`` changes JPEG outputs, so it is a setting too."""
    site_a = make_yolo(tmp_path / "siteA", broken=False)
    site_b = make_yolo(tmp_path / "siteB", broken=False)
    out = tmp_path / "out"
    assert augment(module, site_a, out, targets=[1]).written == 3  # JPEG outputs
    with pytest.raises(ValueError, match=r"other settings \(input: '.*siteA' -> '.*siteB'"):
        augment(module, site_b, out, targets=[1])
    with pytest.raises(ValueError, match=r"other settings \(quality: 95 -> 10;"):
        augment(module, site_a, out, targets=[1], quality=10)
    assert augment(module, site_a, out, targets=[1]).skipped == 3  # the same: resumes


def test_a_settings_file_of_an_earlier_version_resumes(module, tmp_path):
    """A settings file without the keys added later (input, quality) is not a change."""
    src = make_yolo(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    assert augment(module, src, out, targets=[1]).written == 3
    settings = out / "augment_settings.json"
    old = json.loads(settings.read_text(encoding="utf-8"))
    del old["input"], old["quality"]
    settings.write_text(json.dumps(old), encoding="utf-8")
    assert augment(module, src, out, targets=[1]).skipped == 3
    assert json.loads(settings.read_text(encoding="utf-8"))["quality"] == 95  # recorded now


def test_a_rerun_with_other_settings_is_refused_unless_it_overwrites(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    assert augment(module, src, out).written == 6  # 3 images x day, night
    with pytest.raises(ValueError, match=r"holds outputs made with other settings \(fit: "):
        augment(module, src, out, fit="stretch")
    with pytest.raises(ValueError, match=r"targets: \['day', 'night'\] -> \['night'\]"):
        augment(module, src, out, targets=[1])
    with pytest.raises(ValueError, match=r"overwrite=true on several processes: .*\(targets\)"):
        augment(module, src, out, targets=[1], overwrite=True, devices=2)  # before any deletion
    assert len(list((out / "images/train").iterdir())) == 4  # nothing deleted
    report = augment(module, src, out, targets=[1], overwrite=True)
    assert (report.written, report.skipped) == (3, 0)  # made anew, not kept
    assert sorted(p.name for p in (out / "images/train").iterdir()) == [
        "a_night_0.jpg",
        "background_night_0.jpg",
    ]  # the day outputs of the first run are gone, with their labels
    assert sorted(p.name for p in (out / "labels/train").iterdir()) == ["a_night_0.txt"]
    assert augment(module, src, out, targets=[1]).skipped == 3  # same settings: resumes


def test_overwrite_after_an_interrupted_run_deletes_that_runs_outputs(module, tmp_path):
    """A run stopped before its report (Ctrl-C, SIGTERM) leaves translations that no report
    lists; ``overwrite=true`` with other settings kept them, and in a YOLO folder an image
    without a label file is a background image: its objects would be read as none."""
    src = make_yolo(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    augment(module, src, out, styles=2)
    (out / REPORT_FILE).unlink()  # what a stopped run has not written yet
    shutil.rmtree(out / "labels")
    augment(module, src, out, targets=[1], overwrite=True)
    assert sorted(p.name for p in (out / "images/train").iterdir()) == [
        "a_night_0.jpg",
        "background_night_0.jpg",
    ]


@pytest.mark.parametrize("stopped", [False, True])
def test_overwrite_in_voc_deletes_the_earlier_runs_xml_files(module, tmp_path, stopped):
    """The XML files of an earlier run's translations were left behind by ``overwrite=true``:
    ``Annotations/000001_night_1.xml`` named an image that was gone, and a loader that reads
    every XML (not the image sets) took it for a labelled image."""
    src = make_voc(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    augment(module, src, out, styles=2)
    assert (out / "Annotations/000001_night_1.xml").is_file()
    if stopped:  # what a run stopped before its report leaves
        (out / REPORT_FILE).unlink()
    augment(module, src, out, targets=[1], overwrite=True)
    images = {p.stem for p in (out / "JPEGImages").iterdir()}
    xmls = {p.stem for p in (out / "Annotations").iterdir()}
    assert images == {"000001_night_0", "ü2_night_0"}
    assert xmls == images
    assert read_voc(out).images  # every XML names an image that exists


def test_a_folder_of_other_files_is_refused_and_overwrite_replaces_only_the_outputs_names(
    module, tmp_path
):
    """A folder with files but no settings file nor report is not an earlier run's: its
    ``annotations.json`` would be overwritten and its ``a_night_0.jpg`` skipped as a finished
    output (listed with the source's size while it has another)."""
    src = make_coco(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    save_image(out / "a_night_0.jpg", 5, 5, 9)
    (out / "annotations.json").write_text('{"mine": 1}', encoding="utf-8")
    (out / "notes" / "keep.txt").parent.mkdir()
    (out / "notes" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds files but no augment_settings.json"):
        augment(module, src, out, targets=[1])
    assert (out / "annotations.json").read_text(encoding="utf-8") == '{"mine": 1}'
    report = augment(module, src, out, targets=[1], overwrite=True)
    assert (report.written, report.skipped) == (3, 0)  # the user's a_night_0.jpg made anew
    assert Image.open(out / "a_night_0.jpg").size == (48, 32)
    assert (out / "notes" / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert augment(module, src, out, targets=[1]).skipped == 3  # now an augment output: resumes


def test_another_ranks_half_written_settings_file_does_not_make_the_folder_foreign(
    module, tmp_path
):
    """On several processes every rank claims the folder: one may look while another's atomic
    write of the settings file is a dot-named temp file, which is not a user's file."""
    src = make_coco(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".augment_settings.x1y2.json").write_text("{", encoding="utf-8")
    assert augment(module, src, out, targets=[1]).written == 3


def test_an_output_inside_the_coco_images_folder_is_refused_naming_that_folder(module, tmp_path):
    """The images may lie apart from the JSON (``images=``): the error names the folder the
    output lies in, not just the JSON file."""
    src = make_coco(tmp_path / "imgs", broken=False)
    ann = tmp_path / "ann" / "train.json"
    ann.parent.mkdir()
    ann.write_bytes(src.read_bytes())
    named = re.escape(f"lies in the input {ann} (in its folder {(tmp_path / 'imgs').resolve()})")
    with pytest.raises(ValueError, match=named):
        augment(module, ann, tmp_path / "imgs" / "out", images_dir=tmp_path / "imgs")


def test_an_output_that_is_a_file_is_one_clear_error(module, tmp_path):
    """It was ``[Errno 17] File exists: '...'``, naming neither the key nor what to give."""
    src = make_yolo(tmp_path / "in", broken=False)
    (tmp_path / "out").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match=r"output=.*out is a file: expected a folder"):
        augment(module, src, tmp_path / "out")
    assert (tmp_path / "out").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize(
    ("make", "labels", "dropped", "files"),
    [
        (
            make_yolo,
            None,
            "images/val/night/deep/ünï_night_0.png",
            ["labels/val/night/deep/ünï_night_0.txt"],
        ),
        (
            make_voc,
            {"car": 3, "person": 1},
            "JPEGImages/ü2_night_0.png",
            ["Annotations/ü2_night_0.xml", "SegmentationClass/ü2_night_0.png"],
        ),
    ],
    ids=["yolo", "voc"],
)
def test_drop_failed_on_a_rerun_deletes_the_label_files_the_first_run_wrote(
    module, tmp_path, make, labels, dropped, files
):
    """The first run keeps a failed output with its label file (YOLO) or XML and masks (VOC);
    the rerun with ``drop_failed`` deleted only the image, leaving files naming an image that is
    gone (a VOC reader of ``Annotations/`` finds an XML without its image)."""
    src = make(tmp_path / "in", broken=False)
    if make is make_voc:  # a mask for the dropped output's source
        save_image(src / "VOC2007/SegmentationClass/ü2.png", 32, 40, 4)
    detectors.reset(answers(read_dataset(src), 48, labels))
    out = tmp_path / "out"
    options = {"check": "detector", "detector": DETECTOR, "check_labels": labels}
    augment(module, src, out, targets=[1], **options)
    assert all((out / rel).is_file() for rel in [dropped, *files])
    report = augment(module, src, out, targets=[1], drop_failed=True, **options)
    assert {o["image"]: o["status"] for o in report.outputs}[dropped] == "dropped"
    assert [rel for rel in [dropped, *files] if (out / rel).exists()] == []
    assert read_dataset(out).problems == []


def test_id_offset_keeps_the_ids_of_two_coco_runs_apart_so_they_merge(module, tmp_path):
    src = make_coco(tmp_path / "in", broken=False)
    augment(module, src, tmp_path / "night", targets=["night"])
    augment(module, src, tmp_path / "day", targets=["day"], id_offset=1000)
    docs = [
        json.loads((tmp_path / run / "annotations.json").read_text(encoding="utf-8"))
        for run in ("night", "day")
    ]
    image_ids = [im["id"] for doc in docs for im in doc["images"]]
    ann_ids = [a["id"] for doc in docs for a in doc["annotations"]]
    assert len(set(image_ids)) == len(image_ids) == 6
    assert len(set(ann_ids)) == len(ann_ids) == 6
    assert [im["id"] for im in docs[1]["images"]] == [1013, 1014, 1015]  # largest 12, + 1000


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_a_bad_id_offset_is_one_clear_error(module, tmp_path, value):
    src = make_coco(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match="id_offset="):
        augment(module, src, tmp_path / "out", id_offset=value)
    assert not (tmp_path / "out").exists()


def test_id_offset_is_refused_for_a_format_without_ids(module, tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match="id_offset=5 .*COCO"):
        augment(module, src, tmp_path / "out", id_offset=5)
    assert not (tmp_path / "out").exists()
