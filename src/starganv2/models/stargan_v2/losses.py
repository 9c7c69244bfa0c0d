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
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.nets import SourceFeatures
from starganv2.utils.autograd import frozen

__all__ = [
    "adv_loss",
    "r1_reg",
    "style_recon_loss",
    "diversity_loss",
    "cycle_loss",
    "ds_weight",
    "d_loss",
    "g_loss",
    "frozen",
    "LatentFake",
    "make_latent_fake",
]

MaskFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""Maps images ``(N, 3, H, W)`` to the generator's two face masks (only with ``w_hpf > 0``)."""


def adv_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Non-saturating adversarial loss: BCE with logits against a constant target (1 real, 0 fake).

    ``logits``: ``(N,)``. Computed in float32 whatever the autocast dtype.
    """
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def r1_reg(d_out: torch.Tensor, x_in: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """R1 penalty: ``0.5 * mean_i ||d D(x_i) / d x_i||^2`` over the batch.

    ``x_in (N, 3, H, W)`` must be a leaf with ``requires_grad`` that produced ``d_out (N,)``.
    With ``create_graph`` the graph of the input gradient is kept, so the penalty itself can be
    back-propagated into D (a double backward); without it the penalty is its value alone (for
    the log, at weight 0), and ``d_out``'s graph is kept for the loss's own backward.
    """
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=create_graph, retain_graph=True)
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


@dataclass
class LatentFake:
    """A fake made by the latent D update with its graph kept, for the latent G update that
    follows (``G`` and ``F`` do not change in between, so it is the same tensor): ``s_trg``
    ``(N, style_dim)`` and ``x_fake`` ``(N, 3, H, W)``, both attached to the graph, and the
    generator's encoding of the sources (``features``, attached too), which every fake of
    ``x_real`` made before G steps can decode instead of encoding the sources again."""

    s_trg: torch.Tensor
    x_fake: torch.Tensor
    features: SourceFeatures


def make_latent_fake(
    generator: nn.Module,
    mapping_network: nn.Module,
    x_real: torch.Tensor,
    y_trg: torch.Tensor,
    z_trg: torch.Tensor,
    mask_fn: MaskFn | None = None,
) -> LatentFake:
    """``s_trg = F(z_trg, y_trg)`` and ``x_fake = G(x_real, s_trg)`` with gradients (see
    :class:`LatentFake`)."""
    masks = mask_fn(x_real) if mask_fn is not None else None
    s_trg = mapping_network(z_trg, y_trg)
    x_fake, features = generator(x_real, s_trg, masks=masks, return_features=True)
    return LatentFake(s_trg, x_fake, features)


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
    fake: LatentFake | None = None,
    compute_r1: bool = True,
    features: SourceFeatures | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Discriminator loss: real images of ``y_org`` as real (with R1), translations to ``y_trg``
    as fake. The fakes are made without gradient, so only D receives gradients.

    Args:
        x_real: ``(N, 3, H, W)`` source images; y_org, y_trg: ``(N,)`` domains.
        z_trg: ``(N, latent_dim)`` latent codes, or x_ref: ``(N, 3, H, W)`` references (one only).
        lambda_reg: weight of the R1 penalty.
        mask_fn: face-mask function for the high-pass skip (``None`` without it).
        r1_fp32: run the real branch of D with autocast off so R1's double backward is float32.
        fake: the fake of ``z_trg`` already made (:func:`make_latent_fake`); it is used detached
            instead of running F and G again.
        compute_r1: ``False`` skips the penalty (lazy R1): no input gradient, no double backward;
            ``reg`` is then reported as 0.
        features: the generator's encoding of ``x_real`` with its current weights
            (:class:`~.nets.SourceFeatures`): the fake is decoded from it instead of encoding
            the sources again (the same values).

    Returns: ``(loss, {"real", "fake", "reg"})``.
    """
    _check_one_style_source(z_trg, x_ref, "z_trg / x_ref")
    x_real = x_real.detach().requires_grad_(compute_r1)  # a fresh leaf for R1
    no_autocast = (
        torch.autocast(x_real.device.type, enabled=False)
        if r1_fp32 and torch.is_autocast_enabled(x_real.device.type)
        else nullcontext()
    )
    with no_autocast:
        out = discriminator(x_real, y_org)
        loss_real = adv_loss(out, 1.0)
        # at weight 0 the penalty is logged, not trained: no double backward
        loss_reg = (
            r1_reg(out, x_real, create_graph=lambda_reg != 0)
            if compute_r1
            else torch.zeros((), device=out.device)
        )

    if fake is not None:
        x_fake = fake.x_fake.detach()
    else:
        with torch.no_grad():
            s_trg = _style(mapping_network, style_encoder, y_trg, z_trg, x_ref)
            masks = mask_fn(x_real) if mask_fn is not None else None
            x_fake = generator(x_real if features is None else features, s_trg, masks=masks)
    out = discriminator(x_fake, y_trg)
    loss_fake = adv_loss(out, 0.0)

    loss = loss_real + loss_fake
    if compute_r1 and lambda_reg != 0:
        loss = loss + lambda_reg * loss_reg
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
    fake: LatentFake | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Generator-side loss: adversarial + style reconstruction - diversity + cycle consistency.

    The gradients it produces are those of the nets that step after it, and only those:

    - latent codes (``z_trgs``): G, F and E (the paper's latent update steps all three);
    - references (``x_refs``): G alone (the paper's reference update steps only G).

    Work whose result no optimizer would use is skipped: D's weights get no gradient (its forward
    still carries the adversarial gradient to the fake); in the reference case E's weights get
    none either, and the style codes of the references and of the source (inputs of nothing that
    learns) are made without a graph; the second fake of the diversity term, which is a detached
    constant, is made without a graph in both cases, and decoded from the first fake's encoding
    of the sources (the encoder does not see the style); a term of weight 0 (an ablation, the
    diversity weight once decayed) is computed for its logged value only, without a graph, so
    nothing back-propagates through it (a zero-weight cycle term: one G forward's backward
    less). The values, and the gradients of the nets that step, are those of the straightforward
    computation.

    Args:
        x_real: ``(N, 3, H, W)``; y_org, y_trg: ``(N,)``.
        z_trgs: two latent codes ``(N, latent_dim)``, or x_refs: two references of ``y_trg``
            ``(N, 3, H, W)`` (exactly one of the two).
        lambda_sty, lambda_ds, lambda_cyc: term weights (``lambda_ds`` is the already-decayed value
            from :func:`ds_weight`).
        mask_fn: face-mask function for the high-pass skip (``None`` without it).
        fake: the first fake already made with its graph (:func:`make_latent_fake`, latent case).

    Returns: ``(loss, {"adv", "sty", "ds", "cyc"})``.
    """
    _check_one_style_source(z_trgs, x_refs, "z_trgs / x_refs")
    latent = z_trgs is not None
    z_trg, z_trg2 = z_trgs if latent else (None, None)
    x_ref, x_ref2 = x_refs if not latent else (None, None)
    masks = mask_fn(x_real) if mask_fn is not None else None
    learning = (discriminator,) if latent else (discriminator, style_encoder)

    with frozen(*learning):
        if fake is not None:
            s_trg, x_fake, features = fake.s_trg, fake.x_fake, fake.features
        else:
            with torch.set_grad_enabled(latent and torch.is_grad_enabled()):
                s_trg = _style(mapping_network, style_encoder, y_trg, z_trg, x_ref)
            x_fake, features = generator(x_real, s_trg, masks=masks, return_features=True)
        loss_adv = adv_loss(discriminator(x_fake, y_trg), 1.0)
        grad = torch.is_grad_enabled()
        # A term of weight 0 is computed for its value only, unless the latent update's E would
        # then get no gradient at all: Adam skips a parameter without one, where the plain
        # computation steps it with a zero gradient (its weight decay still acts).
        e_needs_a_graph = latent and lambda_sty == 0 and lambda_cyc == 0

        with torch.set_grad_enabled(grad and (lambda_sty != 0 or e_needs_a_graph)):
            s_pred = style_encoder(x_fake, y_trg)
            loss_sty = style_recon_loss(s_pred, s_trg)

        with torch.no_grad():  # the second fake is a constant of the diversity term
            s_trg2 = _style(mapping_network, style_encoder, y_trg, z_trg2, x_ref2)
            x_fake2 = generator(features, s_trg2, masks=masks)
        with torch.set_grad_enabled(grad and lambda_ds != 0):
            loss_ds = diversity_loss(x_fake, x_fake2)

        masks_fake = mask_fn(x_fake) if mask_fn is not None else None
        with torch.set_grad_enabled(grad and (lambda_cyc != 0 or e_needs_a_graph)):
            with torch.set_grad_enabled(latent and torch.is_grad_enabled()):
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
