"""The loader and writer around ``Trainer.predict``: letterboxed in, mapped back to the source's
pixels out; an unreadable source is a recorded failure, not a crash."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.synthesis.detection.translate import (
    DetectionItemWriter,
    FitLoader,
    Reference,
    prediction_device,
)
from tests.synthesis.detection.datasets import save_image


def test_letterbox_round_trip_puts_every_pixel_back(tmp_path):
    src = save_image(tmp_path / "wide.png", 48, 32, 4)
    item = FitLoader(48, "letterbox")(src)  # the long side is the model's: no resampling
    assert item["x"].shape == (3, 48, 48) and item["error"] is None
    writer = DetectionItemWriter(tmp_path / "out")
    writer({**item, "key": "sub/wide_night_0.png"}, item["x"])  # an identity "translation"
    out = np.asarray(Image.open(tmp_path / "out/sub/wide_night_0.png"))
    assert np.array_equal(out, np.asarray(Image.open(src)))
    assert writer.written == ["sub/wide_night_0.png"] and writer.failed == {}


def test_stretch_keeps_the_size_but_not_the_pixels(tmp_path):
    src = save_image(tmp_path / "wide.png", 48, 32, 4)
    item = FitLoader(48, "stretch")(src)
    DetectionItemWriter(tmp_path / "out")({**item, "key": "w.png"}, item["x"])
    out = np.asarray(Image.open(tmp_path / "out/w.png"))
    assert out.shape == (32, 48, 3) and not np.array_equal(out, np.asarray(Image.open(src)))


def test_an_unreadable_source_is_recorded_not_written(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff broken")
    item = FitLoader(32)(bad)
    assert item["x"].shape == (3, 32, 32) and "bad.jpg" in item["error"]
    writer = DetectionItemWriter(tmp_path / "out")
    writer({**item, "key": "bad_night_0.jpg"}, item["x"])
    assert list(writer.failed) == ["bad_night_0.jpg"] and not (tmp_path / "out").exists()


def test_references_are_squares_and_crop_is_refused(tmp_path):
    ref = save_image(tmp_path / "r.png", 40, 20, 5)
    assert FitLoader(32)(Reference(ref)).shape == (3, 32, 32)
    with pytest.raises(ValueError, match=r"fit='crop' is invalid"):
        FitLoader(32, "crop")


def test_prediction_device_is_the_trainers_and_logs_nothing(caplog):
    with caplog.at_level(logging.INFO):
        assert prediction_device("cpu") == torch.device("cpu")
    assert not [r for r in caplog.records if "available" in r.getMessage()]
