"""SIGTERM under DDP without a collective call inside the signal handler.

Lightning's SIGTERM handler (``_SignalConnector._sigterm_notifier_fn``, Lightning 2.6) sets
``trainer.received_sigterm`` and, in a multi-process run, also calls ``dist.broadcast`` from the
handler. A handler runs wherever the main thread happens to be: inside a backward pass, rank 0
then waits in that broadcast while the other ranks wait in the gradient all-reduce, and both
wait forever (seen on 2-process CPU DDP, in about a quarter of the tries when the signal came
during an update). The broadcast is not needed: at the start of every training batch Lightning's
loop broadcasts rank 0's flag to all ranks (``_broadcast_sigterm_tensor``), so every rank stops
at the same iteration. :func:`notify_sigterm_without_collectives` gives a trainer a handler that
does the rest of what Lightning's does (log, forward the signal to launched ranks, set the
flag) and leaves the collective to that loop.
"""

from __future__ import annotations

import logging
from types import FrameType
from typing import Any

__all__ = ["notify_sigterm_without_collectives"]

log = logging.getLogger(__name__)


def notify_sigterm_without_collectives(trainer: Any) -> None:
    """Replace ``trainer``'s SIGTERM notifier (before ``fit``/``predict`` registers it) by one
    that makes no collective call; single-process behaviour is unchanged."""
    connector = trainer._signal_connector

    def notifier(signum: int, frame: FrameType | None) -> None:
        log.info("[rank: %d] Received SIGTERM: %d", trainer.local_rank, signum)
        if not connector.received_sigterm:
            launcher = trainer.strategy.launcher
            if launcher is not None:
                launcher.kill(signum)  # the ranks this process launched stop too
        connector.received_sigterm = True

    # an instance attribute: register_signal_handlers() looks the notifier up on the instance
    connector._sigterm_notifier_fn = notifier
