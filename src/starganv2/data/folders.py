"""Image folders: discovery, checks, decoding, transforms.

Layout (the one the public StarGAN v2 datasets ship in)::

    root/train/<domain>/**/*.{jpg,jpeg,png,webp,bmp,tif,tiff}   (any case, any depth)
    root/val/<domain>/...                                        (optional)

Domains are the sorted folder names under ``root/train``; label ``i`` is ``domains[i]``. Hidden
files and folders (names starting with a dot) are ignored.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import transforms

from starganv2.utils.images import from_uint8

__all__ = [
    "IMG_EXTENSIONS",
    "warn_unread_formats",
    "is_image_file",
    "list_domains",
    "list_domain_files",
    "find_image_files",
    "walk_files",
    "unread_image_files",
    "IMAGE_SUFFIXES_TEXT",
    "check_image",
    "scan_images",
    "image_sizes",
    "to_rgb",
    "load_image",
    "ImageLoadError",
    "train_transform",
    "eval_transform",
    "v1_train_transform",
    "v1_eval_transform",
    "TRANSFORMS",
    "ToModelRange",
]

log = logging.getLogger(__name__)

IMG_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TAIL_BYTES = 64


IMAGE_SUFFIXES_TEXT = ", ".join(sorted(e[1:] for e in IMG_EXTENSIONS))
"""The suffixes read, for messages: ``bmp, jpeg, jpg, png, tif, tiff, webp``."""


def unread_image_files(paths: Sequence[Path]) -> list[Path]:
    """Of ``paths``, the files whose suffix names a format PIL reads but that is not one of
    :data:`IMG_EXTENSIONS` (``.gif``, ``.ppm``, ``.jp2``...): left out by the tools, which say
    so, and never taken for an image's sidecar."""
    pil = {e.lower() for e in Image.registered_extensions()}
    return [
        p for p in paths if p.suffix.lower() in pil - IMG_EXTENSIONS and not p.name.startswith(".")
    ]


def warn_unread_formats(
    paths: Sequence[Path], folder: Path, action: str, logger: logging.Logger = log
) -> None:
    """A warning naming the files of ``paths`` (under ``folder``) in formats PIL reads but the
    library does not (:func:`unread_image_files`: ``.gif``, ``.jfif``, ``.ppm``...), which are
    left out; ``action`` says what converting them is for (``"translate them"``)."""
    unread = unread_image_files(paths)
    if unread:
        names = ", ".join(str(p) for p in unread[:5]) + (", ..." if len(unread) > 5 else "")
        logger.warning(
            "%d file(s) under %s are in formats that are not read, left out (read: %s; convert "
            "them to one of those to %s): %s",
            len(unread),
            folder,
            IMAGE_SUFFIXES_TEXT,
            action,
            names,
        )


def is_image_file(path: Path) -> bool:
    """True if ``path`` has an image extension (case-insensitive) and is not hidden."""
    return path.suffix.lower() in IMG_EXTENSIONS and not path.name.startswith(".")


def list_domains(split_dir: str | Path) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``split_dir``.

    Raises ``FileNotFoundError`` naming a link there whose target does not exist (a domain
    folder linked from a drive that is not mounted): left out, its domain would vanish from
    the labels without a word.
    """
    split_dir = Path(split_dir)
    entries = [p for p in split_dir.iterdir() if not p.name.startswith(".")]
    broken = [p for p in entries if p.is_symlink() and not p.exists()]
    if broken:
        raise FileNotFoundError(
            f"{broken[0]}: a link to {os.readlink(broken[0])}, which does not exist (each "
            f"folder under {split_dir} is a domain): restore its target or remove the link"
        )
    return sorted(p.name for p in entries if p.is_dir())


def list_domain_files(split_dir: str | Path) -> dict[str, list[Path]]:
    """Map each domain folder of ``split_dir`` (sorted) to its image files (sorted, recursive).

    Files without an image extension, hidden files and hidden folders are ignored; linked
    folders are followed. A domain may map to an empty list.
    Raises ``FileNotFoundError`` naming ``split_dir`` if it is not a folder.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: expected a folder with one sub-folder per domain")
    return {d: find_image_files(split_dir / d) for d in list_domains(split_dir)}


def find_image_files(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` at any depth, sorted (:func:`walk_files`: hidden folders not
    entered, linked folders followed). A link to a missing file is kept, so that the checks
    report it instead of it vanishing."""
    return [p for p in walk_files(folder) if is_image_file(p)]


def walk_files(folder: str | Path) -> list[Path]:
    """Every file under ``folder`` at any depth, sorted: hidden folders (``.ipynb_checkpoints``,
    ``.thumbnails``) are not entered, linked folders are followed (each real folder once, so a
    link cycle ends; ``Path.rglob`` of Python 3.11 does not follow them), and links to missing
    files are included (readers report them as unreadable)."""
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [n for n in dirnames if not n.startswith(".")]
        here = Path(dirpath)
        found += [p for n in filenames if (p := here / n).is_file() or p.is_symlink()]
    return sorted(found)


def _tail_ok(path: Path, fmt: str | None) -> str | None:
    """Cheap truncation check from the file's end; returns a reason if it looks truncated."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read()
        if fmt in ("JPEG", "MPO"):  # MPO: phone and camera JPEGs holding several pictures
            if not tail.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9"):
                return "JPEG does not end with the EOI marker FFD9 (truncated?)"
        elif fmt == "PNG":
            if not tail.endswith(_PNG_IEND):
                return "PNG does not end with an IEND chunk (truncated?)"
        elif fmt == "WEBP":
            f.seek(4)
            riff_size = struct.unpack("<I", f.read(4))[0]
            if size < riff_size + 8:
                return f"WebP RIFF header says {riff_size + 8} bytes but the file has {size} (truncated?)"
        elif fmt == "BMP":
            f.seek(2)
            bmp_size = struct.unpack("<I", f.read(4))[0]
            if bmp_size and size < bmp_size:
                return f"BMP header says {bmp_size} bytes but the file has {size} (truncated?)"
    return None


def _tiff_short(img: Image.Image, size: int) -> str | None:
    """Cheap truncation check of an opened TIFF: its strips (or tiles) must end within the
    file's ``size`` bytes, as the header's offsets and byte counts say; a reason if not."""
    tags = img.tag_v2
    offsets, counts = tags.get(273, tags.get(324)), tags.get(279, tags.get(325))
    if not offsets or not counts:
        return None
    if isinstance(offsets, int):
        offsets, counts = (offsets,), (counts,)
    end = max(o + c for o, c in zip(offsets, counts, strict=False))
    if end > size:
        return f"TIFF header says the image data end at byte {end} but the file has {size} (truncated?)"
    return None


def check_image(path: str | Path) -> str | None:
    """Fast validity check of one file: header parse plus a format-specific end-of-file check.

    Returns ``None`` when the file looks valid, else a short reason. A file whose end-of-file check
    fails (e.g. data appended after a JPEG's EOI) is fully decoded as a fallback, so only files that
    really fail to decode are reported. Cost: one ``open`` + header read per file.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which does not exist"
    try:
        with Image.open(path) as img:
            fmt = img.format
            reason = _tiff_short(img, path.stat().st_size) if fmt == "TIFF" else None
        reason = reason or _tail_ok(path, fmt)
    except Image.DecompressionBombError as e:  # a sound but huge image: say what to do
        return f"over PIL's decompression-bomb limit ({e}); if the image is sound, downscale it"
    except Exception as e:  # noqa: BLE001 - any failure to parse the header means a bad file
        return f"{type(e).__name__}: {e}"
    if reason is None:
        return None
    try:
        with Image.open(path) as img:  # rare slow path: decode to be sure
            img.load()
    except Exception:  # noqa: BLE001 - keep the cheap check's clearer reason
        return reason
    return None


def scan_images(paths: Sequence[Path], workers: int = 8) -> dict[Path, str]:
    """Run :func:`check_image` on ``paths`` with a thread pool; return ``{bad path: reason}``."""
    if workers <= 1 or len(paths) < 64:
        results = [check_image(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(check_image, paths))
    return {p: r for p, r in zip(paths, results, strict=True) if r is not None}


def _header_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size  # (width, height), read from the header only
    except Exception:  # noqa: BLE001 - an unreadable file is scan_images' business
        return None


def image_sizes(paths: Sequence[Path], workers: int = 8) -> dict[Path, tuple[int, int]]:
    """``{path: (width, height)}`` read from each file's header (no decoding), with a thread pool;
    files whose header cannot be read are left out."""
    if workers <= 1 or len(paths) < 64:
        sizes = [_header_size(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            sizes = list(pool.map(_header_size, paths))
    return {p: wh for p, wh in zip(paths, sizes, strict=True) if wh is not None}


# ----------------------------------------------------------------------------------------------
# Loading and transforms
# ----------------------------------------------------------------------------------------------


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float single-channel image to 8-bit ``L`` by scaling, never clipping.

    ``I;16*`` is divided by 257 (65535 -> 255). For ``I`` and ``F`` the range is inferred from the
    data: max <= 1 (float) is scaled by 255, max <= 255 is kept, max <= 65535 is divided by 257,
    anything else is min-max normalised.
    """
    arr = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        out = arr / 257.0
    else:
        lo, hi = float(arr.min()), float(arr.max())
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            out = arr
        elif lo >= 0.0 and hi <= 65535.0:
            out = arr / 257.0
        else:
            out = (arr - lo) / max(hi - lo, 1e-12) * 255.0
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha is composited over white, 16-bit is scaled to 8-bit."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_bit_depth_to_l(img).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


class ImageLoadError(OSError):
    """An image file that does not decode (damaged in the middle, which the quick check of
    :func:`check_image` does not read, or changed since): the message names the file."""


def load_image(path: str | Path, exif: bool = True) -> Image.Image:
    """Open ``path``, apply its EXIF orientation (unless ``exif=False``: the pixels as stored)
    and return 8-bit RGB.

    Raises :class:`ImageLoadError` (an ``OSError``) naming the file if it cannot be decoded
    (e.g. truncated after the scan).
    """
    try:
        with Image.open(path) as img:
            img.load()
            if exif:
                img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except Exception as e:
        raise ImageLoadError(f"failed to load image {path}: {type(e).__name__}: {e}") from e


class ToModelRange:
    """Transform: uint8 ``(3, H, W)`` -> float ``[-1, 1]`` (:func:`~starganv2.utils.images.from_uint8`;
    a class, not a lambda, so DataLoader workers can pickle it)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return from_uint8(x)

    def __repr__(self) -> str:
        return "ToModelRange()"


def train_transform(img_size: int, randcrop_prob: float = 0.5) -> transforms.Compose:
    """The paper's training transform: PIL image -> (3, img_size, img_size) float in [-1, 1].

    With probability ``randcrop_prob`` a random resized crop (scale 0.8-1.0, ratio 0.9-1.1), then a
    square resize, a random horizontal flip and the map of 8-bit pixels to ``[-1, 1]``. Picklable.
    """
    if not 0.0 <= randcrop_prob <= 1.0:
        raise ValueError(f"data.randcrop_prob={randcrop_prob}: expected a probability in [0, 1]")
    crop = transforms.RandomResizedCrop(img_size, scale=(0.8, 1.0), ratio=(0.9, 1.1))
    return transforms.Compose(
        [
            transforms.RandomApply([crop], p=randcrop_prob),
            transforms.Resize([img_size, img_size]),
            transforms.RandomHorizontalFlip(),
            transforms.PILToTensor(),
            ToModelRange(),
        ]
    )


def eval_transform(img_size: int) -> transforms.Compose:
    """Evaluation transform: square resize, 8-bit pixels to ``[-1, 1]``; (3, img_size, img_size)."""
    return transforms.Compose(
        [
            transforms.Resize([img_size, img_size]),
            transforms.PILToTensor(),
            ToModelRange(),
        ]
    )


TRANSFORMS = ("stargan_v2", "stargan_v1")
"""Names of the transform families (``data.transform``)."""


def _v1_resize(img_size: int, crop_size: int | None) -> list:
    if crop_size is not None and (
        isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1
    ):
        raise ValueError(f"data.crop_size={crop_size!r}: expected a positive int or null")
    crop = [] if crop_size is None else [transforms.CenterCrop(crop_size)]
    return [*crop, transforms.Resize([img_size, img_size])]


def v1_train_transform(img_size: int, crop_size: int | None = None) -> transforms.Compose:
    """The StarGAN (v1) training transform: random horizontal flip, center crop to
    ``crop_size`` (the original: 178 for CelebA, 256 for RaFD; ``None``: no crop), square resize,
    8-bit pixels to ``[-1, 1]``. PIL image -> (3, img_size, img_size); picklable."""
    return transforms.Compose(
        [
            transforms.RandomHorizontalFlip(),
            *_v1_resize(img_size, crop_size),
            transforms.PILToTensor(),
            ToModelRange(),
        ]
    )


def v1_eval_transform(img_size: int, crop_size: int | None = None) -> transforms.Compose:
    """The StarGAN (v1) test transform: :func:`v1_train_transform` without the flip."""
    return transforms.Compose(
        [*_v1_resize(img_size, crop_size), transforms.PILToTensor(), ToModelRange()]
    )
