"""``check=scene``: the built-in scenes' exact label check, from the registry and from
``augment_dataset``: scenes as written pass, an erased object fails (and is dropped with
``drop_failed``), data of other classes is refused before anything is translated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.data.detection_scenes import CLASSES, coco_path, write_detection_scenes
from starganv2.evaluation.scene_check import scene_box_check
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.detection.augment import REPORT_FILE, augment_dataset
from starganv2.synthesis.detection.check import CHECKS, CheckOptions, build_check
from starganv2.synthesis.detection.coco import read_coco
from starganv2.synthesis.detection.dataset import DetectionImage
from starganv2.utils.images import from_uint8
from tests.helpers import TINY
from tests.synthesis.detection.datasets import make_coco

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """Three day and three night scenes of 48 x 32 (train split only)."""
    root = tmp_path_factory.mktemp("scenes")
    write_detection_scenes(root, 3, size=(48, 32), splits=("train",))
    return root


def scene_check(path: Path, **options):
    return build_check("scene", read_coco(path), CPU, CheckOptions(**options))


def erase(src: Path, dst: Path, box: tuple[float, ...]) -> Path:
    """``src`` with the pixels of ``box`` painted with the median colour of the ring of pixels
    just around it: the object is gone, its box stays."""
    pixels = np.asarray(Image.open(src).convert("RGB")).copy()  # (H, W, 3)
    h, w, _ = pixels.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    ring = pixels[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1].reshape(-1, 3)
    pixels[y0:y1, x0:x1] = np.median(ring, axis=0).astype(np.uint8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(dst)
    return dst


def test_scene_is_a_registered_check():
    assert "scene" in CHECKS  # no import of the scene check's module needed


@pytest.mark.parametrize("domain", ["day", "night"])
def test_scenes_as_written_pass_with_their_figures(scenes, domain):
    check = scene_check(coco_path(scenes, domain, "train"))
    images = check.dataset.images
    results = check([(im.path, im) for im in images])
    assert [r["passed"] for r in results] == [True] * len(images)
    for image, result in zip(images, results):
        assert [r["index"] for r in result["boxes"]] == list(range(len(image.boxes)))
        for record, box in zip(result["boxes"], image.boxes):
            assert set(record) == {"index", "category", "iou", "fill", "matched", "required"}
            assert record["category"] == box.category and record["required"] is True
            assert 0.5 <= record["iou"] <= 1.0 and 0.25 <= record["fill"] <= 1.25


def test_the_check_agrees_with_scene_box_check_box_for_box(scenes, tmp_path):
    check = scene_check(coco_path(scenes, "day", "train"))
    image = max(check.dataset.images, key=lambda im: len(im.boxes))
    erased = erase(image.path, tmp_path / "erased.png", image.boxes[0].xyxy)
    for path in (image.path, erased):
        picture = from_uint8(torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1))
        boxes = torch.tensor([b.xyxy for b in image.boxes])
        labels = torch.tensor([CLASSES.index(b.category) for b in image.boxes])
        expected = scene_box_check(picture, boxes, labels).tolist()
        assert [r["matched"] for r in check([(path, image)])[0]["boxes"]] == expected


def test_an_erased_object_fails_and_only_its_box(scenes, tmp_path):
    check = scene_check(coco_path(scenes, "night", "train"))
    image = max(check.dataset.images, key=lambda im: len(im.boxes))
    erased = erase(image.path, tmp_path / "erased.png", image.boxes[0].xyxy)
    result = check([(erased, image)])[0]
    assert result["passed"] is False
    assert [r["matched"] for r in result["boxes"]] == [False] + [True] * (len(image.boxes) - 1)


def test_a_crowd_box_is_recorded_but_not_required(scenes, tmp_path):
    check = scene_check(coco_path(scenes, "day", "train"))
    image = check.dataset.images[0]
    erased = erase(image.path, tmp_path / "erased.png", image.boxes[0].xyxy)
    image.boxes[0].raw = {**image.boxes[0].raw, "iscrowd": 1}
    result = check([(erased, image)])[0]
    assert result["passed"] is True
    assert result["boxes"][0]["matched"] is False and result["boxes"][0]["required"] is False


def test_check_iou_is_the_least_box_iou(scenes):
    path = coco_path(scenes, "day", "train")
    image = scene_check(path).dataset.images[0]
    best = max(r["iou"] for r in scene_check(path)([(image.path, image)])[0]["boxes"])
    assert best < 1.0
    strict = scene_check(path, iou=min(1.0, best + 0.01))([(image.path, image)])[0]
    assert strict["passed"] is False and not any(r["matched"] for r in strict["boxes"])


def test_other_classes_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"categories \['car', 'person'\]: check=scene is only"):
        scene_check(make_coco(tmp_path, broken=False))
    with pytest.raises(ValueError, match=r"check_iou=0 is invalid"):
        build_check("scene", read_coco(make_coco(tmp_path / "b")), CPU, CheckOptions(iou=0))


def test_augment_dataset_drops_a_translation_whose_object_is_gone(tmp_path, monkeypatch):
    """An identity model at the scenes' own size (32 x 32, letterbox does nothing): outputs are
    the sources, so the only one to fail is the one whose source had an object erased."""
    root = tmp_path / "scenes"
    write_detection_scenes(root, 3, size=(32, 32), splits=("train",))
    src = coco_path(root, "day", "train")
    first: DetectionImage = read_coco(src).images[0]
    erase(first.path, first.path, first.boxes[0].xyxy)
    torch.manual_seed(0)
    module = StarGANv2Module(**TINY).eval()
    monkeypatch.setattr(module, "translate", lambda x, y_trg, **style: x.clone())
    report = augment_dataset(
        module,
        src,
        tmp_path / "out",
        domain_names=["day", "night"],
        source_domain=0,
        check="scene",
        drop_failed=True,
        accelerator="cpu",
    )
    assert (report.written, report.dropped) == (2, 1)
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8"))
    assert saved["check_settings"]["name"] == "scene"
    by_source = {o["source"]: o for o in saved["outputs"]}
    assert by_source[first.rel]["status"] == "dropped"
    assert by_source[first.rel]["check"]["boxes"][0]["matched"] is False
    assert all("fill" in r for o in saved["outputs"] for r in o["check"]["boxes"])
    kept = read_coco(tmp_path / "out" / src.name).images
    assert len(kept) == 2 and first.rel.replace(".png", "_night_0.png") not in {
        im.rel for im in kept
    }
    assert not (tmp_path / "out" / first.rel.replace(".png", "_night_0.png")).exists()
