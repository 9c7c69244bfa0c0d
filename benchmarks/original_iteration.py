"""The comparator: one StarGAN v2 training iteration doing the work the original code does, in its
order, so that speed ratios are taken against what people actually ran.

It uses the library's nets and its pure loss terms (``adv_loss``, ``r1_reg``, ``style_recon_loss``,
``diversity_loss``, ``cycle_loss``), so the math is the library's: one call of
:func:`original_iteration` moves the parameters as one call of
:func:`starganv2.models.stargan_v2.step.train_iteration` does for the same nets, batch and latent
codes (``tests/benchmarks/test_original_iteration.py`` checks it, update by update). What differs
is only the work, which follows the original training loop (clovaai/stargan-v2,
``core/solver.py``, read for these facts):

1. **The discriminator updates make their fakes without a graph**: the style code and the fake
   are computed under ``no_grad`` in each of the two D updates, so the latent fake is made twice
   per iteration (once for the latent D update, once with a graph for the latent G update); the
   library makes it once and reuses it.
2. **The source batch is made a leaf that requires a gradient** for the R1 term of the first D
   update (``requires_grad_`` on the batch tensor itself, not on a detached copy), and stays one
   for the rest of the iteration: every later pass over ``x_real`` also back-propagates into it.
3. **The second fake of the diversity term is built with a graph and then detached**: its style
   code and its generator pass record a graph that is never used.
4. **Every net's weight gradients are computed** in every update: the optimizers' gradients are
   all reset, then one ``backward`` fills the gradients of every parameter the loss reaches (D's
   in the generator updates; E's and the references' style codes in the reference update, which
   steps only G), and only the updated nets' optimizers step.
5. **Plain Adam**: ``torch.optim.Adam(params, lr, betas, weight_decay)`` with torch's default
   implementation choice, as the original constructs it (the library picks fused kernels where
   the device has them).
6. **The EMA is a loop over parameters**: each EMA parameter's data is replaced by a new tensor,
   ``lerp(online, ema, beta)``, one parameter at a time (the library updates all of them in place
   with one multi-tensor ``lerp_``).
7. **Each loss term is read back to the host** (``.item()``) as the update computes it, for the
   logs, which waits for the device every time.
8. Face masks (``w_hpf > 0``): those of the sources once per iteration, those of each fake in the
   cycle term of each generator update, as in the library.

9. **The original's layer implementations** (:func:`original_layers`, applied by
   ``train_speed.py`` to the comparator's nets): ``nn.InstanceNorm2d`` and ``F.avg_pool2d``
   where the library uses its CPU formulations of the same layers
   (:mod:`starganv2.models.stargan_v2.fast_layers`: the group-norm kernel with one channel per
   group; four strided views summed in the pooling kernel's order), and each block's 3x3
   ``conv1`` run as its own layer after the upsampling or before the pooling, where the library
   composes the two into one smaller conv (:mod:`starganv2.models.stargan_v2.resample_conv`).
   Same parameters and math.

Not reproduced: the original's residual blocks apply the learned 1x1 shortcut on the larger grid
(before pooling, after upsampling); the library's order is cheaper and the math is the same, and
the comparator keeps the library's, so against the original code itself it is, if anything, a
little fast. The original's lambda_ds decay (subtracting
a step after each iteration) equals :func:`~starganv2.models.stargan_v2.losses.ds_weight` of the
iteration, which the caller passes in ``weights``.

Written from the facts above; no code of the original (non-commercial licence) is copied.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.downsample import Downsample
from starganv2.models.stargan_v2.fast_layers import InstanceNorm2d
from starganv2.models.stargan_v2.losses import (
    MaskFn,
    adv_loss,
    cycle_loss,
    diversity_loss,
    r1_reg,
    style_recon_loss,
)
from starganv2.models.stargan_v2.step import EMA_NETS, UPDATES, LossWeights, Nets

__all__ = ["original_layers", "original_optimizers", "original_iteration", "loop_ema"]


def original_layers(net: nn.Module) -> nn.Module:
    """Give ``net`` (in place) the original's implementations of its layers: every
    :class:`~starganv2.models.stargan_v2.fast_layers.InstanceNorm2d` becomes an
    ``nn.InstanceNorm2d`` holding the same parameter objects (optimizers built before or after
    see the same tensors, in the same order), every average-pooling ``Downsample`` calls
    ``F.avg_pool2d(x, 2)``, and the blocks run ``conv1`` and the 2x resampling beside it as two
    layers (``fuse_resample = False``: a 3x3 conv, then ``F.avg_pool2d``; ``F.interpolate``,
    then a 3x3 conv) rather than as one smaller conv. Returns ``net``."""
    for module in list(net.modules()):
        if hasattr(module, "fuse_resample"):
            module.fuse_resample = False
        for child_name, child in list(module.named_children()):
            if isinstance(child, InstanceNorm2d):
                torch_norm = nn.InstanceNorm2d(child.num_features, child.eps, affine=child.affine)
                if child.affine:
                    torch_norm.weight, torch_norm.bias = child.weight, child.bias
                setattr(module, child_name, torch_norm)
            elif isinstance(child, Downsample) and child.kind == "avgpool":
                child.forward = functools.partial(F.avg_pool2d, kernel_size=2)
    return net


def original_optimizers(
    nets: Nets,
    lr: float,
    f_lr: float,
    betas: tuple[float, float],
    weight_decay: float,
) -> dict[str, torch.optim.Optimizer]:
    """One plain ``torch.optim.Adam`` per net (``f_lr`` for the mapping network), by net name."""
    return {
        name: torch.optim.Adam(
            net.parameters(),
            lr=f_lr if name == "mapping_network" else lr,
            betas=betas,
            weight_decay=weight_decay,
        )
        for name, net in nets._asdict().items()
    }


@torch.no_grad()
def loop_ema(ema: nn.Module, net: nn.Module, beta: float) -> None:
    """``ema <- beta * ema + (1 - beta) * net``, a new tensor per parameter, one at a time."""
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.data = torch.lerp(p.data, p_ema.data, beta)


def _d_loss(
    nets: Nets,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    style: Callable[[], torch.Tensor],
    masks: tuple[torch.Tensor, torch.Tensor] | None,
    lambda_reg: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    x_real.requires_grad_(True)  # the batch tensor itself (fact 2)
    out = nets.discriminator(x_real, y_org)
    loss_real = adv_loss(out, 1.0)
    loss_reg = r1_reg(out, x_real)
    with torch.no_grad():  # fact 1: the fake has no graph
        x_fake = nets.generator(x_real, style(), masks=masks)
    loss_fake = adv_loss(nets.discriminator(x_fake, y_trg), 0.0)
    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, {"real": loss_real.item(), "fake": loss_fake.item(), "reg": loss_reg.item()}


def _g_loss(
    nets: Nets,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    styles: tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]],
    masks: tuple[torch.Tensor, torch.Tensor] | None,
    mask_fn: MaskFn | None,
    weights: LossWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    g, _, e, d = nets
    s_trg = styles[0]()
    x_fake = g(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(d(x_fake, y_trg), 1.0)
    loss_sty = style_recon_loss(e(x_fake, y_trg), s_trg)
    x_fake2 = g(x_real, styles[1](), masks=masks).detach()  # fact 3: built with a graph
    loss_ds = diversity_loss(x_fake, x_fake2)
    masks_fake = None
    if mask_fn is not None:
        with torch.no_grad():
            masks_fake = mask_fn(x_fake)
    x_rec = g(x_fake, e(x_real, y_org), masks=masks_fake)
    loss_cyc = cycle_loss(x_rec, x_real)
    loss = (
        loss_adv
        + weights.lambda_sty * loss_sty
        - weights.lambda_ds * loss_ds
        + weights.lambda_cyc * loss_cyc
    )
    stats = {
        "adv": loss_adv.item(),
        "sty": loss_sty.item(),
        "ds": loss_ds.item(),
        "cyc": loss_cyc.item(),
    }
    return loss, stats


def original_iteration(
    nets: Nets,
    optimizers: Mapping[str, torch.optim.Optimizer],
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    ema: Mapping[str, nn.Module] | None = None,
    ema_beta: float = 0.999,
    mask_fn: MaskFn | None = None,
) -> dict[str, dict[str, float]]:
    """One iteration as the original runs it (the facts of the module docstring).

    Args:
        nets: the online nets.
        optimizers: an optimizer per net name (:func:`original_optimizers`, or any other).
        batch: ``x_real, x_ref, x_ref2 (N, 3, H, W)``, ``y_org, y_trg (N,)``; ``x_real`` is made
            to require a gradient in place, as in the original.
        z_trgs: two latent codes ``(N, latent_dim)``.
        weights: the loss weights of this iteration (``lambda_ds`` already decayed); lazy R1
            (``r1_every > 1``) is the library's option, not the original's, and is refused.
        ema: the EMA copies of G, F and E by name; ``None`` skips the EMA step.
        ema_beta: EMA decay.
        mask_fn: face masks for the high-pass skip (``None`` without it).

    Returns ``{update name: {term: float}}`` for the four updates (read back as they were made).
    """
    if weights.r1_every != 1:
        raise ValueError(
            f"weights.r1_every={weights.r1_every}: the original computes R1 in every D update; "
            "expected 1"
        )
    x_real, y_org = batch["x_real"], batch["y_org"]
    x_ref, x_ref2, y_trg = batch["x_ref"], batch["x_ref2"], batch["y_trg"]
    z_trg, z_trg2 = z_trgs
    _, f, e, _ = nets
    masks = None
    if mask_fn is not None:
        with torch.no_grad():
            masks = mask_fn(x_real)

    def step(loss: torch.Tensor, names: tuple[str, ...]) -> None:
        for opt in optimizers.values():  # fact 4: every gradient is reset, then filled
            opt.zero_grad()
        loss.backward()
        for name in names:
            optimizers[name].step()

    steps = dict(UPDATES)
    stats: dict[str, dict[str, float]] = {}
    loss, stats["d_latent"] = _d_loss(
        nets, x_real, y_org, y_trg, lambda: f(z_trg, y_trg), masks, weights.lambda_reg
    )
    step(loss, steps["d_latent"])
    loss, stats["d_ref"] = _d_loss(
        nets, x_real, y_org, y_trg, lambda: e(x_ref, y_trg), masks, weights.lambda_reg
    )
    step(loss, steps["d_ref"])
    latent = (lambda: f(z_trg, y_trg), lambda: f(z_trg2, y_trg))
    loss, stats["g_latent"] = _g_loss(nets, x_real, y_org, y_trg, latent, masks, mask_fn, weights)
    step(loss, steps["g_latent"])
    refs = (lambda: e(x_ref, y_trg), lambda: e(x_ref2, y_trg))
    loss, stats["g_ref"] = _g_loss(nets, x_real, y_org, y_trg, refs, masks, mask_fn, weights)
    step(loss, steps["g_ref"])

    if ema is not None:
        online = nets._asdict()
        for name in EMA_NETS:
            loop_ema(ema[name], online[name], ema_beta)
    return stats
