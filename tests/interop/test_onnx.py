"""ONNX export: parity with PyTorch under onnxruntime at several batch sizes."""

from __future__ import annotations

import pytest
import torch

from starganv2.interop.onnx import ONNXParityError, export_onnx, verify_onnx
from starganv2.models.stargan_v2.graphs import ReferenceTranslator
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _module():
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


@pytest.mark.slow
def test_reference_export_matches_pytorch_with_dynamic_batch(tmp_path):
    module = _module()
    res = export_onnx(module, tmp_path, modes=("reference",), verify_batch_sizes=(1, 3))
    diffs = res["reference"]["max_abs_diff"]
    assert set(diffs) == {1, 3} and max(diffs.values()) < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["reference.onnx"]

    # a wrong tolerance must fail: the check is real
    wrapper = ReferenceTranslator(module.nets_ema["generator"], module.nets_ema["style_encoder"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    inputs = (x, torch.tensor([0, 1]), torch.rand(2, 3, 32, 32) * 2 - 1)
    with pytest.raises(ONNXParityError, match="differs from PyTorch"):
        verify_onnx(tmp_path / "reference.onnx", wrapper, inputs, tolerance=0.0)


@pytest.mark.slow
def test_latent_export_with_truncation_matches_translate(tmp_path):
    import onnxruntime as ort

    module = _module()
    s_mean = torch.randn(2, 8)
    res = export_onnx(module, tmp_path, modes=("latent",), psi=0.5, s_mean=s_mean)
    assert max(res["latent"]["max_abs_diff"].values()) < 1e-4
    session = ort.InferenceSession(
        str(tmp_path / "latent.onnx"), providers=["CPUExecutionProvider"]
    )
    x, y, z = torch.rand(5, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 1, 0, 1]), torch.randn(5, 4)
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    s = torch.lerp(s_mean[y], module.style_from_latent(z, y), 0.5)
    expected = module.translate(x, y, s=s)
    assert (torch.from_numpy(out) - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("psi", [1.5, -3.0, float("nan")])
def test_psi_outside_0_1_is_refused_before_anything_is_written(tmp_path, psi):
    from starganv2.cli.export import main

    with pytest.raises(ValueError, match=r"psi=.* expected a truncation in \[0, 1\]"):
        export_onnx(_module(), tmp_path / "o", modes=("latent",), psi=psi)
    assert main([str(tmp_path / "m.ckpt"), str(tmp_path / "o"), "--psi", str(psi)]) == 1
    assert not (tmp_path / "o").exists()
