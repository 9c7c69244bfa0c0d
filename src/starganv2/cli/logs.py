"""What a person sees on the console: each line once, and no known noise.

Hydra configures the root logger (console and the job's log file); Lightning adds a console
handler of its own to ``lightning.pytorch``, so every Lightning line used to appear twice. Under
DDP every process runs the command (Lightning starts ranks 1.. as copies of it, SLURM starts all),
so each of our INFO and WARNING lines came once per process: at the console, a process other
than global rank 0 shows only our errors (its own log file keeps every line). The entry points
call :func:`quiet_third_party` first.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import warnings

__all__ = ["quiet_third_party", "NOISE", "LOG_NOISE", "RunLogFile"]

_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric")

NOISE: tuple[str, ...] = (
    # Lightning's advertisement for its "litlogger" and other tips, printed at every fit.
    r".*litlogger.*",
    r"(?s).*[Tt]ip:.*",
    # Our checkpoints are Lightning's own format; the weights_only notice repeats at every load.
    r".*weights_only.*",
    # The EMA nets are frozen copies kept in eval mode on purpose.
    r".*module\(s\) in eval mode at the start of training.*",
    # Validation is off unless val_every_n_iters is set (limit_val_batches 0), and when it is
    # set one batch only marks that a validation is due (models/lightning_steps.py); Lightning's
    # notes about both say nothing a user of this library acts on.
    r".*(val_dataloader|validation_step|validation loop|`limit_val_batches`).*",
    r".*does not have many workers.*",
    # Every resume within an epoch: Lightning looks for a state_dict on the training DataLoader
    # and finds none, but the data modules continue the epoch's draws after the batches the
    # checkpoint had trained (from the loop state Lightning restores, see
    # data/sampling.py resume_position), so the resumed run gets the batches it would have got.
    r".*resuming from a checkpoint that ended before the epoch ended.*",
    r".*The number of training batches.*is smaller than the logging interval.*",
)

LOG_NOISE: tuple[str, ...] = (
    # Our nets summary (callbacks.summary) is a ModelSummary so that Lightning adds none of its
    # own; Lightning says so at every fit.
    r"Trainer already configured with model summary callbacks.*",
    # val_every_n_iters sets limit_val_batches=1 (see above); Lightning repeats it at every fit.
    r"`Trainer\(limit_val_batches=1\)` was configured so 1 batch will be used.*",
    # fast_dev_run: the training command says once what it runs and that nothing is written.
    r"Running in `fast_dev_run` mode.*",
)
"""Log lines (never warnings) dropped at the console and in the job's log file."""


class _DropNoise(logging.Filter):
    """Drops third-party records matching :data:`NOISE` or :data:`LOG_NOISE`. The library's own
    records always pass: its errors quote torch's messages (a weight file that
    ``torch.load(weights_only=True)`` cannot read), and dropping one left a failed run silent."""

    def __init__(self) -> None:
        super().__init__()
        import re

        self._patterns = [re.compile(p) for p in (*NOISE, *LOG_NOISE)]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "starganv2" or record.name.startswith("starganv2."):
            return True
        msg = record.getMessage()
        return not any(p.match(msg) for p in self._patterns)


class RunLogFile(logging.FileHandler):
    """The job's log file (``<run folder>/<tool>.log``, Hydra's ``job_logging`` file handler)
    that stops, after one line, when the file system refuses its writes (a full disk). Python's
    handler printed ``--- Logging error ---`` and a traceback of 50 lines at every record from
    then on, around the one error line of the tool that met the same full disk. The console
    keeps every line."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.refused:  # FileHandler would open the file again
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        from starganv2.utils.files import WRITE_FAILURES

        err = sys.exc_info()[1]
        if not isinstance(err, OSError) or err.errno not in WRITE_FAILURES:
            super().handleError(record)
            return
        self.refused = True
        with contextlib.suppress(OSError, ValueError):  # its buffer cannot be written either
            self.close()
        sys.stderr.write(
            f"{self.baseFilename}: this log file is no longer written ({err.strerror}); the "
            "console shows every line\n"
        )


def _quiet_refused_log_writes(args: threading.ExceptHookArgs) -> None:
    """The thread hook that leaves out TensorBoard's writer thread's refused write (a full disk):
    the thread keeps the error and TensorBoard raises it in the training at the next write, where
    it is one line naming the run folder; the thread's own traceback came before that line.
    Every other thread's error goes to the hook that was there before."""
    from starganv2.utils.files import WRITE_FAILURES

    thread = type(args.thread).__module__ if args.thread is not None else ""
    refused = isinstance(args.exc_value, OSError) and args.exc_value.errno in WRITE_FAILURES
    if refused and thread.startswith("tensorboard."):
        return
    _previous_excepthook(args)


_previous_excepthook = threading.excepthook


def _global_rank() -> int:
    """This process's rank as Lightning knows it: from the environment a launcher set (``RANK``,
    ``LOCAL_RANK``, ``SLURM_PROCID``) until the trainer sets it; 0 in a single process."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


class _RankZeroConsole(logging.Filter):
    """Our own (``starganv2.*``) INFO and WARNING lines at the console of global rank 0 only:
    the other ranks say the same. Errors are shown by every rank, and other libraries' lines
    are left as they are (Lightning's own already come from rank 0 where they would repeat)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or not record.name.startswith("starganv2"):
            return True
        return _global_rank() == 0


def _is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


def quiet_third_party() -> None:
    """Route Lightning's messages through the job's handlers only, and drop known noise:
    third-party deprecation warnings, the messages in :data:`NOISE` and the log lines in
    :data:`LOG_NOISE`; at the console of a rank other than 0, our INFO and WARNING lines; the
    traceback of TensorBoard's writer thread on a full disk. Idempotent."""
    noise = _DropNoise()
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    # Filters on a logger miss its children's records: filter at the handlers instead.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropNoise) for f in handler.filters):
            handler.addFilter(noise)
        if _is_console(handler) and not any(
            isinstance(f, _RankZeroConsole) for f in handler.filters
        ):
            handler.addFilter(_RankZeroConsole())
    global _previous_excepthook
    if threading.excepthook is not _quiet_refused_log_writes:
        _previous_excepthook, threading.excepthook = threading.excepthook, _quiet_refused_log_writes
    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(?!starganv2).*")
