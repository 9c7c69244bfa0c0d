"""Sample grids from a trained model: latent-guided, reference-guided and (deterministic models)
label-guided.

Grids are ``(3, H, W)`` float tensors in [0, 1], ready for :func:`save_grid` or a logger. Inputs
are images ``(N, 3, S, S)`` in [-1, 1]. Each grid function checks first that the model has the
guidance it needs (:func:`~starganv2.models.interface.require_mode`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid

from starganv2.models.encoded_sources import encode_once
from starganv2.models.interface import (
    MODE_ATTRIBUTE,
    MODE_LABEL,
    MODE_LATENT,
    MODE_REFERENCE,
    StyleTranslator,
    Translator,
    require_mode,
)
from starganv2.models.stargan_v1.step import original_test_labels
from starganv2.models.training_checks import check_codes, check_images, domain_labels, domain_list
from starganv2.synthesis.styles import latent_styles, seeded_style_means
from starganv2.utils.images import save_picture, to_pil, to_unit

__all__ = ["latent_grid", "reference_grid", "label_grid", "attribute_grid", "save_grid"]


def save_grid(grid: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save a ``(3, H, W)`` grid in [0, 1] as an image, written whole, in the format its suffix
    names (PNG without a suffix; a ``ValueError`` naming ``path`` for a suffix PIL cannot write),
    as :func:`~starganv2.synthesis.prediction_writer.write_image` does. Returns the path."""
    return save_picture(to_pil(grid, unit=True), path)


def _check_sources(model: Translator, x_src: object) -> None:
    """``x_src`` checked as images of ``model``'s size (errors name ``x_src``) holding at least
    one: an empty batch failed in ``make_grid`` (a ZeroDivisionError) or in the nets."""
    check_images(x_src, model.img_size, "x_src")
    if x_src.size(0) == 0:
        raise ValueError(
            f"x_src has shape {tuple(x_src.shape)}: a grid needs at least one source image"
        )


def _domains(model: Translator, domains: object) -> list[int]:
    """A grid's target domains: all of ``model``'s for ``None``, else ``domains`` checked
    (:func:`~starganv2.models.training_checks.domain_list`; errors name ``domains``)."""
    if domains is None:
        return list(range(model.num_domains))
    return domain_list(domains, model.num_domains, "domains")


@torch.no_grad()
def latent_grid(
    model: StyleTranslator,
    x_src: torch.Tensor,
    z: torch.Tensor,
    domains: Sequence[int] | int | torch.Tensor | None = None,
    padding: int = 2,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latent-guided grid: one row per source; first column the source, then for each target
    domain one column per latent code.

    Args:
        model: a style model (its ``translate`` is used).
        x_src: ``(N, 3, S, S)`` sources.
        z: ``(K, latent_dim)`` latent codes shared by all rows (fixed codes make grids comparable
            across iterations).
        domains: target domains, domain indices (one int, a sequence or a 1-D integer tensor;
            default: all).
        psi: truncation; 1 disables it.
        s_mean: ``(num_domains, style_dim)`` style means for ``psi != 1`` (default: computed
            with :func:`~starganv2.synthesis.styles.seeded_style_means`, the same in every call,
            leaving torch's random state alone; pass them to reuse them).

    Returns: ``(3, H, W)`` grid with ``N`` rows and ``1 + len(domains) * K`` columns.
    """
    require_mode(model, MODE_LATENT, "a latent-guided grid")
    _check_sources(model, x_src)  # before x_src.size(0): errors name x_src
    check_codes(z, None, model.latent_dim, "z", "latent_dim")
    n = x_src.size(0)
    domains = _domains(model, domains)
    if psi != 1.0 and s_mean is None:
        s_mean = seeded_style_means(model)
    src = encode_once(model, x_src)  # one encoding for every column
    columns = [x_src]
    for y in domains:
        for k in range(z.size(0)):
            z_k = z[k : k + 1].expand(n, -1)  # (N, latent_dim)
            s = latent_styles(model, z_k, y, psi, s_mean)
            columns.append(model.translate(src, y, s=s))
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # (N * cols, 3, S, S), row-major
    return make_grid(to_unit(tiles), nrow=len(columns), padding=padding)


@torch.no_grad()
def reference_grid(
    model: StyleTranslator,
    x_src: torch.Tensor,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor | int,
    padding: int = 2,
) -> torch.Tensor:
    """Reference-guided grid: sources across the top, references down the left side, and in cell
    (i, j) source ``j`` translated into reference ``i``'s domain with its style.

    Args:
        x_src: ``(N, 3, S, S)`` sources; x_ref: ``(M, 3, S, S)`` references of domains
            ``y_ref`` (an integer ``(M,)`` tensor, or one int for all).

    Returns: ``(3, H, W)`` grid of ``(M + 1)`` rows and ``(N + 1)`` columns (top-left blank).
    """
    require_mode(model, MODE_REFERENCE, "a reference-guided grid")
    # before the blank corner is made like x_src: 8-bit sources failed there naming nothing
    _check_sources(model, x_src)
    check_images(x_ref, model.img_size, "x_ref")
    y_ref = domain_labels(y_ref, x_ref.size(0), model.num_domains, x_ref.device, key="y_ref")
    n = x_src.size(0)
    rows = [torch.cat([torch.full_like(x_src[:1], -1.0), x_src])]  # blank corner, then sources
    src = encode_once(model, x_src)  # one encoding for every row
    for i in range(x_ref.size(0)):
        ref = x_ref[i : i + 1].expand(n, -1, -1, -1)
        y = y_ref[i : i + 1].expand(n)
        rows.append(torch.cat([x_ref[i : i + 1], model.translate(src, y, x_ref=ref)]))
    tiles = torch.cat(rows)  # ((M + 1) * (N + 1), 3, S, S)
    return make_grid(to_unit(tiles), nrow=n + 1, padding=padding)


@torch.no_grad()
def label_grid(
    model: Translator,
    x_src: torch.Tensor,
    domains: Sequence[int] | int | torch.Tensor | None = None,
    padding: int = 2,
) -> torch.Tensor:
    """Label-guided grid of a deterministic model: one row per source; the source, then its
    translation into each target domain (one column per domain).

    Returns: ``(3, H, W)`` grid with ``N`` rows and ``1 + len(domains)`` columns.
    """
    require_mode(model, MODE_LABEL, "a label-guided grid")
    _check_sources(model, x_src)
    domains = _domains(model, domains)
    columns = [x_src] + [model.translate(x_src, y) for y in domains]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # (N * cols, 3, S, S), row-major
    return make_grid(to_unit(tiles), nrow=len(columns), padding=padding)


@torch.no_grad()
def attribute_grid(
    model: Translator,
    x_src: torch.Tensor,
    c_org: torch.Tensor,
    exclusive: Sequence[Sequence[int]] = (),
    padding: int = 2,
) -> torch.Tensor:
    """The original StarGAN's test grid for attribute labels: one row per source; the source,
    then one column per attribute: that attribute set (a member of an exclusive group, the rest
    of its group cleared) or switched (any other), the other attributes as the source has them
    (:func:`~starganv2.models.stargan_v1.step.original_test_labels`).

    Args:
        model: a model driven by attribute vectors (``translate_labels(x, c_trg)``, StarGAN v1
            with ``label_mode="multi"``).
        x_src: ``(N, 3, S, S)`` sources; c_org: ``(N, A)`` their attributes (1.0 / 0.0).
        exclusive: exclusive groups as attribute index tuples.

    Returns: ``(3, H, W)`` grid with ``N`` rows and ``1 + A`` columns.
    """
    require_mode(model, MODE_ATTRIBUTE, "an attribute grid")
    _check_sources(model, x_src)
    targets = original_test_labels(c_org.to(x_src.dtype), exclusive)
    columns = [x_src] + [model.translate_labels(x_src, c_trg) for c_trg in targets]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # (N * cols, 3, S, S), row-major
    return make_grid(to_unit(tiles), nrow=len(columns), padding=padding)
