"""A 3x3 conv and the 2x resampling beside it as one smaller conv (``resample_conv.py``): the
same function of the same weights as the two layers (float64 to 1e-12, float32 to rounding),
gradients included (R1's double backward through D too), inside the nets' blocks, with
unchanged state dicts; and a clear error for convs it does not cover."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.losses import r1_reg
from starganv2.models.stargan_v2.nets import Discriminator, Generator
from starganv2.models.stargan_v2.resample_conv import conv3x3_avgpool, upsample_conv3x3


def _separate_down(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return F.avg_pool2d(conv(x), 2)


def _separate_up(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def _value_and_grads(fn, x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor | None = None):
    x = x.detach().requires_grad_(True)
    out = fn(x, conv)
    g = torch.randn_like(out) if g is None else g
    grads = torch.autograd.grad(out, [x, conv.weight, conv.bias], g)
    return out.detach(), grads, g


@pytest.mark.parametrize(
    "fused, separate", [(conv3x3_avgpool, _separate_down), (upsample_conv3x3, _separate_up)]
)
@pytest.mark.parametrize(
    "shape, layout",
    [
        ((2, 5, 8, 8), torch.contiguous_format),
        ((1, 3, 7, 9), torch.contiguous_format),
        ((3, 4, 16, 6), torch.contiguous_format),
        # the upsampling lays its phases out in another way for channels_last inputs
        ((2, 5, 6, 10), torch.channels_last),
    ],
)
def test_equals_the_two_layers_in_float64_with_gradients(fused, separate, shape, layout):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 6, 3, 1, 1).double()
    x = torch.randn(shape, dtype=torch.float64)
    want, want_grads, g = _value_and_grads(separate, x, conv)
    got, got_grads, _ = _value_and_grads(fused, x.contiguous(memory_format=layout), conv, g)
    assert got.shape == want.shape
    assert got.is_contiguous(memory_format=layout)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize(
    "fused, separate", [(conv3x3_avgpool, _separate_down), (upsample_conv3x3, _separate_up)]
)
def test_float32_differs_by_rounding_only(fused, separate):
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 8, 3, 1, 1)
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        want, got = separate(x, conv), fused(x, conv)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


def test_each_output_phase_of_the_upsampling_is_placed_where_it_belongs():
    # A kernel with a single tap: the output is the upsampled input shifted by that tap, so a
    # phase placed at the wrong row or column parity shows as a mismatch of whole pixels.
    x = torch.arange(12.0).view(1, 1, 3, 4)
    for u in range(3):
        for v in range(3):
            conv = nn.Conv2d(1, 1, 3, 1, 1)
            with torch.no_grad():
                conv.weight.zero_()
                conv.weight[0, 0, u, v] = 1.0
                conv.bias.zero_()
                assert torch.equal(upsample_conv3x3(x, conv), _separate_up(x, conv))


def test_r1_through_a_discriminator_matches_the_separate_layers():
    torch.manual_seed(0)
    d = Discriminator(img_size=32, num_domains=2, max_conv_dim=32, dim_in=8).double()
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1
    y = torch.tensor([0, 1])

    def r1_and_grads(fuse: bool):
        for m in d.modules():
            if hasattr(m, "fuse_resample"):
                m.fuse_resample = fuse
        xx = x.detach().requires_grad_(True)
        out = d(xx, y)
        reg = r1_reg(out, xx)
        grads = torch.autograd.grad(out.sum() + reg, list(d.parameters()))
        return reg.detach(), grads

    reg_f, grads_f = r1_and_grads(True)
    reg_s, grads_s = r1_and_grads(False)
    assert reg_s > 0
    torch.testing.assert_close(reg_f, reg_s, rtol=1e-12, atol=0)
    for a, b in zip(grads_f, grads_s):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_generator_output_and_state_dict_are_those_of_the_separate_layers():
    torch.manual_seed(0)
    g = Generator(img_size=32, style_dim=8, max_conv_dim=32, w_hpf=0, dim_in=8).double()
    keys = list(g.state_dict())
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1
    s = torch.randn(2, 8, dtype=torch.float64)
    fused_blocks = [m for m in g.modules() if getattr(m, "fuse_resample", False)]
    assert fused_blocks  # encoder and decoder blocks fuse by default
    got = g(x, s)
    for m in fused_blocks:
        m.fuse_resample = False
    torch.testing.assert_close(got, g(x, s), rtol=0, atol=1e-12)
    assert list(g.state_dict()) == keys


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(4, 4, 3, 1, 0),
        nn.Conv2d(4, 4, 3, 2, 1),
        nn.Conv2d(4, 4, 1),
        nn.Conv2d(4, 4, 3, 1, 1, groups=2),
        nn.Conv2d(4, 4, 3, 1, 1, padding_mode="reflect"),
    ],
)
@pytest.mark.parametrize("fused", [conv3x3_avgpool, upsample_conv3x3])
def test_refuses_convs_it_does_not_cover(conv, fused):
    with pytest.raises(ValueError, match="cannot be fused"):
        fused(torch.randn(1, 4, 8, 8), conv)


@pytest.mark.parametrize("fused", [conv3x3_avgpool, upsample_conv3x3])
def test_keeps_a_channels_last_input_channels_last(fused):
    conv = nn.Conv2d(4, 6, 3, 1, 1).to(memory_format=torch.channels_last)
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    out = fused(x, conv)
    assert out.is_contiguous(memory_format=torch.channels_last)
    separate = _separate_down if fused is conv3x3_avgpool else _separate_up
    with torch.no_grad():
        torch.testing.assert_close(out, separate(x.contiguous(), conv))
