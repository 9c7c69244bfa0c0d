"""Two of the paper's layers computed faster on the CPU, with the same math.

- :class:`InstanceNorm2d`: instance normalisation (per sample and channel over ``H, W``, no
  running statistics, optional affine ``weight``/``bias``: the state-dict entries of
  ``nn.InstanceNorm2d``). torch's instance norm runs a batch norm on a ``(1, N*C, H, W)`` copy of
  the input and repeats the affine parameters ``N`` times; on the CPU this module calls the group
  norm kernel with one channel per group instead, which is the same normalisation in one pass:
  2 to 3 times faster forward and backward at the generator's sizes
  (``benchmarks/layer_speed.py``, 1 thread: 1.18 ms against 3.15 ms for ``(2, 64, 64, 64)``,
  8.5 ms against 17.9 ms for ``(1, 64, 256, 256)``). The values differ from
  ``nn.InstanceNorm2d``'s by float rounding only (below 1e-6 on unit-variance inputs). On other
  devices it is ``F.instance_norm``, as before.
- :func:`avg_pool_2x2`: ``F.avg_pool2d(x, 2)`` with the same values bit for bit, forward,
  backward and the backward's backward (the R1 penalty differentiates through the
  discriminator's pooling twice). torch's CPU kernel for contiguous ``(N, C, H, W)`` float
  tensors is slow at small batches; four strided views summed in the kernel's order and divided
  by 4 give its exact values 4.5 times faster at 64 px (0.36 ms against 1.58 ms for
  ``(2, 64, 64, 64)``; 1.8 times at 256 px), and the backward spreads ``grad / 4`` over each
  2x2 window, as the kernel's backward does (forward and backward together about 2 times
  faster). Other devices, dtypes and layouts (channels_last, bf16 under
  autocast, odd sizes) use ``F.avg_pool2d``.

Layers timed by ``benchmarks/layer_speed.py``, the training step by ``benchmarks/train_speed.py``
(its ``+torchlayers`` variants; see docs/scale.md); both are transparent to
checkpoints, ONNX export and the original's converted weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InstanceNorm2d", "avg_pool_2x2"]


class InstanceNorm2d(nn.Module):
    """Instance norm without running statistics (see the module docstring).

    Args:
        num_features: channels ``C``.
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros), as ``nn.InstanceNorm2d``.
        eps: added to the variance (torch's default 1e-5).

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, num_features: int, affine: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


def _window_sum_quarter(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C, H/2, W/2)``: each 2x2 window summed row by row, divided by 4
    (``F.avg_pool2d``'s order of operations, so its values exactly)."""
    top, bottom = x[..., 0::2, :], x[..., 1::2, :]
    out = top[..., 0::2] + top[..., 1::2]
    out = out + bottom[..., 0::2]
    out = out + bottom[..., 1::2]
    return out.div_(4)


def _spread_quarter(g: torch.Tensor) -> torch.Tensor:
    """The adjoint: ``(N, C, h, w) -> (N, C, 2h, 2w)``, ``g / 4`` in each 2x2 window."""
    n, c, h, w = g.shape
    return (g / 4)[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


class _Pool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return _window_sum_quarter(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _Spread.apply(grad)


class _Spread(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _spread_quarter(grad)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return avg_pool_2x2(grad)


def avg_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2)`` for ``x (N, C, H, W)`` (see the module docstring)."""
    fast = (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 4
        and x.size(-1) % 2 == 0
        and x.size(-2) % 2 == 0
        and x.is_contiguous()
    )
    if not fast:
        return F.avg_pool2d(x, 2)
    if x.requires_grad and torch.is_grad_enabled():
        return _Pool.apply(x)
    return _window_sum_quarter(x)
