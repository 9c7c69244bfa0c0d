"""ONNX export: a channels_last model exports what it computes, the caller's model is left as
it was, and a failed parity check names the file it did not write."""

from __future__ import annotations

import pytest
import torch

from starganv2.interop.onnx import ONNXParityError, export_onnx
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _module(**kw) -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**{**TINY, "max_conv_dim": 32, **kw})


def test_a_channels_last_model_exports_what_it_computes(tmp_path):
    import onnxruntime as ort

    module = _module(channels_last=True).eval()
    res = export_onnx(module, tmp_path, modes=("latent",), verify_batch_sizes=(3,))
    assert res["latent"]["max_abs_diff"][3] < 1e-4
    session = ort.InferenceSession(
        str(tmp_path / "latent.onnx"), providers=["CPUExecutionProvider"]
    )
    g = torch.Generator().manual_seed(5)
    x, z = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1, torch.randn(3, 4, generator=g)
    y = torch.tensor([0, 1, 1])
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    with torch.no_grad():
        expected = module.translate(x, y, z=z)
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=0, atol=1e-4)


def test_export_leaves_the_callers_model_as_it_was(tmp_path):
    module = _module(channels_last=True).double().train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    modes = {name: m.training for name, m in module.named_modules()}
    export_onnx(module, tmp_path, modes=("latent",), psi=0.5, verify=False)
    assert {name: m.training for name, m in module.named_modules()} == modes
    after = module.state_dict()
    for k, v in before.items():
        assert after[k].dtype == v.dtype and after[k].device == v.device, k
        assert torch.equal(after[k], v), k  # a float32 round trip would change float64 values
    conv = module.nets["generator"].from_rgb.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)


def test_a_failed_parity_check_names_the_file_it_did_not_write(tmp_path):
    out = tmp_path / "onnx"
    with pytest.raises(ONNXParityError) as err:
        export_onnx(
            _module().eval(), out, modes=("reference",), verify_batch_sizes=(1,), tolerance=0.0
        )
    message = str(err.value)
    assert message.startswith(f"{out / 'reference.onnx'}: onnxruntime differs from PyTorch")
    assert "was not written" in message and "--no-verify" in message
    assert "opset" not in message
    assert list(out.glob("*.onnx")) + list(out.glob(".*")) == []


def test_a_failed_check_at_the_second_graph_leaves_the_earlier_export_whole(tmp_path, monkeypatch):
    """The first graph was renamed into place before the second was checked: a failure there
    left a new latent.onnx beside an older reference.onnx of another model (found by hunt BA)."""
    from starganv2.interop import onnx as onnx_export

    out = tmp_path / "onnx"
    out.mkdir()
    for name in ("latent.onnx", "reference.onnx"):
        (out / name).write_bytes(b"the earlier export's " + name.encode())
    check = onnx_export.verify_onnx

    def fails_at_the_reference_graph(path, wrapper, inputs, *args):
        if "reference" in str(args[-1]):  # the final path, named in its errors
            raise ONNXParityError(f"{args[-1]}: onnxruntime differs from PyTorch (test)")
        return check(path, wrapper, inputs, *args)

    monkeypatch.setattr(onnx_export, "verify_onnx", fails_at_the_reference_graph)
    with pytest.raises(ONNXParityError, match=r"nor any other graph of this export"):
        export_onnx(_module().eval(), out, verify_batch_sizes=(1,))
    for name in ("latent.onnx", "reference.onnx"):
        assert (out / name).read_bytes() == b"the earlier export's " + name.encode()
    assert sorted(p.name for p in out.iterdir()) == ["latent.onnx", "reference.onnx"]
