"""Argument checks shared by constructors: the error names the key, shows the value and says what
was expected."""

from __future__ import annotations

__all__ = ["check_int"]


def check_int(value: object, key: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) ``>= minimum``, else ``ValueError`` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}={value!r} is invalid: expected an integer >= {minimum}")
    return value
