"""The domain names a checkpoint was trained with, and how another list of names relates to them.

Training saves the data module's domain folder names, in label order, in every checkpoint
(``checkpoint["<DataModule class>"]["domains"]``, :meth:`ImageDomainDataModule.state_dict`).
Labels are positions: a list of names that puts a saved name at another position would have the
model treat that domain as another one (translate "cat" with the label of "wild"). Renaming a
domain (a name the checkpoint does not have) keeps every label and may be meant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["saved_domain_names", "moved_domains", "describe_domains", "check_domain_order"]

log = logging.getLogger(__name__)


def saved_domain_names(checkpoint: Mapping[str, Any], num_domains: int) -> list[str] | None:
    """The domain names saved in ``checkpoint`` (a checkpoint dict) in label order, or ``None``
    when it holds none for ``num_domains`` domains (converted checkpoints, attribute data, data
    modules that save no names)."""
    for key, value in checkpoint.items():
        if key in ("state_dict", "optimizer_states", "hyper_parameters", "callbacks", "loops"):
            continue
        if not isinstance(value, Mapping):
            continue
        names = value.get("domains")
        if (
            isinstance(names, list | tuple)
            and len(names) == num_domains
            and all(isinstance(n, str) for n in names)
        ):
            return list(names)
    return None


def moved_domains(saved: Sequence[str], names: Sequence[str]) -> list[str]:
    """The names of ``saved`` that ``names`` puts at another position (another label)."""
    return [d for i, d in enumerate(saved) if d in names and list(names).index(d) != i]


def describe_domains(names: Sequence[str]) -> str:
    """``0: cat, 1: dog`` for messages."""
    return ", ".join(f"{i}: {d}" for i, d in enumerate(names))


def check_domain_order(
    names: Sequence[str],
    where: str,
    trained: Sequence[str] | None,
    trained_where: str,
    *,
    effect: str,
    remedy: str,
    kept: str,
    verb: str = "give",
) -> None:
    """Compare the domain names ``names`` (given by ``where``) with those the model was trained
    with, ``trained`` (known from ``trained_where``; ``None``: unknown, nothing to do).

    A name of ``trained`` that ``names`` puts at another label is a ``ValueError`` naming both
    lists, what would go wrong (``effect``, after "would be") and what to do (``remedy``); other
    differences keep every label and may be meant: a warning naming both lists and how the
    outputs are named (``kept``). Each tool gives its own words; ``verb`` agrees with ``where``.
    Lists of different lengths are left to the domain count check.
    """
    if trained is None or len(trained) != len(names) or list(trained) == list(names):
        return
    moved = moved_domains(trained, names)
    if moved:
        raise ValueError(
            f"{where} {verb} the domains ({describe_domains(names)}) but {trained_where} was "
            f"trained with ({describe_domains(trained)}): {moved} would be {effect}; {remedy}"
        )
    log.warning(
        "%s %s the domains (%s); %s was trained with (%s): each label keeps its place, %s",
        where,
        verb,
        describe_domains(names),
        trained_where,
        describe_domains(trained),
        kept,
    )
