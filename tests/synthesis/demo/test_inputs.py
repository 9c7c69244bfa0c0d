"""Uploads people make: whatever they are, the result is an RGB picture or a sentence saying why
not, never an exception of another kind."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from starganv2.synthesis.demo.inputs import PictureError, read_picture
from tests.synthesis.demo.conftest import write_picture


def test_an_ordinary_picture_comes_back_as_rgb(tmp_path):
    pic = read_picture(write_picture(tmp_path / "a.png", 60, 40))
    assert pic.image.mode == "RGB" and pic.image.size == (60, 40) and pic.note is None


def test_exif_rotation_is_honoured(tmp_path):
    path = tmp_path / "rotated.jpg"
    img = Image.open(write_picture(tmp_path / "a.png", 60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(path, exif=exif)
    assert read_picture(path).image.size == (40, 60)


def test_a_cmyk_jpeg_is_converted(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (30, 20), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    img = read_picture(path).image
    r, g, b = img.getpixel((15, 10))
    assert img.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_an_animated_gif_gives_its_first_frame_and_says_so(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    pic = read_picture(path)
    assert pic.note is not None and "3 frames" in pic.note and "first frame" in pic.note
    r, g, b = pic.image.getpixel((8, 8))
    assert r > 200 and b < 60


def test_rgba_and_greyscale_pictures_become_rgb(tmp_path):
    Image.new("RGBA", (9, 9), (0, 0, 0, 0)).save(tmp_path / "t.png")
    Image.new("L", (9, 9), 80).save(tmp_path / "l.png")
    assert read_picture(tmp_path / "t.png").image.getpixel((4, 4)) == (255, 255, 255)
    assert read_picture(tmp_path / "l.png").image.getpixel((4, 4)) == (80, 80, 80)


def test_a_file_that_is_no_picture_is_named_in_the_message(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture at all")
    with pytest.raises(PictureError, match=r"notes.png is not an image"):
        read_picture(path)


def test_a_truncated_picture_is_refused(tmp_path):
    path = write_picture(tmp_path / "whole.jpg", 200, 200)
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(PictureError, match="cut.jpg could not be decoded"):
        read_picture(cut)


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width x height`` but holds one row: opening it is cheap,
    decoding it would need gigabytes."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + bytes(3 * width))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", row) + chunk(b"IEND", b"")
    )
    return path


def test_a_10000_by_10000_picture_is_refused_before_decoding(tmp_path):
    path = _png_header_only(tmp_path / "huge.png", 10_000, 10_000)
    with pytest.raises(
        PictureError, match=r"10000x10000 = 100,000,000 pixels; the limit is 50,000,000"
    ):
        read_picture(path)


def test_the_limit_is_a_setting(tmp_path):
    path = write_picture(tmp_path / "a.png", 60, 40)
    with pytest.raises(PictureError, match="limit is 1,000"):
        read_picture(path, max_pixels=1000)
    assert np.asarray(read_picture(path, max_pixels=2400).image).shape == (40, 60, 3)


def test_the_limit_message_names_the_demo_key_that_sets_it(tmp_path):
    """It said "(demo.max_pixels)", which starganv2-demo refuses: the key is max_pixels."""
    from omegaconf import OmegaConf

    path = write_picture(tmp_path / "a.png", 60, 40)
    with pytest.raises(PictureError, match=r"\(starganv2-demo max_pixels=N sets it\)"):
        read_picture(path, max_pixels=1000)
    conf = Path(__file__).parents[3] / "conf" / "demo.yaml"
    assert "max_pixels" in OmegaConf.load(conf)
