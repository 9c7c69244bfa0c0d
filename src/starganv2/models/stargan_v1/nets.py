"""The two StarGAN networks (Choi et al., CVPR 2018) and their building blocks.

Plain ``nn.Module`` s with no knowledge of Lightning or Hydra. The layer order inside each
``main`` sequence and the names ``main, conv1, conv2`` follow the original code's checkpoints
(``<iter>-G.ckpt``, ``<iter>-D.ckpt``), so they load with ``strict=True``.

Images are ``(N, 3, H, W)`` in ``[-1, 1]``. The generator is conditioned on a label vector
``c (N, c_dim)``: a one-hot domain for single-label data (see :func:`one_hot`), or the
original's multi-hot attribute vector for CelebA. The discriminator returns a real/fake map per
image (PatchGAN) and ``c_dim`` domain logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.utils.checks import check_img_size, check_int

__all__ = [
    "InstanceNorm",
    "ResidualBlock",
    "Generator",
    "Discriminator",
    "one_hot",
    "default_d_repeat_num",
    "D_MAX_REPEAT",
]

D_MAX_REPEAT = 6
"""The original's number of stride-2 convs in D (``d_repeat_num``); used from 64 px up."""


def one_hot(y: torch.Tensor, num_domains: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Domain labels ``y (N,)`` as one-hot label vectors ``(N, num_domains)`` (export-friendly:
    a comparison with ``arange``, no scatter)."""
    domains = torch.arange(num_domains, device=y.device)
    return (y.unsqueeze(1) == domains).to(dtype)  # (N, num_domains)


def default_d_repeat_num(img_size: int) -> int:
    """Stride-2 convs of D: the original's 6 from 64 px up, ``log2(img_size)`` below (the trunk
    then ends at 1x1, as the original's does at 64 px)."""
    return min(D_MAX_REPEAT, int(math.log2(img_size)))


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance norm that normalises every image with its own statistics, in training
    *and* in eval mode.

    The original code builds ``InstanceNorm2d(affine=True, track_running_stats=True)`` but never
    switches its nets to eval mode, so its outputs, at test time too, always use each image's
    statistics; the running averages are updated and saved but never used. This class keeps that
    behaviour whatever ``train()``/``eval()`` says: the buffers exist (so released weights load
    with ``strict=True``) and are updated in training mode as in the original; in eval mode they
    are left alone. Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=True, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.training
        return F.instance_norm(
            x,
            self.running_mean if update else None,
            self.running_var if update else None,
            self.weight,
            self.bias,
            use_input_stats=True,
            momentum=self.momentum if self.momentum is not None else 0.0,
            eps=self.eps,
        )


class ResidualBlock(nn.Module):
    """``x + main(x)`` with ``main`` = 3x3 conv, norm, ReLU, 3x3 conv, norm (convs without bias).

    Shapes: ``(N, dim, H, W) -> (N, dim, H, W)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            InstanceNorm(dim),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            InstanceNorm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    """G: the image with its label map (``3 + c_dim`` channels) to an image.

    7x7 conv to ``conv_dim``, two 4x4 stride-2 convs (doubling the width), ``repeat_num``
    residual blocks, two 4x4 stride-2 transposed convs (halving it), 7x7 conv to RGB, tanh;
    every conv but the last is followed by :class:`InstanceNorm` and ReLU, and no conv has a bias.
    8,430,528 parameters with the defaults and ``c_dim=5``, at any image size.

    Args:
        c_dim: length of the label vector (the number of domains for single-label data).
        conv_dim: width of the first conv (the original's ``g_conv_dim``).
        repeat_num: residual blocks in the bottleneck (``g_repeat_num``).

    Shapes: ``x (N, 3, H, W)``, ``c (N, c_dim)`` -> ``(N, 3, H, W)`` in ``[-1, 1]``; ``H`` and
    ``W`` must be multiples of 4.
    """

    def __init__(self, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        check_int(c_dim, "c_dim")
        check_int(conv_dim, "conv_dim")
        check_int(repeat_num, "repeat_num", minimum=0)
        self.c_dim = c_dim
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            InstanceNorm(conv_dim),
            nn.ReLU(),
        ]
        dim = conv_dim
        for _ in range(2):  # downsampling
            layers += [
                nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False),
                InstanceNorm(dim * 2),
                nn.ReLU(),
            ]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):  # upsampling
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                InstanceNorm(dim // 2),
                nn.ReLU(),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Translate ``x (N, 3, H, W)`` to the label vectors ``c (N, c_dim)``."""
        if c.shape != (x.size(0), self.c_dim):
            raise ValueError(
                f"label vectors c have shape {tuple(c.shape)}, expected ({x.size(0)}, {self.c_dim})"
            )
        label_map = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, label_map], dim=1))  # input (N, 3 + c_dim, H, W)


class Discriminator(nn.Module):
    """D: ``repeat_num`` 4x4 stride-2 convs with LeakyReLU(0.01), widths doubling from
    ``conv_dim``; then a 3x3 conv to one real/fake map (PatchGAN, ``conv1``) and a conv covering
    the whole remaining map to ``c_dim`` domain logits (``conv2``, kernel ``img_size /
    2**repeat_num``).

    44,762,048 parameters at 128 px with the defaults and ``c_dim=5`` (44,884,928 at 256 px).

    Args:
        img_size: square image side; a power of two >= 16.
        c_dim: number of domain logits.
        conv_dim: width of the first conv (``d_conv_dim``).
        repeat_num: stride-2 convs (``d_repeat_num``); ``None``: :func:`default_d_repeat_num`
            (6 from 64 px up, fewer below). At most ``log2(img_size)``.

    Shapes: ``x (N, 3, img_size, img_size)`` -> ``out_src (N, 1, h, h)`` with ``h = img_size /
    2**repeat_num`` and ``out_cls (N, c_dim)``.
    """

    def __init__(
        self,
        img_size: int = 128,
        c_dim: int = 5,
        conv_dim: int = 64,
        repeat_num: int | None = None,
    ) -> None:
        super().__init__()
        check_img_size(img_size)
        check_int(c_dim, "c_dim")
        check_int(conv_dim, "conv_dim")
        repeat_num = default_d_repeat_num(img_size) if repeat_num is None else repeat_num
        check_int(repeat_num, "d_repeat_num")
        if 2**repeat_num > img_size:
            raise ValueError(
                f"d_repeat_num={repeat_num} is invalid at img_size={img_size}: the stride-2 convs "
                f"would shrink the image below 1 px; expected at most {int(math.log2(img_size))}"
            )
        self.img_size = img_size
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, img_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)  # (N, dim, h, h)
        return self.conv1(h), self.conv2(h).flatten(1)  # (N, 1, h, h), (N, c_dim)
