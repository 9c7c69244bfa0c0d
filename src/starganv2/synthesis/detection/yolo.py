"""YOLO detection folders: images under an ``images/`` folder (any depth), one label file per
image at the same path under ``labels/`` (the last ``images`` component of the path replaced,
suffix ``.txt``), class names in ``data.yaml``.

A label line is ``class cx cy w h`` normalised to ``[0, 1]`` (or a segment ``class x1 y1 x2 y2
...``, whose bounding box is used); it is kept verbatim, so writing copies each label file as it
is. An image without a label file (a background image) gets none in the output either.
``data.yaml`` is copied as it is, unless it has a ``path:`` key, which is set to the output folder
(the file is then re-serialised, comments lost). Splits given as image-list files (``train:
train.txt``, relative to the folder) get a list of the output images of the listed sources.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import yaml
from PIL import Image

from starganv2.data.folders import is_image_file
from starganv2.synthesis.detection.dataset import (
    Box,
    DetectionDataset,
    DetectionFormatError,
    DetectionImage,
    OutputImage,
    Problem,
    box_problem,
)
from starganv2.utils.files import atomic_write, atomic_write_text

__all__ = ["read_yolo", "write_yolo", "label_rel", "find_data_yaml", "DATA_YAML_NAMES"]

DATA_YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")


def find_data_yaml(root: Path) -> Path | None:
    """The class-names file in ``root``: ``data.yaml`` (or ``dataset.yaml``, ``.yml``)."""
    for name in DATA_YAML_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def label_rel(image_rel: str) -> str:
    """``images/train/a.jpg`` -> ``labels/train/a.txt`` (the last ``images`` part replaced)."""
    parts = list(PurePosixPath(image_rel).parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    parts[i] = "labels"
    return PurePosixPath(*parts).with_suffix(".txt").as_posix()


def _names(yaml_path: Path | None) -> tuple[dict[int, str], dict]:
    if yaml_path is None:
        return {}, {}
    try:
        cfg = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise DetectionFormatError(f"{yaml_path} is not a YAML file: {err}") from err
    names = cfg.get("names") if isinstance(cfg, dict) else None
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}, cfg
    if isinstance(names, dict):
        return {int(i): str(n) for i, n in names.items()}, cfg
    raise DetectionFormatError(
        f"{yaml_path}: 'names' is {names!r}; expected a list of class names or a mapping "
        "{id: name}"
    )


def _parse_line(line: str, w: int, h: int) -> tuple[int, tuple[float, float, float, float]] | str:
    """``(class id, xyxy in pixels)`` of a label line, or why it is not one."""
    tokens = line.split()
    try:
        cls, nums = int(tokens[0]), [float(t) for t in tokens[1:]]
    except (ValueError, IndexError):
        return f"not a YOLO label line: {line!r} (expected 'class cx cy w h')"
    if len(nums) == 4:
        cx, cy, bw, bh = nums
        return cls, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
    if len(nums) >= 6 and len(nums) % 2 == 0:
        xs, ys = nums[0::2], nums[1::2]
        return cls, (min(xs) * w, min(ys) * h, max(xs) * w, max(ys) * h)
    return f"not a YOLO label line: {line!r} ({len(nums)} numbers after the class id; expected 4)"


def read_yolo(root: str | Path) -> DetectionDataset:
    """Read the YOLO dataset folder ``root`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DetectionFormatError(f"input={root} is not a folder; expected a YOLO dataset folder")
    yaml_path = find_data_yaml(root)
    names, cfg = _names(yaml_path)
    names_file = yaml_path.name if yaml_path else "the names (no data.yaml)"
    problems: list[Problem] = []
    images: list[DetectionImage] = []
    files = sorted(
        p
        for p in root.rglob("*")
        if is_image_file(p) and "images" in p.relative_to(root).parts[:-1]
    )
    for file in files:
        rel = file.relative_to(root).as_posix()
        try:
            with Image.open(file) as img:
                w, h = img.size
        except Exception as err:  # noqa: BLE001 - any decoder error means the same: unreadable
            problems.append(
                Problem(str(file), f"unreadable image ({type(err).__name__}); left out")
            )
            continue
        label = root / label_rel(rel)
        boxes = []
        if label.is_file():
            for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parsed = _parse_line(line, w, h)
                where = f"{label}:{n}"
                if isinstance(parsed, str):
                    problems.append(Problem(where, parsed + " (kept as it is)"))
                    continue
                cls, xyxy = parsed
                if cls not in names:
                    problems.append(
                        Problem(
                            where,
                            f"class id {cls} is not in {names_file} ({len(names)} names; kept)",
                        )
                    )
                why = box_problem(xyxy, w, h)
                if why:
                    problems.append(Problem(where, why))
                boxes.append(Box(names.get(cls, str(cls)), xyxy, raw=line))
        raw = {"label": label_rel(rel) if label.is_file() else None}
        images.append(DetectionImage(file, rel, w, h, boxes, raw=raw))
    found = {p.relative_to(root).as_posix() for p in files}
    lists = _image_lists(root, cfg, found, problems)
    meta = {"yaml_name": yaml_path.name if yaml_path else None, "yaml": cfg, "lists": lists}
    return DetectionDataset("yolo", root, list(names.values()), images, meta, problems)


def write_yolo(ds: DetectionDataset, outputs: Sequence[OutputImage], root: str | Path) -> Path:
    """Write the label file of every output that has one, and ``data.yaml``, under ``root``;
    returns ``root``. Image files are not written here."""
    root = Path(root)
    for out in outputs:
        src = out.source.raw["label"]
        if src is not None:
            _copy(ds.source / src, root / label_rel(out.rel))
    by_source: dict[str, list[str]] = {}
    for out in outputs:
        by_source.setdefault(out.source.rel, []).append(out.rel)
    for rel, lines in ds.meta["lists"].items():
        new = []
        for line in lines:
            prefix = "./" if line.strip().startswith("./") else ""
            new += [prefix + o for o in by_source.get(_list_key(line), [])]
        atomic_write_text(root / rel, "".join(f"{line}\n" for line in new))
    name = ds.meta["yaml_name"]
    if name:
        if isinstance(ds.meta["yaml"], dict) and "path" in ds.meta["yaml"]:
            cfg = {**ds.meta["yaml"], "path": str(root.resolve())}
            atomic_write_text(root / name, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
        else:
            _copy(ds.source / name, root / name)
    return root


def _copy(src: Path, dst: Path) -> None:
    """``src``'s bytes to ``dst``, whole (line endings and all)."""
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _list_key(line: str) -> str:
    """An image-list line (``./images/train/a.jpg``) as an image's ``rel``."""
    return PurePosixPath(line.strip().replace("\\", "/")).as_posix().removeprefix("./")


def _image_lists(
    root: Path, cfg: dict, known: set[str], problems: list[Problem]
) -> dict[str, list[str]]:
    """The image-list files ``data.yaml``'s splits name (``train: train.txt``), relative to
    ``root``: ``{list rel: its lines}``. A listed image that is not in the dataset is a problem."""
    lists: dict[str, list[str]] = {}
    splits = [cfg.get(k) for k in ("train", "val", "test")] if isinstance(cfg, dict) else []
    for value in splits:
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, str) or not entry.endswith(".txt"):
                continue
            path = root / entry
            if not path.is_file() or root.resolve() not in path.resolve().parents:
                continue
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rel = path.relative_to(root).as_posix().removeprefix("./")
            lists[rel] = lines
            for n, line in enumerate(lines, 1):
                if _list_key(line) not in known:
                    problems.append(
                        Problem(
                            f"{path}:{n}", f"lists {line.strip()!r}, not an image of the dataset"
                        )
                    )
    return lists
