"""A straightforward StarGAN v2 update, written from the paper's description with the library's
loss functions and nothing clever, to check faster or distributed steps against.

:func:`reference_gradients` computes the gradients of one of the four updates at the nets'
current weights. With ``splits`` the batch is cut into groups of rows and the gradient is the
row-weighted mean of the groups' gradients: what data-parallel ranks compute, in exact arithmetic
equal to the whole batch's gradient, but with each group's forward pass bit-identical to a rank's
(so a rounding-level difference cannot flip the subgradient of an L1 term at its kink).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from starganv2.models.stargan_v2.losses import d_loss, g_loss
from starganv2.models.stargan_v2.step import LossWeights, Nets

NET_NAMES = ("generator", "mapping_network", "style_encoder", "discriminator")


def update_loss(
    nets: Nets,
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    update: str,
) -> torch.Tensor:
    """The loss of ``update`` (``d_latent``, ``d_ref``, ``g_latent``, ``g_ref``) on ``batch``."""
    x_real, y_org, y_trg = batch["x_real"], batch["y_org"], batch["y_trg"]
    d_kw = {"lambda_reg": weights.lambda_reg, "r1_fp32": weights.r1_fp32}
    g_kw = {
        "lambda_sty": weights.lambda_sty,
        "lambda_ds": weights.lambda_ds,
        "lambda_cyc": weights.lambda_cyc,
    }
    if update == "d_latent":
        return d_loss(*nets, x_real, y_org, y_trg, z_trg=z_trgs[0], **d_kw)[0]
    if update == "d_ref":
        return d_loss(*nets, x_real, y_org, y_trg, x_ref=batch["x_ref"], **d_kw)[0]
    if update == "g_latent":
        return g_loss(*nets, x_real, y_org, y_trg, z_trgs=z_trgs, **g_kw)[0]
    if update == "g_ref":
        refs = (batch["x_ref"], batch["x_ref2"])
        return g_loss(*nets, x_real, y_org, y_trg, x_refs=refs, **g_kw)[0]
    raise ValueError(f"unknown update {update!r}")


def reference_gradients(
    nets: Nets,
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    update: str,
    splits: Sequence[Sequence[int]] | None = None,
) -> dict[str, torch.Tensor | None]:
    """Flattened gradients of every net for ``update`` (``None`` for a net that got none)."""
    n = batch["x_real"].size(0)
    splits = [list(range(n))] if splits is None else [list(s) for s in splits]
    for net in nets:
        net.zero_grad(set_to_none=True)
    for rows in splits:
        idx = torch.tensor(rows)
        part = {k: v[idx] for k, v in batch.items() if torch.is_tensor(v) and v.dim() > 0}
        loss = update_loss(nets, part, (z_trgs[0][idx], z_trgs[1][idx]), weights, update)
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
