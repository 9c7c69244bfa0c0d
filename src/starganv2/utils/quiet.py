"""``info_held_back()``: build a throwaway object (a look-up ``Trainer``) without its info lines.

Two places build a Lightning ``Trainer`` only to read what it resolves (the strategy ``auto``
becomes, the device ``accelerator=auto`` picks) before building the one that runs; Lightning
prints its device lines ("GPU available: ...") for both. Inside this context, INFO lines and
below are held back, so a run shows them once, from the trainer that runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["info_held_back"]


@contextmanager
def info_held_back() -> Iterator[None]:
    """Drop log records at INFO and below while inside; warnings and errors still show."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)
