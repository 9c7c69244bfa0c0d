"""Argument checks shared by constructors: the error names the key, shows the value and says what
was expected."""

from __future__ import annotations

__all__ = ["check_img_size", "check_int"]


def check_int(value: object, key: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) ``>= minimum``, else ``ValueError`` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}={value!r} is invalid: expected an integer >= {minimum}")
    return value


def check_img_size(value: object, key: str = "img_size", minimum: int = 16) -> int:
    """``value`` if it is a power of two ``>= minimum`` (an image side the nets can halve down to
    their smallest feature map), else ``ValueError`` naming ``key``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or value & (value - 1)
    ):
        raise ValueError(
            f"{key}={value!r} is invalid: expected a power of two >= {minimum} "
            "(e.g. 32, 64, 128, 256)"
        )
    return value
