"""Style codes for synthesis: per-domain mean styles and the truncation trick.

Truncation (``psi < 1``) pulls latent-guided style codes towards the domain's mean style,
``s_mean + psi * (s - s_mean)``, where ``s_mean`` is the mean of the mapping network's output over
10,000 random latent codes (:func:`style_means`, as in the paper's code).

This lives in ``models/`` (not ``synthesis/``) because the modules' ``predict_step``
(:mod:`starganv2.models.prediction`) truncates too, and a model may not import a higher layer;
:mod:`starganv2.synthesis.styles` re-exports these names for the synthesis tools.
"""

from __future__ import annotations

import torch
from torch import nn

from starganv2.models.interface import StyleTranslator, require_styles
from starganv2.models.training_checks import check_codes, domain_labels
from starganv2.utils.checks import check_int

__all__ = [
    "NUM_MEAN_CODES",
    "check_psi",
    "check_psi_rows",
    "check_style_means",
    "style_means",
    "seeded_style_means",
    "MEAN_STYLE_SEED",
    "truncate",
    "latent_styles",
]

NUM_MEAN_CODES = 10_000
"""Latent codes averaged per domain for the truncation mean (as in the paper's code)."""
MEAN_STYLE_SEED = 0
"""Seed of the latent codes averaged into the mean styles that ``psi`` truncates toward when no
``s_mean`` is given (:func:`seeded_style_means`)."""


def check_psi(psi: float, key: str = "psi") -> float:
    """``psi`` as a float if it lies in [0, 1], else ``ValueError`` naming ``key``.

    Outside that range the "truncation" extrapolates away from the mean style (``psi > 1``) or
    through it to the opposite side (``psi < 0``): styles the mapping network never produced.
    """
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 <= psi <= 1.0:
        raise ValueError(
            f"{key}={psi!r} is invalid: expected a truncation in [0, 1] (1 = none, 0 = the "
            "domain's mean style)"
        )
    return float(psi)


def _parameter_dtype(model: StyleTranslator) -> torch.dtype:
    """The dtype of ``model``'s floating parameters (what its nets want their inputs in), or
    float32 for a model without any."""
    parameters = model.parameters() if isinstance(model, nn.Module) else ()
    return next((p.dtype for p in parameters if p.is_floating_point()), torch.float32)


@torch.no_grad()
def style_means(
    model: StyleTranslator,
    num: int = NUM_MEAN_CODES,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean style code of each domain over ``num`` random latent codes.

    The same latent codes are used for every domain. ``generator`` (a CPU ``torch.Generator``)
    makes the result reproducible; codes are drawn on the CPU in float32 (the same numbers under
    any default dtype) and moved to the model's device and parameter dtype (a model converted with
    ``.half()`` takes half codes).

    Returns: ``(num_domains, style_dim)`` float32.
    """
    model = require_styles(model, "truncation (psi < 1)")
    if num < 1:
        raise ValueError(f"num={num!r} is invalid: expected at least one latent code")
    check_int(batch_size, "batch_size")  # 0 would draw no codes and loop forever
    device, dtype = model.device, _parameter_dtype(model)
    sums = torch.zeros(model.num_domains, model.style_dim, dtype=torch.float64, device=device)
    done = 0
    while done < num:
        n = min(batch_size, num - done)
        # float32 whatever torch's default dtype (float64 draws are other numbers), then cast
        z = torch.randn(n, model.latent_dim, generator=generator, dtype=torch.float32)
        z = z.to(device, dtype)  # (n, latent_dim)
        for d in range(model.num_domains):
            y = torch.full((n,), d, dtype=torch.long, device=device)
            sums[d] += model.style_from_latent(z, y).double().sum(0)
        done += n
    return (sums / num).float()  # (num_domains, style_dim)


def seeded_style_means(model: StyleTranslator, seed: int = MEAN_STYLE_SEED) -> torch.Tensor:
    """:func:`style_means` of codes drawn from their own generator seeded with ``seed``
    (default :data:`MEAN_STYLE_SEED`: the means a function uses when its caller gives no
    ``s_mean``). The same in every call, and torch's global random state and the caller's
    generators are left as they were (drawn from them, the means differed from run to run and
    moved the caller's next draws, e.g. a grid's latent codes)."""
    return style_means(model, generator=torch.Generator().manual_seed(seed))


def check_psi_rows(psi: torch.Tensor, n: int, key: str = "psi") -> torch.Tensor:
    """``psi`` as a float ``(n, 1)`` column (one truncation per row of a batch of styles), or a
    ``ValueError`` naming ``key`` unless it is a floating ``(n,)`` tensor in [0, 1]."""
    if not isinstance(psi, torch.Tensor) or not psi.is_floating_point() or psi.shape != (n,):
        shown = f"{psi.dtype} {tuple(psi.shape)}" if isinstance(psi, torch.Tensor) else repr(psi)
        raise ValueError(f"{key} is {shown}: expected a float tensor ({n},), one psi per row")
    bad = (psi < 0) | (psi > 1) | psi.isnan()
    if bool(bad.any()):
        raise ValueError(
            f"{key} holds {psi[bad].tolist()[:5]}: expected truncations in [0, 1] (1 = none, 0 = "
            "the domain's mean style)"
        )
    return psi.float().unsqueeze(1)  # (n, 1)


def check_style_means(s_mean: object, model: StyleTranslator) -> torch.Tensor:
    """``s_mean`` if it is a float tensor ``(num_domains, style_dim)`` of ``model`` (what
    :func:`style_means` returns), else a ``TypeError``/``ValueError`` naming ``s_mean``: the means
    of another model, or one domain's ``(style_dim,)`` mean, would otherwise fail deep in the
    indexing or, indexed by domain, truncate towards the wrong numbers silently."""
    expected = (model.num_domains, model.style_dim)
    if not isinstance(s_mean, torch.Tensor) or not s_mean.is_floating_point():
        shown = f"dtype {s_mean.dtype}" if isinstance(s_mean, torch.Tensor) else type(s_mean)
        raise TypeError(f"s_mean is {shown}: expected a float tensor {expected} (style_means)")
    if tuple(s_mean.shape) != expected:
        raise ValueError(
            f"s_mean has shape {tuple(s_mean.shape)}: expected {expected}, one mean style per "
            "domain of this model (num_domains, style_dim); compute it with "
            "style_means(model)"
        )
    return s_mean


def truncate(
    s: torch.Tensor,
    s_mean: torch.Tensor,
    psi: float | torch.Tensor,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """Truncation trick: ``s_mean + psi * (s - s_mean)``.

    Args:
        s: ``(N, style_dim)`` style codes.
        s_mean: ``(style_dim,)``, ``(N, style_dim)`` or, with ``y``, ``(num_domains, style_dim)``.
        psi: 1 keeps ``s``; 0 gives the mean; values in between trade diversity for fidelity.
            One float for every row, or a float tensor ``(N,)``, one per row. Outside [0, 1]:
            ``ValueError`` (:func:`check_psi`, :func:`check_psi_rows`).
        y: ``(N,)`` domains used to pick each row's mean from a per-domain ``s_mean``.
    """
    if isinstance(psi, torch.Tensor):
        weight = check_psi_rows(psi, s.size(0)).to(s.device, s.dtype)  # (N, 1)
    else:
        weight = psi = check_psi(psi)
        if psi == 1.0:
            return s
    if y is not None:
        s_mean = s_mean[y]  # (N, style_dim)
    return torch.lerp(s_mean.to(s.dtype), s, weight)


@torch.no_grad()
def latent_styles(
    model: StyleTranslator,
    z: torch.Tensor,
    y: torch.Tensor | int,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Style codes ``(N, style_dim)`` of latent codes ``z (N, latent_dim)`` for domains ``y``,
    truncated towards ``s_mean`` (``(num_domains, style_dim)``, see :func:`style_means`) when
    ``psi != 1``. ``s_mean=None`` with ``psi != 1`` computes the means (10,000 codes,
    :func:`seeded_style_means`) first.

    ``y`` is an int (NumPy integers too) for every row or an integer ``(N,)`` tensor; ``z``,
    ``y`` and ``psi`` are checked as ``translate`` checks its inputs (errors name them).
    """
    psi = check_psi(psi)
    model = require_styles(model, "latent-guided synthesis")
    check_codes(z, None, model.latent_dim, "z", "latent_dim")
    y = domain_labels(y, z.size(0), model.num_domains, z.device, key="y")
    s = model.style_from_latent(z, y)
    if psi == 1.0:
        return s
    if s_mean is None:
        s_mean = seeded_style_means(model)
    return truncate(s, check_style_means(s_mean, model).to(s.device), psi, y)
