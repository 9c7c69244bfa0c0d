"""``data.pin_memory=auto`` (the default) pins host memory only when the run trains on a CUDA
device: a CPU run on an image folder printed PyTorch's "'pin_memory' argument is set as true but
no accelerator is found" warning, which a user cannot act on."""

from __future__ import annotations

import inspect
import warnings
from types import SimpleNamespace

import lightning as L
import pytest
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

from starganv2.data.attribute_datamodule import AttributeDataModule
from starganv2.data.datamodule import ImageDomainDataModule
from starganv2.data.pinning import resolve_pin_memory
from tests.helpers.images import make_root, small_datamodule


def cpu_trainer() -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_auto_pins_for_a_cuda_trainer_only_and_true_or_false_win():
    cuda, cpu = (SimpleNamespace(accelerator=a()) for a in (CUDAAccelerator, CPUAccelerator))
    assert resolve_pin_memory("auto", cuda) is True
    assert resolve_pin_memory("auto", cpu) is False
    assert resolve_pin_memory("auto", cpu_trainer()) is False
    assert resolve_pin_memory(True, cpu) is True and resolve_pin_memory(False, cuda) is False


def test_data_modules_default_to_auto():
    for cls in (ImageDomainDataModule, AttributeDataModule):
        assert inspect.signature(cls).parameters["pin_memory"].default == "auto", cls


def test_a_cpu_run_on_a_folder_loads_batches_without_a_pin_memory_warning(tmp_path):
    dm = small_datamodule(make_root(tmp_path, {"a": 2, "b": 2}), pin_memory="auto")
    dm.trainer = cpu_trainer()
    dm.setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        for loader in (dm.train_dataloader(), dm.val_dataloader()):
            assert loader.pin_memory is False
            next(iter(loader))


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_other_values_are_refused_naming_the_key(tmp_path, value):
    expected = rf"data\.pin_memory={value!r} is invalid: expected true, false or auto"
    with pytest.raises(ValueError, match=expected):
        small_datamodule(tmp_path, pin_memory=value)
