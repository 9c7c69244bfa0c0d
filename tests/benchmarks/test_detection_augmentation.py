"""The detection-augmentation benchmark (benchmarks/detection_augmentation.py and _detector.py):
the detector learns, the mAP is scored right, the arms train on what they say, and results.json
has the documented schema. The translators are not run here (too slow for the test suite)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from starganv2.data.detection_scenes import write_detection_scenes
from tests.helpers.benchmarks import load_benchmark

det = load_benchmark("_detector")  # first: the driver imports _detector by this name
bench = load_benchmark("detection_augmentation")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    return write_detection_scenes(root, 8, seed=0, size=(48, 32), splits=("train",))


@pytest.fixture(scope="module")
def day(scenes):
    return det.load_coco(scenes / "coco" / "day" / "train" / "instances.json")


def _fake_set(n: int, tag: str) -> det.DetectionSet:
    """``n`` blank 48 x 32 images named ``<tag>_<i>``, one box each."""
    return det.DetectionSet(
        torch.zeros(n, 3, 32, 48, dtype=torch.uint8),
        [torch.tensor([[1.0, 1.0, 9.0, 9.0]]) for _ in range(n)],
        [torch.tensor([1]) for _ in range(n)],
        [f"{tag}_{i}" for i in range(n)],
    )


def test_load_coco_reads_images_and_xyxy_boxes(scenes, day):
    coco = json.loads((scenes / "coco" / "day" / "train" / "instances.json").read_text())
    first = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    x, y, w, h = first[0]["bbox"]
    assert day.images.shape == (8, 3, 32, 48) and day.images.dtype == torch.uint8
    assert day.boxes[0][0].tolist() == [x, y, x + w, y + h]
    assert day.labels[0][0].item() == first[0]["category_id"]


def test_detector_keeps_the_image_size():
    """FCOS's transform must not resize: the boxes are in the scenes' own pixels."""
    model = det.build_detector((48, 32)).eval()
    images, _ = model.transform([torch.rand(3, 32, 48)])
    assert images.image_sizes == [(32, 48)]


def test_box_regression_starts_alive():
    """FCOS's regression ends in a ReLU: outputs starting below 0 get no gradient (with
    torchvision's zero bias about half of them do)."""
    model = det.build_detector((48, 32)).eval()
    features = model.backbone(torch.rand(2, 3, 32, 48))
    regression, _ = model.head.regression_head(list(features.values()))
    assert (regression > 0).float().mean() > 0.95


def test_detector_learns_on_a_few_scenes(day):
    model = det.build_detector((48, 32), width=32)
    losses = det.train_detector(model, [day], [1.0], steps=20, batch=8, lr=4e-3, seed=0)
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_ground_truth_as_predictions_scores_one(day):
    predictions = [
        {"boxes": b, "labels": lab, "scores": torch.ones(len(b))}
        for b, lab in zip(day.boxes, day.labels)
    ]
    assert det.evaluate(predictions, day) == {
        "map50": pytest.approx(1.0),
        "map": pytest.approx(1.0),
    }


def test_shifted_predictions_score_below_one(day):
    predictions = [
        {"boxes": b + 4.0, "labels": lab, "scores": torch.ones(len(b))}
        for b, lab in zip(day.boxes, day.labels)
    ]
    assert det.evaluate(predictions, day)["map"] < 0.9


def test_draw_batch_takes_exact_shares():
    gen = torch.Generator().manual_seed(0)
    picks = det.draw_batch([5, 7], [0.5, 0.5], 16, gen)
    pools = [p for p, _ in picks]
    assert pools.count(0) == 8 and pools.count(1) == 8
    assert all(0 <= i < (5, 7)[p] for p, i in picks)
    assert [p for p, _ in det.draw_batch([5], [1.0], 4, gen)] == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="must not be empty"):
        det.draw_batch([5, 0], [0.5, 0.5], 4, gen)


def test_photometric_changes_appearance_not_shape():
    x = torch.rand(3, 32, 48)
    y = det.photometric(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert (y - x).abs().mean() > 0.01


def test_arm_composition():
    data = {
        "day": _fake_set(4, "day"),
        "night": _fake_set(3, "night"),
        "v2_latent": _fake_set(4, "lat"),
        "v2_reference": _fake_set(4, "ref"),
        "v1": _fake_set(2, "v1"),
    }
    checked = {
        "v2_latent": [True, False, True, False],
        "v2_reference": [False, False, False, True],
        "v1": [False, False],
    }

    def arm(name):
        pools, shares, augment = bench.arm_pools(name, data, checked)
        return [p.names for p in pools], shares, augment

    assert arm("day_only") == ([data["day"].names], [1.0], None)
    assert arm("photometric")[2] is det.photometric
    assert arm("oracle")[0][1] == data["night"].names
    assert arm("stargan_v1")[0][1] == data["v1"].names
    names, shares, _ = arm("stargan_v2")
    assert shares == [0.5, 0.5] and names[1] == data["v2_latent"].names + data["v2_reference"].names
    names, shares, _ = arm("stargan_v2_checked")
    assert shares == [0.5, 0.5] and names[1] == ["lat_0", "lat_2", "ref_3"]
    nothing = {k: [False] * len(v) for k, v in checked.items()}
    assert [p.names for p in bench.arm_pools("stargan_v2_checked", data, nothing)[0]] == [
        data["day"].names
    ]
    with pytest.raises(ValueError, match="arm 'night_only'"):
        bench.arm_pools("night_only", data, checked)


def _record(arm: str, seed: int, night: float) -> dict:
    return {
        "arm": arm,
        "seed": seed,
        "night_map50": night,
        "night_map": night / 2,
        "day_map50": 0.9,
        "day_map": 0.6,
    }


def test_results_files_from_fake_runs(tmp_path):
    nights = {
        "day_only": 0.1,
        "photometric": 0.2,
        "stargan_v2": 0.6,
        "stargan_v2_checked": 0.65,
        "stargan_v1": 0.3,
        "oracle": 0.9,
    }
    records = [
        _record(arm, seed, value + 0.01 * seed)
        for seed in (2, 0, 1)
        for arm, value in reversed(list(nights.items()))
    ]
    summary = bench.write_results(tmp_path, records, {"stage_s": {"detectors": 12.0}})
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [(r["arm"], r["seed"]) for r in rows[:4]] == [
        ("day_only", 0),
        ("day_only", 1),
        ("day_only", 2),
        ("photometric", 0),
    ]
    assert {r["arm"] for r in rows} == set(bench.ARMS)
    for row in rows:
        assert {"arm", "seed", "night_map50", "night_map", "day_map50"} <= set(row)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["arms"]["oracle"]["night_map50"]["mean"] == pytest.approx(0.91)
    assert saved["arms"]["oracle"]["night_map50"]["sd"] == pytest.approx(0.01)
    assert saved["gap_closed"]["stargan_v2"] == pytest.approx(0.5 / 0.8)
    assert saved["gap_closed"]["day_only"] == pytest.approx(0.0)
    assert saved["v2_vs_photometric"]["beats_beyond_noise"] is True
    assert summary["stage_s"] == {"detectors": 12.0}
    table = (tmp_path / "summary.md").read_text()
    assert "| stargan_v2 | 0.610 ± 0.010 |" in table and "**yes**" in table


def test_v2_within_seed_noise_of_photometric_does_not_beat_it():
    records = [_record("photometric", s, v) for s, v in enumerate((0.2, 0.5, 0.8))]
    records += [_record("stargan_v2", s, v) for s, v in enumerate((0.3, 0.6, 0.9))]
    verdict = bench.summarize(records)["v2_vs_photometric"]
    assert verdict["difference"] == pytest.approx(0.1)
    assert verdict["beats_beyond_noise"] is False


def test_label_check_reads_the_tools_report_in_coco_order(tmp_path):
    coco = {
        "images": [
            {"id": 5, "file_name": "b_night_0.png"},
            {"id": 3, "file_name": "a_night_0.png"},
            {"id": 4, "file_name": "c_night_0.png"},
        ]
    }
    box = {"index": 0, "iou": 0.8, "matched": True, "required": True}
    failed = {"index": 1, "iou": 0.1, "matched": False, "required": True}
    report = {
        "check_settings": {"name": "scene", "iou": 0.5},
        "outputs": [
            {"image": "a_night_0.png", "check": {"passed": True, "boxes": [box]}},
            {"image": "b_night_0.png", "check": {"passed": False, "boxes": [box, failed]}},
            {"image": "c_night_0.png", "check": None},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    (tmp_path / "augment_report.json").write_text(json.dumps(report))
    rows = bench.label_check(tmp_path / "instances.json")
    assert [r["image"] for r in rows] == ["b_night_0.png", "a_night_0.png", "c_night_0.png"]
    assert [r["all_passed"] for r in rows] == [False, True, False]
    assert rows[0]["iou"] == [0.8, 0.1] and rows[0]["passed"] == [True, False]
    assert bench.geometry(rows)["object_pass_share"] == pytest.approx(2 / 3)


def test_label_check_without_the_tools_check_applies_the_same_criterion(scenes, tmp_path):
    """A set translated without check=scene (an older run) is checked by the benchmark itself."""
    shutil.copytree(scenes / "coco" / "day" / "train", tmp_path / "set")
    report = {"check_settings": None, "outputs": []}
    (tmp_path / "set" / "augment_report.json").write_text(json.dumps(report))
    rows = bench.label_check(tmp_path / "set" / "instances.json")
    expected = bench.box_figures(det.load_coco(tmp_path / "set" / "instances.json"))
    assert rows == expected and len(rows) == 8
    assert sum(r["all_passed"] for r in rows) >= 6  # untouched scenes: nearly all pass
    assert (tmp_path / "set" / "scene_check.json").exists()


def test_one_seed_gives_no_verdict():
    records = [_record("photometric", 0, 0.2), _record("stargan_v2", 0, 0.9)]
    assert bench.summarize(records)["v2_vs_photometric"]["beats_beyond_noise"] is None


def test_detector_records_of_other_settings_are_refused(tmp_path):
    """A rerun with another --det-steps read the old records back and summarized them under the
    new steps; the detectors folder is stamped and other settings are refused, as other stages'."""
    smoke = bench.SETTINGS["smoke"]
    record = _record("day_only", 0, 0.1)
    (tmp_path / "detectors").mkdir()
    (tmp_path / "detectors" / "day_only_seed0.json").write_text(json.dumps(record))
    settings = {"det_steps": smoke.det_steps, "psi": 1.0}
    records, skipped = bench.detectors_stage(tmp_path, ["day_only"], [0], smoke, 1, settings)
    assert records == [record] and skipped
    longer = {**settings, "det_steps": 20}
    with pytest.raises(SystemExit, match="det_steps"):
        bench.detectors_stage(tmp_path, ["day_only"], [0], smoke, 1, longer)
