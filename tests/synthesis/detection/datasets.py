"""Small detection datasets shaped like real ones, with their awkward corners: non-contiguous
ids, crowd annotations with RLE, images without objects, nested folders, unicode file names,
non-square images, VOC's extra tags, and a few broken records (each builder says which)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def save_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


COCO_CATEGORIES = [
    {"id": 5, "name": "car", "supercategory": "vehicle"},
    {"id": 9, "name": "person", "supercategory": "person"},
]


def make_coco(root: Path, broken: bool = True) -> Path:
    """``root/annotations.json`` with images beside it. With ``broken``: an image record whose
    file is missing (id 20), an annotation of an image id not in ``images`` (300) and a box
    outside its image (301)."""
    save_image(root / "a.jpg", 48, 32, 1)
    save_image(root / "sub" / "über bild.png", 32, 40, 2)
    save_image(root / "empty.jpg", 40, 40, 3)
    images = [
        {"id": 7, "file_name": "a.jpg", "width": 48, "height": 32, "license": 1, "flickr_url": "x"},
        {"id": 3, "file_name": "sub/über bild.png", "width": 32, "height": 40},
        {"id": 12, "file_name": "empty.jpg", "width": 40, "height": 40},
    ]
    annotations = [
        {
            "id": 100,
            "image_id": 7,
            "category_id": 5,
            "bbox": [4, 4, 10, 8],
            "area": 80.0,
            "iscrowd": 0,
            "segmentation": [[4, 4, 14, 4, 14, 12, 4, 12]],
        },
        {
            "id": 205,
            "image_id": 7,
            "category_id": 9,
            "bbox": [20.5, 2, 12, 20],
            "area": 200,
            "iscrowd": 1,
            "segmentation": {"size": [32, 48], "counts": [100, 20, 12, 20, 1384]},
            "attributes": {"occluded": True},
        },
        {
            "id": 101,
            "image_id": 3,
            "category_id": 9,
            "bbox": [1, 2, 30, 37],
            "area": 1110,
            "iscrowd": 0,
        },
    ]
    if broken:
        images.append({"id": 20, "file_name": "missing.jpg", "width": 10, "height": 10})
        annotations += [
            {
                "id": 300,
                "image_id": 99,
                "category_id": 5,
                "bbox": [0, 0, 1, 1],
                "area": 1,
                "iscrowd": 0,
            },
            {
                "id": 301,
                "image_id": 3,
                "category_id": 5,
                "bbox": [30, 30, 20, 20],
                "area": 400,
                "iscrowd": 0,
            },
        ]
    doc = {
        "info": {"description": "awkward", "version": "1.0"},
        "licenses": [{"id": 1, "name": "CC-BY", "url": "http://example.invalid"}],
        "images": images,
        "x_tool": {"exported_by": "labeller 3"},
        "annotations": annotations,
        "categories": COCO_CATEGORIES,
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


DATA_YAML = "# classes of the toy set\npath: {path}\ntrain: images/train\nval: images/val\nnames:\n  0: car\n  1: person\n"


def make_yolo(root: Path, broken: bool = True, with_path: bool = False) -> Path:
    """A YOLO folder: ``data.yaml`` (a comment; ``path:`` only with ``with_path``), images at two
    depths, CRLF label lines, a background image without a label file. With ``broken``: a class
    id not in the names, a box outside the image and an unreadable image."""
    text = DATA_YAML.format(path=root) if with_path else DATA_YAML.replace("path: {path}\n", "")
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(text, encoding="utf-8")
    save_image(root / "images/train/a.jpg", 48, 32, 1)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_bytes(b"0 0.5 0.5 0.25 0.5\r\n1 0.1 0.2 0.1 0.2\r\n")
    save_image(root / "images/train/background.jpg", 40, 24, 2)
    save_image(root / "images/val/night/deep/ünï.png", 32, 40, 3)
    (root / "labels/val/night/deep").mkdir(parents=True)
    lines = "1 0.5 0.5 0.5 0.5\n"
    if broken:
        lines += "7 0.5 0.5 0.2 0.2\n0 1.2 0.5 0.4 0.2\n"
        (root / "images/train/broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "labels/val/night/deep/ünï.txt").write_text(lines, encoding="utf-8")
    return root


VOC_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
\t<folder>VOC2007</folder>
\t<filename>000001.jpg</filename>
\t<!-- checked by hand -->
\t<source><database>The VOC2007 Database</database><flickrid>341012865</flickrid></source>
\t<size><width>48</width><height>32</height><depth>3</depth></size>
\t<segmented>0</segmented>
\t<object>
\t\t<name>car</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
\t\t<occluded>1</occluded>
\t\t<bndbox><xmin>5</xmin><ymin>6</ymin><xmax>20</xmax><ymax>30</ymax></bndbox>
\t</object>
\t<object>
\t\t<name>person</name><pose>Unspecified</pose><truncated>0</truncated><difficult>1</difficult>
\t\t<bndbox><xmin>22.5</xmin><ymin>1</ymin><xmax>48</xmax><ymax>32</ymax></bndbox>
\t\t<part><name>head</name><bndbox><xmin>30</xmin><ymin>1</ymin><xmax>40</xmax><ymax>9</ymax></bndbox></part>
\t</object>
</annotation>
"""

VOC_XML_2 = """<annotation><filename>ü2.png</filename><path>/data/voc/JPEGImages/ü2.png</path>
<size><width>32</width><height>40</height><depth>3</depth></size>
<object><name>person</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>{xmax}</xmax><ymax>40</ymax></bndbox></object>
</annotation>
"""


def make_voc(root: Path, broken: bool = True) -> Path:
    """``root/VOCdevkit`` (returned) holding ``VOC2007/``: two images with their XML, image-set
    lists. With ``broken``: a box outside its image and an XML file whose image is missing."""
    voc = root / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    save_image(voc / "JPEGImages/000001.jpg", 48, 32, 1)
    save_image(voc / "JPEGImages/ü2.png", 32, 40, 2)
    (voc / "Annotations/000001.xml").write_text(VOC_XML, encoding="utf-8")
    (voc / "Annotations/ü2.xml").write_text(
        VOC_XML_2.format(xmax=50 if broken else 32), encoding="utf-8"
    )
    if broken:
        (voc / "Annotations/orphan.xml").write_text(
            "<annotation><filename>orphan.jpg</filename></annotation>", encoding="utf-8"
        )
    (voc / "ImageSets/Main").mkdir(parents=True)
    (voc / "ImageSets/Main/train.txt").write_text("000001\nü2\n", encoding="utf-8")
    (voc / "ImageSets/Main/car_train.txt").write_text("000001  1\nü2 -1\n", encoding="utf-8")
    return voc.parent


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (to show a folder was not touched)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
