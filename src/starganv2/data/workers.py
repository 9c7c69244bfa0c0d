"""How many DataLoader worker processes a loader really starts: at most one per usable CPU.

``data.num_workers`` (default 4) suits a GPU node; on a 2-core machine PyTorch warns at every
loader that 4 workers exceed its suggested maximum, without naming the setting. The data modules
start ``min(data.num_workers, usable CPUs)`` workers instead and say so once, naming the key.
"""

from __future__ import annotations

import logging
import os

__all__ = ["usable_cpus", "capped_workers"]

log = logging.getLogger(__name__)

_told: set[tuple[int, int]] = set()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def capped_workers(requested: int, key: str = "data.num_workers") -> int:
    """``requested`` workers, capped at :func:`usable_cpus` (``0`` stays ``0``: loading in the
    main process). Logs once per (requested, usable) pair when it caps."""
    usable = usable_cpus()
    if requested <= usable:
        return requested
    if (requested, usable) not in _told:
        _told.add((requested, usable))
        log.info(
            "%s=%d but this machine has %d usable CPUs: starting %d loader workers",
            key,
            requested,
            usable,
            usable,
        )
    return usable
