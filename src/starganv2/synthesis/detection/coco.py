"""COCO detection files: one JSON with ``images``, ``annotations`` and ``categories``.

Read: image files are found at ``file_name`` relative to the JSON's folder, or to ``images_dir``
(``\\`` is a separator too, as in files written on Windows). An output mirrors its source's
``file_name``; ``file_name``s that leave that folder (``../site1/a.jpg``, absolute paths) keep
their path below the folder they all share (``site1/a.jpg``), so sources never share an output.
Two records of one file (or of paths that still coincide) are a problem: the second is left out.
Every record is kept verbatim (``iscrowd``, ``segmentation`` polygons and RLE, ``area``, extra
keys), as are the other top-level blocks (``info``, ``licenses``, anything else) in their order.
Boxes are COCO's ``[x, y, w, h]`` in pixels, held as ``xyxy``.

Write: one JSON named like the input, in the output folder; ``file_name`` is each output's path
relative to it. A translated image gets a new image id and its annotations new ids, counted up
from the largest integer id the input uses, so they never collide with the source's; copied
sources (``include_source=true``) keep theirs. Images without annotations are written too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from starganv2.synthesis.detection.dataset import (
    Box,
    DetectionDataset,
    DetectionFormatError,
    DetectionImage,
    OutputImage,
    Problem,
    box_problem,
    upright_size,
)
from starganv2.utils.files import atomic_write_text

__all__ = ["read_coco", "write_coco"]


def _next_id(ids: Sequence[Any]) -> int:
    """One more than the largest integer id (0 when there is none)."""
    ints = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    return max(ints) + 1 if ints else 0


def _image_size(rec: dict, file: Path) -> tuple[int, int] | None:
    w, h = rec.get("width"), rec.get("height")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    try:
        with Image.open(file) as img:
            return upright_size(img)
    except Exception:  # noqa: BLE001 - any decoder error means the same: unreadable
        return None


def _image_file(root: Path, file_name: str) -> Path:
    """The file ``file_name`` names under ``root``: as written, else with ``\\`` read as a
    separator (a ``file_name`` written on Windows)."""
    file = root / file_name
    if "\\" in file_name and not file.is_file():
        file = root / file_name.replace("\\", "/")
    return file


def _rels(names: Sequence[str], files: Sequence[Path]) -> list[str]:
    """Each image's path in the output: its ``file_name`` (POSIX) where it stays below
    the images' folder; for those that leave it (``../x``, absolute), the path below the folder all of
    those share, so two files never get one path by losing their folders."""
    rels: list[str | None] = []
    outside: list[int] = []
    for i, name in enumerate(names):
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or not p.parts:
            rels.append(None)
            outside.append(i)
        else:
            rels.append(p.as_posix())
    if outside:
        full = [os.path.normpath(os.path.abspath(files[i])) for i in outside]
        base = os.path.commonpath([os.path.dirname(f) for f in full])
        for i, f in zip(outside, full):
            rels[i] = Path(os.path.relpath(f, base)).as_posix()
    return [r for r in rels if r is not None]


def read_coco(path: str | Path, images_dir: str | Path | None = None) -> DetectionDataset:
    """Read the COCO JSON file ``path`` (see the module docstring).

    Raises :class:`DetectionFormatError` when ``path`` is not a COCO JSON file; problems with
    single records (an annotation pointing to a missing image id, a missing image file, a box
    outside its image, an unknown ``category_id``) are in ``problems``.
    """
    path = Path(path)
    if not path.is_file():
        raise DetectionFormatError(f"input={path} is not a file; expected a COCO .json file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DetectionFormatError(
            f"input={path} is not a COCO JSON file: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DetectionFormatError(
            f"input={path} is not a COCO detection file: expected a JSON object with an "
            f"'images' list, got keys {sorted(data) if isinstance(data, dict) else type(data)}"
        )
    annotations = data.get("annotations") or []
    categories = data.get("categories") or []
    names = {
        c["id"]: str(c.get("name", c["id"]))
        for c in categories
        if isinstance(c, dict) and "id" in c
    }
    root = Path(images_dir) if images_dir is not None else path.parent
    problems: list[Problem] = []
    by_id: dict[Any, DetectionImage | None] = {}
    images: list[DetectionImage] = []
    records = [
        rec
        for rec in data["images"]
        if isinstance(rec, dict)
        and "id" in rec
        and rec.get("file_name")
        and isinstance(rec["file_name"], str)
    ]
    files = [_image_file(root, rec["file_name"]) for rec in records]
    rels = dict(zip(map(id, records), _rels([r["file_name"] for r in records], files)))
    files_by_rec = dict(zip(map(id, records), files))
    taken: dict[str, Any] = {}  # output path -> the image id that has it
    for rec in data["images"]:
        if id(rec) not in rels:
            problems.append(Problem(str(path), f"image record {rec!r} has no 'id' or 'file_name'"))
            continue
        iid = rec["id"]
        if iid in by_id:
            problems.append(
                Problem(str(path), f"image id {iid!r} appears twice; the second is left out")
            )
            continue
        file, rel = files_by_rec[id(rec)], rels[id(rec)]
        if rel in taken:
            problems.append(
                Problem(
                    str(path),
                    f"image id {iid!r} ({rec['file_name']!r}) has the path {rel} of image id "
                    f"{taken[rel]!r} (the same file, or one that differs only in its folders "
                    "outside the dataset); left out with its annotations: give each image one "
                    "record and its own file_name",
                )
            )
            by_id[iid] = None
            continue
        size = _image_size(rec, file) if file.is_file() else None
        if size is None:
            what = "no such file" if not file.is_file() else "unreadable image"
            problems.append(
                Problem(
                    str(file),
                    f"image id {iid!r}: {what}; the image and its annotations are left out",
                )
            )
            by_id[iid] = None
            continue
        img = DetectionImage(file, rel, size[0], size[1], raw=rec)
        taken[rel] = iid
        by_id[iid] = img
        images.append(img)
    for ann in annotations:
        iid = ann.get("image_id") if isinstance(ann, dict) else None
        if iid not in by_id:
            problems.append(
                Problem(
                    str(path),
                    f"annotation id {ann.get('id') if isinstance(ann, dict) else ann!r} points to "
                    f"image id {iid!r}, which is not in 'images'; left out",
                )
            )
            continue
        img = by_id[iid]
        if img is None:
            continue  # its image is reported already
        where = f"{path.name}: annotation id {ann.get('id')!r}"
        bbox = ann.get("bbox")
        if (
            isinstance(bbox, list)
            and len(bbox) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
        ):
            x, y, w, h = (float(v) for v in bbox)
            xyxy = (x, y, x + w, y + h)
            why = box_problem(xyxy, img.width, img.height)
        else:
            xyxy, why = (0.0, 0.0, 0.0, 0.0), f"bbox {bbox!r} is not [x, y, w, h] (kept as it is)"
        if why:
            problems.append(Problem(where, f"{why} in image {img.rel}"))
        cid = ann.get("category_id")
        if cid not in names:
            problems.append(Problem(where, f"category_id {cid!r} is not in 'categories' (kept)"))
        img.boxes.append(Box(names.get(cid, str(cid)), xyxy, raw=ann))
    meta = {
        "file_name": path.name,
        "top": {k: v for k, v in data.items() if k not in ("images", "annotations")},
        "keys": list(data) + ([] if "annotations" in data else ["annotations"]),
        "next_image_id": _next_id([r.get("id") for r in data["images"] if isinstance(r, dict)]),
        "next_annotation_id": _next_id([a.get("id") for a in annotations if isinstance(a, dict)]),
    }
    return DetectionDataset("coco", path, list(names.values()), images, meta, problems)


def write_coco(ds: DetectionDataset, outputs: Sequence[OutputImage], root: str | Path) -> Path:
    """Write the COCO JSON of ``outputs`` into the folder ``root`` (named like the input);
    returns its path. Image files are not written here."""
    image_id, ann_id = ds.meta["next_image_id"], ds.meta["next_annotation_id"]
    images: list[dict] = []
    annotations: list[dict] = []
    for out in outputs:
        rec = dict(out.source.raw)
        rec["file_name"] = out.rel
        anns = [dict(box.raw) for box in out.source.boxes]
        if not out.is_source:
            rec["id"] = image_id
            image_id += 1
            for ann in anns:
                ann["id"], ann["image_id"] = ann_id, rec["id"]
                ann_id += 1
        images.append(rec)
        annotations.extend(anns)
    body = {"images": images, "annotations": annotations}
    doc = {k: body[k] if k in body else ds.meta["top"][k] for k in ds.meta["keys"]}
    target = Path(root) / ds.meta["file_name"]
    return atomic_write_text(target, json.dumps(doc, ensure_ascii=False) + "\n")
