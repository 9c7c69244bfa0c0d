"""Pascal VOC folders read into the common structure and written back with every tag."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starganv2.synthesis.detection.dataset import OutputImage
from starganv2.synthesis.detection.voc import read_voc, write_voc
from tests.synthesis.detection.datasets import make_voc, tree_bytes


def test_reads_the_devkit_folder_with_corner_boxes(tmp_path):
    ds = read_voc(make_voc(tmp_path, broken=False))
    assert ds.source.name == "VOC2007"
    assert ds.categories == ["car", "person"]
    by_rel = {im.rel: im for im in ds.images}
    assert sorted(by_rel) == ["JPEGImages/000001.jpg", "JPEGImages/ü2.png"]
    first = by_rel["JPEGImages/000001.jpg"]
    assert (first.width, first.height) == (48, 32)
    assert [b.xyxy for b in first.boxes] == [(5.0, 6.0, 20.0, 30.0), (22.5, 1.0, 48.0, 32.0)]
    assert first.boxes[1].raw.findtext("difficult") == "1"
    assert ds.problems == []


def test_each_broken_file_or_box_is_one_problem(tmp_path):
    ds = read_voc(make_voc(tmp_path))
    lines = [p.line() for p in ds.problems]
    assert len(lines) == 2, lines
    assert any("orphan.xml" in line and "not found" in line for line in lines)
    assert any("ü2.xml" in line and "outside the 32x40 image" in line for line in lines)


def test_sources_written_back_are_byte_identical(tmp_path):
    ds = read_voc(make_voc(tmp_path / "in", broken=False))
    out = tmp_path / "out"
    write_voc(ds, [OutputImage(im, im.rel) for im in ds.images], out)
    want = {k: v for k, v in tree_bytes(ds.source).items() if not k.startswith("JPEGImages/")}
    assert tree_bytes(out) == want


def test_translations_keep_every_tag_and_name_their_image(tmp_path):
    ds = read_voc(make_voc(tmp_path / "in", broken=False))
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel) for im in ds.images]
    outputs += [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_voc(ds, outputs, out)
    src = ET.parse(ds.source / "Annotations/000001.xml").getroot()
    new_text = (out / "Annotations/000001_night_0.xml").read_text(encoding="utf-8")
    assert new_text.startswith("<?xml") and "<!-- checked by hand -->" in new_text
    new = ET.fromstring(new_text)
    assert new.findtext("filename") == "000001_night_0.jpg"
    for tag in ("folder", "source", "size", "segmented", "object"):
        assert [ET.tostring(e) for e in new.findall(tag)] == [
            ET.tostring(e) for e in src.findall(tag)
        ]
    other = ET.parse(out / "Annotations/ü2_night_0.xml").getroot()
    assert other.findtext("path") == str(out / "JPEGImages/ü2_night_0.png")
    sets = (out / "ImageSets/Main/car_train.txt").read_text(encoding="utf-8").splitlines()
    assert sets == ["000001  1", "000001_night_0  1", "ü2 -1", "ü2_night_0 -1"]
