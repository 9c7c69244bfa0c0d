"""A truncated uncompressed TIFF passed the start-up check (its header opens, and no end check
was made for TIFF) and was skipped during training instead of being listed before it (found
by hunt AQ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from starganv2.data.folders import check_image


def test_a_truncated_tiff_is_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (300, 200, 3), dtype=np.uint8))
    path = tmp_path / "scan.tif"
    picture.save(path, compression="raw")
    assert check_image(path) is None
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 10):
        path.write_bytes(data[:cut])
        assert "TIFF header says the image data end at byte" in (check_image(path) or "")
