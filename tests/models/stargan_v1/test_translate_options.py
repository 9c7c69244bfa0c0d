"""Folder translation with a StarGAN v1 model names the style option the user gave (``ref_dir``
or ``psi``), not both: the other one was never set."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.interface import GuidanceModeError
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.synthesis.translate_folder import translate_folder
from tests.models.stargan_v1.test_module import TINY_V1


@pytest.fixture
def model() -> StarGANv1Module:
    torch.manual_seed(0)
    return StarGANv1Module(**TINY_V1).eval()


def test_psi_alone_is_named_alone(model, tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(GuidanceModeError) as err:
        translate_folder(model, tmp_path / "in", tmp_path / "out", psi=0.7)
    assert str(err.value).startswith("psi=0.7 (truncation of latent styles) needs style codes")
    assert "ref_dir" not in str(err.value)


def test_ref_dir_alone_is_named_alone(model, tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(GuidanceModeError) as err:
        translate_folder(model, tmp_path / "in", tmp_path / "out", ref_dir=tmp_path / "refs")
    assert "ref_dir=" in str(err.value) and "psi" not in str(err.value)
