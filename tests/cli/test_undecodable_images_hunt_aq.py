"""Images that pass the data's quick check (header and end) but do not decode, as the console
scripts report them: ``starganv2-eval`` printed the loader's traceback, and an error raised in a
DataLoader worker (``UnreadableDataError`` of ``starganv2-train`` with ``data.num_workers>0``)
was logged with the worker's whole traceback as its message (found by hunt AQ)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from starganv2.cli.common import report_error
from starganv2.cli.eval import evaluate_images
from starganv2.data.folders import ImageLoadError, check_image, load_image
from starganv2.data.sampling import UnreadableDataError


def _damaged_png(path: Path) -> Path:
    """A noise PNG whose middle bytes are inverted: its header and IEND end are intact."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 50] = bytes(b ^ 0xFF for b in data[middle : middle + 50])
    path.write_bytes(bytes(data))
    return path


class _Failing(Dataset):
    """One item, whose loading raises ``UnreadableDataError`` (in a worker process)."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> int:
        raise UnreadableDataError("no readable image left in the domain of a/0.png (2 files)")


class _Evaluator:
    """An evaluator whose evaluation reads an image that does not decode."""

    def __init__(self, path: Path):
        self.path = path

    def evaluate(self, model: object, datamodule: object, settings_key: str) -> dict:
        load_image(self.path)
        return {}


def test_a_worker_error_is_reported_as_its_own_message(caplog):
    loader = DataLoader(_Failing(), batch_size=1, num_workers=1)
    with pytest.raises(UnreadableDataError) as err:
        next(iter(loader))
    with caplog.at_level(logging.ERROR):
        assert report_error(err.value, logging.getLogger("test")) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "no readable image left in the domain of a/0.png (2 files)"
    ]


def test_an_image_that_does_not_decode_is_one_line_of_eval(tmp_path):
    path = _damaged_png(tmp_path / "0.png")
    assert check_image(path) is None  # the quick check passes it
    with pytest.raises(ImageLoadError, match="failed to load image"):
        load_image(path)
    with pytest.raises(ValueError, match="replace it or move it out") as err:
        evaluate_images(_Evaluator(path), None, None)
    assert str(err.value).startswith(f"failed to load image {path}: ")
    assert "\n" not in str(err.value)
