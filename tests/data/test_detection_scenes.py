"""The built-in day/night detection scenes: determinism, exact boxes, what differs between the
domains, the written COCO and folder layouts, and the exact label check."""

from __future__ import annotations

import colorsys
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from starganv2.data.detection_scenes import (
    CLASSES,
    DOMAINS,
    PARAMS_FILE,
    Scene,
    coco_path,
    object_alphas,
    render_scene,
    sample_scene,
    write_detection_scenes,
)
from starganv2.data.detection_scenes import _split_id as _split_id
from starganv2.evaluation.scene_check import scene_box_check
from starganv2.synthesis.detection.coco import read_coco

KEYS = [(5, 1, 0, i) for i in range(24)]


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _tensor(img: Image.Image) -> torch.Tensor:
    """(3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 127.5 - 1


def _targets(scene: Scene) -> tuple[torch.Tensor, torch.Tensor]:
    boxes = torch.tensor([o.box for o in scene.objects], dtype=torch.float32)
    return boxes, torch.tensor([o.label for o in scene.objects])


def test_same_key_same_scene_and_pixels() -> None:
    a, b = sample_scene((1, 2, 3, 4), "night"), sample_scene((1, 2, 3, 4), "night")
    assert a == b
    assert np.array_equal(_pixels(render_scene(a)), _pixels(render_scene(b)))
    assert sample_scene((1, 2, 3, 5), "night").objects != a.objects


def test_scenes_have_one_to_four_objects_inside_and_none_overlapping() -> None:
    counts, touching = set(), 0
    for key in KEYS:
        scene = sample_scene(key, "day")
        counts.add(len(scene.objects))
        assert render_scene(scene).size == (96, 64)
        for k, o in enumerate(scene.objects):
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64
            for p in scene.objects[k + 1 :]:
                iw = min(x1, p.box[2]) - max(x0, p.box[0])
                ih = min(y1, p.box[3]) - max(y0, p.box[1])
                touching += iw >= 0 and ih >= 0
        # objects cover no pixel more than fully together (touching ones share edge pixels): none
        # hides another
        assert (object_alphas(scene).sum(0) <= 1 + 1e-9).all()
    assert counts == {1, 2, 3, 4}
    assert touching > 0, "expected some objects whose boxes touch"


def test_boxes_are_tight_around_the_rendered_objects() -> None:
    for key in KEYS[:12]:
        for domain in DOMAINS:
            scene = sample_scene(key, domain)
            alphas = object_alphas(scene)
            for o, alpha in zip(scene.objects, alphas, strict=True):
                ys, xs = np.nonzero(alpha)
                assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == o.box
            # the image differs from the empty scene only inside the boxes
            diff = np.abs(
                _pixels(render_scene(scene))
                - _pixels(render_scene(dataclasses.replace(scene, objects=())))
            ).sum(-1)
            inside = np.zeros_like(diff, dtype=bool)
            for x0, y0, x1, y1 in (o.box for o in scene.objects):
                inside[y0:y1, x0:x1] = True
            assert not diff[~inside].any()
            if domain == "day":  # high contrast: every edge row and column of a box shows
                for x0, y0, x1, y1 in (o.box for o in scene.objects):
                    changed = diff[y0:y1, x0:x1] > 0
                    assert changed[0].any() and changed[-1].any()
                    assert changed[:, 0].any() and changed[:, -1].any()


def _brightness_saturation(img: Image.Image) -> tuple[float, float]:
    rgb = np.asarray(img, dtype=np.float64).reshape(-1, 3) / 255
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in rgb[::7]])
    return float(rgb.mean()), float(hsv[:, 1].mean())


def test_day_and_night_differ_in_look_but_not_in_geometry() -> None:
    looks = {d: [] for d in DOMAINS}
    for key in KEYS[:10]:
        day, night = sample_scene(key, "day"), sample_scene(key, "night")
        assert day.objects == night.objects
        for scene in (day, night):
            looks[scene.domain].append(_brightness_saturation(render_scene(scene)))
    day, night = np.array(looks["day"]), np.array(looks["night"])
    assert day[:, 0].min() > 0.6 > 0.25 > night[:, 0].max()  # mean brightness
    # object saturation: mean over the objects' pixels
    sat = {d: [] for d in DOMAINS}
    for key in KEYS[:10]:
        for domain in DOMAINS:
            scene = sample_scene(key, domain)
            rgb = np.asarray(render_scene(scene), dtype=np.float64) / 255
            for alpha in object_alphas(scene):
                mean = rgb[alpha > 0.99].mean(0)
                sat[domain].append(colorsys.rgb_to_hsv(*mean)[1])
    assert min(sat["day"]) > max(sat["night"])  # the colour cast tints some night objects
    assert np.mean(sat["day"]) > 0.7 > 0.4 > np.mean(sat["night"])


def test_writer_layout_coco_round_trip_and_rerun(tmp_path: Path) -> None:
    root = write_detection_scenes(
        tmp_path / "scenes", 3, seed=2, size=(64, 40), splits=["train", "val", "test"]
    )
    for domain in DOMAINS:
        for split in ("train", "val", "test"):
            ds = read_coco(coco_path(root, domain, split))
            assert ds.problems == []
            assert ds.categories == list(CLASSES)
            assert len(ds.images) == 3
            for i, img in enumerate(ds.images):
                assert (img.width, img.height) == (64, 40)
                assert Image.open(img.path).size == (64, 40)
                scene = sample_scene(
                    (2, _split_id(split), DOMAINS.index(domain), i), domain, (64, 40)
                )
                assert np.array_equal(_pixels(Image.open(img.path)), _pixels(render_scene(scene)))
                assert [(b.category, b.xyxy) for b in img.boxes] == [
                    (CLASSES[o.label], tuple(float(v) for v in o.box)) for o in scene.objects
                ]
        for split in ("train", "val"):  # data=folder's layout, the same images
            files = sorted((root / "translation" / split / domain).glob("*.png"))
            assert [f.name for f in files] == ["000000.png", "000001.png", "000002.png"]
            assert (
                files[0].read_bytes()
                == (coco_path(root, domain, split).parent / "images" / "000000.png").read_bytes()
            )
    assert not (root / "translation" / "test").exists()

    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert (
        write_detection_scenes(root, 3, seed=2, size=(64, 40), splits=["train", "val", "test"])
        == root
    )
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    with pytest.raises(FileExistsError, match="seed"):
        write_detection_scenes(root, 3, seed=3, size=(64, 40), splits=["train", "val", "test"])


def test_an_interrupted_run_resumes_keeping_written_images(tmp_path: Path) -> None:
    root = write_detection_scenes(tmp_path / "s", 2, seed=0, size=(48, 32), splits=["train"])
    kept = coco_path(root, "night", "train").parent / "images" / "000001.png"
    (root / PARAMS_FILE).unlink()
    os.utime(kept, ns=(1, 1))
    write_detection_scenes(root, 2, seed=0, size=(48, 32), splits=["train"])
    assert kept.stat().st_mtime_ns == 1  # not written again
    assert (root / PARAMS_FILE).is_file()


@pytest.mark.parametrize("damage", ['{"vers', "[]"])
def test_a_damaged_parameters_file_is_one_error_naming_it(tmp_path: Path, damage: str) -> None:
    """A damaged detection_scenes.json is one error naming the file and what to do, not a bare
    JSON error."""
    root = write_detection_scenes(tmp_path / "s", 2, seed=0, size=(48, 32), splits=["train"])
    (root / PARAMS_FILE).write_text(damage)
    with pytest.raises(FileExistsError, match=rf"{PARAMS_FILE} is damaged .*delete the folder"):
        write_detection_scenes(root, 2, seed=0, size=(48, 32), splits=["train"])


def test_the_folder_data_module_reads_the_translation_folders(tmp_path: Path) -> None:
    from starganv2.data.datamodule import ImageDomainDataModule

    root = write_detection_scenes(tmp_path / "s", 2, seed=0, size=(48, 32), splits=["train", "val"])
    dm = ImageDomainDataModule(
        root=root / "translation",
        img_size=32,
        num_domains=2,
        batch_size=2,
        num_workers=0,
        persistent_workers=False,
        scan_workers=1,
    )
    dm.setup("fit")
    assert dm.domains == ["day", "night"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["x_real"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("bad", [(96,), (96, 8), (96.0, 64)])
def test_a_bad_size_is_named(bad: tuple) -> None:
    with pytest.raises(ValueError, match=r"size=\["):
        sample_scene((0,), "day", bad)


def test_bad_domain_count_and_splits_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="domain='dusk'"):
        sample_scene((0,), "dusk")
    with pytest.raises(ValueError, match="n_per_domain=1"):
        write_detection_scenes(tmp_path / "x", 1)
    with pytest.raises(ValueError, match="splits="):
        write_detection_scenes(tmp_path / "x", 2, splits=["train", "train"])
    assert not (tmp_path / "x").exists()


def test_check_passes_every_object_of_the_scenes_themselves() -> None:
    for key in KEYS:
        for domain in DOMAINS:
            scene = sample_scene(key, domain)
            boxes, labels = _targets(scene)
            assert scene_box_check(_tensor(render_scene(scene)), boxes, labels).all(), (key, domain)


def test_check_fails_an_erased_object_and_only_that_one() -> None:
    scene = next(s for s in (sample_scene(k, "night") for k in KEYS) if len(s.objects) >= 3)
    boxes, labels = _targets(scene)
    # the look's colours are listed per object: drop the first object's with it
    look = {**scene.look, "colors": scene.look["colors"][1:]}
    erased = dataclasses.replace(scene, objects=scene.objects[1:], look=look)
    result = scene_box_check(_tensor(render_scene(erased)), boxes, labels)
    assert result.tolist() == [False] + [True] * (len(scene.objects) - 1)


def test_check_fails_an_object_moved_out_of_its_box() -> None:
    moved_ok = []
    for key in KEYS[:12]:
        for domain in DOMAINS:
            scene = sample_scene(key, domain)
            first = scene.objects[0]
            shift = first.box[2] - first.box[0]
            cx = first.cx - shift if first.cx > 48 else first.cx + shift  # toward the middle
            moved = dataclasses.replace(
                scene, objects=(dataclasses.replace(first, cx=cx), *scene.objects[1:])
            )
            boxes, labels = _targets(scene)
            moved_ok.append(bool(scene_box_check(_tensor(render_scene(moved)), boxes, labels)[0]))
    assert not any(moved_ok)


def test_check_rejects_bad_shapes_by_name() -> None:
    image = torch.zeros(3, 32, 48)
    with pytest.raises(ValueError, match="labels shape"):
        scene_box_check(image, torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels \[3\]"):
        scene_box_check(image, torch.tensor([[1.0, 1, 9, 9]]), torch.tensor([3]))
    with pytest.raises(ValueError, match="image shape"):
        scene_box_check(torch.zeros(32, 48), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))


def _through_square(image: torch.Tensor, img_size: int) -> torch.Tensor:
    """What a translator that changed nothing gives at ``img_size``: the image padded to a square,
    resized to ``img_size`` and back, the pad cropped (``fit=letterbox``)."""
    _, h, w = image.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = torch.zeros(1, 3, side, side)
    square[0, :, top : top + h, left : left + w] = image
    small = F.interpolate(square, size=(img_size, img_size), mode="bilinear", antialias=True)
    back = F.interpolate(small, size=(side, side), mode="bilinear")[0]
    return back[:, top : top + h, left : left + w]


def test_check_passes_the_scenes_seen_at_a_model_resolution_of_64() -> None:
    passed = []
    for key in KEYS:
        for domain in DOMAINS:
            scene = sample_scene(key, domain)
            boxes, labels = _targets(scene)
            image = _through_square(_tensor(render_scene(scene)), 64)
            passed += scene_box_check(image, boxes, labels).tolist()
    assert sum(passed) >= 0.97 * len(passed), f"{sum(passed)} of {len(passed)} passed"
