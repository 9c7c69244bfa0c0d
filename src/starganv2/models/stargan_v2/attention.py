"""Attention blocks for the StarGAN v2 decoder: self-attention and cross-attention to the encoder.

Both are the SAGAN block (Zhang et al., ICML 2019): 1x1 convs make queries and keys of ``C/8``
channels and values of ``C/2``; keys and values are 2x2 max-pooled (a quarter of the positions);
a 1x1 conv maps the attended values back to ``C`` channels and is added to the input, scaled by
``gamma``, a learned scalar initialised to 0 (so a new block starts as the identity and the net
it is added to is unchanged at initialisation). The attention runs through
``torch.nn.functional.scaled_dot_product_attention`` (one map, the usual ``1/sqrt(C/8)``
scaling; the values split into heads that share it, so the fused kernels apply: :func:`_attend`),
so the ``(HW) x (HW/4)`` attention map is never stored: see docs/ablations.md for what that saves
at 256 px.

- :class:`SelfAttention`: the decoder's features attend to themselves (``context=None``).
- With a ``context`` (the encoder's features at the same resolution, same width), the decoder's
  features make the queries and the encoder's the keys and values: cross-attention, a learned,
  content-addressed replacement for the high-pass skip that needs no mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SelfAttention"]


class SelfAttention(nn.Module):
    """SAGAN attention block: ``x + gamma * out(attend(query(x), key(c), value(c)))``, ``c = x``
    or the given context.

    Args:
        channels: width ``C`` of the features (and of the context, for cross-attention).
        pool: side of the max pooling of keys and values (1: none).

    Shapes: ``x (N, C, H, W)``, ``context (N, C, H', W')`` or ``None`` -> ``(N, C, H, W)``.
    """

    def __init__(self, channels: int, pool: int = 2) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        value = max(1, channels // 2)
        self.pool = pool
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, value, 1)
        self.out = nn.Conv2d(value, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = x.shape
        c = x if context is None else context
        q = self.query(x).flatten(2).transpose(1, 2).contiguous()  # (N, HW, C/8)
        k, v = self.key(c), self.value(c)
        if self.pool > 1:
            k, v = F.max_pool2d(k, self.pool), F.max_pool2d(v, self.pool)
        # channels last in memory: the fused kernels need the feature axis contiguous
        k = k.flatten(2).transpose(1, 2).contiguous()  # (N, HW/4, C/8)
        v = v.flatten(2).transpose(1, 2).contiguous()  # (N, HW/4, C/2)
        o = _attend(q, k, v)  # (N, HW, C/2)
        o = o.transpose(1, 2).reshape(n, -1, h, w)  # (N, C/2, H, W)
        return x + self.gamma * self.out(o)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One attention map ``softmax(q k^T / sqrt(d))`` applied to ``v``: ``q (N, L, d)``,
    ``k (N, S, d)``, ``v (N, S, dv)`` -> ``(N, L, dv)``.

    The fused kernels (flash attention on the CPU and on GPUs) need values as wide as queries,
    and SAGAN's are 4 times wider; the math fallback would store the ``L x S`` map. So the values
    are split into ``dv / d`` heads of width ``d`` that share the same queries and keys: every
    head has the same map, applied to its share of the value channels. The result is the
    single-head attention to rounding, and the map is recomputed per head instead of stored.
    """
    n, length, d = q.shape
    heads = v.size(-1) // d
    if heads * d != v.size(-1):  # widths that do not split: one head (math kernel on the CPU)
        return F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
    s = k.size(1)
    vh = v.reshape(n, s, heads, d).transpose(1, 2)  # (N, heads, S, d)
    qh = q[:, None].expand(n, heads, length, d)  # (N, heads, L, d), a view
    kh = k[:, None].expand(n, heads, s, d)  # (N, heads, S, d), a view
    o = F.scaled_dot_product_attention(qh, kh, vh)  # (N, heads, L, d)
    return o.transpose(1, 2).reshape(n, length, heads * d)  # (N, L, dv)
