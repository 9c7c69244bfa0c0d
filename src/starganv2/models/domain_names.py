"""The domain names a checkpoint was trained with, and how another list of names relates to them.

Training saves the data module's domain folder names, in label order, in every checkpoint
(``checkpoint["<DataModule class>"]["domains"]``, :meth:`ImageDomainDataModule.state_dict`).
Labels are positions: a list of names that puts a saved name at another position would have the
model treat that domain as another one (translate "cat" with the label of "wild"). Renaming a
domain (a name the checkpoint does not have) keeps every label and may be meant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["saved_domain_names", "moved_domains", "describe_domains"]


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
