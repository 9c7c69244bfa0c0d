"""The fused upsampling conv (``upsample_conv3x3``) traced: torch.export (and so the ONNX export)
and torch.compile must compute what eager mode computes, whatever the memory layout of the
input and of the weight. Eager mode lays the phases out through a strided view of the conv's
actual strides; a traced graph keeps the ops, not those strides."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from starganv2.models.stargan_v2.resample_conv import upsample_conv3x3

LAYOUTS = [
    # (input, weight): a channels_last weight makes the conv's output channels_last in eager
    # mode even for a contiguous input, as in a model built with channels_last=True
    (torch.contiguous_format, torch.contiguous_format),
    (torch.contiguous_format, torch.channels_last),
    (torch.channels_last, torch.channels_last),
    (torch.channels_last, torch.contiguous_format),
]


class _Up(nn.Module):
    def __init__(self, weight_layout: torch.memory_format) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(5, 6, 3, 1, 1).to(memory_format=weight_layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_conv3x3(x, self.conv)


def _input(layout: torch.memory_format, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.randn(2, 5, 6, 10, generator=torch.Generator().manual_seed(1), dtype=dtype)
    return x.contiguous(memory_format=layout)


@pytest.mark.parametrize("x_layout, w_layout", LAYOUTS)
def test_exported_program_equals_eager(x_layout, w_layout):
    up = _Up(w_layout).eval()
    x = _input(x_layout)
    with torch.no_grad():
        want = up(x)
        program = torch.export.export(up, (x,))
        got = program.module()(x)
        got_contiguous = program.module()(x.contiguous())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_contiguous, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x_layout, w_layout", LAYOUTS)
def test_compiled_with_aot_eager_equals_eager_with_gradients(x_layout, w_layout):
    torch._dynamo.reset()
    up = _Up(w_layout).double()
    x = _input(x_layout, torch.float64).requires_grad_(True)
    want = up(x)
    want_grads = torch.autograd.grad(want.square().sum(), [x, up.conv.weight])
    got = torch.compile(up, backend="aot_eager", fullgraph=True)(x)
    got_grads = torch.autograd.grad(got.square().sum(), [x, up.conv.weight])
    assert got.is_contiguous(memory_format=x_layout)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-11)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="the CPU inductor needs a C++ compiler")
@pytest.mark.parametrize("x_layout, w_layout", LAYOUTS[1:3])
def test_compiled_with_inductor_equals_eager(x_layout, w_layout):
    torch._dynamo.reset()
    up = _Up(w_layout).eval()
    x = _input(x_layout)
    with torch.no_grad():
        want = up(x)
        got = torch.compile(up, fullgraph=True)(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
