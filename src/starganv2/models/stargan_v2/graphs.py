"""The StarGAN v2 inference paths as plain modules (for export): generator with mapping network
(latent-guided) and generator with style encoder (reference-guided); with the high-pass skip,
the generator is a :class:`MaskedGenerator` that draws its masks from its input.

Both take and return images ``(N, 3, S, S)`` in ``[-1, 1]`` (outputs clamped there, as
``translate`` does, so an exported graph answers what the module answers); labels ``y (N,)``
int64.
"""

from __future__ import annotations

import torch
from torch import nn

from starganv2.models.masks import MaskProvider

__all__ = ["LatentTranslator", "MaskedGenerator", "ReferenceTranslator"]


class MaskedGenerator(nn.Module):
    """A StarGAN v2 generator fed the masks of its own input, from any mask provider:
    ``forward(x, s) = generator(x, s, masks=provider.masks(x))``.

    The provider (the FAN, the shapes oracle, or any :class:`~starganv2.models.masks.MaskProvider`)
    is an attribute, so an exported graph computes the masks from ``x`` inside it.

    Args:
        generator: the (EMA) generator, called as ``generator(x, s, masks=...)``.
        provider: the mask provider; an ``nn.Module`` one travels with the graph (device,
            export), anything else with ``masks(x)`` is called as it is.
    """

    def __init__(self, generator: nn.Module, provider: MaskProvider) -> None:
        super().__init__()
        if not isinstance(provider, MaskProvider):
            raise TypeError(
                f"provider={type(provider).__name__}: expected a mask provider, an object with "
                "masks(x) -> (mask_32, mask_64_128)"
            )
        self.generator = generator
        self.provider = provider

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.generator(x, s, masks=self.provider.masks(x))


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
        return self.generator(x, s).clamp(-1, 1)


class ReferenceTranslator(nn.Module):
    """``(x, y, x_ref) -> G(x, E(x_ref, y))``."""

    def __init__(self, generator: nn.Module, style_encoder: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.style_encoder = style_encoder

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_ref: torch.Tensor) -> torch.Tensor:
        return self.generator(x, self.style_encoder(x_ref, y)).clamp(-1, 1)
