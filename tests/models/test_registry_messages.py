"""The registry's errors say what to type: a ``model=`` option that exists in conf/model, and for
a folder passed as a checkpoint, a checkpoint file in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import starganv2
from starganv2.models.registry import (
    MODEL_CONFIGS,
    MODELS,
    CheckpointError,
    check_checkpoint_fits,
    check_checkpoint_path,
    load_model,
)
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, write_tiny_checkpoint
from tests.models.stargan_v1.test_module import TINY_V1

MODEL_CONF = Path(starganv2.__file__).parent / "conf" / "model"


def _target(option: str) -> str:
    """The ``_target_`` that ``model=<option>`` composes (following the option's defaults)."""
    conf = yaml.safe_load((MODEL_CONF / f"{option}.yaml").read_text())
    if "_target_" in conf:
        return conf["_target_"]
    (parent,) = [d for d in conf["defaults"] if d != "_self_"]
    return _target(parent)


@pytest.mark.parametrize(
    ("saved", "model"),
    [("stargan_v2", StarGANv1Module(**TINY_V1)), ("stargan_v1", StarGANv2Module(**TINY))],
)
def test_another_models_checkpoint_names_model_options_that_exist(saved, model):
    checkpoint = {"starganv2": {"model": saved}, "state_dict": {}}
    with pytest.raises(CheckpointError) as err:
        check_checkpoint_fits(checkpoint, model, "x.ckpt")
    options = re.findall(r"model=(\w+)", str(err.value))
    assert options, str(err.value)
    for option in options:
        assert (MODEL_CONF / f"{option}.yaml").is_file(), f"model={option} in {err.value}"


def test_every_models_config_options_exist_and_build_it():
    for name, options in MODEL_CONFIGS.items():
        for option in options:
            module, cls = MODELS[name].split(":")
            assert _target(option) == f"{module}.{cls}", (name, option)


def test_a_run_folder_passed_as_checkpoint_names_its_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    write_tiny_checkpoint(run / "checkpoints" / "iter_0000002.ckpt")
    last = write_tiny_checkpoint(run / "checkpoints" / "last.ckpt")
    with pytest.raises(FileNotFoundError) as err:
        load_model(run)
    assert str(err.value) == (
        f"ckpt_path={str(run)!r} is a folder, not a checkpoint file: pass a file in it, e.g. "
        f"ckpt_path={str(last)!r}"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(f"e.g. ckpt_path={str(last)!r}")):
        check_checkpoint_path(run / "checkpoints")


def test_a_folder_of_iteration_checkpoints_names_the_newest(tmp_path):
    write_tiny_checkpoint(tmp_path / "iter_0000002.ckpt")
    newest = write_tiny_checkpoint(tmp_path / "iter_0000010.ckpt")
    with pytest.raises(FileNotFoundError, match=re.escape(f"e.g. ckpt_path={str(newest)!r}")):
        check_checkpoint_path(tmp_path)


def test_a_folder_without_checkpoints_says_so(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_model(tmp_path)
    assert str(err.value) == (
        f"ckpt_path={str(tmp_path)!r} is a folder, not a checkpoint file: it holds no *.ckpt "
        "file (nor does a checkpoints/ folder in it)"
    )


def test_load_from_checkpoint_says_what_a_foreign_file_is(tmp_path):
    """``StarGANv2Module.load_from_checkpoint`` of an original StarGAN v2 file failed deep in
    Lightning with ``KeyError: 'pytorch-lightning_version'``; it now says what ``load_model``
    says: the file is an original one, convert it first."""
    import torch

    module = StarGANv2Module(**TINY)
    original = tmp_path / "100_nets_ema.ckpt"
    torch.save({k: v.state_dict() for k, v in module.nets_ema.items()}, original)
    with pytest.raises(CheckpointError, match=r"is an original StarGAN v2 file.*starganv2-convert"):
        StarGANv2Module.load_from_checkpoint(original)
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.ckpt' is a text file"):
        StarGANv2Module.load_from_checkpoint(text)
