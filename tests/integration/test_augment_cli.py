"""``starganv2-augment`` on the real conf/ tree with a model trained for 2 iterations: a COCO,
YOLO or VOC dataset in, the same format out, one command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from starganv2.synthesis.detection.detect import read_dataset
from tests.integration.conftest import compose_train, tiny_train_cfg
from tests.synthesis.detection.datasets import make_coco, make_voc, make_yolo, tree_bytes

SHAPES = ["circle", "square", "triangle"]  # the built-in data's domains (3)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, shapes_cache) -> Path:
    """``last.ckpt`` of a tiny run on the built-in shapes, 2 iterations."""
    from starganv2.cli.train import run

    cfg = tiny_train_cfg(tmp_path_factory.mktemp("train"), shapes_cache)
    run(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def augment_cfg(ckpt: Path, tmp_path: Path, *overrides: str):
    return compose_train(
        [f"ckpt_path={ckpt}", f"domain_names=[{','.join(SHAPES)}]", *overrides],
        tmp_path / "run",
        config_name="augment",
    )


@pytest.mark.parametrize("make", [make_coco, make_yolo, make_voc], ids=["coco", "yolo", "voc"])
def test_each_format_in_gives_the_same_format_out(ckpt, tmp_path, make):
    from starganv2.cli.augment import run

    src = make(tmp_path / "in", broken=False)
    before = tree_bytes(tmp_path / "in")
    cfg = augment_cfg(
        ckpt, tmp_path, f"input={src}", f"output={tmp_path / 'out'}", "source_domain=circle"
    )
    report = run(cfg)
    assert tree_bytes(tmp_path / "in") == before
    n_sources = len(read_dataset(src).images)
    assert (report.written, report.skipped, report.failed) == (2 * n_sources, 0, 0)
    fmt = read_dataset(src).format
    out = read_dataset(tmp_path / "out" / src.name if fmt == "coco" else tmp_path / "out")
    assert out.format == fmt
    assert sorted({im.rel.rsplit("_", 2)[1] for im in out.images}) == ["square", "triangle"]


def test_targets_by_name_and_sources_kept(ckpt, tmp_path):
    from starganv2.cli.augment import run

    src = make_coco(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    report = run(
        augment_cfg(
            ckpt,
            tmp_path,
            f"input={src}",
            f"output={out}",
            "targets=[triangle]",
            "include_source=true",
        )
    )
    assert (report.written, report.count("copied")) == (3, 3)
    doc = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    assert [im["id"] for im in doc["images"]] == [7, 13, 3, 14, 12, 15]
    assert (out / "sub" / "über bild_triangle_0.png").is_file() and (out / "a.jpg").is_file()


def test_id_offset_from_the_command_line_keeps_two_runs_mergeable(ckpt, tmp_path):
    from starganv2.cli.augment import run

    src = make_coco(tmp_path / "in", broken=False)
    ids = []
    for target, offset in (("square", 0), ("triangle", 100)):
        out = tmp_path / target
        run(
            augment_cfg(
                ckpt,
                tmp_path,
                f"input={src}",
                f"output={out}",
                f"targets=[{target}]",
                f"id_offset={offset}",
            )
        )
        doc = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
        ids.append({im["id"] for im in doc["images"]})
    assert ids == [{13, 14, 15}, {113, 114, 115}]


def test_the_label_check_from_the_command_line(ckpt, tmp_path):
    from starganv2.cli.augment import run
    from tests.synthesis.detection import detectors

    src = make_voc(tmp_path / "in", broken=False)  # 000001.jpg is 48 x 32, ü2.png 32 x 40
    boxes = [(list(b.xyxy), 1) for b in read_dataset(src).images[0].boxes]
    detectors.reset({(48, 32): boxes})  # every box of 000001.jpg re-found (as label 1)
    report = run(
        augment_cfg(
            ckpt,
            tmp_path,
            f"input={src}",
            f"output={tmp_path / 'out'}",
            "targets=[square]",
            "check=detector",
            "detector=tests.synthesis.detection.detectors:SizeDetector",
            "check_labels={car: 1, person: 1}",
            "check_iou=0.6",
            "drop_failed=true",
        )
    )
    assert (report.kept, report.dropped) == (1, 1)
    saved = json.loads((tmp_path / "out/augment_report.json").read_text(encoding="utf-8"))
    assert saved["check_settings"]["labels"] == {"car": 1, "person": 1}
    assert saved["check_settings"]["iou"] == 0.6
    assert [im.rel for im in read_dataset(tmp_path / "out").images] == [
        "JPEGImages/000001_square_0.jpg"
    ]


def test_the_scene_check_from_the_command_line(ckpt, tmp_path):
    """``check=scene`` needs no import or detector; data of other classes is refused first."""
    from starganv2.cli.augment import run
    from starganv2.data.detection_scenes import coco_path, write_detection_scenes

    write_detection_scenes(tmp_path / "scenes", 2, size=(48, 32), splits=("train",))
    src = coco_path(tmp_path / "scenes", "day", "train")
    out = tmp_path / "out"
    args = [f"input={src}", f"output={out}", "targets=[square]", "check=scene", "check_iou=0.6"]
    report = run(augment_cfg(ckpt, tmp_path, *args))
    assert report.written == 2 and all(o["check"] is not None for o in report.outputs)
    saved = json.loads((out / "augment_report.json").read_text(encoding="utf-8"))
    assert saved["check_settings"]["name"] == "scene" and saved["check_settings"]["iou"] == 0.6
    assert {"iou", "fill", "matched"} <= set(saved["outputs"][0]["check"]["boxes"][0])
    other = make_coco(tmp_path / "in", broken=False)
    with pytest.raises(ValueError, match=r"check=scene is only for the built-in scenes"):
        run(augment_cfg(ckpt, tmp_path, f"input={other}", f"output={tmp_path / 'o2'}", *args[2:]))
    assert not (tmp_path / "o2").exists()


def test_an_unknown_target_name_names_the_key(ckpt, tmp_path):
    from starganv2.cli.augment import run

    src = make_coco(tmp_path / "in", broken=False)
    with pytest.raises(
        ValueError, match=r"targets: 'dog' is not one of \['circle', 'square', 'triangle'\]"
    ):
        run(
            augment_cfg(
                ckpt, tmp_path, f"input={src}", f"output={tmp_path / 'out'}", "targets=[dog]"
            )
        )


def test_console_entry_point_finds_its_config_from_any_folder(tmp_path):
    code = (
        "import sys; from starganv2.cli.augment import main; "
        "sys.argv = ['starganv2-augment', '--cfg', 'job']; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "task_name: augment" in res.stdout


def test_fit_tile_from_the_command_line(ckpt, tmp_path):
    """``fit=tile`` and its keys reach the tool: sizes kept; a bad overlap is named."""
    from starganv2.cli.augment import run

    src = make_coco(tmp_path / "in", broken=False)
    out = tmp_path / "out"
    args = [f"input={src}", f"output={out}", "targets=[square]", "fit=tile", "tile_overlap=0.5"]
    report = run(augment_cfg(ckpt, tmp_path, *args))
    assert (report.written, report.failed) == (3, 0)
    for im in read_dataset(out / src.name).images:
        assert Image.open(im.path).size == (im.width, im.height)
    with pytest.raises(ValueError, match=r"^tile_overlap=0.6 is invalid"):
        run(augment_cfg(ckpt, tmp_path, *args[:-1], "tile_overlap=0.6"))
