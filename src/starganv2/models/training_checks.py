"""Guards every model of this library applies: while training, loss terms stay finite and trainer
settings that count optimizer steps are refused; at inference (``translate``), images are float
``(N, 3, img_size, img_size)`` in [-1, 1] and domain labels are ints or integer tensors in range;
in constructors, loss weights are >= 0.

These models count *iterations* themselves (``module.iteration``, saved in checkpoints): one
iteration runs several optimizer steps (six for StarGAN v2, one to two for StarGAN v1), so
Lightning's ``global_step`` and every trainer setting expressed in it mean something else than a
reader expects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = [
    "NonFiniteLossError",
    "NonFiniteTracker",
    "check_trainer_counts",
    "check_images",
    "check_loss_weights",
    "domain_labels",
    "RANGE_TOLERANCE",
]

RANGE_TOLERANCE = 0.1
"""How far outside [-1, 1] an input image may reach (resampling overshoots a little) before
:func:`check_images` refuses it as being in another range (0-255, or unnormalised)."""


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the iteration and the term."""


class NonFiniteTracker:
    """Remembers, on the device, the first iteration at which each loss term was not finite.

    :meth:`track` costs no host synchronisation; :meth:`check` reads the flags back and raises.

    Args:
        term_names: every ``"<update>/<term>"`` that :meth:`track` may be given.
    """

    def __init__(self, term_names: Sequence[str]) -> None:
        self.term_names = list(term_names)
        self._index = {name: i for i, name in enumerate(self.term_names)}
        self._first: torch.Tensor | None = None  # (num_terms,) first bad iteration or -1

    def track(self, stats: Mapping[str, Mapping[str, torch.Tensor]], iteration: int) -> None:
        """Record ``stats`` (``{update: {term: scalar}}``) of ``iteration``: all the terms, or
        some of them (an iteration that skips an update, as StarGAN v1's G update)."""
        names = [f"{update}/{term}" for update, terms in stats.items() for term in terms]
        values = torch.stack([v.float() for terms in stats.values() for v in terms.values()])
        if self._first is None or self._first.device != values.device:
            self._first = torch.full(
                (len(self.term_names),), -1, dtype=torch.long, device=values.device
            )
        bad = ~torch.isfinite(values)
        if names == self.term_names:
            self._first = torch.where((self._first < 0) & bad, iteration, self._first)
            return
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise ValueError(f"loss terms {unknown} are not tracked: expected {self.term_names}")
        at = torch.tensor([self._index[n] for n in names], device=values.device)
        first = self._first[at]
        self._first[at] = torch.where((first < 0) & bad, iteration, first)

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad iteration and its terms."""
        if self._first is None:
            return
        flags = self._first.tolist()  # host sync
        bad = [(it, name) for it, name in zip(flags, self.term_names) if it >= 0]
        if bad:
            it, _ = min(bad)
            names = ", ".join(name for i, name in bad if i == it)
            raise NonFiniteLossError(
                f"non-finite loss at iteration {it} in term(s) {names}; training stopped and no "
                "checkpoint was written after it. Lower the learning rates or the regulariser "
                "weight, or check the data; resume from the last good checkpoint."
            )


_STEP_COUNTED = {
    "max_steps": (-1, None),
    "min_steps": (None, -1, 0),
}


def check_trainer_counts(trainer: Any, iterations_key: str) -> None:
    """Refuse trainer settings that count optimizer steps, pointing to ``iterations_key``.

    ``trainer.max_steps``/``min_steps`` and an integer ``val_check_interval`` are in Lightning's
    ``global_step`` units (optimizer steps, several per iteration here). The ``max_steps`` that
    ``fast_dev_run=N`` sets is accepted: the module runs N iterations then (see
    :meth:`~starganv2.models.base.TranslationModule.on_fit_start`).
    """
    fast_dev_run = getattr(trainer, "fast_dev_run", False)
    for name, neutral in _STEP_COUNTED.items():
        value = getattr(trainer, name, None)
        if name == "max_steps" and fast_dev_run and value == int(fast_dev_run):
            continue  # set by fast_dev_run=N, which the module turns into N iterations
        if value not in neutral:
            raise ValueError(
                f"trainer.{name}={value} counts optimizer steps, and one iteration of this model "
                f"takes several; set the training length in iterations with {iterations_key}=... "
                f"and leave trainer.{name} unset"
            )
    interval = getattr(trainer, "val_check_interval", 1.0)
    if isinstance(interval, int) and not isinstance(interval, bool) and interval != 1:
        raise ValueError(
            f"trainer.val_check_interval={interval} is a count of steps; evaluation during "
            "training runs in callbacks keyed to iterations: set "
            "callbacks.evaluation.every_n_iters=... instead"
        )


def check_loss_weights(**weights: float) -> None:
    """``ValueError`` naming the first weight that is negative or not a finite number (a negative
    weight turns a loss term into one that training maximises)."""
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"model.{key}={value!r} is invalid: expected a number >= 0")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"model.{key}={value!r} is invalid: expected a weight >= 0")


def check_images(x: object, img_size: int, key: str = "x") -> torch.Tensor:
    """``x`` if it is a float tensor ``(N, 3, img_size, img_size)`` with values in [-1, 1] (up to
    :data:`RANGE_TOLERANCE`), else a ``TypeError``/``ValueError`` naming ``key``.

    Catches the usual slips: 8-bit images (uint8, or floats in 0-255), a missing batch dimension,
    channels last, another image size. Reads the value range back from the device (one sync).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{key} is a {type(x).__name__}: expected a float tensor (N, 3, {img_size}, {img_size})"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{key} has dtype {x.dtype}: expected a float tensor in [-1, 1]; convert 8-bit "
            "images with starganv2.utils.images.from_uint8"
        )
    if x.dim() != 4 or x.size(1) != 3 or tuple(x.shape[2:]) != (img_size, img_size):
        raise ValueError(
            f"{key} has shape {tuple(x.shape)}: expected (N, 3, {img_size}, {img_size}), the "
            f"model's img_size={img_size}; resize the images first"
        )
    if x.numel():
        low, high = torch.aminmax(x.detach())
        low, high = float(low), float(high)  # host sync
        if not (low >= -1 - RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE):
            raise ValueError(
                f"{key} has values in [{low:.4g}, {high:.4g}]: expected images in [-1, 1]; "
                "convert 8-bit images with starganv2.utils.images.from_uint8"
            )
    return x


def domain_labels(
    y: torch.Tensor | int, n: int, num_domains: int, device: torch.device, key: str = "y_trg"
) -> torch.Tensor:
    """``y`` (an int for every row, or an integer tensor ``(n,)``) as a long tensor on ``device``,
    checked to lie in ``[0, num_domains)``; ``TypeError``/``ValueError`` naming ``key`` otherwise
    (a Python list, float labels, one-hot rows, a length other than ``n``)."""
    if isinstance(y, bool) or not isinstance(y, (int, torch.Tensor)):
        raise TypeError(
            f"{key}={y!r} is a {type(y).__name__}: expected an int (one domain for every row) "
            f"or an integer tensor of shape ({n},)"
        )
    if isinstance(y, int):
        y = torch.full((n,), y, dtype=torch.long, device=device)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{key} has dtype {y.dtype}: expected an integer tensor of domain indices")
    if tuple(y.shape) != (n,):
        raise ValueError(
            f"{key} has shape {tuple(y.shape)}: expected ({n},), one domain index per image"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_domains):
        raise ValueError(
            f"{key} values must be in [0, {num_domains}), got {sorted(set(y.tolist()))}"
        )
    return y.to(device=device, dtype=torch.long)
