"""The StarGAN v2 inference paths as plain modules (for export): generator with mapping network
(latent-guided) and generator with style encoder (reference-guided).

Both take and return images ``(N, 3, S, S)`` in ``[-1, 1]``; labels ``y (N,)`` int64.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LatentTranslator", "ReferenceTranslator"]


class LatentTranslator(nn.Module):
    """``(x, y, z) -> G(x, F(z, y))`` with optional truncation ``psi`` towards ``s_mean``.

    Args:
        generator, mapping_network: the (EMA) nets.
        psi: truncation; 1 disables it.
        s_mean: ``(num_domains, style_dim)`` style means, required when ``psi != 1``.
    """

    def __init__(
        self,
        generator: nn.Module,
        mapping_network: nn.Module,
        psi: float = 1.0,
        s_mean: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.mapping_network = mapping_network
        self.psi = float(psi)
        if self.psi != 1.0:
            if s_mean is None:
                raise ValueError("psi != 1 needs s_mean (num_domains, style_dim)")
            self.register_buffer("s_mean", s_mean.detach().clone())

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        s = self.mapping_network(z, y)  # (N, style_dim)
        if self.psi != 1.0:
            s = torch.lerp(self.s_mean[y], s, self.psi)
        return self.generator(x, s)


class ReferenceTranslator(nn.Module):
    """``(x, y, x_ref) -> G(x, E(x_ref, y))``."""

    def __init__(self, generator: nn.Module, style_encoder: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.style_encoder = style_encoder

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_ref: torch.Tensor) -> torch.Tensor:
        return self.generator(x, self.style_encoder(x_ref, y))
