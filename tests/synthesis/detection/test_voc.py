"""Pascal VOC folders read into the common structure and written back with every tag."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from starganv2.synthesis.detection.dataset import OutputImage
from starganv2.synthesis.detection.voc import read_voc, write_voc
from tests.synthesis.detection.datasets import make_voc, save_image, tree_bytes


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


NESTED_XML = """<annotation><folder>{folder}</folder><filename>{filename}</filename>{path}
<size><width>32</width><height>32</height><depth>3</depth></size>
<object><name>car</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object>
</annotation>
"""


def make_nested_voc(root: Path) -> Path:
    """A VOC folder whose images sit in sub-folders of ``JPEGImages/``, named three ways:
    ``<filename>`` a path under JPEGImages (``deep/d.jpg``), a bare name with the XML in the
    mirrored sub-folder (``Annotations/site1/b.xml``), a bare name with the folder in
    ``<folder>`` and a Windows ``<path>`` (LabelImg)."""
    cases = {
        "Annotations/d.xml": ("VOC2007", "deep/d.jpg", "", "JPEGImages/deep/d.jpg"),
        "Annotations/site1/b.xml": ("VOC2007", "b.jpg", "", "JPEGImages/site1/b.jpg"),
        "Annotations/c.xml": (
            "night",
            "c.jpg",
            "<path>C:\\data\\JPEGImages\\night\\c.jpg</path>",
            "JPEGImages/night/c.jpg",
        ),
    }
    for n, (xml, (folder, filename, path, image)) in enumerate(cases.items()):
        save_image(root / image, 32, 32, n)
        (root / xml).parent.mkdir(parents=True, exist_ok=True)
        (root / xml).write_text(NESTED_XML.format(folder=folder, filename=filename, path=path))
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "ImageSets/Main/train.txt").write_text("d\nsite1/b\nc\n", encoding="utf-8")
    (root / "ImageSets/Main/bare.txt").write_text("b  1\n", encoding="utf-8")  # a bare stem
    return root


def test_images_in_sub_folders_are_found_and_their_translations_named_the_same_way(tmp_path):
    ds = read_voc(make_nested_voc(tmp_path / "in"))
    assert ds.problems == []
    assert sorted(im.rel for im in ds.images) == [
        "JPEGImages/deep/d.jpg",
        "JPEGImages/night/c.jpg",
        "JPEGImages/site1/b.jpg",
    ]
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_voc(ds, outputs, out)
    for o in outputs:  # the image files the augmentation would write
        save_image(out / o.rel, 32, 32)

    def tags(xml: str) -> tuple[str | None, ...]:
        top = ET.parse(out / xml).getroot()
        return top.findtext("folder"), top.findtext("filename"), top.findtext("path")

    assert tags("Annotations/d_night_0.xml") == ("VOC2007", "deep/d_night_0.jpg", None)
    assert tags("Annotations/site1/b_night_0.xml") == ("VOC2007", "b_night_0.jpg", None)
    assert tags("Annotations/c_night_0.xml") == (
        "night",
        "c_night_0.jpg",
        str(out.absolute() / "JPEGImages/night/c_night_0.jpg"),
    )
    again = read_voc(out)  # every XML leads back to its own written image, boxes unchanged
    assert again.problems == []
    assert sorted(im.rel for im in again.images) == sorted(o.rel for o in outputs)
    assert {b.xyxy for im in again.images for b in im.boxes} == {(2.0, 3.0, 20.0, 30.0)}
    sets = (out / "ImageSets/Main/train.txt").read_text(encoding="utf-8").splitlines()
    assert sets == ["d_night_0", "site1/b_night_0", "c_night_0"]
    bare = (out / "ImageSets/Main/bare.txt").read_text(encoding="utf-8").splitlines()
    assert bare == ["b_night_0  1"]


def test_a_filename_outside_the_folder_is_not_followed(tmp_path):
    voc = make_nested_voc(tmp_path / "in")
    save_image(tmp_path / "in/outside.jpg", 32, 32)
    xml = voc / "Annotations/d.xml"
    xml.write_text(xml.read_text().replace("deep/d.jpg", "../outside.jpg"))
    ds = read_voc(voc)
    assert [p.line() for p in ds.problems] == [
        f"{xml}: image '../outside.jpg' not found in {voc / 'JPEGImages'}; left out"
    ]


def test_segmentation_masks_follow_their_images_and_unknown_set_ids_are_problems(tmp_path):
    """A translation keeps its source's geometry, so its masks are the source's: a segmentation
    loader reading ImageSets/Segmentation of the output finds a mask for every id. A list line
    naming no XML file was dropped silently."""
    voc = make_voc(tmp_path / "in", broken=False) / "VOC2007"
    for folder, value in (("SegmentationClass", 7), ("SegmentationObject", 1)):
        (voc / folder).mkdir()
        Image.new("P", (48, 32), value).save(voc / folder / "000001.png")
    (voc / "ImageSets/Segmentation").mkdir()
    (voc / "ImageSets/Segmentation/train.txt").write_text("000001\nno_such_id\n")
    ds = read_voc(voc.parent)
    assert [p.line() for p in ds.problems] == [
        "ImageSets/Segmentation/train.txt: line 2: id 'no_such_id' has no "
        "Annotations/no_such_id.xml; left out of the output's list"
    ]
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_voc(ds, outputs, out)
    listed = (out / "ImageSets/Segmentation/train.txt").read_text().split()
    assert listed == ["000001_night_0"]
    for folder in ("SegmentationClass", "SegmentationObject"):
        for i in listed:
            assert (out / folder / f"{i}.png").read_bytes() == (
                voc / folder / "000001.png"
            ).read_bytes()
    assert not (out / "SegmentationClass" / "ü2_night_0.png").exists()  # its source has none


def test_the_mirrored_sub_folder_wins_over_a_same_named_image_at_the_top(tmp_path):
    """``Annotations/site1/a.xml`` naming ``a.jpg`` is the image in ``JPEGImages/site1/``, even
    where ``JPEGImages/a.jpg`` (the image of ``Annotations/a.xml``) exists: both are read."""
    root = tmp_path / "in"
    for xml, image in (("a.xml", "a.jpg"), ("site1/a.xml", "site1/a.jpg")):
        save_image(root / "JPEGImages" / image, 32, 32)
        (root / "Annotations" / xml).parent.mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / xml).write_text(
            NESTED_XML.format(folder="VOC2007", filename="a.jpg", path="")
        )
    ds = read_voc(root)
    assert ds.problems == []
    assert sorted(im.rel for im in ds.images) == ["JPEGImages/a.jpg", "JPEGImages/site1/a.jpg"]


def test_two_xml_files_of_one_image_are_one_problem_naming_both(tmp_path):
    root = tmp_path / "in"
    save_image(root / "JPEGImages/a.jpg", 32, 32)
    for xml in ("a.xml", "copy.xml"):
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / xml).write_text(
            NESTED_XML.format(folder="VOC2007", filename="a.jpg", path="")
        )
    ds = read_voc(root)
    assert [im.rel for im in ds.images] == ["JPEGImages/a.jpg"]
    assert [p.line() for p in ds.problems] == [
        f"{root / 'Annotations/copy.xml'}: its image {root / 'JPEGImages/a.jpg'} is that of "
        f"{root / 'Annotations/a.xml'} too; left out (one XML file per image: merge the two, or "
        "give this one its own image)"
    ]


def test_two_images_of_one_name_in_two_folders_keep_their_own_xml(tmp_path):
    """``Annotations/x.xml`` naming ``s1/a.jpg`` and ``Annotations/y.xml`` naming ``s2/a.jpg``:
    each translation gets its own XML (named after its source's XML), none overwrites the
    other, and each image-set id names its own."""
    root = tmp_path / "in"
    for xml, image, box in (("x", "s1/a.jpg", 5), ("y", "s2/a.jpg", 9)):
        save_image(root / "JPEGImages" / image, 32, 32)
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        text = NESTED_XML.format(folder="VOC", filename=image, path="")
        (root / f"Annotations/{xml}.xml").write_text(text.replace("<xmax>20<", f"<xmax>{box}<"))
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "ImageSets/Main/train.txt").write_text("x\ny\n", encoding="utf-8")
    ds = read_voc(root)
    out = tmp_path / "out"
    outputs = [OutputImage(im, im.rel.replace(".", "_night_0."), "night", 0) for im in ds.images]
    write_voc(ds, outputs, out)
    for o in outputs:
        save_image(out / o.rel, 32, 32)
    again = read_voc(out)
    assert again.problems == []
    boxes = {im.rel: [b.xyxy for b in im.boxes] for im in again.images}
    assert boxes == {
        "JPEGImages/s1/a_night_0.jpg": [(2.0, 3.0, 5.0, 30.0)],
        "JPEGImages/s2/a_night_0.jpg": [(2.0, 3.0, 9.0, 30.0)],
    }
    sets = (out / "ImageSets/Main/train.txt").read_text(encoding="utf-8").splitlines()
    assert sets == ["x_night_0", "y_night_0"]
