"""ONNX export of a model with the high-pass skip: its mask provider is inside the graph (inputs
unchanged), whichever it is (the FAN, the shapes oracle), and the verification tolerates a FAN
mask pixel switched at the threshold, not a wrong graph."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from starganv2.data.shape_masks import ShapeOracleMasks
from starganv2.interop.onnx import (
    MASKED_MIN_SHARE,
    TOLERANCE,
    ONNXParityError,
    export_onnx,
    verify_onnx,
)
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.helpers.fan import write_wing_ckpt

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


class _Spoiled(nn.Module):
    """The PyTorch side of a graph, with ``share`` of its output values moved by 0.5."""

    def __init__(self, graph: nn.Module, share: float):
        super().__init__()
        self.graph, self.share = graph, share

    def forward(self, *inputs):
        out = self.graph(*inputs)
        flat = out.flatten().clone()
        flat[: int(self.share * flat.numel())] += 0.5
        return flat.view_as(out)


@pytest.mark.slow
def test_latent_export_includes_the_fan(tmp_path, caplog):
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=2)
    module = StarGANv2Module(**{**TINY, "img_size": 64, "w_hpf": 1.0}, fan_weights=str(wing)).eval()
    res = export_onnx(module, tmp_path / "onnx", modes=("latent",), verify_batch_sizes=(1, 2))
    path = res["latent"]["path"]
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == ["x", "y", "z"]
    n_fan = sum(p.numel() for p in module.fan.parameters())
    assert path.stat().st_size > 4 * n_fan  # the FAN's weights are in the file

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x, y, z = module.graph_inputs("latent", 3, torch.Generator().manual_seed(4))
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    diff = (torch.from_numpy(out) - module.translate(x, y, z=z)).abs()
    assert diff.median() < 1e-5 and (diff < 1e-4).float().mean() >= MASKED_MIN_SHARE

    wrapper = module.inference_graph("latent")
    with caplog.at_level(logging.WARNING, logger="starganv2.interop.onnx"):
        verify_onnx(path, _Spoiled(wrapper, 0.02), (x, y, z), min_share=MASKED_MIN_SHARE)
    assert "a face-mask pixel switched" in caplog.text
    with pytest.raises(ONNXParityError):  # without the allowance: a failure
        verify_onnx(path, _Spoiled(wrapper, 0.02), (x, y, z))
    with pytest.raises(ONNXParityError):  # a wrong graph is not a switched pixel
        verify_onnx(path, _Spoiled(wrapper, 0.6), (x, y, z), min_share=MASKED_MIN_SHARE)


@pytest.mark.slow
def test_export_includes_the_shapes_oracle(tmp_path):
    """Not only the FAN: the oracle's masks are computed inside the graph too (a graph without
    them would miss the skip's edges), and they match PyTorch within the plain tolerance."""
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "w_hpf": 1.0, "mask_provider": "shape_oracle"}).eval()
    assert isinstance(module.mask_source, ShapeOracleMasks)
    res = export_onnx(module, tmp_path / "onnx", verify_batch_sizes=(1, 3))
    assert all(d < TOLERANCE for mode in res.values() for d in mode["max_abs_diff"].values())

    x, y, z = module.graph_inputs("latent", 3, torch.Generator().manual_seed(4))
    path = res["latent"]["path"]
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["x", "y", "z"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    want = module.translate(x, y, z=z)
    torch.testing.assert_close(torch.from_numpy(out), want, atol=TOLERANCE, rtol=0)
    with torch.no_grad():
        unmasked = module.nets_ema["generator"](x, module.style_from_latent(z, y))
    assert (unmasked - want).abs().max() > 100 * TOLERANCE  # the masks matter in this graph
