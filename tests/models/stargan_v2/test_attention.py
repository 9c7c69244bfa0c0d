"""The SAGAN attention block: identity at initialisation, the single-head math, cross-attention
reads its context, and the attention map is never stored for the backward pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from starganv2.models.stargan_v2.attention import SelfAttention
from starganv2.models.stargan_v2.nets import Generator, he_init


def _block(channels=16, gamma=0.7, seed=0) -> SelfAttention:
    torch.manual_seed(seed)
    block = SelfAttention(channels)
    block.apply(he_init)
    with torch.no_grad():
        block.gamma.fill_(gamma)
    return block


def _reference(block: SelfAttention, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """SAGAN written out: one softmax map over the pooled keys, applied to all value channels."""
    n, ch, h, w = x.shape
    q = block.query(x).flatten(2)  # (N, C/8, HW)
    k = F.max_pool2d(block.key(c), 2).flatten(2)  # (N, C/8, HW/4)
    v = F.max_pool2d(block.value(c), 2).flatten(2)  # (N, C/2, HW/4)
    attn = torch.softmax(q.transpose(1, 2) @ k / q.size(1) ** 0.5, dim=-1)  # (N, HW, HW/4)
    o = (v @ attn.transpose(1, 2)).view(n, -1, h, w)  # (N, C/2, H, W)
    return x + block.gamma * block.out(o)


def test_new_block_is_the_identity_and_widths_are_sagans():
    block = SelfAttention(64)
    x = torch.randn(2, 64, 8, 8)
    assert torch.equal(block(x), x)
    assert (block.query.out_channels, block.key.out_channels, block.value.out_channels) == (
        8,
        8,
        32,
    )
    assert block.out.out_channels == 64 and block.gamma.item() == 0.0


def test_self_and_cross_attention_equal_the_written_out_math():
    block = _block()
    x, c = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(block(x), _reference(block, x, x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(block(x, c), _reference(block, x, c), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(block(x, c), block(x, torch.randn_like(c)))


def test_gradients_equal_the_written_out_math():
    block = _block()
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    grads = []
    for fn in (block, lambda t: _reference(block, t, t)):
        block.zero_grad()
        x.grad = None
        fn(x).square().sum().backward()
        grads.append((x.grad.clone(), block.query.weight.grad.clone(), block.gamma.grad.clone()))
    for a, b in zip(*grads, strict=True):  # rounding, not elementwise (max-pool ties)
        assert float((a - b).norm() / b.norm()) < 1e-5


def test_the_attention_map_is_not_stored_for_backward():
    """With SDPA's fused kernel (values split into heads of the query width) the (HW x HW/4) map
    is recomputed in the backward pass, not saved; the written-out math saves it."""
    block = _block(channels=32)
    x = torch.randn(2, 32, 16, 16, requires_grad=True)

    def saved_shapes(fn) -> list[tuple[int, ...]]:
        shapes = []

        def pack(t):
            shapes.append(tuple(t.shape))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(x).sum().backward()
        return shapes

    def is_map(shape):  # (..., HW, HW/4) or its transpose
        return shape[-2:] in ((256, 64), (64, 256))

    assert any(is_map(t) for t in saved_shapes(lambda t: _reference(block, t, t)))  # can fail
    assert not any(is_map(t) for t in saved_shapes(block))


def test_cross_attention_generator_looks_up_the_encoders_features():
    torch.manual_seed(0)
    g = Generator(32, 8, 64, 0, 16, skip="cross_attention")
    g.apply(he_init)
    with torch.no_grad():
        g.attn["32"].gamma.fill_(1.0)
    seen = []
    g.attn["32"].register_forward_hook(lambda m, args, out: seen.append(args))
    x, s = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    g(x, s)
    ((feat, context),) = seen
    torch.testing.assert_close(context, g.from_rgb(x))  # the encoder's 32 px features
    assert feat.shape == context.shape == (2, 16, 32, 32)
