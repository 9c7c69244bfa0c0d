"""Stand-in models that satisfy the Translator protocol without any training: outputs equal the
inputs, so figures computed on them are known in advance."""

from __future__ import annotations

import torch
from torch import nn


class IdentityTranslator(nn.Module):
    """A style "translator" that returns its input: keeps position and colour, never changes class.

    Its style codes are the latent code itself or the reference's mean colour.
    """

    has_styles = True
    guidance_modes = ("latent", "reference")

    def __init__(self, img_size: int = 32, num_domains: int = 3, latent_dim: int = 3):
        super().__init__()
        self.img_size, self.num_domains = img_size, num_domains
        self.latent_dim = self.style_dim = latent_dim
        self.dummy = nn.Parameter(torch.zeros(1))

    @property
    def device(self) -> torch.device:
        return self.dummy.device

    def style_from_latent(self, z, y):
        return z

    def style_from_reference(self, x, y):
        return x.mean(dim=(2, 3))

    def translate(self, x, y_trg, z=None, x_ref=None, s=None):
        return x.clone()

    def inference_graph(self, mode, **options):
        return _Passthrough()

    def graph_input_names(self, mode):
        return ["x", "y"]

    def graph_inputs(self, mode, n, generator):
        x = torch.rand(n, 3, self.img_size, self.img_size, generator=generator) * 2 - 1
        return x, torch.randint(0, self.num_domains, (n,), generator=generator)


class _Passthrough(nn.Module):
    def forward(self, x, y):
        return x * 1.0


class DeterministicIdentity(IdentityTranslator):
    """The same, as a deterministic model (label guidance only, no styles)."""

    has_styles = False
    guidance_modes = ("label",)

    def translate(self, x, y_trg, **style):
        if style:
            raise ValueError("deterministic: no style inputs")
        return x.clone()
