"""YOLO folders read into the common structure and written back byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from starganv2.synthesis.detection.dataset import OutputImage
from starganv2.synthesis.detection.yolo import label_rel, read_yolo, write_yolo
from tests.synthesis.detection.datasets import make_yolo, save_image, tree_bytes


def test_label_paths_mirror_the_last_images_folder():
    assert label_rel("images/train/a.jpg") == "labels/train/a.txt"
    assert label_rel("train/images/a.png") == "train/labels/a.txt"
    assert label_rel("images/x/images/b.jpg") == "images/x/labels/b.txt"


def test_reads_nested_images_with_normalised_boxes_in_pixels(tmp_path):
    ds = read_yolo(make_yolo(tmp_path, broken=False))
    assert ds.categories == ["car", "person"]
    by_rel = {im.rel: im for im in ds.images}
    assert sorted(by_rel) == [
        "images/train/a.jpg",
        "images/train/background.jpg",
        "images/val/night/deep/ünï.png",
    ]
    a = by_rel["images/train/a.jpg"]
    assert (a.width, a.height) == (48, 32)
    assert a.boxes[0].category == "car"
    assert a.boxes[0].xyxy == pytest.approx((18.0, 8.0, 30.0, 24.0))
    assert a.boxes[0].raw == "0 0.5 0.5 0.25 0.5"
    assert by_rel["images/train/background.jpg"].boxes == []
    assert ds.problems == []


def test_each_broken_line_or_image_is_one_problem(tmp_path):
    ds = read_yolo(make_yolo(tmp_path))
    lines = [p.line() for p in ds.problems]
    assert len(lines) == 3, lines
    assert any("broken.jpg" in line and "unreadable image" in line for line in lines)
    assert any("ünï.txt:2" in line and "class id 7 is not in data.yaml" in line for line in lines)
    assert any("ünï.txt:3" in line and "outside the 32x40 image" in line for line in lines)
    deep = next(im for im in ds.images if im.rel.endswith("ünï.png"))
    assert [b.category for b in deep.boxes] == ["person", "7", "car"]  # kept as written


def test_sources_written_back_are_byte_identical(tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    ds = read_yolo(src)
    out = tmp_path / "out"
    write_yolo(ds, [OutputImage(im, im.rel) for im in ds.images], out)
    want = {k: v for k, v in tree_bytes(src).items() if k.endswith((".txt", ".yaml"))}
    assert tree_bytes(out) == want  # CRLF lines, the comment, no label for the background


def test_translations_carry_their_sources_labels(tmp_path):
    ds = read_yolo(make_yolo(tmp_path / "in", broken=False))
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_yolo(ds, outputs, out)
    assert (
        out / "labels/train/a_night_0.txt"
    ).read_bytes() == b"0 0.5 0.5 0.25 0.5\r\n1 0.1 0.2 0.1 0.2\r\n"
    assert (out / "labels/val/night/deep/ünï_night_0.txt").is_file()
    assert not (out / "labels/train/background_night_0.txt").exists()
    assert read_yolo(out).images == []  # labels only: the images are the translator's job


def test_data_yaml_path_points_to_the_output(tmp_path):
    ds = read_yolo(make_yolo(tmp_path / "in", broken=False, with_path=True))
    out = tmp_path / "out"
    write_yolo(ds, [], out)
    cfg = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert cfg["path"] == str(out.resolve())
    assert cfg["names"] == {0: "car", 1: "person"} and cfg["train"] == "images/train"


def test_image_list_splits_list_the_outputs(tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    (src / "data.yaml").write_text("train: train.txt\nval: images/val\nnames: [car, person]\n")
    (src / "train.txt").write_text(
        "./images/train/a.jpg\n./images/train/background.jpg\n./images/train/gone.jpg\n"
    )
    ds = read_yolo(src)
    assert [p.line() for p in ds.problems] == [
        f"{src / 'train.txt'}:3: lists './images/train/gone.jpg', not an image of the dataset"
    ]
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_yolo(ds, outputs, out)
    assert (out / "train.txt").read_text() == (
        "./images/train/a_night_0.jpg\n./images/train/background_night_0.jpg\n"
    )
    assert (out / "data.yaml").read_bytes() == (src / "data.yaml").read_bytes()


def test_absolute_split_paths_inside_the_input_point_to_the_output(tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    elsewhere = tmp_path / "other/images"
    (src / "data.yaml").write_text(
        f"train: {src / 'images/train'}\nval: [{src / 'images/val'}, {elsewhere}]\n"
        "names: [car, person]\n"
    )
    ds = read_yolo(src)
    assert [p.line() for p in ds.problems] == [
        f"{src / 'data.yaml'}: val: {elsewhere} lies outside the input folder {src}; the "
        "output's data.yaml keeps it unchanged, so it does not name the output's images (edit "
        "it there)"
    ]
    out = tmp_path / "out"
    write_yolo(ds, [], out)
    cfg = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert cfg["train"] == str(out.resolve() / "images/train")
    assert cfg["val"] == [str(out.resolve() / "images/val"), str(elsewhere)]


def test_image_lists_of_absolute_paths_list_the_outputs_once(tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    (src / "data.yaml").write_text(
        f"train: train.txt\nval: {src / 'train.txt'}\nnames: [car, person]\n"
    )
    (src / "train.txt").write_text(
        f"{src / 'images/train/a.jpg'}\n{src / 'images/train/gone.jpg'}\n"
    )
    ds = read_yolo(src)
    assert [p.line() for p in ds.problems] == [  # once, though train and val name the list
        f"{src / 'train.txt'}:2: lists '{src / 'images/train/gone.jpg'}', not an image of the "
        "dataset"
    ]
    out = tmp_path / "out"
    a = next(im for im in ds.images if im.rel == "images/train/a.jpg")
    write_yolo(ds, [OutputImage(a, "images/train/a_night_0.jpg", "night", 0)], out)
    assert (out / "train.txt").read_text() == f"{out.resolve() / 'images/train/a_night_0.jpg'}\n"
    assert yaml.safe_load((out / "data.yaml").read_text())["val"] == str(
        out.resolve() / "train.txt"
    )


def exif_rotated(path, width: int, height: int) -> None:
    """A ``width x height`` JPEG whose EXIF orientation (6) shows it turned a quarter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.zeros((height, width, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(path, exif=exif.tobytes())


def test_an_exif_rotated_image_has_its_upright_size_and_boxes(tmp_path):
    exif_rotated(tmp_path / "images/e.jpg", 60, 40)  # upright: 40 x 60
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels/e.txt").write_text("0 0.75 0.25 0.5 0.5\n")
    (tmp_path / "data.yaml").write_text("names: [thing]\n")
    ds = read_yolo(tmp_path)
    (img,) = ds.images
    assert (img.width, img.height) == (40, 60)
    assert img.boxes[0].xyxy == pytest.approx((20.0, 0.0, 40.0, 30.0))
    assert ds.problems == []


def test_tiff_images_are_read_and_other_labelled_files_reported(tmp_path):
    src = make_yolo(tmp_path, broken=False)
    save_image(src / "images/train/t.tif", 20, 10)
    save_image(src / "images/train/u.tiff", 20, 10)
    save_image(src / "images/train/g.gif", 20, 10)
    for name in ("t", "u", "g"):
        (src / f"labels/train/{name}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    ds = read_yolo(src)
    rels = {im.rel for im in ds.images}
    assert {"images/train/t.tif", "images/train/u.tiff"} <= rels
    assert "images/train/g.gif" not in rels
    assert [p.where for p in ds.problems] == [str(src / "images/train/g.gif")]
    assert "not an image suffix YOLO reads" in ds.problems[0].what


def test_nc_without_names_names_the_classes_by_index(tmp_path):
    src = make_yolo(tmp_path, broken=False)
    (src / "data.yaml").write_text("train: images/train\nnc: 2\n")
    ds = read_yolo(src)
    assert ds.categories == ["0", "1"] and ds.problems == []


def test_linked_split_folders_are_read_and_links_to_nothing_reported(tmp_path):
    """A split kept elsewhere and linked in (images/val -> /data/val) is part of the dataset
    (Python 3.11's rglob does not follow linked folders); a linked image whose file is gone is
    one problem, not a silent omission."""
    make_yolo(tmp_path / "store", broken=False)
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text((tmp_path / "store/data.yaml").read_text(encoding="utf-8"))
    for kind in ("images", "labels"):
        (root / kind / "train").symlink_to(tmp_path / "store" / kind / "train", True)
        (root / kind / "val").symlink_to(tmp_path / "store" / kind / "val", True)
    (root / "images/extra").mkdir()
    (root / "images/extra/gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    ds = read_yolo(root)
    assert sorted(im.rel for im in ds.images) == [
        "images/train/a.jpg",
        "images/train/background.jpg",
        "images/val/night/deep/ünï.png",
    ]
    assert next(im for im in ds.images if im.rel == "images/train/a.jpg").boxes
    (problem,) = ds.problems
    assert "gone.jpg" in problem.line() and "unreadable image" in problem.line()


def test_classes_txt_names_the_classes_and_is_copied(tmp_path):
    src = make_yolo(tmp_path / "in", broken=False)
    (src / "data.yaml").unlink()  # a darknet / LabelImg folder: the names in classes.txt
    (src / "classes.txt").write_bytes(b"car\r\nperson\r\n")
    ds = read_yolo(src)
    assert ds.categories == ["car", "person"] and ds.problems == []
    outs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_yolo(ds, outs, tmp_path / "out")
    assert (tmp_path / "out/classes.txt").read_bytes() == b"car\r\nperson\r\n"


def test_pose_lines_give_their_box_not_a_polygon_of_box_and_keypoints(tmp_path):
    """Ultralytics' pose labels (``kpt_shape`` in data.yaml): ``class cx cy w h`` then the
    keypoints; an even count of numbers must not be read as a segment's polygon."""
    src = make_yolo(tmp_path, broken=False)
    (src / "data.yaml").write_text("train: images/train\nkpt_shape: [2, 3]\nnames: [a, b]\n")
    (src / "labels/train/a.txt").write_text("0 0.5 0.5 0.25 0.5 0.45 0.4 2 0.55 0.6 2\n")
    ds = read_yolo(src)
    a = next(im for im in ds.images if im.rel == "images/train/a.jpg")
    assert a.boxes[0].xyxy == pytest.approx((18.0, 8.0, 30.0, 24.0)) and ds.problems == []


def test_a_label_file_that_is_not_utf8_is_one_problem_and_copied_as_it_is(tmp_path):
    """A label file with a Latin-1 byte (a comment written by some tool) does not stop the run:
    one problem line naming the file, its good lines read, the file copied byte for byte."""
    src = make_yolo(tmp_path / "in", broken=False)
    (src / "labels/train/a.txt").write_bytes(b"0 0.5 0.5 0.25 0.5\n1 0.1 0.2 0.1 0.2 # \xe9t\xe9\n")
    ds = read_yolo(src)
    lines = [p.line() for p in ds.problems]
    assert len(lines) == 2, lines
    assert any("a.txt" in line and "not UTF-8" in line for line in lines)
    assert any("a.txt:2" in line and "not a YOLO label line" in line for line in lines)
    first = next(im for im in ds.images if im.rel == "images/train/a.jpg")
    assert [b.category for b in first.boxes] == ["car"]
    out = tmp_path / "out"
    write_yolo(ds, [OutputImage(im, im.rel) for im in ds.images], out)
    assert (out / "labels/train/a.txt").read_bytes() == (src / "labels/train/a.txt").read_bytes()
