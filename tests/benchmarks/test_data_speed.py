"""``benchmarks/data_speed.py``'s JPEG dataset: files are reused only at the size asked for, so a
smoke run's small JPEGs never stand in for the real run's large ones."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.helpers.benchmarks import load_benchmark


def test_jpegs_of_another_size_are_written_again(tmp_path: Path) -> None:
    make = load_benchmark("data_speed").make_jpeg_dataset
    make(tmp_path, count=2, size=32)
    make(tmp_path, count=3, size=64)
    files = sorted(tmp_path.glob("train/*/*.jpg"))
    assert len(files) == 6
    assert {Image.open(f).size for f in files} == {(64, 64)}


def test_jpegs_of_the_right_size_are_kept(tmp_path: Path) -> None:
    make = load_benchmark("data_speed").make_jpeg_dataset
    make(tmp_path, count=1, size=32)
    first = tmp_path / "train" / "a" / "0000.jpg"
    before = first.stat().st_mtime_ns
    make(tmp_path, count=1, size=32)
    assert first.stat().st_mtime_ns == before
