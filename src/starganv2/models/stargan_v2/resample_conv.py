"""A 3x3 convolution and the 2x resampling beside it, computed as one smaller convolution.

Two of the paper's pairs of linear layers compose into a single convolution that needs fewer
multiply-adds for the same function of the same weights:

- :func:`conv3x3_avgpool`: a ResBlk's ``conv1`` followed by 2x2 average pooling (G's encoder, E
  and D) is one 4x4 convolution at stride 2 (padding 1) whose kernel is the 3x3 kernel summed
  over the four positions of the pooling window, divided by 4. Per input pixel that is
  16 / 4 = 4 multiply-adds per channel pair instead of 9, and the full-resolution conv output
  is never made.
- :func:`upsample_conv3x3`: 2x nearest upsampling followed by an AdainResBlk's ``conv1`` (G's
  decoder) is, for each of the four output phases (row and column parity), a 2x2 convolution
  of the low-resolution input whose taps sum the 3x3 taps that land on the same input pixel:
  16 multiply-adds per input pixel instead of 36, and the upsampled input is never made.

Both kernels come from the layer's own ``(C_out, C_in, 3, 3)`` weight at every call, so the
gradients reach the same parameter and state dicts are unchanged. The values are those of the
separate layers up to float rounding (taps are summed before they multiply; about 1e-6 of the
output's scale in float32). The derived kernel of either is the 3x3 kernel "box-summed" to 4x4
along each axis (taps ``[w0, w0 + w1, w1 + w2, w2]``): the stride-2 conv uses it whole, the
upsampling's phase ``(a, b)`` uses its taps ``[a::2, b::2]``.

``benchmarks/train_speed.py`` times the training step with and without them (its
``+torchlayers`` variants and the comparator use the separate layers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["conv3x3_avgpool", "upsample_conv3x3", "check_fusable"]


def check_fusable(conv: nn.Conv2d) -> None:
    """``ValueError`` unless ``conv`` is a plain 3x3 conv (stride 1, zero padding 1, no dilation,
    no groups), the only kind whose composition with the resampling is computed here."""
    plain = (
        tuple(conv.kernel_size) == (3, 3)
        and tuple(conv.stride) == (1, 1)
        and tuple(conv.padding) == (1, 1)
        and tuple(conv.dilation) == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )
    if not plain:
        raise ValueError(
            f"{conv} cannot be fused with 2x resampling: expected a 3x3 conv with stride 1, "
            "padding 1 (zeros), dilation 1 and groups 1"
        )


def _box(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Taps ``[w0, w1, w2]`` along ``dim`` -> ``[w0, w0 + w1, w1 + w2, w2]``: the sum of the
    kernel and its copy shifted by one tap."""
    w0, w1, w2 = w.unbind(dim)
    return torch.stack([w0, w0 + w1, w1 + w2, w2], dim)


def _box4x4(w: torch.Tensor) -> torch.Tensor:
    """``(O, I, 3, 3) -> (O, I, 4, 4)``: the kernel box-summed along both axes."""
    return _box(_box(w, 2), 3)


def conv3x3_avgpool(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``F.avg_pool2d(conv(x), 2)`` as one stride-2 4x4 convolution (see the module docstring).

    Shapes: ``x (N, C_in, H, W)`` -> ``(N, C_out, H // 2, W // 2)`` (odd sizes floor, as the
    pooling does).
    """
    check_fusable(conv)
    weight = _box4x4(conv.weight * 0.25)  # the pooling's 1/4, exact in binary floating point
    return F.conv2d(x, weight, conv.bias, stride=2, padding=1)


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` as four 2x2 convolutions of
    ``x``, one per output phase, run as one conv with ``4 * C_out`` channels and interleaved
    (see the module docstring).

    Shapes: ``x (N, C_in, H, W)`` -> ``(N, C_out, 2H, 2W)``, channels_last when ``x`` is.
    Eager calls interleave the phases through a strided view (one copy); traced ones
    (torch.compile, torch.export, ONNX) through ops that do not depend on strides.
    """
    check_fusable(conv)
    n, _, h, w = x.shape
    c_out, c_in = conv.weight.shape[:2]
    # (O, I, 4, 4) taps t = 2p + a along rows and s = 2q + b along columns; phase (a, b) uses
    # taps p, q in {0, 1}: rows i - 1 + a + p of the input for output row 2i + a.
    taps = _box4x4(conv.weight).view(c_out, c_in, 2, 2, 2, 2)  # (O, I, p, a, q, b)
    weight = taps.permute(3, 5, 0, 1, 2, 4).reshape(4 * c_out, c_in, 2, 2)  # (a, b, O) x I x p x q
    bias = None if conv.bias is None else conv.bias.repeat(4)
    out = F.conv2d(x, weight, bias, padding=1).view(n, 2, 2, c_out, h + 1, w + 1)
    # Output pixel (2i + a, 2j + b) is out[:, a, b, :, i + a, j + b].
    channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    if _traced():
        return _interleave_by_slices(out, channels_last)
    return _interleave_by_strides(out, channels_last)


def _traced() -> bool:
    """Whether a tracer records this call (torch.compile, torch.export and so the ONNX export,
    torch.jit.trace): its graph keeps the ops but not the strides of their results."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def _interleave_by_strides(out: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """The phases ``out (N, a, b, O, H + 1, W + 1)`` interleaved into ``(N, O, 2H, 2W)`` with one
    copy, through a strided view built from ``out``'s actual strides: eager mode only (a traced
    graph would replay the strides seen while tracing on whatever layout the conv gives then)."""
    n, _, _, c_out, h, w = out.shape
    h, w = h - 1, w - 1
    # The offset of out[:, a, b, :, i + a, j + b] is linear in (o, i, a, j, b), so the
    # interleaved result is a strided view of ``out`` (N, O, H, a, W, b), laid out by one copy.
    s_n, s_a, s_b, s_o, s_i, s_j = out.stride()
    phases = out.as_strided(
        (n, c_out, h, 2, w, 2),
        (s_n, s_o, s_i, s_a + s_i, s_j, s_b + s_j),
        out.storage_offset(),
    )
    if channels_last:
        # the caller's layout, in the same one copy: (N, H, a, W, b, O) is channels_last order
        nhwc = phases.permute(0, 2, 3, 4, 5, 1).reshape(n, 2 * h, 2 * w, c_out)
        return nhwc.permute(0, 3, 1, 2)
    return phases.reshape(n, c_out, 2 * h, 2 * w)


def _interleave_by_slices(out: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """What :func:`_interleave_by_strides` computes, from slices, a stack and reshapes whose
    meaning does not depend on strides (for traced graphs; a compiler fuses the copies)."""
    n, _, _, c_out, h, w = out.shape
    h, w = h - 1, w - 1
    phases = torch.stack(
        [out[:, a, b, :, a : a + h, b : b + w] for a in (0, 1) for b in (0, 1)]
    )  # (4, N, O, H, W)
    phases = phases.view(2, 2, n, c_out, h, w)  # (a, b, N, O, H, W)
    if channels_last:
        nhwc = phases.permute(2, 4, 0, 5, 1, 3)  # (N, H, a, W, b, O): channels_last order
        return nhwc.reshape(n, 2 * h, 2 * w, c_out).permute(0, 3, 1, 2)
    return phases.permute(2, 3, 4, 0, 5, 1).reshape(n, c_out, 2 * h, 2 * w)  # (N, O, H, a, W, b)
