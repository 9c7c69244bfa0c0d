"""Sample grids from a trained model (EMA nets): latent-guided and reference-guided.

Grids are ``(3, H, W)`` float tensors in [0, 1], ready for :func:`save_grid`,
``torchvision.utils.save_image`` or a logger. Inputs are images ``(N, 3, S, S)`` in [-1, 1].

Truncation (``psi < 1``) pulls latent-guided style codes towards the domain's mean style,
``s_mean + psi * (s - s_mean)``, where ``s_mean`` is the mean of the mapping network's output over
10,000 random latent codes (:func:`style_means`). Videos live in :mod:`starganv2.video`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

__all__ = [
    "denormalize",
    "latent_grid",
    "reference_grid",
    "style_means",
    "truncate",
    "latent_styles",
    "save_grid",
    "NUM_MEAN_CODES",
]

NUM_MEAN_CODES = 10_000
"""Latent codes averaged per domain for the truncation mean (as in the paper's code)."""


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x.float() + 1) / 2).clamp_(0, 1)


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def style_means(
    module: torch.nn.Module,
    num: int = NUM_MEAN_CODES,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean style code of each domain over ``num`` random latent codes.

    The same latent codes are used for every domain. ``generator`` (a CPU ``torch.Generator``)
    makes the result reproducible; codes are drawn on the CPU and moved to the module's device.

    Returns: ``(num_domains, style_dim)``.
    """
    if num < 1:
        raise ValueError(f"num={num!r} is invalid: expected at least one latent code")
    hp = module.hparams
    device = _device(module)
    sums = torch.zeros(hp.num_domains, hp.style_dim, dtype=torch.float64, device=device)
    done = 0
    while done < num:
        n = min(batch_size, num - done)
        z = torch.randn(n, hp.latent_dim, generator=generator).to(device)  # (n, latent_dim)
        for d in range(hp.num_domains):
            y = torch.full((n,), d, dtype=torch.long, device=device)
            sums[d] += module.style_from_latent(z, y).double().sum(0)
        done += n
    return (sums / num).float()  # (num_domains, style_dim)


def truncate(
    s: torch.Tensor, s_mean: torch.Tensor, psi: float, y: torch.Tensor | None = None
) -> torch.Tensor:
    """Truncation trick: ``s_mean + psi * (s - s_mean)``.

    Args:
        s: ``(N, style_dim)`` style codes.
        s_mean: ``(style_dim,)``, ``(N, style_dim)`` or, with ``y``, ``(num_domains, style_dim)``.
        psi: 1 keeps ``s``; 0 gives the mean; values in between trade diversity for fidelity.
        y: ``(N,)`` domains used to pick each row's mean from a per-domain ``s_mean``.
    """
    if psi == 1.0:
        return s
    if y is not None:
        s_mean = s_mean[y]  # (N, style_dim)
    return torch.lerp(s_mean.to(s.dtype), s, psi)


@torch.no_grad()
def latent_styles(
    module: torch.nn.Module,
    z: torch.Tensor,
    y: torch.Tensor | int,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Style codes ``(N, style_dim)`` of latent codes ``z (N, latent_dim)`` for domains ``y``,
    truncated towards ``s_mean`` (``(num_domains, style_dim)``, see :func:`style_means`) when
    ``psi != 1``. ``s_mean=None`` with ``psi != 1`` computes the means (10,000 codes) first.
    """
    if isinstance(y, int):
        y = torch.full((z.size(0),), y, dtype=torch.long, device=z.device)
    s = module.style_from_latent(z, y)
    if psi == 1.0:
        return s
    if s_mean is None:
        s_mean = style_means(module)
    return truncate(s, s_mean.to(s.device), psi, y)


def save_grid(grid: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save a ``(3, H, W)`` grid in [0, 1] as an image (format from the suffix, e.g. ``.png``).

    Written to a temporary file in the same folder, then renamed: an existing file is replaced
    only by a complete one. Parent folders are created. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        save_image(grid, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@torch.no_grad()
def latent_grid(
    module: torch.nn.Module,
    x_src: torch.Tensor,
    z: torch.Tensor,
    domains: Sequence[int] | None = None,
    padding: int = 2,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latent-guided grid: one row per source; first column the source, then for each target
    domain one column per latent code.

    Args:
        module: a :class:`~starganv2.module.StarGANv2Module` (its ``translate`` is used).
        x_src: ``(N, 3, S, S)`` sources.
        z: ``(K, latent_dim)`` latent codes shared by all rows (fixed codes make grids comparable
            across iterations).
        domains: target domains (default: all).
        psi: truncation; 1 disables it.
        s_mean: ``(num_domains, style_dim)`` style means for ``psi != 1`` (default: computed
            with :func:`style_means`; pass them to reuse across calls).

    Returns: ``(3, H, W)`` grid with ``N`` rows and ``1 + len(domains) * K`` columns.
    """
    n = x_src.size(0)
    domains = list(range(module.hparams.num_domains)) if domains is None else list(domains)
    if psi != 1.0 and s_mean is None:
        s_mean = style_means(module)
    columns = [x_src]
    for y in domains:
        for k in range(z.size(0)):
            z_k = z[k : k + 1].expand(n, -1)  # (N, latent_dim)
            s = latent_styles(module, z_k, y, psi, s_mean)
            columns.append(module.translate(x_src, y, s=s))
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
