"""The one pixel conversion: PNG-exact rounding, inverse of the loader's mapping, PIL/PyAV layout."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.utils import save_image

from starganv2.data.folders import eval_transform
from starganv2.utils.images import from_uint8, quantize, to_hwc_uint8, to_pil, to_uint8, to_unit


def test_quantize_matches_png_round_trip(tmp_path):
    x = torch.rand(3, 8, 8) * 2.4 - 1.2  # includes values outside [-1, 1]
    save_image((x + 1) / 2, tmp_path / "a.png")
    png = torch.from_numpy(np.array(Image.open(tmp_path / "a.png"))).permute(2, 0, 1)
    assert torch.equal(to_uint8(x), png)
    assert torch.equal(quantize(x) * 255, png.float())
    assert torch.equal(to_uint8(to_unit(x), unit=True), png)


def test_loader_pixels_survive_the_round_trip():
    arr = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    x = eval_transform(16)(Image.fromarray(arr))  # the data path: 8 bit -> [-1, 1]
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.equal(to_uint8(x), torch.from_numpy(arr).permute(2, 0, 1))
    assert torch.equal(to_uint8(from_uint8(torch.from_numpy(arr))), torch.from_numpy(arr))


def test_layouts_for_pil_and_video():
    x = torch.rand(3, 5, 7) * 2 - 1
    hwc = to_hwc_uint8(x)
    assert hwc.shape == (5, 7, 3) and hwc.dtype == torch.uint8
    img = to_pil(x)
    assert img.size == (7, 5) and img.mode == "RGB"
    assert np.array_equal(np.array(img), hwc.numpy())
