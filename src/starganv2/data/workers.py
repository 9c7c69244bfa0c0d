"""How many DataLoader worker processes a loader really starts (at most one per usable CPU), and
how they take a SIGTERM sent to the whole job.

``data.num_workers`` (default 4) suits a GPU node; on a 2-core machine PyTorch warns at every
loader that 4 workers exceed its suggested maximum, without naming the setting. The data modules
start ``min(data.num_workers, usable CPUs)`` workers instead and say so once, naming the key.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

__all__ = ["usable_cpus", "capped_workers", "worker_init"]

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


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: the worker ends on a SIGTERM from its parent only.

    ``timeout``, ``kill -- -PGID`` and schedulers (SLURM) send SIGTERM to every process of a job.
    The main process holds it until the iteration in progress has ended and writes a checkpoint,
    but a worker died of it at once, and the main process then failed mid-iteration with
    ``DataLoader worker ... is killed by signal: Terminated`` and no checkpoint. Here a thread
    takes the worker's SIGTERMs (blocked in every other thread) and, like torch's own handler,
    exits quietly on one its parent sent (the loader stopping it); others are ignored: the main
    process stops the worker when it is done. Lightning's worker seeding
    (``seed_everything(workers=True)``), which it adds only to loaders without a
    ``worker_init_fn``, runs here as it would have.
    """
    if hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwaitinfo"):  # not macOS, Windows
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=_end_on_parents_sigterm, args=(os.getppid(),), daemon=True).start()
    if int(os.environ.get("PL_SEED_WORKERS", 0)):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)


def _end_on_parents_sigterm(parent: int) -> None:
    """Wait for SIGTERMs; exit at once on one sent by ``parent``, ignore the others."""
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
            os._exit(0)
