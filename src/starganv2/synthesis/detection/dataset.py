"""The one in-memory form of a detection dataset, whatever its file format.

Readers (:mod:`.coco`, :mod:`.yolo`, :mod:`.voc`) fill a :class:`DetectionDataset`; writers take
it back with the list of images to write (:class:`OutputImage`). Translation changes pixels, not
geometry (``fit=letterbox`` keeps every box exactly), so an output image carries its source's
annotations unchanged: each record keeps the original one verbatim in ``raw`` (a COCO annotation
dict, a YOLO label line, a VOC ``<object>`` element), and writers write ``raw``, never a
re-encoding of :attr:`Box.xyxy`. ``xyxy`` exists to check boxes and to compare them with a
detector's.

Problems in the input (an annotation without its image, a box outside its image, an unreadable
image, a class id missing from the names) never stop a run: each is one :class:`Problem` in
:attr:`DetectionDataset.problems` and one line of the run's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = [
    "Box",
    "DetectionImage",
    "DetectionDataset",
    "OutputImage",
    "Problem",
    "DetectionFormatError",
    "box_problem",
    "upright_size",
]

_SWAPPED = {5, 6, 7, 8}
"""EXIF orientations that turn the picture a quarter: its upright width is the stored height."""


class DetectionFormatError(ValueError):
    """The input is not a dataset of the expected format, or holds no image at all."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: ``where`` (a file, or ``file: record``) and ``what``."""

    where: str
    what: str

    def line(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Box:
    """One object.

    Attributes:
        category: the class name (the class id as a string where the names do not have it).
        xyxy: ``(x0, y0, x1, y1)`` in absolute pixels of the image, as the file gives them
            (VOC's 1-based corner pixels are kept as written).
        raw: the original record, written back verbatim.
    """

    category: str
    xyxy: tuple[float, float, float, float]
    raw: Any = None


@dataclass
class DetectionImage:
    """One image of the dataset.

    Attributes:
        path: the image file.
        rel: where the image sits in the dataset, as a POSIX path relative to its root (COCO's
            ``file_name``, ``images/train/a.jpg`` for YOLO, ``JPEGImages/a.jpg`` for VOC);
            outputs mirror it.
        width, height: the size the annotation says (pixels); where it gives none (YOLO, a
            COCO record or VOC ``<size>`` without one), the image's upright size (EXIF applied).
        boxes: its objects (maybe none: images without objects are kept).
        raw: the format's own record of the image (COCO image dict, VOC tree, YOLO label path).
    """

    path: Path
    rel: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    raw: Any = None


@dataclass
class DetectionDataset:
    """A detection dataset read from ``source`` (a COCO JSON file or a dataset folder).

    Attributes:
        format: ``"coco"``, ``"yolo"`` or ``"voc"``.
        source: what was read.
        categories: class names, in the file's order.
        images: every image with a readable record (missing files are left out with a problem).
        meta: what the format holds besides images and boxes, kept for writing (COCO's other
            top-level keys in order, YOLO's ``data.yaml``, VOC's image-set lists).
        problems: everything found wrong while reading.
    """

    format: str
    source: Path
    categories: list[str]
    images: list[DetectionImage]
    meta: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class OutputImage:
    """An image of the output dataset: a translation of ``source`` into ``domain`` (style ``k``),
    or with ``domain=None`` the source itself (``include_source=true``). ``rel`` is its POSIX path
    relative to the output root."""

    source: DetectionImage
    rel: str
    domain: str | None = None
    k: int | None = None

    @property
    def is_source(self) -> bool:
        return self.domain is None


def box_problem(xyxy: tuple[float, float, float, float], width: int, height: int) -> str | None:
    """Why a box does not lie inside a ``width x height`` image (or is empty); ``None`` if it does.

    A pixel of slack on the far edges allows VOC's 1-based corners (``xmax == width``).
    """
    x0, y0, x1, y1 = xyxy
    if not (x1 > x0 and y1 > y0):
        return f"empty box {list(xyxy)} (expected x0 < x1 and y0 < y1)"
    if x0 < 0 or y0 < 0 or x1 > width + 1 or y1 > height + 1:
        return f"box {list(xyxy)} lies outside the {width}x{height} image (kept as it is)"
    return None


def upright_size(img: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of the opened ``img`` once its EXIF orientation is applied: the size
    the translator decodes and writes (:func:`starganv2.data.folders.load_image`), and the one
    Ultralytics normalises YOLO labels by."""
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the decoder ignores it too
        orientation = None
    return (h, w) if orientation in _SWAPPED else (w, h)
