"""Built-in detection scenes in two appearance domains, ``day`` and ``night``: labelled data for
the detection-augmentation benchmark, written offline from a seed.

A scene is ``width x height`` pixels (default 96 x 64, not square) holding 1 to 4 objects of the
shapes' classes (:data:`CLASSES`), of varied size and position, never overlapping, about two
scenes in five with objects whose boxes touch. Each object's box is known exactly: the
``(x0, y0, x1, y1)`` pixel edges of every pixel the object covers at all (a box over pixels 3..5
is ``x0=3, x1=6``), so the box is tight around the rendered object.

Geometry and appearance are drawn separately. :func:`sample_scene` draws the objects from a
geometry RNG that does not depend on the domain, then the look from an RNG of the domain, so for
one key both domains hold the same objects and the geometry statistics of the domains are equal:

- ``day``: light backgrounds (a vertical gradient between two pale colours, faint texture),
  saturated object colours, almost no noise.
- ``night``: dark backgrounds with a coarse texture, desaturated objects of low contrast, a colour
  cast, vignetting, 0-2 glare spots (never on an object or the few pixels around its box) and
  sensor noise: a shift that colour jitter alone does not undo.

Objects are drawn with the shapes dataset's own outlines (:func:`starganv2.data.shapes.draw_shape`)
at :data:`~starganv2.data.shapes.SUPERSAMPLE` times the size and reduced by averaging
(anti-aliasing). :func:`write_detection_scenes` writes a COCO dataset per domain and split, and
the domain folders that ``data=folder`` trains StarGAN v2 on.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from starganv2.data.shapes import SUPERSAMPLE, draw_shape, shape_extent
from starganv2.utils.files import atomic_link_or_copy, atomic_path, atomic_write_text

__all__ = [
    "CLASSES",
    "DOMAINS",
    "PARAMS_FILE",
    "Scene",
    "SceneObject",
    "coco_path",
    "object_alphas",
    "render_scene",
    "sample_scene",
    "write_detection_scenes",
]

log = logging.getLogger(__name__)

SCENES_VERSION = 1
CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
"""Object classes; a label is an index into this tuple (COCO ``category_id`` = label + 1)."""
DOMAINS: tuple[str, ...] = ("day", "night")
PARAMS_FILE = "detection_scenes.json"
"""Written last into the root: the parameters, so a rerun can tell what is there."""
TRANSLATION_SPLITS: tuple[str, ...] = ("train", "val")
"""The splits the ``data=folder`` layout has (``translation/<split>/<domain>/``)."""

MAX_OBJECTS = 4
SIZE_RANGE = (0.09, 0.2)  # half-extent as a fraction of the scene's height
TOUCH_PROB = 0.35  # chance that a new object is placed with its box touching another's
MARGIN = 2.0  # px between an object's outline and the scene's edge
TOUCH_GAP = 2 / SUPERSAMPLE  # px between touching outlines: no supersampled pixel is shared
GLARE_CLEARANCE = 4  # px: glare never comes nearer than this to a box


@dataclass(frozen=True)
class SceneObject:
    """One object: class ``label`` (index into :data:`CLASSES`), centre ``(cx, cy)`` and
    half-extent ``size`` in pixels, its exact ``box`` ``(x0, y0, x1, y1)`` (integer pixel edges)."""

    label: int
    cx: float
    cy: float
    size: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """A scene: its size, ``objects`` (geometry, the same in both domains for one key) and the
    ``domain``'s ``look``: background gradient ``top``/``bottom`` and one fill per object in
    ``colors`` (RGB 0-1), texture (``texture_grid``, ``texture_amp``, ``texture_seed``), camera
    effects (``cast`` per-channel gain, ``vignette`` strength, ``glare`` spots ``[x, y, radius,
    strength]``, ``noise_sigma``, ``noise_seed``). Plain JSON values."""

    width: int
    height: int
    domain: str
    objects: tuple[SceneObject, ...]
    look: dict[str, Any]


def _hsv(h: float, s: float, v: float) -> list[float]:
    return [float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v)]


def _exact_box(
    label: int, cx: float, cy: float, size: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """The pixel edges of every pixel the object covers (from its supersampled mask)."""
    mask = _supersampled_mask(label, cx, cy, size, width, height)
    x0, y0, x1, y1 = mask.getbbox()
    s = SUPERSAMPLE
    return (x0 // s, y0 // s, -(-x1 // s), -(-y1 // s))  # floor, floor, ceil, ceil


def _supersampled_mask(
    label: int, cx: float, cy: float, size: float, width: int, height: int
) -> Image.Image:
    s = SUPERSAMPLE
    mask = Image.new("L", (width * s, height * s), 0)
    draw_shape(ImageDraw.Draw(mask), CLASSES[label], cx * s, cy * s, size * s)
    return mask


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two extents share area (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _sample_objects(rng: np.random.Generator, width: int, height: int) -> tuple[SceneObject, ...]:
    """1 to :data:`MAX_OBJECTS` objects inside the scene (fewer when a draw finds no room in 50
    tries), their outlines' extents at least :data:`TOUCH_GAP` apart, some exactly that far from
    another's (touching: their boxes share or abut a pixel column or row)."""
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    extents: list[tuple[float, float, float, float]] = []
    objects: list[SceneObject] = []
    for _ in range(n):
        label = int(rng.integers(len(CLASSES)))
        size = float(rng.uniform(*SIZE_RANGE)) * height
        left, top, right, bottom = shape_extent(CLASSES[label], size)
        touch = bool(extents) and rng.uniform() < TOUCH_PROB
        for _try in range(50):
            if touch:  # beside a previous object, TOUCH_GAP from its extent
                other = extents[int(rng.integers(len(extents)))]
                side = int(rng.integers(4))
                along = float(rng.uniform())
                if side in (0, 1):  # left of / right of
                    cx = other[0] - right - TOUCH_GAP if side == 0 else other[2] - left + TOUCH_GAP
                    cy = other[1] - bottom + along * (other[3] - other[1] + bottom - top)
                else:  # above / below
                    cy = other[1] - bottom - TOUCH_GAP if side == 2 else other[3] - top + TOUCH_GAP
                    cx = other[0] - right + along * (other[2] - other[0] + right - left)
            else:
                cx = float(rng.uniform(MARGIN - left, width - MARGIN - right))
                cy = float(rng.uniform(MARGIN - top, height - MARGIN - bottom))
            ext = (cx + left, cy + top, cx + right, cy + bottom)
            inside = (
                ext[0] >= MARGIN
                and ext[1] >= MARGIN
                and ext[2] <= width - MARGIN
                and ext[3] <= height - MARGIN
            )
            grown = (ext[0] - TOUCH_GAP, ext[1] - TOUCH_GAP, ext[2] + TOUCH_GAP, ext[3] + TOUCH_GAP)
            if inside and not any(_overlaps(grown, e) for e in extents):
                cx, cy = round(cx, 3), round(cy, 3)
                box = _exact_box(label, cx, cy, round(size, 3), width, height)
                objects.append(SceneObject(label, cx, cy, round(size, 3), box))
                extents.append(ext)
                break
    return tuple(objects)


def _sample_look(
    rng: np.random.Generator, domain: str, objects: Sequence[SceneObject], width: int, height: int
) -> dict[str, Any]:
    """The appearance of one scene in ``domain`` (colours 0-1 RGB; see the module docstring)."""
    night = domain == "night"
    bg_v = (0.05, 0.16) if night else (0.75, 0.97)
    bg_s = (0.0, 0.3) if night else (0.0, 0.25)
    top, bottom = (_hsv(rng.uniform(), rng.uniform(*bg_s), rng.uniform(*bg_v)) for _ in range(2))
    obj_s = (0.05, 0.3) if night else (0.75, 1.0)
    obj_v = (0.38, 0.55) if night else (0.5, 0.85)
    colors = [_hsv(rng.uniform(), rng.uniform(*obj_s), rng.uniform(*obj_v)) for _ in objects]
    look: dict[str, Any] = {
        "top": top,
        "bottom": bottom,
        "colors": colors,
        "texture_grid": [8, 12] if night else [3, 5],
        "texture_amp": 0.04 if night else 0.03,
        "texture_seed": int(rng.integers(2**31)),
        "noise_sigma": float(rng.uniform(0.025, 0.04)) if night else 0.006,
        "noise_seed": int(rng.integers(2**31)),
        "cast": [1.0, 1.0, 1.0],
        "vignette": 0.0,
        "glare": [],
    }
    if night:
        cast = np.array(_hsv(rng.uniform(), 0.35, 1.0))
        look["cast"] = [float(c) for c in cast / cast.mean()]
        look["vignette"] = float(rng.uniform(0.3, 0.5))
        glare = []
        for _ in range(int(rng.integers(3))):
            radius = float(rng.uniform(0.06, 0.12)) * height
            for _try in range(20):
                gx, gy = float(rng.uniform(0, width)), float(rng.uniform(0, height))
                reach = radius + GLARE_CLEARANCE
                disc = (gx - reach, gy - reach, gx + reach, gy + reach)
                if not any(_overlaps(disc, o.box) for o in objects):
                    glare.append(
                        [
                            round(gx, 2),
                            round(gy, 2),
                            round(radius, 2),
                            round(float(rng.uniform(0.3, 0.6)), 3),
                        ]
                    )
                    break
        look["glare"] = glare
    return look


def sample_scene(key: Sequence[int], domain: str, size: tuple[int, int] = (96, 64)) -> Scene:
    """Draw one scene: objects from ``key`` alone, the look from ``key`` and ``domain``.

    Args:
        key: integers seeding the scene (the writer uses ``(seed, split, domain, index)``); the
            same key gives the same objects in every domain.
        domain: ``"day"`` or ``"night"``.
        size: ``(width, height)`` in pixels.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain={domain!r}: expected one of {list(DOMAINS)}")
    width, height = _check_size(size)
    objects = _sample_objects(np.random.default_rng([*key, 0]), width, height)
    look_rng = np.random.default_rng([*key, 1, DOMAINS.index(domain)])
    return Scene(
        width, height, domain, objects, _sample_look(look_rng, domain, objects, width, height)
    )


def object_alphas(scene: Scene) -> np.ndarray:
    """Each object's coverage of each pixel, ``(M, height, width)`` float in [0, 1]: non-zero
    exactly inside the object's box."""
    s = SUPERSAMPLE
    out = np.zeros((len(scene.objects), scene.height, scene.width), dtype=np.float64)
    for k, o in enumerate(scene.objects):
        mask = np.asarray(
            _supersampled_mask(o.label, o.cx, o.cy, o.size, scene.width, scene.height),
            dtype=np.float64,
        )
        out[k] = mask.reshape(scene.height, s, scene.width, s).mean(axis=(1, 3)) / 255.0
    return out


def _smooth_noise(
    rng: np.random.Generator, grid: Sequence[int], width: int, height: int
) -> np.ndarray:
    """Low-frequency texture ``(height, width)``: a coarse normal grid upsampled bicubically."""
    coarse = rng.standard_normal((int(grid[0]), int(grid[1]))).astype(np.float32)
    up = Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float64)


def render_scene(scene: Scene) -> Image.Image:
    """The scene's RGB image (``width x height``). Pixels outside every box are those of the
    same scene without objects (``dataclasses.replace(scene, objects=())``)."""
    w, h, look = scene.width, scene.height, scene.look
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    img = (1 - t) * np.array(look["top"]) + t * np.array(look["bottom"])  # (H, 1, 3)
    tex = _smooth_noise(np.random.default_rng(look["texture_seed"]), look["texture_grid"], w, h)
    img = img + look["texture_amp"] * tex[:, :, None]  # (H, W, 3)
    alphas = object_alphas(scene)
    for k, color in enumerate(look["colors"][: len(scene.objects)]):
        a = alphas[k][:, :, None]
        img = img * (1 - a) + np.array(color) * a
    img = img * np.array(look["cast"])
    if look["vignette"]:
        ys, xs = np.mgrid[0:h, 0:w]
        d2 = ((xs + 0.5) / w - 0.5) ** 2 + ((ys + 0.5) / h - 0.5) ** 2  # 0.5 at the corners
        img = img * (1 - look["vignette"] * 2 * d2)[:, :, None]
    if look["glare"]:
        ys, xs = np.mgrid[0:h, 0:w]
        for gx, gy, radius, strength in look["glare"]:
            d2 = ((xs + 0.5 - gx) ** 2 + (ys + 0.5 - gy) ** 2) / radius**2
            img = img + strength * (np.clip(1 - d2, 0, 1) ** 2)[:, :, None] * np.array(
                [1, 0.95, 0.8]
            )
    noise = np.random.default_rng(look["noise_seed"]).standard_normal((h, w, 3))
    img = img + look["noise_sigma"] * noise
    return Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8), mode="RGB")


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if (
        len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
        or not (32 <= size[0] <= 4096 and 32 <= size[1] <= 4096)
    ):
        raise ValueError(
            f"detection scenes size={list(size)}: expected (width, height), integers in [32, 4096]"
        )
    return int(size[0]), int(size[1])


def _split_id(split: str) -> int:
    """A stable integer per split name, so adding a split never changes another's scenes."""
    return int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "big")


def coco_path(root: str | Path, domain: str, split: str) -> Path:
    """The COCO JSON of ``domain`` and ``split`` under a root written by
    :func:`write_detection_scenes`."""
    return Path(root) / "coco" / domain / split / "instances.json"


def _coco(scenes: Sequence[tuple[str, Scene]], domain: str, split: str, params: dict) -> dict:
    images, annotations = [], []
    for i, (rel, scene) in enumerate(scenes):
        images.append({"id": i, "file_name": rel, "width": scene.width, "height": scene.height})
        alphas = object_alphas(scene)
        for k, o in enumerate(scene.objects):
            x0, y0, x1, y1 = o.box
            annotations.append(
                {
                    "id": len(annotations),
                    "image_id": i,
                    "category_id": o.label + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": round(float(alphas[k].sum()), 2),
                    "iscrowd": 0,
                }
            )
    return {
        "info": {
            "description": f"starganv2 built-in detection scenes: {domain}, {split}",
            "version": str(SCENES_VERSION),
            "params": params,
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": k + 1, "name": name, "supercategory": "shape"} for k, name in enumerate(CLASSES)
        ],
    }


def _read_params(marker: Path) -> dict[str, Any]:
    """The parameters recorded in ``marker``; ``FileExistsError`` naming it when it cannot be
    read (damaged by hand: the bare JSON error named no file)."""
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
        if not isinstance(found, dict):
            raise ValueError("expected a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FileExistsError(
            f"detection scenes root={marker.parent}: {marker.name} is damaged ({err}); these are "
            "generated scenes: delete the folder and they are written again on next use"
        ) from err
    return found


def write_detection_scenes(
    root: str | Path,
    n_per_domain: int,
    seed: int = 0,
    size: tuple[int, int] = (96, 64),
    splits: Sequence[str] = ("train", "val", "test"),
) -> Path:
    """Write the scenes under ``root`` and return ``root``.

    Layout (``NNNNNN.png`` numbered from 0 in each domain and split):

    - ``root/coco/<domain>/<split>/instances.json`` (:func:`coco_path`) with images at
      ``root/coco/<domain>/<split>/images/NNNNNN.png``: categories ``1 circle, 2 square,
      3 triangle``, boxes ``[x, y, w, h]`` in integer pixels, ``area`` the object's pixel coverage.
    - ``root/translation/<split>/<domain>/NNNNNN.png`` for the splits ``train`` and ``val``
      among ``splits``: the same images (hard links where possible), the layout of ``data=folder``.
    - ``root/detection_scenes.json``: the parameters, written last.

    Args:
        root: output folder (created).
        n_per_domain: scenes per domain in each split (>= 2).
        seed: everything else follows from it; same arguments, byte-identical files.
        size: ``(width, height)`` in pixels.
        splits: split names; each split's scenes depend only on its name and ``seed``.

    Every file is written whole (temporary name, then rename). A rerun with the same arguments
    returns at once when the parameters file is there, and otherwise keeps the images already
    written (an interrupted run resumes); a root written with other arguments is refused.
    """
    width, height = _check_size(size)
    if isinstance(n_per_domain, bool) or not isinstance(n_per_domain, int) or n_per_domain < 2:
        raise ValueError(
            f"detection scenes n_per_domain={n_per_domain!r}: expected an int >= 2 "
            "(a StarGAN v2 domain folder needs two images)"
        )
    splits = list(splits)
    if (
        not splits
        or len(set(splits)) != len(splits)
        or not all(isinstance(s, str) and s and s.replace("_", "").isalnum() for s in splits)
    ):
        raise ValueError(
            f"detection scenes splits={splits}: expected distinct names of letters, digits and _"
        )
    root = Path(root)
    params = {
        "version": SCENES_VERSION,
        "n_per_domain": n_per_domain,
        "seed": int(seed),
        "size": [width, height],
        "splits": splits,
        "domains": list(DOMAINS),
        "classes": list(CLASSES),
    }
    marker = root / PARAMS_FILE
    if marker.is_file():
        found = _read_params(marker)
        if found == params:
            log.info("detection scenes already in %s", root)
            return root
        differ = {k: found.get(k) for k in params if found.get(k) != params[k]}
        raise FileExistsError(
            f"detection scenes root={root} holds scenes written with other parameters {differ}; "
            f"expected {{{', '.join(f'{k}: {params[k]!r}' for k in differ)}}}: "
            "choose another root or delete this one"
        )
    for split in splits:
        for d, domain in enumerate(DOMAINS):
            folder = coco_path(root, domain, split).parent
            (folder / "images").mkdir(parents=True, exist_ok=True)
            scenes = []
            for i in range(n_per_domain):
                scene = sample_scene((int(seed), _split_id(split), d, i), domain, (width, height))
                rel = f"images/{i:06d}.png"
                file = folder / rel
                if not file.is_file():
                    with atomic_path(file) as tmp:
                        render_scene(scene).save(tmp, format="PNG", compress_level=6)
                if split in TRANSLATION_SPLITS:
                    link = root / "translation" / split / domain / file.name
                    if not link.is_file():
                        link.parent.mkdir(parents=True, exist_ok=True)
                        atomic_link_or_copy(file, link)
                scenes.append((rel, scene))
            text = json.dumps(_coco(scenes, domain, split, params), indent=1)
            atomic_write_text(coco_path(root, domain, split), text + "\n")
    atomic_write_text(marker, json.dumps(params, indent=1) + "\n")
    log.info(
        "wrote detection scenes (%d per domain and split, %s, %dx%d) to %s",
        n_per_domain,
        splits,
        width,
        height,
        root,
    )
    return root
