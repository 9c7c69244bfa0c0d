"""Invalid Adam settings are refused by the module's constructor, naming the config key, before
torch's ``Adam`` would refuse them without it (after the run folder exists)."""

from __future__ import annotations

import re

import pytest

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.models.stargan_v1.test_module import TINY_V1

INVALID = [
    ("beta1", 2, "model.beta1=2 is invalid: expected 0 <= beta1 < 1 (an Adam decay rate)"),
    ("beta1", -0.1, "model.beta1=-0.1 is invalid: expected 0 <= beta1 < 1 (an Adam decay rate)"),
    ("beta2", 1.0, "model.beta2=1.0 is invalid: expected 0 <= beta2 < 1 (an Adam decay rate)"),
]
V2_ONLY = [
    ("weight_decay", -1, "model.weight_decay=-1 is invalid: expected a finite number >= 0"),
    ("weight_decay", float("inf"), "model.weight_decay=inf is invalid"),
    ("lr", float("inf"), "model.lr=inf is invalid: expected a finite learning rate > 0"),
    ("f_lr", float("nan"), "model.f_lr=nan is invalid: expected a finite learning rate > 0"),
    ("lr", 0.0, "model.lr=0.0 is invalid: expected a finite learning rate > 0"),
]
V1_ONLY = [
    ("g_lr", float("inf"), "model.g_lr=inf is invalid: expected a finite learning rate > 0"),
    ("d_lr", -1e-4, "model.d_lr=-0.0001 is invalid: expected a finite learning rate > 0"),
]


@pytest.mark.parametrize(("key", "value", "message"), INVALID + V2_ONLY)
def test_stargan_v2_refuses_invalid_adam_settings_naming_the_key(key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        StarGANv2Module(**{**TINY, key: value})


@pytest.mark.parametrize(("key", "value", "message"), INVALID + V1_ONLY)
def test_stargan_v1_refuses_invalid_adam_settings_naming_the_key(key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        StarGANv1Module(**{**TINY_V1, key: value})


@pytest.mark.parametrize("cls", [StarGANv2Module, StarGANv1Module])
def test_the_bounds_themselves_are_accepted(cls):
    tiny = TINY if cls is StarGANv2Module else TINY_V1
    extra = {"weight_decay": 0.0} if cls is StarGANv2Module else {}
    cls(**tiny, beta1=0.0, beta2=0.0, **extra).build_optimizers()
    cls(**tiny, beta1=0.999999, beta2=0.999999).build_optimizers()
