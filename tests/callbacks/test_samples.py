"""SampleGrids' fixed inputs: an image that passed the start-up check but cannot be decoded."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from starganv2.callbacks.samples import SampleGrids
from starganv2.data.folders import eval_transform, list_domain_files
from starganv2.data.sampling import ImageDomainDataset
from tests.helpers.images import SIZE, make_root

MODEL = SimpleNamespace(
    guidance_modes=("latent", "reference"),
    device=torch.device("cpu"),
    has_styles=True,
    latent_dim=4,
)


def _inputs(tmp_path, broken: list[int]) -> tuple[dict, ImageDomainDataset]:
    root = make_root(tmp_path, {"cat": 3, "dog": 3}, val=None)
    files = list_domain_files(root / "train")
    ds = ImageDomainDataset.from_domain_files(files, ["cat", "dog"], eval_transform(SIZE))
    for i in broken:  # a PNG's header with garbage after it: decoding fails, not the scan
        ds.files[i].write_bytes(ds.files[i].read_bytes()[:40] + b"\0" * 200)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_set=ds))
    grids = SampleGrids(tmp_path / "samples", num_sources=2, refs_per_domain=1)
    return grids._fixed_inputs(trainer, MODEL), ds


def test_an_undecodable_image_is_replaced_by_the_next_of_its_domain(tmp_path, caplog):
    clean, ds = _inputs(tmp_path / "clean", [])
    with caplog.at_level(logging.WARNING, logger="starganv2.callbacks.samples"):
        fixed, ds = _inputs(tmp_path / "broken", [0])  # the first cat, a picked source
    assert "000.png" in caplog.text and "next image of its domain" in caplog.text
    assert fixed["x_src"].shape == clean["x_src"].shape == (2, 3, SIZE, SIZE)
    assert torch.equal(fixed["x_src"][0], ds.load(1))  # the next cat
    assert torch.equal(fixed["x_src"][1], clean["x_src"][1])  # the dog as before
    assert torch.equal(fixed["y_ref"], clean["y_ref"])


def test_a_domain_with_no_readable_image_is_an_error_naming_it(tmp_path):
    with pytest.raises(OSError, match="none of the 3 images of domain 0"):
        _inputs(tmp_path, [0, 1, 2])
