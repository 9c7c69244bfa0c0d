"""One StarGAN (v1) training iteration and its schedules, independent of any framework.

The Lightning module and the plain loops of ``benchmarks/`` call :func:`train_iteration`; the
caller supplies ``update(loss, nets)``: back-propagate ``loss`` and step the optimizers of the
named nets.

Order (one iteration, as the original ``solver.py``):

1. ``d``: D loss (Wasserstein terms, classification of the real image's domain, gradient
   penalty) -> step D;
2. ``g``, on every ``n_critic``-th iteration only (:func:`g_step_due`): G loss (Wasserstein
   term, classification into the target domain, reconstruction) -> step G.

The schedules are pure functions of the (checkpointed) iteration, so a resumed run continues
them exactly: :func:`g_step_due` and :func:`learning_rate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from starganv2.models.stargan_v1.losses import d_loss, g_loss

__all__ = [
    "Nets",
    "LossWeights",
    "Update",
    "UPDATES",
    "LR_DECAY_RULES",
    "g_step_due",
    "learning_rate",
    "shuffled_labels",
    "label_units",
    "flip_labels",
    "original_test_labels",
    "train_iteration",
]

UPDATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("d", ("discriminator",)),
    ("g", ("generator",)),
)
"""The two updates of an iteration: name and the nets whose optimizers step."""

LR_DECAY_RULES = ("original", "linear")

Update = Callable[[torch.Tensor, tuple[str, ...]], None]
"""``update(loss, nets)``: back-propagate ``loss``, then step the optimizers of ``nets``."""


class Nets(NamedTuple):
    """The two nets, in the order the loss functions take them."""

    generator: nn.Module
    discriminator: nn.Module


@dataclass(frozen=True)
class LossWeights:
    """Loss weights: classification (both nets), reconstruction (G), gradient penalty (D)."""

    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0


def g_step_due(iteration: int, n_critic: int) -> bool:
    """Whether iteration ``iteration`` (counted from 0) updates G: every ``n_critic``-th one,
    i.e. iterations ``n_critic - 1, 2 * n_critic - 1, ...`` (the original's ``(i+1) % n_critic``)."""
    return (iteration + 1) % n_critic == 0


def learning_rate(
    iteration: int,
    base_lr: float,
    total_iters: int,
    decay_iters: int,
    rule: Literal["original", "linear"] = "original",
    update_every: int = 1000,
) -> float:
    """Learning rate of iteration ``iteration`` (counted from 0) under a decay over the last
    ``decay_iters`` of ``total_iters`` iterations.

    - ``"original"``, the rule of the original code as written: after every ``update_every``-th
      iteration within the decay window the rate drops by ``base_lr / decay_iters``. With its
      defaults (1,000 and 100,000) that is 100 drops of 1e-5 of the rate: it ends at 0.999 of
      ``base_lr``, so in effect there is no decay.
    - ``"linear"``: from ``base_lr`` linearly to 0 at ``total_iters``, every iteration.

    ``decay_iters <= 0`` means no decay.
    """
    if rule not in LR_DECAY_RULES:
        raise ValueError(f"lr_decay={rule!r} is invalid: expected one of {list(LR_DECAY_RULES)}")
    if decay_iters <= 0:
        return float(base_lr)
    start = max(0, total_iters - decay_iters)  # the decay acts after iterations past this count
    if rule == "linear":
        return float(base_lr) * min(1.0, max(0.0, (total_iters - iteration) / decay_iters))
    drops = max(0, iteration // update_every - start // update_every)
    return float(base_lr) * (1.0 - drops / decay_iters)


def shuffled_labels(y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The batch's labels in a random order: the original's targets, domains ``(N,)`` or
    attribute vectors ``(N, A)`` (a row may keep its own labels)."""
    order = torch.randperm(y.size(0), generator=generator).to(y.device)
    return y[order]


def label_units(
    num_attributes: int, exclusive: Sequence[Sequence[int]] = ()
) -> list[tuple[int, ...]]:
    """The units :func:`flip_labels` changes: each exclusive group (attribute indices) as one
    unit, then every attribute outside the groups on its own, in index order."""
    grouped = {i for g in exclusive for i in g}
    return [tuple(g) for g in exclusive] + [(i,) for i in range(num_attributes) if i not in grouped]


def flip_labels(
    c: torch.Tensor,
    k: int,
    exclusive: Sequence[Sequence[int]] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Target attribute vectors: each row of ``c (N, A)`` (1.0 / 0.0) with ``k`` random units
    changed (:func:`label_units`, drawn without repetition per row).

    A single attribute is switched (on <-> off). An exclusive group gets exactly one member on:
    a member other than the one that was on, or any member when none or several were (as the
    original's test labels set one hair colour and clear the others). Returns ``(N, A)``.
    """
    units = label_units(c.size(1), exclusive)
    if not 1 <= k <= len(units):
        raise ValueError(
            f"flip_k={k} is invalid: expected 1 <= flip_k <= {len(units)} (the attributes, an "
            f"exclusive group counting as one: {units})"
        )
    out = c.detach().clone().cpu()
    for row in range(out.size(0)):
        for u in torch.randperm(len(units), generator=generator)[:k].tolist():
            unit = list(units[u])
            if len(unit) == 1:
                out[row, unit[0]] = 1.0 - out[row, unit[0]]
                continue
            on = [i for i in unit if out[row, i] > 0.5]
            choices = [i for i in unit if i not in on] if len(on) == 1 else unit
            pick = choices[int(torch.randint(len(choices), (1,), generator=generator))]
            out[row, unit] = 0.0
            out[row, pick] = 1.0
    return out.to(c.device)


def original_test_labels(
    c_org: torch.Tensor, exclusive: Sequence[Sequence[int]] = ()
) -> list[torch.Tensor]:
    """The original's test labels: one target ``(N, A)`` per attribute ``i`` of ``c_org (N, A)``.

    For an attribute of an exclusive group: that one on, the rest of its group off (the
    original's hair colours); for any other attribute: that one switched, the rest kept.
    Returns ``A`` tensors, the columns of the original's test grid in attribute order.
    """
    group_of = {i: tuple(g) for g in exclusive for i in g}
    targets = []
    for i in range(c_org.size(1)):
        c_trg = c_org.clone()
        if i in group_of:
            c_trg[:, list(group_of[i])] = 0.0
            c_trg[:, i] = 1.0
        else:
            c_trg[:, i] = 1.0 - c_trg[:, i]
        targets.append(c_trg)
    return targets


def train_iteration(
    nets: Nets,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    num_domains: int,
    weights: LossWeights,
    update: Update,
    iteration: int = 0,
    n_critic: int = 5,
    alpha: torch.Tensor | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """Run the updates of one iteration (see the module docstring).

    Args:
        nets: the generator and the discriminator.
        x_real: ``(N, 3, H, W)`` sources; y_org, y_trg: their labels and the targets, domains
            ``(N,)`` or attribute vectors ``(N, num_domains)`` (see :mod:`.losses`).
        num_domains: length of the generator's label vectors.
        weights: the loss weights.
        update: back-propagates a loss and steps the named nets' optimizers.
        iteration: the iteration's number, counted from 0 (decides whether G steps).
        n_critic: D updates per G update.
        alpha: ``(N,)`` interpolation weights of the gradient penalty (``None``: uniform draws).

    Returns ``{"d": {...}}``, plus ``"g": {...}`` on the iterations that update G.
    """
    steps = dict(UPDATES)
    stats: dict[str, dict[str, torch.Tensor]] = {}
    loss, stats["d"] = d_loss(
        *nets,
        x_real,
        y_org,
        y_trg,
        num_domains,
        lambda_cls=weights.lambda_cls,
        lambda_gp=weights.lambda_gp,
        alpha=alpha,
    )
    update(loss, steps["d"])
    if g_step_due(iteration, n_critic):
        loss, stats["g"] = g_loss(
            *nets,
            x_real,
            y_org,
            y_trg,
            num_domains,
            lambda_cls=weights.lambda_cls,
            lambda_rec=weights.lambda_rec,
        )
        update(loss, steps["g"])
    return stats
