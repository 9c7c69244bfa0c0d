"""Two-process DDP tests without Lightning's launcher: a free port and one rank's environment.

The tests start their ranks with ``torch.multiprocessing.spawn``; each rank calls
:func:`join_process_group_env` first, so Lightning sees a process group created externally and
launches no more processes.
"""

from __future__ import annotations

import os
import socket

import torch


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_process_group_env(rank: int, world: int, port: int, **extra: str) -> None:
    """Set rank ``rank`` of ``world``'s environment (master at 127.0.0.1:``port``, one node),
    plus ``extra`` variables, and one torch thread (two ranks share the two cores)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
        **extra,
    )
    torch.set_num_threads(1)
