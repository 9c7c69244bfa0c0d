"""Image folders: discovery, checks, decoding (modes, 16 bit, EXIF), transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.data import folders as folders_mod
from starganv2.data.folders import (
    check_image,
    eval_transform,
    list_domain_files,
    load_image,
    train_transform,
)
from tests.helpers.images import make_root, save_image, small_datamodule

# ---------------------------------------------------------------- discovery


def test_list_domain_files_nested_mixed_case_ignores_non_images(tmp_path: Path) -> None:
    t = tmp_path / "train"
    expected = [
        save_image(t / "dog" / "a.JPG"),
        save_image(t / "dog" / "sub" / "deep" / "b.Png"),
        save_image(t / "dog" / "c.jpeg"),
        save_image(t / "dog" / "d.WEBP"),
        save_image(t / "dog" / "e.bmp"),
    ]
    (t / "dog" / "notes.txt").write_text("x")
    (t / "dog" / "labels.json").write_text("{}")
    (t / "dog" / "sub" / "photo.gif").write_bytes(b"GIF89a")
    save_image(t / "dog" / ".hidden.png")
    save_image(t / "cat" / "z.png")
    (t / ".git").mkdir()
    (t / "README.md").write_text("not a domain")
    files = list_domain_files(t)
    assert list(files) == ["cat", "dog"]
    assert files["dog"] == sorted(expected)
    assert files["cat"] == [t / "cat" / "z.png"]


def test_list_domain_files_skips_hidden_folders_and_follows_linked_ones(tmp_path: Path) -> None:
    """Copies that tools leave in hidden folders (Jupyter's checkpoints, thumbnails) are not
    training data; a linked sub-folder is (a link cycle ends)."""
    t = tmp_path / "train"
    own = save_image(t / "cat" / "a.png")
    save_image(t / "cat" / ".ipynb_checkpoints" / "a-checkpoint.png")
    save_image(t / "cat" / "sub" / ".thumbnails" / "small.png")
    elsewhere = save_image(tmp_path / "more_cats" / "b.png")
    (t / "cat" / "linked").symlink_to(tmp_path / "more_cats", target_is_directory=True)
    (tmp_path / "more_cats" / "loop").symlink_to(t / "cat", target_is_directory=True)
    save_image(t / "dog" / "d.png")
    files = list_domain_files(t)
    assert files["cat"] == sorted([own, t / "cat" / "linked" / elsewhere.name])
    assert files["dog"] == [t / "dog" / "d.png"]


def test_setup_finds_sorted_domains(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"zebra": 2, "ant": 3}), num_domains=2)
    assert dm.num_domains == 2
    dm.setup("fit")
    assert dm.domains == ["ant", "zebra"] and dm.num_domains == 2
    assert sorted(dm.train_set.labels) == [0, 0, 0, 1, 1]
    assert dm.train_set.files[0].parent.name == "ant"


def test_transforms_range_shape_and_determinism() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (13, 21, 3), dtype=np.uint8))
    torch.manual_seed(0)
    for t in (train_transform(16, 1.0), train_transform(16, 0.0), eval_transform(16)):
        x = t(img)
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(
        eval_transform(16)(Image.new("RGB", (5, 9), (255, 255, 255))), torch.ones(3, 16, 16)
    )
    assert torch.equal(
        train_transform(16)(Image.new("RGB", (9, 5), (0, 0, 0))), -torch.ones(3, 16, 16)
    )
    assert torch.equal(eval_transform(16)(img), eval_transform(16)(img))
    square = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    outs = [train_transform(16, 1.0)(square) for _ in range(6)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # random crop / flip
    with pytest.raises(ValueError, match="randcrop_prob=1.5"):
        train_transform(16, 1.5)


# ---------------------------------------------------------------- image modes


def test_modes_become_rgb(tmp_path: Path) -> None:
    gray = Image.new("L", (4, 4), 100)
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 1
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    cases = {
        "l.png": (gray, (100, 100, 100)),
        "p.png": (pal, (10, 200, 30)),
        "pt.png": (pal_t, (255, 255, 255)),
        "rgba.png": (rgba, (255, 255, 255)),
        "cmyk.jpg": (cmyk, (255, 0, 0)),
        "bw.bmp": (Image.new("1", (4, 4), 1), (255, 255, 255)),
    }
    for name, (img, rgb) in cases.items():
        img.save(tmp_path / name)
        out = load_image(tmp_path / name)
        assert out.mode == "RGB", name
        assert np.abs(np.asarray(out, dtype=int)[1, 1] - rgb).max() <= 3, (
            name,
            np.asarray(out)[1, 1],
        )


def test_16bit_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.array([[0, 257, 32768, 65535]], dtype=np.uint16).repeat(2, 0)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    out = np.asarray(load_image(tmp_path / "g16.png"))
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    i32 = folders_mod.to_rgb(Image.fromarray(arr.astype(np.int32)))
    assert np.asarray(i32)[0, :, 1].tolist() == [0, 1, 128, 255]
    f = folders_mod.to_rgb(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)))
    assert np.asarray(f)[0, :, 2].tolist() == [0, 128, 255]


def test_exif_orientation_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (16, 8), (255, 0, 0))
    img.paste((0, 0, 255), (8, 0, 16, 8))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "o.jpg")
    assert out.size == (8, 16)
    a = np.asarray(out, dtype=int)
    assert a[2, 4, 0] > 200 and a[2, 4, 2] < 60  # top is red
    assert a[13, 4, 2] > 200 and a[13, 4, 0] < 60  # bottom is blue


def test_check_image_truncation_and_trailing_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for ext in (".jpg", ".png", ".webp", ".bmp"):
        p = tmp_path / f"n{ext}"
        noise.save(p)
        assert check_image(p) is None, ext
        whole = p.read_bytes()
        p.write_bytes(whole[: len(whole) // 2])  # header intact, pixel data cut
        if ext != ".webp":  # Pillow's WebP plugin already fails at open
            with Image.open(p) as img:
                assert img.size == (32, 32)  # the header alone does not show it
        assert check_image(p) is not None, ext
    p = save_image(tmp_path / "a.jpg")
    p.write_bytes(p.read_bytes() + b"appended metadata")
    assert check_image(p) is None


def test_tiff_files_are_images_and_links_to_nothing_are_reported(tmp_path: Path) -> None:
    """A domain of TIFFs is no empty domain; a link whose target is gone is a bad file, listed
    by name, not a file that silently vanishes."""
    root = tmp_path / "root"
    t = root / "train"
    (t / "scan").mkdir(parents=True)
    for i, name in enumerate(("a.tif", "b.TIFF", "c.tiff")):
        Image.new("RGB", (32, 32), (i, 50, 90)).save(t / "scan" / name)
    save_image(t / "photo" / "p.png")
    save_image(t / "photo" / "q.png")
    (t / "photo" / "gone.png").symlink_to(tmp_path / "moved_away.png")
    files = list_domain_files(t)
    assert [p.name for p in files["scan"]] == ["a.tif", "b.TIFF", "c.tiff"]
    assert [p.name for p in files["photo"]] == ["gone.png", "p.png", "q.png"]
    assert "moved_away.png, which does not exist" in check_image(t / "photo" / "gone.png")
    assert load_image(t / "scan" / "b.TIFF").size == (32, 32)
    with pytest.raises(ValueError, match=r"gone\.png.*moved_away\.png, which does not exist"):
        small_datamodule(root, num_domains=2).setup()


def test_an_image_over_pils_pixel_limit_says_to_downscale_it(tmp_path: Path, monkeypatch) -> None:
    """A large but sound image (a gigapixel panorama) is over PIL's decompression-bomb limit:
    the reason says so and what to do, not a bare ``DecompressionBombError`` listed as corrupt."""
    path = tmp_path / "pano.png"
    Image.new("1", (300, 20)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 300x20 = 6000 > 2 x 2000
    reason = check_image(path)
    assert reason is not None and reason.startswith("over PIL's decompression-bomb limit (")
    assert "Image size (6000 pixels) exceeds limit of 4000 pixels" in reason
    assert reason.endswith("if the image is sound, downscale it")
