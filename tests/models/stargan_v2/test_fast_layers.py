"""The CPU formulations of instance norm and 2x2 average pooling (``fast_layers.py``): the same
values as torch's layers (bit for bit for the pooling, through the R1 penalty's double backward;
to float rounding for the norm), the same state dicts, and torch's kernels where they apply."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.fast_layers import InstanceNorm2d, avg_pool_2x2
from starganv2.models.stargan_v2.losses import r1_reg
from starganv2.models.stargan_v2.nets import Discriminator


def _r1_and_grads(d: nn.Module, x: torch.Tensor, pool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """R1 of ``d`` at ``x`` with ``pool`` as every ResBlk's pooling (residual branch and shortcut:
    the blocks run ``conv1`` and the pooling apart), and its weight gradients."""
    for m in d.modules():
        if hasattr(m, "kind") and m.kind == "avgpool":
            m.forward = pool
        if hasattr(m, "fuse_resample"):
            m.fuse_resample = False
    x = x.detach().requires_grad_(True)
    out = d(x, torch.tensor([0, 1]))
    reg = r1_reg(out, x)
    (out.sum() + reg).backward()
    grads = [p.grad.clone() for p in d.parameters()]
    d.zero_grad(set_to_none=True)
    return reg.detach(), grads


@pytest.mark.parametrize("shape", [(2, 8, 16, 16), (3, 5, 8, 12)])
def test_pooling_equals_torchs_bit_for_bit_forward_and_backward(shape):
    x = torch.randn(shape, dtype=torch.float32, requires_grad=True)
    ref = F.avg_pool2d(x, 2)
    out = avg_pool_2x2(x)
    assert torch.equal(out, ref)
    g = torch.randn_like(ref, requires_grad=True)
    (want,) = torch.autograd.grad(ref, x, g, create_graph=True)
    (got,) = torch.autograd.grad(out, x, g, create_graph=True)
    assert torch.equal(got, want)
    gg = torch.randn_like(x)
    (want2,) = torch.autograd.grad(want, g, gg)  # the backward's backward, as R1 needs
    (got2,) = torch.autograd.grad(got, g, gg)
    assert torch.equal(got2, want2)


def test_r1_through_a_discriminator_is_unchanged_bit_for_bit():
    torch.manual_seed(0)
    d = Discriminator(img_size=32, num_domains=2, max_conv_dim=32, dim_in=8)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    reg_fast, grads_fast = _r1_and_grads(d, x, avg_pool_2x2)
    reg_torch, grads_torch = _r1_and_grads(d, x, lambda t: F.avg_pool2d(t, 2))
    assert reg_fast > 0 and torch.equal(reg_fast, reg_torch)
    assert all(torch.equal(a, b) for a, b in zip(grads_fast, grads_torch))


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last),
        lambda: torch.randn(2, 4, 7, 8),  # odd height: torch floors it
        lambda: torch.randn(2, 4, 8, 8).bfloat16(),
        lambda: torch.randn(2, 4, 16, 16)[:, :, ::2, ::2],  # a strided view
    ],
    ids=["channels_last", "odd", "bf16", "strided"],
)
def test_pooling_gives_torchs_values_for_other_layouts_dtypes_and_sizes(make):
    x = make()
    assert torch.equal(avg_pool_2x2(x), F.avg_pool2d(x, 2))


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_equals_torchs_to_rounding_with_the_same_state_dict(affine):
    torch.manual_seed(0)
    ours, theirs = InstanceNorm2d(6, affine=affine), nn.InstanceNorm2d(6, affine=affine)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if affine:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    x = (torch.randn(3, 6, 16, 16) * 3 + 1).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    g = torch.randn(3, 6, 16, 16)
    out, ref = ours(x), theirs(x2)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-5)
    if affine:
        torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-5, atol=1e-5)
    if not affine:  # normalised: zero mean and unit variance per sample and channel
        var, mean = torch.var_mean(out.detach(), dim=(2, 3), unbiased=False)
        torch.testing.assert_close(mean, torch.zeros_like(mean), rtol=0, atol=1e-5)
        torch.testing.assert_close(var, torch.ones_like(var), rtol=0, atol=1e-3)
