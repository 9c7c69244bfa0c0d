"""Sample grids from a trained model (EMA nets): latent-guided and reference-guided.

Grids are ``(3, H, W)`` float tensors in [0, 1], ready for ``torchvision.utils.save_image`` or a
logger. Inputs are images ``(N, 3, S, S)`` in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.utils import make_grid

__all__ = ["denormalize", "latent_grid", "reference_grid"]


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x.float() + 1) / 2).clamp_(0, 1)


@torch.no_grad()
def latent_grid(
    module: torch.nn.Module,
    x_src: torch.Tensor,
    z: torch.Tensor,
    domains: Sequence[int] | None = None,
    padding: int = 2,
) -> torch.Tensor:
    """Latent-guided grid: one row per source; first column the source, then for each target
    domain one column per latent code.

    Args:
        module: a :class:`~starganv2.module.StarGANv2Module` (its ``translate`` is used).
        x_src: ``(N, 3, S, S)`` sources.
        z: ``(K, latent_dim)`` latent codes shared by all rows (fixed codes make grids comparable
            across iterations).
        domains: target domains (default: all).

    Returns: ``(3, H, W)`` grid with ``N`` rows and ``1 + len(domains) * K`` columns.
    """
    n = x_src.size(0)
    domains = list(range(module.hparams.num_domains)) if domains is None else list(domains)
    columns = [x_src]
    for y in domains:
        for k in range(z.size(0)):
            z_k = z[k : k + 1].expand(n, -1)  # (N, latent_dim)
            columns.append(module.translate(x_src, y, z=z_k))
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # (N * cols, 3, S, S), row-major
    return make_grid(denormalize(tiles), nrow=len(columns), padding=padding)


@torch.no_grad()
def reference_grid(
    module: torch.nn.Module,
    x_src: torch.Tensor,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    padding: int = 2,
) -> torch.Tensor:
    """Reference-guided grid: sources across the top, references down the left side, and in cell
    (i, j) source ``j`` translated into reference ``i``'s domain with its style.

    Args:
        x_src: ``(N, 3, S, S)`` sources; x_ref: ``(M, 3, S, S)`` references of domains
            ``y_ref (M,)``.

    Returns: ``(3, H, W)`` grid of ``(M + 1)`` rows and ``(N + 1)`` columns (top-left blank).
    """
    n = x_src.size(0)
    rows = [torch.cat([torch.full_like(x_src[:1], -1.0), x_src])]  # blank corner, then sources
    for i in range(x_ref.size(0)):
        ref = x_ref[i : i + 1].expand(n, -1, -1, -1)
        y = y_ref[i : i + 1].expand(n)
        rows.append(torch.cat([x_ref[i : i + 1], module.translate(x_src, y, x_ref=ref)]))
    tiles = torch.cat(rows)  # ((M + 1) * (N + 1), 3, S, S)
    return make_grid(denormalize(tiles), nrow=n + 1, padding=padding)
