"""Argument types the benchmark scripts share: counts and durations that must be positive.

A zero or negative ``--jobs``, ``--iters``, ``--rounds``... used to hang a driver (no job ever
started), divide by zero after minutes of work, or start runs that failed at once after the
driver had cleared their earlier results; argparse now refuses them with a one-line error
before anything runs or is removed. Each script puts this folder on ``sys.path`` first.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any


def positive_int(text: str) -> int:
    """An integer >= 1 (``argparse`` type)."""
    return _at_least(text, int, 1, "an integer >= 1")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``argparse`` type)."""
    return _at_least(text, int, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A number > 0 (``argparse`` type)."""
    value = _at_least(text, float, 0.0, "a number > 0")
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected a number > 0")
    return value


def _at_least(text: str, kind: type, low: float, expected: str) -> int | float:
    """``kind(text)`` if it is a finite number >= ``low``; else argparse's one-line error."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")) or value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected {expected}")
    return value


def int_list(text: str, flag: str, minimum: int, example: str) -> list[int]:
    """``flag``'s comma list of integers >= ``minimum``, at least one; a one-line ``SystemExit``
    naming the flag otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise SystemExit(
            f"{flag} {text!r}: expected a comma list of integers >= {minimum}, e.g. {example}"
        )
    repeated = _repeated(values)
    if repeated:  # a seed listed twice ran twice into one folder, or counted twice in a mean
        raise SystemExit(f"{flag} {text!r}: {repeated} listed more than once; give each once")
    return values


def _repeated(values: Sequence[Any]) -> list[Any]:
    """The values listed more than once in ``values``, sorted."""
    return sorted({v for v in values if list(values).count(v) > 1})


def distinct(values: Sequence[Any], flag: str) -> list[Any]:
    """``values`` of ``flag`` (an ``nargs="+"`` list) if none is repeated, else a one-line
    ``SystemExit``: a seed given twice counted one result twice (a spread of 0)."""
    repeated = _repeated(values)
    if repeated:
        shown = ", ".join(map(str, repeated))
        raise SystemExit(f"{flag}: {shown} listed more than once; give each once")
    return list(values)


SETTING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
"""A setting's name: it names its run folder (and its log) in the driver's ``--out``."""


def setting_name(name: str, text: str, form: str) -> str:
    """``name`` if it can name a folder of its own; else a one-line ``SystemExit`` naming
    ``--setting text`` and the expected ``form``: a ``/`` made nested folders that the summary
    never found, ``..`` a folder outside ``--out``."""
    if not SETTING_NAME.fullmatch(name) or ".." in name:
        raise SystemExit(
            f"--setting {text!r}: the name {name!r} names the run's folder: use letters, digits "
            f"and _ . + - (no / or ..), as in {form}"
        )
    return name


def image_side(text: str) -> int:
    """A power of two >= 16, the sides the nets take (``argparse`` type): ``--img-size 30``
    used to end in the model constructor's traceback (``arch_memory.py``: in its worker's)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 16 or value & (value - 1):
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected a power of two >= 16 (e.g. 32, 64, 128, 256)"
        )
    return value


def device_name(text: str) -> str:
    """A torch device this machine has (``argparse`` type): ``--device cuda`` on a machine
    without a usable CUDA device used to end in torch's driver traceback on first use."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected a torch device such as cpu, cuda, cuda:1"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(
            f"{text!r}: torch has no CUDA device here (torch {torch.__version__}, "
            "torch.cuda.is_available() is False): use --device cpu"
        )
    return text
