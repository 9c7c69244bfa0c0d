"""The synthetic ``shapes`` dataset: layout, determinism, metadata ground truth, caching."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from starganv2.data import shapes
from starganv2.data.shapes import ensure_shapes_dataset, make_shapes_dataset, shapes_dataset_path

SMALL = {"img_size": 32, "n_train": 4, "n_val": 2}


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_metadata_count(tmp_path: Path) -> None:
    root = make_shapes_dataset(tmp_path / "s", domains=("circle", "square", "star"), **SMALL)
    meta = json.loads((root / "metadata.json").read_text())
    assert len(meta["images"]) == 3 * (4 + 2)
    for split, n in (("train", 4), ("val", 2)):
        for d in ("circle", "square", "star"):
            assert len(list((root / split / d).glob("*.png"))) == n
    keys = {"path", "split", "domain", "cx", "cy", "size", "color", "texture", "background"}
    for rec in meta["images"]:
        assert keys <= set(rec)
        assert (root / rec["path"]).is_file()
        assert rec["path"].split("/")[:2] == [rec["split"], rec["domain"]]
        assert rec["texture"] in shapes.TEXTURES
    assert meta["params"]["domains"] == ["circle", "square", "star"]


def test_same_seed_identical_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = _files(make_shapes_dataset(tmp_path / "a", seed=3, **SMALL))
    b = _files(make_shapes_dataset(tmp_path / "b", seed=3, **SMALL))
    c = _files(make_shapes_dataset(tmp_path / "c", seed=4, **SMALL))
    assert a == b
    assert a.keys() == c.keys()
    differing = [k for k in a if k.endswith(".png") and a[k] != c[k]]
    assert len(differing) == len([k for k in a if k.endswith(".png")])


def test_metadata_matches_pixels(tmp_path: Path) -> None:
    root = make_shapes_dataset(
        tmp_path / "s", domains=shapes.SHAPES, img_size=48, n_train=3, n_val=0
    )
    meta = json.loads((root / "metadata.json").read_text())
    assert not (root / "val").exists()
    for rec in meta["images"]:
        img = np.asarray(Image.open(root / rec["path"]).convert("RGB"), dtype=np.int64)
        assert img.shape == (48, 48, 3)
        bg = np.array(rec["background"])
        centre = img[int(rec["cy"]), int(rec["cx"])]
        assert np.abs(centre - bg).sum() > 30, rec  # the shape covers its centre
        assert np.abs(img[0, 0] - bg).sum() <= 3, rec  # corners are background
        if rec["texture"] == "solid":
            assert np.abs(centre - np.array(rec["color"])).max() <= 3, rec
        # nothing of the shape beyond 1.3 * size from the centre (bounding box check)
        ys, xs = np.nonzero(np.abs(img - bg).sum(-1) > 30)
        assert np.abs(xs - rec["cx"]).max() <= 1.3 * rec["size"] + 1
        assert np.abs(ys - rec["cy"]).max() <= 1.3 * rec["size"] + 1


def test_content_shared_style_domain_specific(tmp_path: Path) -> None:
    root = make_shapes_dataset(
        tmp_path / "s", domains=("circle", "square"), img_size=32, n_train=40, n_val=0
    )
    recs = json.loads((root / "metadata.json").read_text())["images"]
    by = {d: [r for r in recs if r["domain"] == d] for d in ("circle", "square")}
    # content: the same distribution per domain (loose check on means)
    for key in ("cx", "cy", "size"):
        m = [np.mean([r[key] for r in by[d]]) for d in by]
        assert abs(m[0] - m[1]) < 0.1 * 32
    # style: circle palette is red/orange/yellow/pink (R high), square palette blue-ish (B high)
    assert all(r["color"][0] > r["color"][2] for r in by["circle"])
    assert all(r["color"][2] > r["color"][0] for r in by["square"])


def test_invalid_params_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"domains=.*'hexagon'"):
        make_shapes_dataset(tmp_path / "a", domains=("circle", "hexagon"))
    with pytest.raises(ValueError, match="img_size=8"):
        make_shapes_dataset(tmp_path / "b", img_size=8)
    with pytest.raises(ValueError, match="n_train=1"):
        make_shapes_dataset(tmp_path / "c", n_train=1)
    make_shapes_dataset(tmp_path / "d", **SMALL)
    with pytest.raises(FileExistsError, match=str(tmp_path / "d")):
        make_shapes_dataset(tmp_path / "d", **SMALL)


def test_ensure_generates_once_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARGANV2_CACHE", str(tmp_path / "cache"))
    root = ensure_shapes_dataset(**SMALL)
    assert root.parent == tmp_path / "cache" and root.name.startswith("shapes-32px-")
    assert root == shapes_dataset_path(**SMALL)
    stamp = (root / "metadata.json").stat().st_mtime_ns

    def fail(*args: object, **kwargs: object) -> Path:
        raise AssertionError("should reuse the cached dataset")

    monkeypatch.setattr(shapes, "make_shapes_dataset", fail)
    assert ensure_shapes_dataset(**SMALL) == root
    assert (root / "metadata.json").stat().st_mtime_ns == stamp
    assert shapes_dataset_path(**{**SMALL, "seed": 1}) != root
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [root.name]  # no temp folder left


def test_killed_generation_leaves_nothing_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_render = shapes.render_shape
    calls = {"n": 0}

    def dying_render(*args: object, **kwargs: object) -> Image.Image:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("killed")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(shapes, "render_shape", dying_render)
    with pytest.raises(KeyboardInterrupt):
        ensure_shapes_dataset(tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shapes, "render_shape", real_render)
    root = ensure_shapes_dataset(tmp_path, **SMALL)
    assert (root / "metadata.json").is_file()


def test_incomplete_folder_is_reported(tmp_path: Path) -> None:
    target = shapes_dataset_path(tmp_path, **SMALL)
    (target / "train").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="no metadata.json"):
        ensure_shapes_dataset(tmp_path, **SMALL)


@pytest.mark.parametrize("damage", ["", '{"params": {"img_size": 32}, "ima', "[]"])
def test_damaged_metadata_is_reported(tmp_path: Path, damage: str) -> None:
    """A truncated or damaged metadata.json in the cache is one error naming the folder and
    what to do, where the evaluation stopped with a bare JSON message."""
    root = ensure_shapes_dataset(tmp_path, **SMALL)
    (root / "metadata.json").write_text(damage)
    with pytest.raises(FileExistsError, match=r"metadata\.json is damaged .*delete the folder"):
        ensure_shapes_dataset(tmp_path, **SMALL)


@pytest.mark.parametrize("damage", ["delete", "empty"])
@pytest.mark.parametrize("attributes", [False, True])
def test_cache_with_a_missing_or_empty_image_is_reported(
    tmp_path: Path, damage: str, attributes: bool
) -> None:
    """A cached dataset with one image deleted (or truncated to 0 bytes) by the user is one error
    naming the folder and the file and saying to delete the folder: it was used silently with
    fewer images (or stopped later with advice for the user's own images)."""
    image = "images/000003.png" if attributes else "val/square/000001.png"

    def make() -> Path:
        if attributes:
            return shapes.ensure_shapes_attribute_dataset(tmp_path, img_size=32, n_images=6)
        return ensure_shapes_dataset(tmp_path, **SMALL)

    root = make()
    if damage == "delete":
        (root / image).unlink()
    else:
        (root / image).write_bytes(b"")
    with pytest.raises(FileExistsError) as err:
        make()
    message = str(err.value)
    assert str(root) in message and image in message and "\n" not in message
    assert "generated data" in message and "delete the folder" in message


def test_damaged_cache_advice_says_the_data_are_generated(tmp_path: Path) -> None:
    """The damaged-cache errors say the folder holds generated data that come back once it is
    deleted, not only 'delete the folder' (which reads as losing the user's own images)."""
    root = ensure_shapes_dataset(tmp_path, **SMALL)
    (root / "metadata.json").write_text("")
    with pytest.raises(FileExistsError, match="generated data.*generated again on next use"):
        ensure_shapes_dataset(tmp_path, **SMALL)
    (root / "metadata.json").unlink()
    with pytest.raises(FileExistsError, match="generated data.*generated again on next use"):
        ensure_shapes_dataset(tmp_path, **SMALL)


def test_unwritable_cache_folder_is_one_clear_error(tmp_path: Path) -> None:
    """A cache folder that is a file (or under one) is a one-line error naming the settings,
    not mkdir's bare 'File exists' / 'Not a directory'."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for cache_dir in (afile, afile / "sub"):
        with pytest.raises(shapes.CacheDirError, match=r"data\.cache_dir .*STARGANV2_CACHE"):
            ensure_shapes_dataset(cache_dir, **SMALL)
    assert isinstance(shapes.CacheDirError("x"), ValueError)  # the CLIs report it in one line


def test_temp_folder_of_a_killed_run_is_removed(tmp_path: Path) -> None:
    """kill -9 during generation leaves the hidden temporary folder (no ``finally`` runs); the
    next call removes those of gone processes on this host and keeps the others."""
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    host = socket.gethostname()
    prefix = "." + shapes_dataset_path(tmp_path, **SMALL).name + ".tmp-"
    left = {
        "dead": tmp_path / f"{prefix}{host}.{dead.pid}.abc123",
        "live": tmp_path / f"{prefix}{host}.{os.getpid()}.abc123",
        "other host": tmp_path / f"{prefix}elsewhere.{dead.pid}.abc123",
    }
    for folder in left.values():
        (folder / "data" / "train").mkdir(parents=True)
    root = ensure_shapes_dataset(tmp_path, **SMALL)
    assert (root / "metadata.json").is_file()
    assert not left["dead"].exists()
    assert left["live"].is_dir() and left["other host"].is_dir()


PLAIN = {"textures": ("solid",), "background_gray": (0.5, 0.5), "background_tint": 0.0}


def test_plain_look_keeps_content_and_changes_only_the_look(tmp_path: Path) -> None:
    rich = make_shapes_dataset(tmp_path / "rich", seed=1, **SMALL)
    plain = make_shapes_dataset(tmp_path / "plain", seed=1, **SMALL, **PLAIN)
    meta_rich = json.loads((rich / "metadata.json").read_text())
    meta_plain = json.loads((plain / "metadata.json").read_text())
    assert meta_plain["params"]["textures"] == ["solid"]
    assert meta_plain["params"]["background_gray"] == [0.5, 0.5]
    assert meta_rich["params"]["textures"] == list(shapes.TEXTURES)
    assert {r["texture"] for r in meta_rich["images"]} != {"solid"}  # the default is varied
    for r, p in zip(meta_rich["images"], meta_plain["images"], strict=True):
        assert p["texture"] == "solid" and p["background"] == [128, 128, 128]
        # the same draws in the same order: content and colour do not depend on the look
        assert (p["cx"], p["cy"], p["size"], p["color"]) == (
            r["cx"],
            r["cy"],
            r["size"],
            r["color"],
        )
        img = np.asarray(Image.open(plain / p["path"]).convert("RGB"), dtype=np.int64)
        assert (img[0, 0] == 128).all()


def test_look_is_part_of_the_cache_key_and_defaults_keep_old_names(tmp_path: Path) -> None:
    base = shapes_dataset_path(tmp_path, **SMALL)
    explicit = shapes_dataset_path(
        tmp_path,
        **SMALL,
        textures=shapes.TEXTURES,
        background_gray=shapes.BACKGROUND_GRAY_RANGE,
        background_tint=shapes.BACKGROUND_TINT,
    )
    assert base == explicit
    # the name the default data had before the look parameters existed
    old_key = shapes.hashlib.sha256(
        json.dumps(
            {
                "v": 1,
                "img_size": 32,
                "n_train": 4,
                "n_val": 2,
                "seed": 0,
                "domains": list(shapes.DEFAULT_DOMAINS),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    assert base.name == f"shapes-32px-{old_key}"
    assert shapes_dataset_path(tmp_path, **SMALL, **PLAIN) != base
    assert shapes_dataset_path(tmp_path, **SMALL, textures=("solid", "dots")) != base


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("textures", ()),
        ("textures", ("solid", "plaid")),
        ("textures", ("solid", "solid")),
        ("background_gray", (0.7, 0.3)),
        ("background_gray", (0.5,)),
        ("background_tint", 0.9),
    ],
)
def test_invalid_look_names_the_key(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        make_shapes_dataset(tmp_path / "s", **SMALL, **{key: value})
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- attribute mode


def test_attribute_mode_table_matches_the_drawn_images(tmp_path: Path) -> None:
    from starganv2.data.attributes import read_attribute_table

    root = shapes.make_shapes_attribute_dataset(tmp_path / "a", img_size=32, n_images=24, seed=1)
    table = read_attribute_table(root / shapes.ATTRIBUTE_TABLE)  # the CelebA reader
    assert list(table.names) == ["circle", "square", "triangle", "warm", "large", "outline"]
    assert table.values[:, :3].sum(1).tolist() == [1] * 24  # one shape each: exclusive
    meta = json.loads((root / "metadata.json").read_text())["images"]
    for row, rec in zip(table.values, meta, strict=True):
        img = np.asarray(Image.open(root / rec["path"]).convert("RGB")).astype(int)
        assert row[3] == rec["warm"] and row[4] == rec["large"] and row[5] == rec["outline"]
        dark = (img.max(axis=2) < 60).sum()  # the outline colour; no fill is that dark
        assert (dark > 0) == bool(rec["outline"]), rec
        r, g, b = img[int(rec["cy"]), int(rec["cx"])]
        assert (r > b) == bool(rec["warm"]), rec  # warm fills are red-dominant, cool ones blue
    sizes = {bool(r["large"]): [] for r in meta}
    for r in meta:
        sizes[bool(r["large"])].append(r["size"])
    assert max(sizes[False]) < min(sizes[True])  # the size classes do not overlap


def test_attribute_mode_cache_is_deterministic(tmp_path: Path) -> None:
    a = shapes.ensure_shapes_attribute_dataset(tmp_path / "c1", img_size=16, n_images=6)
    b = shapes.ensure_shapes_attribute_dataset(tmp_path / "c2", img_size=16, n_images=6)
    assert a.name == b.name and _files(a) == _files(b)
    assert shapes.ensure_shapes_attribute_dataset(tmp_path / "c1", img_size=16, n_images=6) == a
    with pytest.raises(ValueError, match="expected at least two distinct names"):
        shapes.check_attribute_params(32, 10, ["circle", "hexagon"])


def test_a_full_cache_disk_names_the_cache_folder_and_its_key(tmp_path: Path, monkeypatch) -> None:
    """PIL's ``OSError: [Errno 28]`` on a full disk names no file: training reported it as "cannot
    write a log file of the run folder", the other tools as a bare errno after a traceback."""
    save = Image.Image.save
    saved = []

    def full_after_three(self, fp, *args, **kwargs):
        if len(saved) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")  # as PIL's write raises it
        saved.append(fp)
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full_after_three)
    with pytest.raises(shapes.CacheDirError) as info:
        ensure_shapes_dataset(tmp_path / "cache", **SMALL)
    message = str(info.value)
    assert message.startswith(f"shapes cache folder {tmp_path / 'cache'}: cannot generate"), message
    assert "(No space left on device)" in message
    assert "data.cache_dir (or $STARGANV2_CACHE)" in message
    assert os.listdir(tmp_path / "cache") == []  # no half dataset, no temporary
