"""The StarGAN (v1) inference paths as plain modules (for export): the generator on a one-hot
label vector, or on an attribute vector.

Take and return images ``(N, 3, S, S)`` in ``[-1, 1]`` (outputs clamped, as ``translate``);
labels ``y (N,)`` int64 or attribute vectors ``c (N, c_dim)`` float.
"""

from __future__ import annotations

import torch
from torch import nn

from starganv2.models.stargan_v1.nets import one_hot

__all__ = ["LabelTranslator", "AttributeTranslator"]


class LabelTranslator(nn.Module):
    """``(x, y) -> G(x, one_hot(y))``.

    Args:
        generator: the trained generator (its instance norms use each image's own statistics
            in eval mode too, see :class:`~.nets.InstanceNorm`).
        num_domains: length of the label vectors.
    """

    def __init__(self, generator: nn.Module, num_domains: int) -> None:
        super().__init__()
        self.generator = generator
        self.num_domains = int(num_domains)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generator(x, one_hot(y, self.num_domains, x.dtype)).clamp(-1, 1)


class AttributeTranslator(nn.Module):
    """``(x, c) -> G(x, c)`` for attribute vectors ``c (N, c_dim)`` (``label_mode="multi"``).

    Args:
        generator: the trained generator.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.generator(x, c.to(x.dtype)).clamp(-1, 1)
