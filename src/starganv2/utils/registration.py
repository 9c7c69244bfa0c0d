"""The one rule of the library's registries (models, metrics, mask providers): a name is a
non-empty string, and a name another object holds is refused, since the second entry would
replace the first without a word; the same object again (a module imported twice, reloaded)
replaces it."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["defined_at", "check_new_entry"]


def defined_at(obj: object) -> str:
    """Where ``obj`` (a function or class) is defined, as ``"module:qualname"``, the form of the
    registries' own string entries; a string is taken to be that already."""
    if isinstance(obj, str):
        return obj
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', obj)}"


def check_new_entry(kind: str, name: object, registry: Mapping[str, object], new: object) -> None:
    """``ValueError`` naming ``kind`` (``"metric"``...) when ``name`` is not a non-empty string,
    or when ``registry`` holds under it an entry defined elsewhere than ``new``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} is invalid: expected a non-empty string")
    known = registry.get(name)
    if known is not None and defined_at(known) != defined_at(new):
        raise ValueError(
            f"{kind} {name!r} is already registered by {defined_at(known)}; {defined_at(new)} "
            "must use another name"
        )
