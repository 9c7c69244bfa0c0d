"""A straightforward StarGAN v2 update, written from the paper's description with the library's
primitive loss terms and nothing clever (no frozen weights, no reuse, no skipped graph), to check
faster or distributed steps against.

:func:`reference_gradients` computes the gradients of one of the four updates at the nets'
current weights. With ``splits`` the batch is cut into groups of rows and the gradient is the
row-weighted mean of the groups' gradients: what data-parallel ranks compute, in exact arithmetic
equal to the whole batch's gradient, but with each group's forward pass bit-identical to a rank's
(so a rounding-level difference cannot flip the subgradient of an L1 term at its kink).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from starganv2.models.stargan_v2.losses import (
    adv_loss,
    cycle_loss,
    diversity_loss,
    r1_reg,
    style_recon_loss,
)
from starganv2.models.stargan_v2.step import LossWeights, Nets

NET_NAMES = ("generator", "mapping_network", "style_encoder", "discriminator")


def _masks(mask_fn, x: torch.Tensor):
    if mask_fn is None:
        return None
    with torch.no_grad():
        return mask_fn(x)


def _d_loss(nets: Nets, batch, s_trg_fn, weights: LossWeights, mask_fn) -> torch.Tensor:
    g, _, _, d = nets
    x_real = batch["x_real"].detach().requires_grad_(True)
    out = d(x_real, batch["y_org"])
    loss_real = adv_loss(out, 1.0)
    loss_reg = r1_reg(out, x_real)
    with torch.no_grad():
        x_fake = g(x_real, s_trg_fn(), masks=_masks(mask_fn, x_real))
    loss_fake = adv_loss(d(x_fake, batch["y_trg"]), 0.0)
    return loss_real + loss_fake + weights.lambda_reg * loss_reg


def _g_loss(nets: Nets, batch, style_fn, sources, weights: LossWeights, mask_fn) -> torch.Tensor:
    g, _, e, d = nets
    x_real, y_org, y_trg = batch["x_real"], batch["y_org"], batch["y_trg"]
    masks = _masks(mask_fn, x_real)
    s_trg = style_fn(sources[0])
    x_fake = g(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(d(x_fake, y_trg), 1.0)
    loss_sty = style_recon_loss(e(x_fake, y_trg), s_trg)
    s_trg2 = style_fn(sources[1])
    x_fake2 = g(x_real, s_trg2, masks=masks).detach()
    loss_ds = diversity_loss(x_fake, x_fake2)
    x_rec = g(x_fake, e(x_real, y_org), masks=_masks(mask_fn, x_fake))
    loss_cyc = cycle_loss(x_rec, x_real)
    return (
        loss_adv
        + weights.lambda_sty * loss_sty
        - weights.lambda_ds * loss_ds
        + weights.lambda_cyc * loss_cyc
    )


def update_loss(
    nets: Nets,
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    update: str,
    mask_fn=None,
) -> torch.Tensor:
    """The loss of ``update`` (``d_latent``, ``d_ref``, ``g_latent``, ``g_ref``) on ``batch``,
    composed from the primitive terms exactly as the paper's algorithm reads: every net computes
    with gradients where the graph reaches it, nothing is reused or skipped."""
    _, f, e, _ = nets
    y_trg = batch["y_trg"]
    if update == "d_latent":
        return _d_loss(nets, batch, lambda: f(z_trgs[0], y_trg), weights, mask_fn)
    if update == "d_ref":
        return _d_loss(nets, batch, lambda: e(batch["x_ref"], y_trg), weights, mask_fn)
    if update == "g_latent":
        return _g_loss(nets, batch, lambda z: f(z, y_trg), z_trgs, weights, mask_fn)
    if update == "g_ref":
        refs = (batch["x_ref"], batch["x_ref2"])
        return _g_loss(nets, batch, lambda x: e(x, y_trg), refs, weights, mask_fn)
    raise ValueError(f"unknown update {update!r}")


def reference_gradients(
    nets: Nets,
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    update: str,
    splits: Sequence[Sequence[int]] | None = None,
    mask_fn=None,
) -> dict[str, torch.Tensor | None]:
    """Flattened gradients of every net for ``update`` (``None`` for a net that got none)."""
    n = batch["x_real"].size(0)
    splits = [list(range(n))] if splits is None else [list(s) for s in splits]
    for net in nets:
        net.zero_grad(set_to_none=True)
    for rows in splits:
        idx = torch.tensor(rows)
        part = {k: v[idx] for k, v in batch.items() if torch.is_tensor(v) and v.dim() > 0}
        z_part = (z_trgs[0][idx], z_trgs[1][idx])
        loss = update_loss(nets, part, z_part, weights, update, mask_fn)
        (loss * (len(rows) / n)).backward()
    grads: dict[str, torch.Tensor | None] = {}
    for name, net in zip(NET_NAMES, nets):
        gs = [p.grad for p in net.parameters()]
        if all(g is None for g in gs):
            grads[name] = None
            continue
        grads[name] = torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).detach().flatten()
                for g, p in zip(gs, net.parameters())
            ]
        ).clone()
    return grads
