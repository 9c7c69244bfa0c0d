"""The loader and writer around ``Trainer.predict``: letterboxed (or tiled) in, mapped back to the
source's pixels out; an unreadable source is a recorded failure, not a crash."""

from __future__ import annotations

import logging
import os
import signal

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from PIL import Image

from starganv2.models.prediction import PredictionMixin
from starganv2.synthesis.detection.translate import (
    DetectionItemWriter,
    FitLoader,
    Reference,
    collate_tiles,
    output_format,
    prediction_device,
    translate_requests,
)
from starganv2.synthesis.requests import TranslationRequest, style_seed
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


class StyleOffset(PredictionMixin, L.LightningModule):
    """A stand-in translator: adds ``0.5 * tanh`` of the mean of each item's style code (here the
    latent code itself) to the whole picture, so an output shows which style it got."""

    has_styles, guidance_modes = True, ("latent",)
    img_size, num_domains, latent_dim = 32, 2, 4

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the module a device

    def translation_inputs(self, x: torch.Tensor, y_trg: torch.Tensor) -> torch.Tensor:
        return y_trg

    def style_from_latent(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return z  # (N, style_dim = latent_dim)

    def translate(self, x: torch.Tensor, y_trg: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x + 0.5 * torch.tanh(s.mean(dim=1)).view(-1, 1, 1, 1)


def test_tile_loader_hands_the_tiles_and_small_sources_are_letterboxed(tmp_path):
    big = save_image(tmp_path / "big.png", 100, 70, 1)
    item = FitLoader(32, "tile")(big)
    assert item["x"].shape == (12, 3, 32, 32) and item["fit"]["mode"] == "tile"  # 4 x 3
    assert FitLoader(32, "tile", tile_size=64)(big)["x"].shape == (4, 3, 32, 32)  # 2 x 2
    small = FitLoader(32, "tile")(save_image(tmp_path / "small.png", 60, 24, 2))  # 24 < 32
    assert small["x"].shape == (3, 32, 32) and small["fit"]["mode"] == "letterbox"


def test_collate_makes_a_row_of_every_tile_with_its_requests_style(tmp_path):
    load = FitLoader(32, "tile")
    tiled = {**load(save_image(tmp_path / "b.png", 64, 48, 1)), "seed": torch.tensor(7)}
    whole = {**load(save_image(tmp_path / "s.png", 20, 20, 2)), "seed": torch.tensor(9)}
    batch = collate_tiles([{**tiled, "key": "b"}, {**whole, "key": "s"}])
    assert batch["x"].shape == (6 + 1, 3, 32, 32)  # 3 x 2 tiles, then the letterboxed one
    assert batch["tile"] == [0, 1, 2, 3, 4, 5, None] and batch["key"] == ["b"] * 6 + ["s"]
    assert batch["seed"].tolist() == [7] * 6 + [9]


def test_tile_writer_writes_an_output_once_it_has_all_its_tiles(tmp_path):
    src = save_image(tmp_path / "a.png", 80, 40, 3)
    item = {**FitLoader(32, "tile")(src), "key": "a_night_0.png"}
    writer = DetectionItemWriter(tmp_path / "out")
    for j, tile in enumerate(item["x"]):  # an identity "translation", tile by tile
        assert not (tmp_path / "out/a_night_0.png").exists()
        writer({**item, "tile": j}, tile)
    out = np.asarray(Image.open(tmp_path / "out/a_night_0.png"))
    assert np.array_equal(out, np.asarray(Image.open(src)))  # native tiles: every pixel back
    assert writer.written == ["a_night_0.png"]


def test_every_tile_of_an_output_gets_the_same_style_through_predict(tmp_path):
    arr = np.full((70, 100, 3), 128, np.uint8)  # flat grey: the output is the offset alone
    Image.fromarray(arr).save(tmp_path / "grey.png")
    requests = [
        TranslationRequest(tmp_path / "grey.png", 1, style_seed(0, "grey", 1, k), f"g_{k}.png", k)
        for k in range(2)
    ]
    out_dir = tmp_path / "out"
    result = translate_requests(StyleOffset(), requests, out_dir, "tile", 1, 95, "cpu")
    assert sorted(result.written) == ["g_0.png", "g_1.png"]
    outs = [np.asarray(Image.open(tmp_path / f"out/g_{k}.png")).astype(int) for k in range(2)]
    for out in outs:
        assert out.shape == (70, 100, 3) and out.max() - out.min() <= 1  # one offset, no seam
    assert abs(outs[0].mean() - outs[1].mean()) > 2  # the two outputs' styles differ


def test_tile_options_are_checked_with_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"^tile_overlap=0.7 is invalid"):
        FitLoader(32, "tile", tile_overlap=0.7)
    with pytest.raises(ValueError, match=r"^tile_size=0 is invalid"):
        FitLoader(32, "tile", tile_size=0)


def test_the_log_counts_outputs_not_tiles(tmp_path, caplog):
    save_image(tmp_path / "big.png", 100, 70, 1)  # 12 tiles each
    requests = [TranslationRequest(tmp_path / "big.png", 1, k, f"b_{k}.png", k) for k in range(2)]
    with caplog.at_level(logging.INFO, logger="starganv2"):
        translate_requests(StyleOffset(), requests, tmp_path / "out", "tile", 2, 95, "cpu")
    assert any("wrote 2 output(s)" in r.getMessage() for r in caplog.records)


def test_sigterm_stops_after_the_batch_in_progress(tmp_path, monkeypatch):
    """Lightning's handler only notes SIGTERM; the run stops at the end of that batch, its
    outputs written whole, the rest left to a rerun."""
    save_image(tmp_path / "a.png", 40, 30, 1)
    requests = [TranslationRequest(tmp_path / "a.png", 1, k, f"a_{k}.png", k) for k in range(4)]
    write = DetectionItemWriter.__call__

    def write_then_signal(self, item, image):
        write(self, item, image)
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler is in place during predict

    monkeypatch.setattr(DetectionItemWriter, "__call__", write_then_signal)
    with pytest.raises(SIGTERMException):
        translate_requests(StyleOffset(), requests, tmp_path / "out", "letterbox", 1, 95, "cpu")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_0.png"]


@pytest.mark.parametrize(("suffix", "fmt"), [(".tif", "TIFF"), (".tiff", "TIFF"), (".gif", "GIF")])
def test_an_output_has_the_format_its_suffix_names(tmp_path, suffix, fmt):
    item = FitLoader(32, "letterbox")(save_image(tmp_path / "s.png", 40, 30, 1))
    DetectionItemWriter(tmp_path)({**item, "key": f"o{suffix}"}, item["x"])
    assert Image.open(tmp_path / f"o{suffix}").format == fmt
    assert output_format(suffix) == fmt and output_format(".heic") is None
