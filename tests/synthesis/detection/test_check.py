"""The label check's parts: greedy one-to-one box matching on hand-made cases, the detector
contract (Python callables, TorchScript files, list or batch input) and its one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from starganv2.synthesis.detection.check import (
    CHECKS,
    CheckOptions,
    DetectorCheck,
    build_check,
    load_detector,
    match_boxes,
)
from starganv2.synthesis.detection.coco import read_coco
from starganv2.synthesis.detection.voc import read_voc
from tests.synthesis.detection import detectors
from tests.synthesis.detection.datasets import make_coco, make_voc, save_image

CPU = torch.device("cpu")
HERE = "tests.synthesis.detection.detectors"


def dets(boxes, labels=None, scores=None):
    n = len(boxes)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels if labels is not None else [0] * n),
        "scores": torch.tensor(scores if scores is not None else [0.9] * n),
    }


def match(boxes, detections, labels=None, iou=0.5, score=0.3):
    b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    lab = None if labels is None else torch.tensor(labels)
    return match_boxes(b, lab, detections, iou, score)


def test_a_box_passes_at_exactly_check_iou_and_fails_just_below():
    ious, ok = match([[0, 0, 10, 10]], dets([[0, 0, 10, 5]]))  # half the box: IoU 0.5
    assert ok == [True] and ious == [pytest.approx(0.5)]
    ious, ok = match([[0, 0, 10, 10]], dets([[0, 0, 10, 4.9]]))
    assert ok == [False] and ious == [pytest.approx(0.49)]  # the best IoU is still reported


def test_the_label_must_match_when_labels_are_given():
    ious, ok = match([[0, 0, 10, 10]], dets([[0, 0, 10, 10]], labels=[2]), labels=[1])
    assert ok == [False] and ious == [0.0]
    assert match([[0, 0, 10, 10]], dets([[0, 0, 10, 10]], labels=[2]))[1] == [True]


def test_low_scores_are_ignored():
    assert match([[0, 0, 10, 10]], dets([[0, 0, 10, 10]], scores=[0.2]))[1] == [False]
    assert match([[0, 0, 10, 10]], dets([[0, 0, 10, 10]], scores=[0.3]))[1] == [True]


def test_matching_is_one_to_one_highest_iou_first():
    a, b = [0, 0, 10, 10], [1, 0, 11, 10]
    d1, d2 = [0, 0, 10, 10], [3, 0, 13, 10]
    ious, ok = match([a, b], dets([d1]))
    assert ok == [True, False]  # one detection cannot re-find two boxes
    # b overlaps d1 most (9/11), but d1 is a's (IoU 1): b takes d2 (8/12)
    ious, ok = match([b, a], dets([d1, d2]))
    assert ok == [True, True] and ious == [pytest.approx(8 / 12), pytest.approx(1.0)]


def test_no_boxes_or_no_detections():
    assert match([], dets([[0, 0, 1, 1]])) == ([], [])
    assert match([[0, 0, 10, 10]], dets([])) == ([0.0], [False])


def coco_check(tmp_path, **kw) -> DetectorCheck:
    ds = read_coco(make_coco(tmp_path / "in", broken=False))
    kw = {"detector": f"{HERE}:SizeDetector", **kw}
    return build_check("detector", ds, CPU, CheckOptions(**kw))


def test_a_callable_detector_sees_each_output_at_its_own_size_in_0_1(tmp_path):
    ds = read_coco(make_coco(tmp_path / "in", broken=False))
    by_rel = {im.rel: im for im in ds.images}
    a, sub, empty = by_rel["a.jpg"], by_rel["sub/über bild.png"], by_rel["empty.jpg"]
    detectors.reset({(48, 32): [([4, 4, 14, 12], 5)]})  # a.jpg's car (category_id 5)
    check = build_check("detector", ds, CPU, CheckOptions(detector=f"{HERE}:SizeDetector"))
    assert detectors.CALLS == [(3, 32, 48)]  # the start-up run on a grey first image
    results = check([(im.path, im) for im in (a, sub, empty)])
    assert detectors.CALLS[1:] == [(3, 32, 48), (3, 40, 32), (3, 40, 40)]
    assert [r["passed"] for r in results] == [True, False, True]  # an empty image passes
    assert results[0]["boxes"] == [
        {"index": 0, "category": "car", "iou": 1.0, "matched": True, "required": True},
        {"index": 1, "category": "person", "iou": 0.0, "matched": False, "required": False},
    ]  # the crowd region (iscrowd=1) is recorded but not required
    wrong_id = CheckOptions(detector=f"{HERE}:SizeDetector", labels={"car": 1, "person": 9})
    assert not build_check("detector", ds, CPU, wrong_id)([(a.path, a)])[0]["passed"]
    any_class = CheckOptions(detector=f"{HERE}:SizeDetector", match_class=False)
    detectors.reset({(48, 32): [([4, 4, 14, 12], 77)]})
    assert build_check("detector", ds, CPU, any_class)([(a.path, a)])[0]["passed"]


def test_batch_input_stacks_outputs_of_one_size(tmp_path):
    detectors.reset()
    check = coco_check(tmp_path, detector=f"{HERE}:batch_detector", detector_input="tensor")
    ds = check.dataset
    items = [(im.path, im) for im in ds.images] + [(ds.images[0].path, ds.images[0])]
    assert len(check(items)) == 4
    assert sorted(detectors.CALLS[1:]) == [(1, 3, 40, 32), (1, 3, 40, 40), (2, 3, 32, 48)]


def script_detector(path: Path, boxes, labels) -> str:
    with pytest.warns(FutureWarning):  # torch 2.14 calls TorchScript deprecated
        torch.jit.save(torch.jit.script(detectors.FixedBoxes(boxes, labels)), str(path))
    return str(path)


def test_a_torchscript_file_is_a_detector(tmp_path):
    found = script_detector(tmp_path / "found.pt", [[4, 4, 14, 12]], [5])  # a.jpg's car
    moved = script_detector(tmp_path / "moved.pt", [[24, 4, 34, 12]], [5])  # 10 px aside
    check = coco_check(tmp_path / "a", detector=found)
    a = next(im for im in check.dataset.images if im.rel == "a.jpg")
    assert check([(a.path, a)])[0]["passed"]
    assert not coco_check(tmp_path / "b", detector=moved)([(a.path, a)])[0]["passed"]


@pytest.mark.parametrize(
    ("detector", "message"),
    [
        (None, r"detector=None: check=detector needs detector="),
        ("no_such_pkg.dets:find", r"detector='no_such_pkg.dets:find' does not import"),
        (f"{HERE}:nope", r"detector='.*:nope' does not import \(AttributeError"),
        (f"{HERE}:NOT_CALLABLE", r"detector='.*:NOT_CALLABLE' is a int: expected a callable"),
        ("missing.pt", r"detector='missing.pt' is not a file: expected a TorchScript file"),
        ("notes.txt", r"detector='.*notes.txt' is not a TorchScript file"),
        (f"{HERE}:tensor_out", r"returned Tensor for 1 image\(s\): expected a list of 1 dicts"),
        (f"{HERE}:no_scores", r"returned \{'boxes': \(0, 4\), 'labels': \(0,\)\} for an image"),
    ],
)
def test_a_bad_detector_is_one_clear_error(tmp_path, monkeypatch, detector, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    if detector == "notes.txt":
        detector = str(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=message):
        coco_check(tmp_path, detector=detector)


def test_load_detector_builds_a_class_with_no_arguments():
    assert isinstance(load_detector(f"{HERE}:SizeDetector"), detectors.SizeDetector)


def test_class_ids_must_be_known(tmp_path):
    voc = read_voc(make_voc(tmp_path / "in", broken=False))
    options = CheckOptions(detector=f"{HERE}:SizeDetector")
    with pytest.raises(ValueError, match=r"check_labels=None but a voc dataset has no class ids"):
        build_check("detector", voc, CPU, options)
    partial = CheckOptions(detector=f"{HERE}:SizeDetector", labels={"car": 0})
    with pytest.raises(
        ValueError, match=r"no detector label for the dataset's categories \['person'\]"
    ):
        build_check("detector", voc, CPU, partial)
    build_check(
        "detector", voc, CPU, CheckOptions(detector=f"{HERE}:SizeDetector", match_class=False)
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"iou": 0.0}, r"check_iou=0.0 is invalid: expected a number in \(0, 1\]"),
        ({"score": 1.5}, r"check_score=1.5 is invalid"),
        ({"detector_input": "dict"}, r"detector_input='dict' is invalid: expected one of"),
    ],
)
def test_bad_check_options_name_their_key(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        coco_check(tmp_path, **kw)


def test_checks_are_named_in_a_registry(tmp_path):
    assert {"none", "detector"} <= set(CHECKS)
    ds = read_coco(make_coco(tmp_path / "in", broken=False))
    assert build_check("none", ds, CPU, CheckOptions()) is None
    with pytest.raises(ValueError, match=r"check='bogus' is invalid: expected one of \['none'"):
        build_check("bogus", ds, CPU, CheckOptions())


def test_an_output_without_boxes_passes_with_no_records(tmp_path):
    detectors.reset()
    check = coco_check(tmp_path)
    gray = save_image(Path(tmp_path / "g.png"), 40, 40)
    img = next(im for im in check.dataset.images if im.rel == "empty.jpg")
    assert check([(gray, img)])[0] == {"passed": True, "boxes": []}


def test_a_detector_module_in_the_current_folder_imports(tmp_path, monkeypatch):
    """docs/augmentation.md saves mydetector.py where the command runs; console scripts, unlike
    `python -m`, do not put that folder on the Python path."""
    (tmp_path / "cwd_detector_7f3a.py").write_text(
        "class Detector:\n    def __call__(self, images):\n        return []\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    detector = load_detector("cwd_detector_7f3a:Detector")
    assert type(detector).__name__ == "Detector" and detector([]) == []


def test_two_coco_categories_of_one_name_each_need_their_own_id(tmp_path):
    """COCO ``categories`` may repeat a name (``car`` id 1 and id 7): with ``check_labels=null``
    each box is looked for under its own ``category_id``, not the id of the name's last box."""
    import json

    save_image(tmp_path / "a.png", 40, 30)
    ann = {"image_id": 1, "area": 100, "iscrowd": 0}
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [
            {"id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], **ann},
            {"id": 2, "category_id": 7, "bbox": [20, 5, 10, 10], **ann},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 7, "name": "car"}],
    }
    (tmp_path / "t.json").write_text(json.dumps(doc), encoding="utf-8")
    ds = read_coco(tmp_path / "t.json")
    detectors.reset({(40, 30): [([1, 1, 11, 11], 1), ([20, 5, 30, 15], 7)]})
    check = build_check("detector", ds, CPU, CheckOptions(detector=f"{HERE}:SizeDetector"))
    image = ds.images[0]
    result = check([(image.path, image)])[0]
    assert [b["matched"] for b in result["boxes"]] == [True, True]
    detectors.reset({(40, 30): [([1, 1, 11, 11], 7), ([20, 5, 30, 15], 1)]})  # ids swapped
    assert not any(b["matched"] for b in check([(image.path, image)])[0]["boxes"])


def test_a_coco_box_without_category_id_is_one_error_naming_it(tmp_path):
    """An annotation without ``category_id`` (reported when read) has no id to look for: with
    ``check_labels=null`` that is one error line naming its category, not a ``KeyError``."""
    import json

    save_image(tmp_path / "a.png", 40, 30)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [1, 1, 10, 10], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "car"}],
    }
    (tmp_path / "t.json").write_text(json.dumps(doc), encoding="utf-8")
    ds = read_coco(tmp_path / "t.json")
    detectors.reset()
    with pytest.raises(ValueError, match=r"no class ids \(categories \['None'\] have none\)"):
        build_check("detector", ds, CPU, CheckOptions(detector=f"{HERE}:SizeDetector"))
