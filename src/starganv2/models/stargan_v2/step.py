"""One StarGAN v2 training iteration, in the paper's order, independent of any framework.

The Lightning module and the plain-PyTorch loop of ``benchmarks/train_speed.py`` both call
:func:`train_iteration`, so the two can only differ in what the framework adds around it. The
caller supplies ``update(loss, nets)``: back-propagate ``loss`` and step the optimizers of the
named nets (the module uses ``manual_backward`` and its GradScaler handling; a plain loop
``loss.backward()``).

Order (one iteration):

1. ``d_latent``: D loss with a latent-code fake -> step D (the fake, with its graph, is kept for
   update 3: nothing it depends on changes in between);
2. ``d_ref``: D loss with a reference fake -> step D (the fake is decoded from the latent fake's
   encoding of the sources: G has not changed, and its encoder does not see the style);
3. ``g_latent``: G loss with two latent codes -> step G, F and E;
4. ``g_ref``: G loss with two references -> step G;
5. EMA of G, F and E.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from starganv2.models.ema import update_ema
from starganv2.models.stargan_v2.losses import MaskFn, d_loss, g_loss, make_latent_fake

__all__ = [
    "Nets",
    "NET_NAMES",
    "EMA_NETS",
    "LossWeights",
    "Update",
    "UPDATES",
    "MasksOnce",
    "train_iteration",
]


class Nets(NamedTuple):
    """The four online nets, in the order the loss functions take them."""

    generator: nn.Module
    mapping_network: nn.Module
    style_encoder: nn.Module
    discriminator: nn.Module


NET_NAMES: tuple[str, ...] = Nets._fields
"""The nets' names (G, F, E, D): the module's ``nets`` keys, its optimizers' order, the
original's checkpoint entries."""
EMA_NETS = NET_NAMES[:3]
"""G, F and E: the nets with an averaged copy, and those the latent G update steps."""
UPDATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("d_latent", ("discriminator",)),
    ("d_ref", ("discriminator",)),
    ("g_latent", EMA_NETS),
    ("g_ref", ("generator",)),
)
"""The four updates of an iteration: name and the nets whose optimizers step."""

Update = Callable[[torch.Tensor, tuple[str, ...]], None]
"""``update(loss, nets)``: back-propagate ``loss``, then step the optimizers of ``nets``."""


@dataclass(frozen=True)
class LossWeights:
    """Loss weights of one iteration (``lambda_ds`` already decayed for that iteration).

    ``r1_every``: lazy R1 (StyleGAN2): the penalty on every ``r1_every``-th D update only (D
    updates counted from 0, two per iteration), weighted by ``r1_every``; 1 is the paper.
    """

    lambda_reg: float = 1.0
    lambda_sty: float = 1.0
    lambda_ds: float = 1.0
    lambda_cyc: float = 1.0
    r1_fp32: bool = True
    r1_every: int = 1

    def r1_on(self, d_update: int) -> bool:
        """Whether D update number ``d_update`` computes the R1 penalty."""
        return d_update % self.r1_every == 0


class MasksOnce:
    """``mask_fn`` that computes the masks of ``x_real`` once and returns them for every later call
    on it (the four updates of an iteration use the same source images); other images (the fakes
    of the cycle term) are computed each time, without gradient.

    A call is "on ``x_real``" when the tensor shares its storage and shape (a ``detach()`` of it
    counts, which is how the D loss passes it on).
    """

    def __init__(self, mask_fn: MaskFn, x_real: torch.Tensor) -> None:
        self.mask_fn = mask_fn
        self.key = (x_real.data_ptr(), tuple(x_real.shape))
        self.cached: tuple[torch.Tensor, torch.Tensor] | None = None
        self.computed = 0  # how many times mask_fn ran (tests)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        is_source = (x.data_ptr(), tuple(x.shape)) == self.key
        if is_source and self.cached is not None:
            return self.cached
        with torch.no_grad():
            masks = self.mask_fn(x)
        self.computed += 1
        if is_source:
            self.cached = masks
        return masks


def train_iteration(
    nets: Nets,
    batch: Mapping[str, torch.Tensor],
    z_trgs: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights,
    update: Update,
    ema: Mapping[str, nn.Module] | None = None,
    ema_beta: float = 0.999,
    mask_fn: MaskFn | None = None,
    iteration: int = 0,
    reuse_latent_fake: bool = True,
) -> dict[str, dict[str, torch.Tensor]]:
    """Run the four updates and the EMA step of one iteration (see the module docstring).

    Args:
        nets: the online nets.
        batch: ``x_real, x_ref, x_ref2 (N, 3, H, W)``, ``y_org, y_trg (N,)``.
        z_trgs: two latent codes ``(N, latent_dim)`` for the latent-guided updates (the first
            also makes the fake of the latent D update).
        weights: the loss weights.
        update: back-propagates a loss and steps the named nets' optimizers.
        ema: the EMA copies of G, F and E by name; ``None`` skips the EMA step.
        ema_beta: EMA decay.
        mask_fn: face masks for the high-pass skip (``None`` without it); those of ``x_real`` are
            computed once per iteration (:class:`MasksOnce`).
        iteration: the iteration's number (the lazy-R1 schedule counts D updates from it).
        reuse_latent_fake: make the latent fake once, with its graph, for both the latent D update
            and the latent G update (G and F do not change in between, so it is the same tensor):
            one G and one F forward less per iteration, at the memory of keeping that graph
            across the two D updates. Either way the generator encodes the sources once for all
            the fakes made before it steps (its encoder does not see the style), and once for
            the two of the reference G update.

    Returns ``{update name: {term: detached scalar}}`` for the four updates.
    """
    x_real, y_org = batch["x_real"], batch["y_org"]
    x_ref, x_ref2, y_trg = batch["x_ref"], batch["x_ref2"], batch["y_trg"]
    z_trg, z_trg2 = z_trgs
    if mask_fn is not None:
        mask_fn = MasksOnce(mask_fn, x_real)
    r1_weight = weights.lambda_reg * weights.r1_every
    d_kw = {"lambda_reg": r1_weight, "mask_fn": mask_fn, "r1_fp32": weights.r1_fp32}
    g_kw = {
        "lambda_sty": weights.lambda_sty,
        "lambda_ds": weights.lambda_ds,
        "lambda_cyc": weights.lambda_cyc,
        "mask_fn": mask_fn,
    }
    steps = dict(UPDATES)
    stats: dict[str, dict[str, torch.Tensor]] = {}
    fake = None
    if reuse_latent_fake and torch.is_grad_enabled():
        fake = make_latent_fake(nets.generator, nets.mapping_network, x_real, y_trg, z_trg, mask_fn)
        features = fake.features
    else:
        with torch.no_grad():
            features = nets.generator.encode_source(x_real)
    d_update = 2 * iteration

    loss, stats["d_latent"] = d_loss(
        *nets,
        x_real,
        y_org,
        y_trg,
        z_trg=z_trg,
        fake=fake,
        compute_r1=weights.r1_on(d_update),
        features=features,
        **d_kw,
    )
    update(loss, steps["d_latent"])
    loss, stats["d_ref"] = d_loss(
        *nets,
        x_real,
        y_org,
        y_trg,
        x_ref=x_ref,
        compute_r1=weights.r1_on(d_update + 1),
        features=features,
        **d_kw,
    )
    update(loss, steps["d_ref"])
    loss, stats["g_latent"] = g_loss(
        *nets, x_real, y_org, y_trg, z_trgs=(z_trg, z_trg2), fake=fake, **g_kw
    )
    del fake, features  # their graph is freed by this backward
    update(loss, steps["g_latent"])
    loss, stats["g_ref"] = g_loss(*nets, x_real, y_org, y_trg, x_refs=(x_ref, x_ref2), **g_kw)
    update(loss, steps["g_ref"])

    if ema is not None:
        online = nets._asdict()
        for name in EMA_NETS:
            update_ema(ema[name], online[name], ema_beta)
    return stats
