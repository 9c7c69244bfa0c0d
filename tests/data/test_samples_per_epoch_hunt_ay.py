"""``data.samples_per_epoch`` below 1 stops when the data module is built, naming the key (it
stopped only when training started, after the model was built, with ``num_samples=0: expected
>= 1``, a name the user never set) (found by hunt AY)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starganv2.data.attribute_datamodule import AttributeDataModule
from starganv2.data.datamodule import ImageDomainDataModule


@pytest.mark.parametrize("value", [0, -5, 2.5])
def test_folder_data_refuses_samples_per_epoch_below_one(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValueError, match=r"data\.samples_per_epoch=.*expected an int >= 1"):
        ImageDomainDataModule(tmp_path, samples_per_epoch=value)


@pytest.mark.parametrize("value", [0, -5])
def test_attribute_data_refuses_samples_per_epoch_below_one(tmp_path: Path, value: int) -> None:
    with pytest.raises(ValueError, match=r"data\.samples_per_epoch=.*expected an int >= 1"):
        AttributeDataModule(tmp_path, tmp_path / "attrs.csv", samples_per_epoch=value)


def test_samples_per_epoch_null_and_positive_are_accepted(tmp_path: Path) -> None:
    assert ImageDomainDataModule(tmp_path, samples_per_epoch=None).samples_per_epoch is None
    assert ImageDomainDataModule(tmp_path, samples_per_epoch=16).samples_per_epoch == 16
