"""``shapes``: a small synthetic multi-domain dataset, written to disk in the StarGAN v2 layout.

The library must train and test offline on a fresh machine, so it carries this generator. The
dataset is written as ``root/{train,val}/<domain>/<index>.png`` exactly like the public datasets,
so it exercises the same loading code as real data.

- **Domain** = shape class (``circle``, ``square``, ``triangle``, ``diamond``, ``star``, ``cross``).
- **Style** (what a reference image tells) = fill colour, drawn from a domain-specific palette, and
  texture (``solid``, ``stripes``, ``dots``, ``checker``).
- **Content** (what a translation must keep) = position ``(cx, cy)``, size and background colour,
  drawn from the same distribution for every domain.

The look is adjustable: ``textures`` (a subset of :data:`TEXTURES`), ``background_gray`` (range of
the background's gray level) and ``background_tint`` (per-channel tint). The library defaults give
the richest data; the built-in quick experiment (``conf/data/shapes.yaml``) uses solid colours on
one mid-gray background, which a 10-minute CPU run can learn (see ``benchmarks/quick_tuning.py``).

Images are drawn with ``PIL.ImageDraw`` at ``SUPERSAMPLE`` times the size and reduced with a box
filter (anti-aliasing). Each image has its own RNG seeded by ``(seed, split, domain, index)``, so
output is byte-identical for the same parameters. ``root/metadata.json`` holds the ground truth of
every image (see :func:`make_shapes_dataset`).

**Attribute mode** (:func:`make_shapes_attribute_dataset`, StarGAN v1's CelebA setting): one
folder of images, each with several binary attributes drawn independently: its shape (one of
``shapes``, an exclusive group), ``warm`` (fill colour family), ``large`` (size class) and
``outline`` (a dark outline), listed in a table in CelebA's ``list_attr_celeba.txt`` format.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from starganv2.utils.files import WRITE_FAILURES, owner_is_gone, owner_tag

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
SUPERSAMPLE = 4
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross")
TEXTURES: tuple[str, ...] = ("solid", "stripes", "dots", "checker")
DEFAULT_DOMAINS: tuple[str, ...] = ("circle", "square", "triangle")
CACHE_ENV = "STARGANV2_CACHE"
METADATA_FILE = "metadata.json"

# Domain-specific palettes (RGB). Disjoint hue families, so the colour of a reference image says
# which domain style it carries and which member of the palette to copy.
PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "circle": ((220, 40, 40), (240, 130, 20), (235, 200, 30), (230, 70, 150)),
    "square": ((30, 80, 220), (20, 180, 220), (120, 60, 210), (40, 140, 160)),
    "triangle": ((40, 170, 60), (140, 210, 40), (110, 130, 30), (20, 120, 90)),
    "diamond": ((150, 90, 40), (200, 150, 100), (120, 60, 50), (180, 110, 70)),
    "star": ((250, 240, 240), (200, 30, 200), (160, 160, 40), (90, 200, 170)),
    "cross": ((10, 10, 10), (255, 90, 90), (90, 90, 255), (90, 220, 90)),
}

# Content distribution, as fractions of the image size, shared by every domain.
CENTER_RANGE = (0.32, 0.68)
SIZE_RANGE = (0.16, 0.28)  # half-extent: circle radius, half the square side, ...
BACKGROUND_GRAY_RANGE = (0.25, 0.75)
BACKGROUND_TINT = 0.06
COLOR_JITTER = 18  # +- per channel on the palette colour


def default_cache_dir() -> Path:
    """``$STARGANV2_CACHE`` if set, else ``~/.cache/starganv2``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "starganv2"


def check_params(
    img_size: int,
    n_train: int,
    n_val: int,
    domains: Sequence[str],
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> None:
    """Raise ``ValueError`` naming the parameter and the expected values for any bad one."""
    if not 16 <= img_size <= 512:
        raise ValueError(
            f"shapes img_size={img_size}: expected an int in [16, 512] (32-256 is typical)"
        )
    if n_train < 2:
        raise ValueError(
            f"shapes n_train={n_train}: expected >= 2 images per domain (a reference pair needs 2)"
        )
    if n_val < 0:
        raise ValueError(f"shapes n_val={n_val}: expected >= 0")
    if not domains:
        raise ValueError("shapes domains=[]: expected at least one of " + str(list(SHAPES)))
    unknown = [d for d in domains if d not in SHAPES]
    if unknown:
        raise ValueError(
            f"shapes domains={list(domains)}: unknown {unknown}, expected names from {list(SHAPES)}"
        )
    if len(set(domains)) != len(domains):
        raise ValueError(f"shapes domains={list(domains)}: expected no duplicates")
    textures = list(textures)
    bad = [t for t in textures if t not in TEXTURES]
    if not textures or bad or len(set(textures)) != len(textures):
        raise ValueError(
            f"shapes textures={textures}: expected distinct names from {list(TEXTURES)}"
        )
    gray = list(background_gray)
    if len(gray) != 2 or not 0.0 <= gray[0] <= gray[1] <= 1.0:
        raise ValueError(
            f"shapes background_gray={gray}: expected [low, high] with 0 <= low <= high <= 1"
        )
    if not 0.0 <= background_tint <= 0.5:
        raise ValueError(f"shapes background_tint={background_tint}: expected a value in [0, 0.5]")


def _look(
    textures: Sequence[str], background_gray: Sequence[float], background_tint: float
) -> dict[str, Any]:
    """The look parameters that differ from the library defaults (so default caches keep their
    names)."""
    look = {
        "textures": list(textures),
        "background_gray": [float(v) for v in background_gray],
        "background_tint": float(background_tint),
    }
    defaults = {
        "textures": list(TEXTURES),
        "background_gray": list(BACKGROUND_GRAY_RANGE),
        "background_tint": BACKGROUND_TINT,
    }
    return {k: v for k, v in look.items() if v != defaults[k]}


def shapes_params_hash(
    img_size: int,
    n_train: int,
    n_val: int,
    seed: int,
    domains: Sequence[str],
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> str:
    """A short stable hash of everything that determines the dataset's bytes."""
    key = json.dumps(
        {
            "v": GENERATOR_VERSION,
            "img_size": img_size,
            "n_train": n_train,
            "n_val": n_val,
            "seed": seed,
            "domains": list(domains),
            **_look(textures, background_gray, background_tint),
        },
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def shapes_dataset_path(
    cache_dir: str | Path | None = None,
    img_size: int = 64,
    n_train: int = 500,
    n_val: int = 50,
    seed: int = 0,
    domains: Sequence[str] = DEFAULT_DOMAINS,
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> Path:
    """Where :func:`ensure_shapes_dataset` keeps the dataset for these parameters (not created here)."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = shapes_params_hash(
        img_size, n_train, n_val, seed, tuple(domains), textures, background_gray, background_tint
    )
    return base / f"shapes-{img_size}px-{key}"


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape with half-extent ``r`` centred at ``(cx, cy)``."""
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":  # upright, centroid at the centre
        return [(cx, cy - r * 1.15), (cx + r * 1.1, cy + r * 0.75), (cx - r * 1.1, cy + r * 0.75)]
    if shape == "diamond":
        return [(cx, cy - r * 1.2), (cx + r * 0.9, cy), (cx, cy + r * 1.2), (cx - r * 0.9, cy)]
    if shape == "star":
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r * 1.2, r * 0.5)
        return [
            (cx + float(a) * np.cos(t), cy - float(a) * np.sin(t))
            for a, t in zip(radii, angles, strict=True)
        ]
    if shape == "cross":
        w = r * 0.38
        return [
            (cx - w, cy - r),
            (cx + w, cy - r),
            (cx + w, cy - w),
            (cx + r, cy - w),
            (cx + r, cy + w),
            (cx + w, cy + w),
            (cx + w, cy + r),
            (cx - w, cy + r),
            (cx - w, cy + w),
            (cx - r, cy + w),
            (cx - r, cy - w),
            (cx - w, cy - w),
        ]
    raise ValueError(f"shape={shape!r}: expected one of {list(SHAPES)}")


def shape_extent(shape: str, r: float) -> tuple[float, float, float, float]:
    """The outline's extent ``(left, top, right, bottom)`` relative to its centre, for half-extent
    ``r`` (a circle: ``(-r, -r, r, r)``; the upright triangle reaches ``1.15 r`` up, ``0.75 r``
    down). Lets a caller place shapes before drawing them."""
    if shape == "circle":
        return (-r, -r, r, r)
    xs, ys = zip(*_polygon(shape, 0.0, 0.0, r), strict=True)
    return (min(xs), min(ys), max(xs), max(ys))


def _texture(
    texture: str, size: int, color: tuple[int, int, int], period: int, phase: int
) -> Image.Image:
    """A full-canvas RGB texture of ``color`` and a darker shade of it."""
    img = Image.new("RGB", (size, size), color)
    if texture == "solid":
        return img
    shade = tuple(int(c * 0.55) for c in color)
    draw = ImageDraw.Draw(img)
    if texture == "stripes":  # diagonal stripes, half the period wide
        for k in range(-2 * size, 2 * size, period):
            x0 = k + phase
            draw.polygon(
                [
                    (x0, 0),
                    (x0 + period // 2, 0),
                    (x0 + period // 2 + size, size),
                    (x0 + size, size),
                ],
                fill=shade,
            )
    elif texture == "dots":
        rad = period * 0.28
        for y in range(phase - period, size + period, period):
            for x in range(phase - period, size + period, period):
                draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=shade)
    elif texture == "checker":
        half = period // 2
        for y in range(-period, size + period, half):
            for x in range(-period, size + period, half):
                if ((x + y) // half) % 2:
                    draw.rectangle(
                        [x + phase, y + phase, x + phase + half - 1, y + phase + half - 1],
                        fill=shade,
                    )
    else:
        raise ValueError(f"texture={texture!r}: expected one of {list(TEXTURES)}")
    return img


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, bx: float, by: float, br: float, fill: int = 255
) -> None:
    """Draw ``shape`` of half-extent ``br`` centred at ``(bx, by)`` (canvas pixels) with ``fill``.

    The one drawing of each shape's outline, shared by this dataset and the detection scenes
    (:mod:`starganv2.data.detection_scenes`), so both draw the same shapes.
    """
    if shape == "circle":
        draw.ellipse([bx - br, by - br, bx + br, by + br], fill=fill)
    else:
        draw.polygon(_polygon(shape, bx, by, br), fill=fill)


def _shape_mask(shape: str, big: int, bx: float, by: float, br: float) -> Image.Image:
    """An ``L`` mask of side ``big``: 255 inside the shape of half-extent ``br`` at ``(bx, by)``."""
    mask = Image.new("L", (big, big), 0)
    draw_shape(ImageDraw.Draw(mask), shape, bx, by, br)
    return mask


def render_shape(
    shape: str,
    img_size: int,
    cx: float,
    cy: float,
    size: float,
    color: tuple[int, int, int],
    texture: str,
    background: tuple[int, int, int],
    texture_phase: float = 0.0,
    outline: float = 0.0,
) -> Image.Image:
    """Draw one image; positions and ``size`` (half-extent) are in output pixels. Returns RGB ``img_size``².

    ``outline > 0`` draws a dark band (:data:`OUTLINE_COLOR`) of about that width in pixels
    inside the shape's edge: the fill is the same shape ``outline`` pixels smaller.
    """
    s = SUPERSAMPLE
    big = img_size * s
    period = max(2 * s, int(round(img_size * s / 8)))
    tex = _texture(texture, big, color, period, int(texture_phase * period))
    bx, by, br = cx * s, cy * s, size * s
    canvas = Image.new("RGB", (big, big), background)
    if outline > 0:
        canvas.paste(OUTLINE_COLOR, (0, 0, big, big), _shape_mask(shape, big, bx, by, br))
        br = max(br - outline * s, s / 2)
    canvas.paste(tex, (0, 0), _shape_mask(shape, big, bx, by, br))
    return canvas.resize((img_size, img_size), Image.Resampling.BOX)


def _sample_image(
    rng: np.random.Generator,
    domain: str,
    img_size: int,
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> dict:
    """Draw the ground truth of one image: content from the shared distribution, style from ``domain``.

    The draws happen in the same order whatever the look parameters, so the positions, sizes and
    colours of image ``i`` do not depend on them.
    """
    cx, cy = (float(v) * img_size for v in rng.uniform(*CENTER_RANGE, size=2))
    size = float(rng.uniform(*SIZE_RANGE)) * img_size
    gray = rng.uniform(*background_gray)
    tint = rng.uniform(-background_tint, background_tint, size=3)
    background = [int(round(255 * float(np.clip(gray + t, 0, 1)))) for t in tint]
    palette = PALETTES[domain]
    base = palette[int(rng.integers(len(palette)))]
    jitter = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
    color = [int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=True)]
    texture = textures[int(rng.integers(len(textures)))]
    phase = float(rng.uniform())
    return {
        "cx": round(cx, 3),
        "cy": round(cy, 3),
        "size": round(size, 3),
        "color": color,
        "texture": texture,
        "texture_phase": round(phase, 4),
        "background": background,
    }


def make_shapes_dataset(
    root: str | Path,
    img_size: int = 64,
    n_train: int = 500,
    n_val: int = 50,
    seed: int = 0,
    domains: Sequence[str] = DEFAULT_DOMAINS,
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> Path:
    """Write the dataset to ``root`` (must not exist yet) and return ``root``.

    Args:
        root: output folder; its parent is created. Written as ``root/{train,val}/<domain>/NNNNNN.png``.
        img_size: square image side in pixels (32-256 is typical).
        n_train, n_val: images per domain in each split (``n_val=0`` writes no ``val/``).
        seed: same seed and parameters give byte-identical files.
        domains: shape classes, a subset of :data:`SHAPES`, in label order after sorting.
        textures: fill textures drawn from, a subset of :data:`TEXTURES`.
        background_gray: ``[low, high]`` range of the background's gray level (0-1).
        background_tint: largest per-channel tint added to the gray (0 = neutral gray).

    ``root/metadata.json`` holds ``params`` and ``images``: one record per image with ``path``
    (relative, posix), ``split``, ``domain``, ``cx``, ``cy`` (centre, pixels), ``size`` (half-extent,
    pixels), ``color`` and ``background`` (RGB 0-255), ``texture`` and ``texture_phase``.
    """
    domains = tuple(domains)
    check_params(img_size, n_train, n_val, domains, textures, background_gray, background_tint)
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"shapes root={root} already exists: expected a new folder")
    splits = [("train", 0, n_train)] + ([("val", 1, n_val)] if n_val > 0 else [])
    records = []
    for split, split_id, count in splits:
        for domain in domains:
            folder = root / split / domain
            folder.mkdir(parents=True)
            for i in range(count):
                rng = np.random.default_rng([seed, split_id, SHAPES.index(domain), i])
                meta = _sample_image(
                    rng, domain, img_size, tuple(textures), background_gray, background_tint
                )
                img = render_shape(
                    domain,
                    img_size,
                    meta["cx"],
                    meta["cy"],
                    meta["size"],
                    tuple(meta["color"]),
                    meta["texture"],
                    tuple(meta["background"]),
                    meta["texture_phase"],
                )
                rel = f"{split}/{domain}/{i:06d}.png"
                img.save(root / rel, format="PNG", compress_level=6)
                records.append({"path": rel, "split": split, "domain": domain, **meta})
    params = {
        "generator_version": GENERATOR_VERSION,
        "img_size": img_size,
        "n_train": n_train,
        "n_val": n_val,
        "seed": seed,
        "domains": list(domains),
        "textures": list(textures),
        "background_gray": [float(v) for v in background_gray],
        "background_tint": float(background_tint),
    }
    (root / METADATA_FILE).write_text(json.dumps({"params": params, "images": records}, indent=1))
    log.debug(
        "wrote shapes dataset (%d images, %d domains, %dpx) to %s",
        len(records),
        len(domains),
        img_size,
        root,
    )
    return root


class CacheDirError(ValueError):
    """The cache folder cannot be made or written (a bad-input error: reported in one line)."""


def _temp_prefix(final: Path) -> str:
    """The name start of ``final``'s temporary siblings: ``.<name>.tmp-``."""
    return f".{final.name}.tmp-"


def _remove_dead_temps(final: Path) -> None:
    """Delete the temporary siblings of ``final`` left by processes of this host that are gone
    (killed while generating: ``finally`` never ran), so each kill does not leave a hidden
    partial dataset behind for good. Folders of live processes and other hosts are kept."""
    prefix = _temp_prefix(final)
    for folder in final.parent.glob(glob.escape(prefix) + "*"):
        owner = folder.name[len(prefix) :].rsplit(".", 2)  # host (may hold dots), pid, random
        if len(owner) == 3 and owner_is_gone(owner[0], owner[1]):
            log.info("removing %s, left by pid %s that is gone", folder, owner[1])
            shutil.rmtree(folder, ignore_errors=True)


def _make_temp_parent(final: Path) -> Path:
    """A new temporary sibling of ``final`` named after this host and pid (see
    :func:`_remove_dead_temps`); :class:`CacheDirError` when the cache folder cannot hold it."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temps(final)
        prefix = f"{_temp_prefix(final)}{owner_tag()}."
        return Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    except OSError as err:
        raise CacheDirError(
            f"shapes cache folder {final.parent}: cannot write there ({err.strerror or err}); "
            f"set data.cache_dir (or ${CACHE_ENV}) to a writable folder"
        ) from err


REGENERATE = "these are generated data: delete the folder and they are generated again on next use"
"""The advice of every damaged-cache error (nothing of the user's is lost by deleting it)."""


def _check_metadata(final: Path) -> dict[str, Any]:
    """The cached dataset's metadata; ``FileExistsError`` (delete the folder to regenerate it)
    when it cannot be read: the evaluation reads its ground truth from it and stopped with a
    bare JSON message naming no file."""
    try:
        doc = json.loads((final / METADATA_FILE).read_text())
        if not isinstance(doc, dict) or not {"params", "images"} <= doc.keys():
            raise ValueError("expected 'params' and 'images'")
        if not all(isinstance(r, dict) and isinstance(r.get("path"), str) for r in doc["images"]):
            raise ValueError("expected a 'path' in every image record")
    except (OSError, ValueError, TypeError) as err:
        raise FileExistsError(
            f"shapes cache folder {final}: {METADATA_FILE} is damaged ({err}); {REGENERATE}"
        ) from err
    return doc


def _check_images(final: Path, doc: dict[str, Any]) -> None:
    """Raise ``FileExistsError`` (delete the folder to regenerate it) when an image listed in the
    metadata is missing or empty: a file the user deleted made a smaller dataset silently, an
    emptied one an error later that advised skipping it. Listing only (one ``scandir`` per
    folder), no decoding, so every use can afford it."""
    sizes: dict[str, dict[str, int]] = {}
    bad = []
    for record in doc["images"]:
        folder, _, name = record["path"].rpartition("/")
        if folder not in sizes:
            try:
                with os.scandir(final / folder) as entries:
                    sizes[folder] = {e.name: e.stat().st_size for e in entries if e.is_file()}
            except OSError:
                sizes[folder] = {}
        if not sizes[folder].get(name):
            bad.append(record["path"])
    if bad:
        raise FileExistsError(
            f"shapes cache folder {final}: {len(bad)} of the {len(doc['images'])} images listed "
            f"in {METADATA_FILE} are missing or empty (first: {bad[0]}); {REGENERATE}"
        )


def _make_or_say_why(make: Any, folder: Path, final: Path, what: str) -> None:
    """``make(folder)``; a write the file system refuses (a full disk) is a
    :class:`CacheDirError` naming the cache folder and the key that moves it. PIL's and json's
    ``OSError`` names no file: in training it was reported as a log file of the run folder that
    could not be written, and elsewhere as a bare ``[Errno 28]`` after a traceback."""
    try:
        make(folder)
    except OSError as err:
        if err.errno not in WRITE_FAILURES:
            raise
        raise CacheDirError(
            f"shapes cache folder {final.parent}: cannot generate {what} there "
            f"({err.strerror}); make room there, or set data.cache_dir (or ${CACHE_ENV}) to a "
            f"writable folder with room. Nothing was left under {final.name}"
        ) from err


def _ensure_cached(final: Path, make: Any, what: str) -> Path:
    """``final`` if it holds a complete dataset, else ``make(folder)`` into a temporary sibling
    renamed into place (a killed run never leaves a half dataset that looks complete, and its
    temporary folder is removed by the next call; concurrent callers end with one complete
    copy)."""
    if (final / METADATA_FILE).is_file():
        _check_images(final, _check_metadata(final))
        return final
    if final.exists():
        raise FileExistsError(
            f"shapes cache folder {final} exists but has no {METADATA_FILE}: "
            f"expected a complete dataset; {REGENERATE}"
        )
    tmp_parent = _make_temp_parent(final)
    try:
        _make_or_say_why(make, tmp_parent / "data", final, what)
        try:
            os.rename(tmp_parent / "data", final)
            log.info("generated %s in %s", what, final)
        except OSError:
            if not (final / METADATA_FILE).is_file():  # not a concurrent winner: a real error
                raise
            log.info("shapes dataset %s was generated concurrently; keeping that copy", final)
    finally:
        shutil.rmtree(tmp_parent, ignore_errors=True)
    return final


def ensure_shapes_dataset(
    cache_dir: str | Path | None = None,
    img_size: int = 64,
    n_train: int = 500,
    n_val: int = 50,
    seed: int = 0,
    domains: Sequence[str] = DEFAULT_DOMAINS,
    textures: Sequence[str] = TEXTURES,
    background_gray: Sequence[float] = BACKGROUND_GRAY_RANGE,
    background_tint: float = BACKGROUND_TINT,
) -> Path:
    """Return the path of a complete shapes dataset, generating it on first use.

    The folder is :func:`shapes_dataset_path` (``cache_dir`` None: ``$STARGANV2_CACHE`` or
    ``~/.cache/starganv2``). Generation writes into a temporary sibling folder and renames it into
    place, so a killed run never leaves a half dataset that looks complete, and concurrent callers
    (several ranks) end with one complete copy.
    """
    domains = tuple(domains)
    look = (tuple(textures), tuple(background_gray), background_tint)
    check_params(img_size, n_train, n_val, domains, *look)
    final = shapes_dataset_path(cache_dir, img_size, n_train, n_val, seed, domains, *look)
    return _ensure_cached(
        final,
        lambda folder: make_shapes_dataset(folder, img_size, n_train, n_val, seed, domains, *look),
        f"the shapes dataset ({img_size}px, domains {list(domains)})",
    )


# ----------------------------------------------------------------------------------------------
# Attribute mode: one folder of images, each with several binary attributes (StarGAN v1's CelebA
# setting), and a table in CelebA's list_attr_celeba.txt format.
# ----------------------------------------------------------------------------------------------

ATTRIBUTE_GENERATOR_VERSION = 1
ATTRIBUTE_TABLE = "list_attr_shapes.txt"
"""The table's name in the dataset folder (CelebA format: count, names, ``file 1 -1 ...`` rows)."""
ATTRIBUTE_EXTRAS: tuple[str, ...] = ("warm", "large", "outline")
"""The attributes after the shapes: fill colour family, size class, outline."""
WARM_PALETTE: tuple[tuple[int, int, int], ...] = ((220, 40, 40), (240, 130, 20), (235, 200, 30))
COOL_PALETTE: tuple[tuple[int, int, int], ...] = ((30, 80, 220), (20, 180, 220), (120, 60, 210))
SIZE_CLASSES = {False: (0.13, 0.17), True: (0.23, 0.28)}
"""Half-extent ranges (fractions of the image side) of the small and the large class."""
OUTLINE_COLOR = (20, 20, 20)
OUTLINE_WIDTH = 0.06
"""Outline width as a fraction of the image side (at least 1.5 px)."""
ATTRIBUTE_BACKGROUND = (128, 128, 128)


def attribute_names(shapes: Sequence[str]) -> list[str]:
    """The table's attribute names: the shapes (an exclusive group), then :data:`ATTRIBUTE_EXTRAS`."""
    return [*shapes, *ATTRIBUTE_EXTRAS]


def check_attribute_params(img_size: int, n_images: int, shapes: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the parameter for any bad one."""
    if not 16 <= img_size <= 512:
        raise ValueError(f"shapes img_size={img_size}: expected an int in [16, 512]")
    if n_images < 2:
        raise ValueError(f"shapes n_train + n_val={n_images}: expected at least 2 images")
    unknown = [d for d in shapes if d not in SHAPES]
    if len(shapes) < 2 or unknown or len(set(shapes)) != len(shapes):
        raise ValueError(
            f"shapes shapes={list(shapes)}: expected at least two distinct names from {list(SHAPES)}"
        )


def shapes_attribute_dataset_path(
    cache_dir: str | Path | None = None,
    img_size: int = 32,
    n_images: int = 1650,
    seed: int = 0,
    shapes: Sequence[str] = DEFAULT_DOMAINS,
) -> Path:
    """Where :func:`ensure_shapes_attribute_dataset` keeps the dataset (not created here)."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = json.dumps(
        {
            "v": ATTRIBUTE_GENERATOR_VERSION,
            "img_size": img_size,
            "n": n_images,
            "seed": seed,
            "shapes": list(shapes),
        },
        sort_keys=True,
    )
    return base / f"shapes-attr-{img_size}px-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _sample_attribute_image(
    rng: np.random.Generator, shapes: Sequence[str], img_size: int
) -> dict[str, Any]:
    """The ground truth of one image: every attribute drawn independently (a shape uniformly,
    the others on with probability 1/2), the position from :data:`CENTER_RANGE`."""
    shape = shapes[int(rng.integers(len(shapes)))]
    warm, large, outline = (bool(v) for v in rng.integers(0, 2, size=3))
    cx, cy = (float(v) * img_size for v in rng.uniform(*CENTER_RANGE, size=2))
    size = float(rng.uniform(*SIZE_CLASSES[large])) * img_size
    palette = WARM_PALETTE if warm else COOL_PALETTE
    base = palette[int(rng.integers(len(palette)))]
    jitter = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
    color = [int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=True)]
    return {
        "shape": shape,
        "warm": warm,
        "large": large,
        "outline": outline,
        "cx": round(cx, 3),
        "cy": round(cy, 3),
        "size": round(size, 3),
        "color": color,
    }


def make_shapes_attribute_dataset(
    root: str | Path,
    img_size: int = 32,
    n_images: int = 1650,
    seed: int = 0,
    shapes: Sequence[str] = DEFAULT_DOMAINS,
) -> Path:
    """Write the attribute-mode dataset to ``root`` (must not exist yet) and return ``root``.

    ``root/images/NNNNNN.png``, the table ``root/`` :data:`ATTRIBUTE_TABLE` (CelebA format, file
    names relative to ``root``; values 1 / -1 in columns two wide, as CelebA's) and
    ``root/metadata.json`` (``params`` and ``images``: per image ``path``, the attributes,
    ``cx``, ``cy``, ``size`` (half-extent, pixels) and ``color``). Solid fills on a mid-gray
    background; same parameters, byte-identical files.
    """
    shapes = tuple(shapes)
    check_attribute_params(img_size, n_images, shapes)
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"shapes root={root} already exists: expected a new folder")
    (root / "images").mkdir(parents=True)
    names = attribute_names(shapes)
    width = max(1.5, OUTLINE_WIDTH * img_size)
    records, rows = [], []
    for i in range(n_images):
        meta = _sample_attribute_image(np.random.default_rng([seed, 2, i]), shapes, img_size)
        img = render_shape(
            meta["shape"],
            img_size,
            meta["cx"],
            meta["cy"],
            meta["size"],
            tuple(meta["color"]),
            "solid",
            ATTRIBUTE_BACKGROUND,
            outline=width if meta["outline"] else 0.0,
        )
        rel = f"images/{i:06d}.png"
        img.save(root / rel, format="PNG", compress_level=6)
        on = [meta["shape"] == d for d in shapes] + [meta[a] for a in ATTRIBUTE_EXTRAS]
        rows.append(rel + " " + " ".join(f"{1 if v else -1:>2d}" for v in on))
        records.append({"path": rel, **meta})
    table = [str(n_images), " ".join(names) + " ", *rows]
    (root / ATTRIBUTE_TABLE).write_text("\n".join(table) + "\n")
    params = {
        "generator_version": ATTRIBUTE_GENERATOR_VERSION,
        "img_size": img_size,
        "n_images": n_images,
        "seed": seed,
        "shapes": list(shapes),
        "attributes": names,
    }
    (root / METADATA_FILE).write_text(json.dumps({"params": params, "images": records}, indent=1))
    return root


def ensure_shapes_attribute_dataset(
    cache_dir: str | Path | None = None,
    img_size: int = 32,
    n_images: int = 1650,
    seed: int = 0,
    shapes: Sequence[str] = DEFAULT_DOMAINS,
) -> Path:
    """Return the path of a complete attribute-mode dataset, generating it on first use (into
    :func:`shapes_attribute_dataset_path`, as :func:`ensure_shapes_dataset` does)."""
    shapes = tuple(shapes)
    check_attribute_params(img_size, n_images, shapes)
    final = shapes_attribute_dataset_path(cache_dir, img_size, n_images, seed, shapes)
    return _ensure_cached(
        final,
        lambda folder: make_shapes_attribute_dataset(folder, img_size, n_images, seed, shapes),
        f"the shapes attribute dataset ({img_size}px, {n_images} images)",
    )
