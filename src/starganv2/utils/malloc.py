"""``keep_freed_memory()``: let glibc keep freed memory in the process for the next allocation.

By default glibc serves every block of 32 MiB or more (and, until its threshold adapts, smaller
ones) with a fresh ``mmap`` and returns it to the kernel on ``free``; it also gives the top of the
heap back when more than 128 KiB of it is free. A CPU training iteration allocates and frees
the same large activations hundreds of times, so each one's pages are faulted in and zeroed by
the kernel again every time: at 64 px, batch 8 and the paper's widths a fifth of the process's
CPU time was system time (page faults). With no ``mmap`` for large blocks and no trimming, freed
blocks stay in the heap and are reused; the process's memory then stays near its peak instead of
returning to the kernel between iterations. It changes no value, only where memory comes from.

Linux with glibc only (``mallopt``); elsewhere it does nothing and says so. It applies to the
whole process, from the call on, and to the processes it forks later (data-loader workers).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to serve large blocks from the heap and never trim it (see the
    module docstring). Returns whether it took effect (``False`` off glibc)."""
    if not sys.platform.startswith("linux"):
        log.debug("keep_freed_memory: not Linux, malloc left as it is")
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc's; musl's mallopt does nothing
            raise AttributeError("not glibc")
    except (OSError, AttributeError, TypeError):
        log.debug("keep_freed_memory: no glibc mallopt (%s), malloc left as it is", name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, _INT_MAX) == 1
    if not ok:
        log.debug("keep_freed_memory: mallopt refused the settings")
    return ok
