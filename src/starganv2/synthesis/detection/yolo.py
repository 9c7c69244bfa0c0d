"""YOLO detection folders: images under an ``images/`` folder (any depth), one label file per
image at the same path under ``labels/`` (the last ``images`` component of the path replaced,
suffix ``.txt``), class names in ``data.yaml``.

A label line is ``class cx cy w h`` normalised to ``[0, 1]`` (or a segment ``class x1 y1 x2 y2
...``, whose bounding box is used; in a pose dataset, ``kpt_shape`` in ``data.yaml``, the box
followed by keypoints); it is kept verbatim, so writing copies each label file as it
is. An image without a label file (a background image) gets none in the output either.
Images are the files with a suffix Ultralytics reads (:data:`IMAGE_SUFFIXES`, TIFF included);
sizes are the upright ones (EXIF orientation applied), as Ultralytics normalises by them.
``data.yaml`` is copied as it is, unless it has a ``path:`` key, which is set to the output
folder, or absolute split paths (``train: /data/in/images/train``) inside the input, which are
set to the same paths in the output (the file is then re-serialised, comments lost). A split
path outside the input is copied unchanged and reported. ``nc`` without ``names`` names the
classes by their index, as Ultralytics does. A ``classes.txt`` (one name a line, as darknet and
LabelImg write it) is copied as it is; without a ``data.yaml`` it names the classes. Splits given as image-list files (``train:
train.txt``, relative to the folder) get a list of the output images of the listed sources;
an absolute entry inside the input becomes the absolute path of its output.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from PIL import Image

from starganv2.data.folders import walk_files
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
from starganv2.utils.files import atomic_write, atomic_write_text

__all__ = [
    "read_yolo",
    "write_yolo",
    "label_rel",
    "find_data_yaml",
    "DATA_YAML_NAMES",
    "IMAGE_SUFFIXES",
]

DATA_YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp")
IMAGE_SUFFIXES += (".pfm", ".heic")
"""The image suffixes Ultralytics reads (``IMG_FORMATS``); one Pillow cannot decode here
(``.heic`` without its plugin) is an unreadable image, one line of the report."""
SPLITS = ("train", "val", "test")
CLASSES_TXT = "classes.txt"
"""Darknet's and LabelImg's class names, one a line; the names where there is no ``data.yaml``."""


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
    nc = cfg.get("nc") if isinstance(cfg, dict) else None
    if names is None and isinstance(nc, int) and not isinstance(nc, bool) and nc >= 0:
        return {i: str(i) for i in range(nc)}, cfg  # Ultralytics' names for nc alone
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}, cfg
    if isinstance(names, dict):
        return {int(i): str(n) for i, n in names.items()}, cfg
    raise DetectionFormatError(
        f"{yaml_path}: 'names' is {names!r}; expected a list of class names or a mapping "
        "{id: name} (or 'nc' alone: the classes named by their index)"
    )


def _classes_txt(root: Path) -> dict[int, str]:
    """The names in ``root/classes.txt`` by line (blank lines skipped), or none without it."""
    path = root / CLASSES_TXT
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DetectionFormatError(f"{path} is not a text file of class names: {err}") from err
    return dict(enumerate(line.strip() for line in lines if line.strip()))


def _parse_line(
    line: str, w: int, h: int, pose: bool = False
) -> tuple[int, tuple[float, float, float, float]] | str:
    """``(class id, xyxy in pixels)`` of a label line, or why it is not one. With ``pose`` (a
    ``kpt_shape`` in data.yaml) the box is the first 4 numbers, the keypoints follow it."""
    tokens = line.split()
    try:
        cls, nums = int(tokens[0]), [float(t) for t in tokens[1:]]
    except (ValueError, IndexError):
        return f"not a YOLO label line: {line!r} (expected 'class cx cy w h')"
    if len(nums) == 4 or (pose and len(nums) > 4):
        cx, cy, bw, bh = nums[:4]
        return cls, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
    if len(nums) >= 6 and len(nums) % 2 == 0:
        xs, ys = nums[0::2], nums[1::2]
        return cls, (min(xs) * w, min(ys) * h, max(xs) * w, max(ys) * h)
    return f"not a YOLO label line: {line!r} ({len(nums)} numbers after the class id; expected 4)"


def _label_lines(label: Path, problems: list[Problem]) -> list[str]:
    """The lines of the label file ``label``. One that is not UTF-8 (a comment in another
    encoding) is one problem, not the end of the run: its bytes that do not decode read as
    U+FFFD, so its good lines still give boxes (the file is copied byte for byte anyway)."""
    data = label.read_bytes()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        problems.append(
            Problem(
                str(label), f"is not UTF-8 text ({err.reason} at byte {err.start}; copied as it is)"
            )
        )
        return data.decode("utf-8", errors="replace").splitlines()


def read_yolo(root: str | Path) -> DetectionDataset:
    """Read the YOLO dataset folder ``root`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DetectionFormatError(f"input={root} is not a folder; expected a YOLO dataset folder")
    yaml_path = find_data_yaml(root)
    names, cfg = _names(yaml_path)
    pose = isinstance(cfg, dict) and cfg.get("kpt_shape") is not None
    names_file = yaml_path.name if yaml_path else "the names (no data.yaml)"
    if yaml_path is None and (root / CLASSES_TXT).is_file():
        names, names_file = _classes_txt(root), CLASSES_TXT
    problems: list[Problem] = []
    images: list[DetectionImage] = []
    files: list[Path] = []
    for p in walk_files(root):  # linked split folders are followed (rglob does not)
        if "images" not in p.relative_to(root).parts[:-1]:
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
        elif (root / label_rel(p.relative_to(root).as_posix())).is_file():
            problems.append(
                Problem(
                    str(p),
                    f"has a label file but {p.suffix or 'no suffix'} is not an image suffix YOLO "
                    f"reads ({' '.join(IMAGE_SUFFIXES)}); left out",
                )
            )
    for file in files:
        rel = file.relative_to(root).as_posix()
        try:
            with Image.open(file) as img:
                w, h = upright_size(img)
        except Exception as err:  # noqa: BLE001 - any decoder error means the same: unreadable
            problems.append(
                Problem(str(file), f"unreadable image ({type(err).__name__}); left out")
            )
            continue
        label = root / label_rel(rel)
        boxes = []
        if label.is_file():
            for n, line in enumerate(_label_lines(label, problems), 1):
                if not line.strip():
                    continue
                parsed = _parse_line(line, w, h, pose)
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
    problems += _outside_splits(root, cfg, yaml_path)
    meta = {
        "yaml_name": yaml_path.name if yaml_path else None,
        "yaml": cfg,
        "lists": lists,
        "classes_txt": (root / CLASSES_TXT).is_file(),
    }
    return DetectionDataset("yolo", root, list(names.values()), images, meta, problems)


def write_yolo(ds: DetectionDataset, outputs: Sequence[OutputImage], root: str | Path) -> Path:
    """Write the label file of every output that has one, ``data.yaml`` and ``classes.txt``
    under ``root``;
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
            text = line.strip()
            for o in by_source.get(_list_key(line, ds.source) or "", []):
                if PurePosixPath(text.replace("\\", "/")).is_absolute():
                    new.append(str(root.resolve() / o))
                else:
                    new.append(("./" if text.startswith("./") else "") + o)
        atomic_write_text(root / rel, "".join(f"{line}\n" for line in new))
    if ds.meta.get("classes_txt"):
        _copy(ds.source / CLASSES_TXT, root / CLASSES_TXT)
    name = ds.meta["yaml_name"]
    if name:
        cfg = ds.meta["yaml"]
        moved = _moved_splits(cfg, ds.source, root) if isinstance(cfg, dict) else {}
        if isinstance(cfg, dict) and ("path" in cfg or moved):
            cfg = {**cfg, **moved, **({"path": str(root.resolve())} if "path" in cfg else {})}
            atomic_write_text(root / name, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
        else:
            _copy(ds.source / name, root / name)
    return root


def _under(text: str, root: Path) -> str | None:
    """The absolute path ``text`` relative to ``root`` (POSIX), or ``None`` when it is not
    absolute or lies outside ``root`` (compared as written and with ``root``'s links resolved)."""
    text = text.strip().replace("\\", "/")
    if not PurePosixPath(text).is_absolute():
        return None
    path = os.path.normpath(text)
    for base in dict.fromkeys((os.path.normpath(root.absolute()), str(root.resolve()))):
        if path == base or path.startswith(base.rstrip("/") + "/"):
            return PurePosixPath(os.path.relpath(path, base)).as_posix()
    return None


def _split_entries(cfg: Any) -> list[tuple[str, Any]]:
    """``(split key, entry)`` of every entry of ``data.yaml``'s ``train``/``val``/``test`` (a
    value may be one path or a list of them)."""
    if not isinstance(cfg, dict):
        return []
    out = []
    for key in SPLITS:
        value = cfg.get(key)
        out += [(key, e) for e in (value if isinstance(value, list) else [value])]
    return out


def _moved_splits(cfg: dict, source: Path, root: Path) -> dict[str, Any]:
    """The split keys of ``cfg`` with an absolute path inside the input ``source``, each with
    such paths set to the same place under the output ``root`` (so the output trains on its
    own images, not the input's)."""
    moved: dict[str, Any] = {}
    for key in SPLITS:
        value = cfg.get(key)
        entries = value if isinstance(value, list) else [value]
        new = []
        for e in entries:
            rel = _under(e, source) if isinstance(e, str) else None
            new.append(e if rel is None else str(root.resolve() / rel))
        if new != entries:
            moved[key] = new if isinstance(value, list) else new[0]
    return moved


def _outside_splits(root: Path, cfg: Any, yaml_path: Path | None) -> list[Problem]:
    """A problem for each absolute split path outside the input: copied unchanged, it makes the
    output dataset use files that are not the output's."""
    return [
        Problem(
            str(yaml_path),
            f"{key}: {e} lies outside the input folder {root}; the output's data.yaml keeps it "
            "unchanged, so it does not name the output's images (edit it there)",
        )
        for key, e in _split_entries(cfg)
        if isinstance(e, str)
        and PurePosixPath(e.replace("\\", "/")).is_absolute()
        and _under(e, root) is None
    ]


def _copy(src: Path, dst: Path) -> None:
    """``src``'s bytes to ``dst``, whole (line endings and all)."""
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _list_key(line: str, root: Path) -> str | None:
    """An image-list line (``./images/train/a.jpg``, or an absolute path inside ``root``) as an
    image's ``rel``; ``None`` for an absolute path outside ``root``."""
    text = line.strip().replace("\\", "/")
    if PurePosixPath(text).is_absolute():
        return _under(text, root)
    return PurePosixPath(text).as_posix().removeprefix("./")


def _image_lists(
    root: Path, cfg: dict, known: set[str], problems: list[Problem]
) -> dict[str, list[str]]:
    """The image-list files ``data.yaml``'s splits name (``train: train.txt``), relative to
    ``root``: ``{list rel: its lines}``. A listed image that is not in the dataset is a problem."""
    lists: dict[str, list[str]] = {}
    for _, entry in _split_entries(cfg):
        if not isinstance(entry, str) or not entry.endswith(".txt"):
            continue
        path = root / entry
        if not path.is_file() or root.resolve() not in path.resolve().parents:
            continue
        rel = os.path.relpath(path.resolve(), root.resolve()).replace(os.sep, "/")
        if rel in lists:  # train and val name the same list: read (and reported) once
            continue
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        lists[rel] = lines
        for n, line in enumerate(lines, 1):
            if _list_key(line, root) not in known:
                problems.append(
                    Problem(f"{path}:{n}", f"lists {line.strip()!r}, not an image of the dataset")
                )
    return lists
