"""The detection formats by name (:data:`FORMATS`), telling them apart, and reading or writing
any of them through one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from starganv2.synthesis.detection.coco import read_coco, write_coco
from starganv2.synthesis.detection.dataset import (
    DetectionDataset,
    DetectionFormatError,
    OutputImage,
)
from starganv2.synthesis.detection.voc import read_voc, refuse_several_voc, voc_root, write_voc
from starganv2.synthesis.detection.yolo import find_data_yaml, read_yolo, write_yolo

__all__ = ["FORMATS", "DetectionFormat", "detect_format", "read_dataset", "write_dataset"]


@dataclass(frozen=True)
class DetectionFormat:
    """A format's reader ``read(path) -> DetectionDataset`` and writer
    ``write(dataset, outputs, root)`` (annotations only; image files are written by the caller)."""

    read: Callable[[Path], DetectionDataset]
    write: Callable[[DetectionDataset, Sequence[OutputImage], Path], Path]


FORMATS: dict[str, DetectionFormat] = {
    "coco": DetectionFormat(read_coco, write_coco),
    "yolo": DetectionFormat(read_yolo, write_yolo),
    "voc": DetectionFormat(read_voc, write_voc),
}


def detect_format(path: str | Path) -> str:
    """``"coco"`` for a ``.json`` file, ``"voc"`` for a folder with ``Annotations/`` (or one
    sub-folder with it), ``"yolo"`` for a folder with ``data.yaml`` or an ``images/`` folder."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if path.is_dir():
        if voc_root(path) is not None:
            return "voc"
        if find_data_yaml(path) is not None or next(path.rglob("images"), None) is not None:
            return "yolo"
        refuse_several_voc(path)
    what = "no such file or folder" if not path.exists() else "of no known format"
    raise DetectionFormatError(
        f"input={path} is {what}: expected a COCO .json file, a YOLO folder (data.yaml, "
        "images/, labels/) or a Pascal VOC folder (Annotations/, JPEGImages/); set "
        "format=coco|yolo|voc to say which"
    )


def read_dataset(
    path: str | Path, format: str = "auto", images_dir: str | Path | None = None
) -> DetectionDataset:
    """Read the detection dataset at ``path`` in ``format`` (``"auto"``: :func:`detect_format`).

    ``images_dir`` (COCO only) is where the JSON's ``file_name``s are found (default: beside it).
    Raises :class:`DetectionFormatError` for an unknown format, an input that is not of the
    format, or a dataset without a single usable image.
    """
    if format != "auto" and format not in FORMATS:
        raise DetectionFormatError(
            f"format={format!r} is invalid: expected auto or one of {sorted(FORMATS)}"
        )
    name = detect_format(path) if format == "auto" else format
    if images_dir is not None and name != "coco":
        raise DetectionFormatError(
            f"images={images_dir} is for COCO files (where the images are); input={path} is {name}"
        )
    ds = read_coco(Path(path), images_dir) if name == "coco" else FORMATS[name].read(Path(path))
    if not ds.images:
        found = "; ".join(p.line() for p in ds.problems[:3]) or "no image records at all"
        raise DetectionFormatError(
            f"input={path} ({name}) holds no usable image: {found}"
            + (f" (and {len(ds.problems) - 3} more problems)" if len(ds.problems) > 3 else "")
        )
    return ds


def write_dataset(ds: DetectionDataset, outputs: Sequence[OutputImage], root: str | Path) -> Path:
    """Write the annotations of ``outputs`` under ``root`` in ``ds``'s format."""
    return FORMATS[ds.format].write(ds, outputs, Path(root))
