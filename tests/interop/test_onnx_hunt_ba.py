"""``export_onnx`` given one guidance mode as a plain string."""

from __future__ import annotations

import pytest

from starganv2.interop.onnx import export_onnx
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")


def test_one_mode_given_as_a_string_exports_that_mode(tmp_path):
    """``modes="latent"`` was taken apart into letters: "ONNX export needs 'l' guidance"."""
    results = export_onnx(StarGANv2Module(**TINY), tmp_path, modes="latent", verify=False)
    assert list(results) == ["latent"]
    assert (tmp_path / "latent.onnx").is_file() and not (tmp_path / "reference.onnx").exists()
