"""The settings a checkpoint differs in, as ``check_checkpoint_fits`` lists them for StarGAN v1:
``d_repeat_num: null`` means the default for the image size, so it is compared and shown as the
value it stands for (a bare ``None here`` read as a missing setting, and ``5`` against ``null``
at 32 px, also 5, is no difference)."""

from __future__ import annotations

import pytest

from starganv2.models.registry import CheckpointError, check_checkpoint_fits
from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.models.stargan_v1.test_module import TINY_V1


def _checkpoint(**settings) -> dict:
    module = StarGANv1Module(**{**TINY_V1, **settings})
    return {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "starganv2": {"model": "stargan_v1"},
    }


def _message(saved: dict, **settings) -> str:
    with pytest.raises(CheckpointError) as err:
        check_checkpoint_fits(saved, StarGANv1Module(**{**TINY_V1, **settings}), "v1.ckpt")
    return str(err.value)


def test_null_that_means_the_same_value_is_not_listed():
    message = _message(_checkpoint(d_repeat_num=5), g_conv_dim=16)  # null at 32 px: 5
    assert "g_conv_dim=8 there, 16 here" in message
    assert "d_repeat_num" not in message


def test_null_is_shown_as_the_value_it_stands_for():
    message = _message(_checkpoint(d_repeat_num=4))
    assert "d_repeat_num=4 there, 5 (null: the default) here" in message
    assert "None" not in message
