"""A truncated MPO file (the JPEG of phones and cameras that holds several pictures, which PIL
opens as format ``MPO``) passed the start-up check, which looked for the end marker of
``JPEG`` files only, and was skipped during training instead of being listed before it (found
by hunt AQ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from starganv2.data.folders import check_image


def test_a_truncated_mpo_jpeg_is_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "phone.jpg"
    first.save(path, format="MPO", save_all=True, append_images=[first.rotate(90)])
    assert Image.open(path).format == "MPO" and check_image(path) is None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # cut in the first picture
    assert "EOI marker FFD9" in (check_image(path) or "")
    path.write_bytes(data[: len(data) * 3 // 4])  # cut in the second: the first decodes
    assert check_image(path) is None
