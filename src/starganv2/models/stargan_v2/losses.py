"""StarGAN v2 objectives as pure functions of nets and tensors.

Every loss returns a scalar tensor; ``d_loss`` and ``g_loss`` return ``(loss, stats)`` where
``stats`` maps a term name to its detached scalar tensor (no host sync, so logging decides when to
read them). Nothing here mutates hyperparameters: the diversity weight is a function of the
iteration, :func:`ds_weight`.

The style of the translation comes from exactly one of a latent code (``z_trg``, through the
mapping network F) or a reference image (``x_ref``, through the style encoder E).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "adv_loss",
    "r1_reg",
    "style_recon_loss",
    "diversity_loss",
    "cycle_loss",
    "ds_weight",
    "d_loss",
    "g_loss",
]

MaskFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""Maps images ``(N, 3, H, W)`` to the generator's two face masks (only with ``w_hpf > 0``)."""


def adv_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Non-saturating adversarial loss: BCE with logits against a constant target (1 real, 0 fake).

    ``logits``: ``(N,)``. Computed in float32 whatever the autocast dtype.
    """
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def r1_reg(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """R1 penalty: ``0.5 * mean_i ||d D(x_i) / d x_i||^2`` over the batch.

    ``x_in (N, 3, H, W)`` must be a leaf with ``requires_grad`` that produced ``d_out (N,)``.
    The graph is kept (``create_graph``) so the penalty itself can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean()


def style_recon_loss(s_pred: torch.Tensor, s_trg: torch.Tensor) -> torch.Tensor:
    """L1 between the style re-encoded from the output and the style that made it: ``(N, D)``."""
    return torch.mean(torch.abs(s_pred.float() - s_trg.float()))


def diversity_loss(x_fake: torch.Tensor, x_fake2: torch.Tensor) -> torch.Tensor:
    """L1 between two translations of one source with two styles; the second is detached.

    The generator *maximises* this (it enters ``g_loss`` with a minus sign).
    """
    return torch.mean(torch.abs(x_fake.float() - x_fake2.detach().float()))


def cycle_loss(x_rec: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """L1 between the source and its translation back with the source's own style."""
    return torch.mean(torch.abs(x_rec.float() - x_real.float()))


def ds_weight(iteration: int, lambda_ds: float, ds_iter: int) -> float:
    """Diversity weight at ``iteration``: ``lambda_ds`` decayed linearly to 0 at ``ds_iter``.

    A pure function of the (checkpointed) iteration, so resumed runs continue the schedule.
    ``ds_iter <= 0`` means no decay.
    """
    if ds_iter <= 0:
        return float(lambda_ds)
    return float(lambda_ds) * max(0.0, 1.0 - iteration / ds_iter)


def _check_one_style_source(a: object, b: object, names: str) -> None:
    if (a is None) == (b is None):
        raise ValueError(f"pass exactly one of {names}: a latent code or a reference image")


def _style(
    mapping_network: nn.Module,
    style_encoder: nn.Module,
    y: torch.Tensor,
    z: torch.Tensor | None,
    x_ref: torch.Tensor | None,
) -> torch.Tensor:
    return mapping_network(z, y) if z is not None else style_encoder(x_ref, y)


def d_loss(
    generator: nn.Module,
    mapping_network: nn.Module,
    style_encoder: nn.Module,
    discriminator: nn.Module,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    z_trg: torch.Tensor | None = None,
    x_ref: torch.Tensor | None = None,
    lambda_reg: float = 1.0,
    mask_fn: MaskFn | None = None,
    r1_fp32: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Discriminator loss: real images of ``y_org`` as real (with R1), translations to ``y_trg``
    as fake. The fakes are made without gradient, so only D receives gradients.

    Args:
        x_real: ``(N, 3, H, W)`` source images; y_org, y_trg: ``(N,)`` domains.
        z_trg: ``(N, latent_dim)`` latent codes, or x_ref: ``(N, 3, H, W)`` references (one only).
        lambda_reg: weight of the R1 penalty.
        mask_fn: face-mask function for the high-pass skip (``None`` without it).
        r1_fp32: run the real branch of D with autocast off so R1's double backward is float32.

    Returns: ``(loss, {"real", "fake", "reg"})``.
    """
    _check_one_style_source(z_trg, x_ref, "z_trg / x_ref")
    x_real = x_real.detach().requires_grad_(True)  # fresh leaf for R1
    no_autocast = (
        torch.autocast(x_real.device.type, enabled=False)
        if r1_fp32 and torch.is_autocast_enabled(x_real.device.type)
        else nullcontext()
    )
    with no_autocast:
        out = discriminator(x_real, y_org)
        loss_real = adv_loss(out, 1.0)
        loss_reg = r1_reg(out, x_real)

    with torch.no_grad():
        s_trg = _style(mapping_network, style_encoder, y_trg, z_trg, x_ref)
        masks = mask_fn(x_real) if mask_fn is not None else None
        x_fake = generator(x_real, s_trg, masks=masks)
    out = discriminator(x_fake, y_trg)
    loss_fake = adv_loss(out, 0.0)

    loss = loss_real + loss_fake + lambda_reg * loss_reg
    stats = {"real": loss_real.detach(), "fake": loss_fake.detach(), "reg": loss_reg.detach()}
    return loss, stats


def g_loss(
    generator: nn.Module,
    mapping_network: nn.Module,
    style_encoder: nn.Module,
    discriminator: nn.Module,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    z_trgs: tuple[torch.Tensor, torch.Tensor] | None = None,
    x_refs: tuple[torch.Tensor, torch.Tensor] | None = None,
    lambda_sty: float = 1.0,
    lambda_ds: float = 1.0,
    lambda_cyc: float = 1.0,
    mask_fn: MaskFn | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Generator-side loss: adversarial + style reconstruction - diversity + cycle consistency.

    Args:
        x_real: ``(N, 3, H, W)``; y_org, y_trg: ``(N,)``.
        z_trgs: two latent codes ``(N, latent_dim)``, or x_refs: two references of ``y_trg``
            ``(N, 3, H, W)`` (exactly one of the two).
        lambda_sty, lambda_ds, lambda_cyc: term weights (``lambda_ds`` is the already-decayed value
            from :func:`ds_weight`).
        mask_fn: face-mask function for the high-pass skip (``None`` without it).

    Returns: ``(loss, {"adv", "sty", "ds", "cyc"})``.
    """
    _check_one_style_source(z_trgs, x_refs, "z_trgs / x_refs")
    z_trg, z_trg2 = z_trgs if z_trgs is not None else (None, None)
    x_ref, x_ref2 = x_refs if x_refs is not None else (None, None)
    masks = mask_fn(x_real) if mask_fn is not None else None

    s_trg = _style(mapping_network, style_encoder, y_trg, z_trg, x_ref)
    x_fake = generator(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(discriminator(x_fake, y_trg), 1.0)

    s_pred = style_encoder(x_fake, y_trg)
    loss_sty = style_recon_loss(s_pred, s_trg)

    s_trg2 = _style(mapping_network, style_encoder, y_trg, z_trg2, x_ref2)
    x_fake2 = generator(x_real, s_trg2, masks=masks)
    loss_ds = diversity_loss(x_fake, x_fake2)

    masks_fake = mask_fn(x_fake) if mask_fn is not None else None
    s_org = style_encoder(x_real, y_org)
    x_rec = generator(x_fake, s_org, masks=masks_fake)
    loss_cyc = cycle_loss(x_rec, x_real)

    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    stats = {
        "adv": loss_adv.detach(),
        "sty": loss_sty.detach(),
        "ds": loss_ds.detach(),
        "cyc": loss_cyc.detach(),
    }
    return loss, stats
