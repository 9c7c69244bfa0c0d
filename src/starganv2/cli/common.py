"""Helpers shared by the entry points: device and model loading, and the one way every console
script reports bad input (:func:`report_error`: one line, exit status 1)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from starganv2.utils.files import OutputWriteError

SIGTERM_EXIT = 128 + 15
"""Exit status of a run stopped by SIGTERM (the shell's status for a process that signal ended):
not 0, so a job script or scheduler does not take the stopped run for a finished one."""
SIGINT_EXIT = 128 + 2
"""Exit status of a run stopped by Ctrl-C (SIGINT), as the shell gives it; not 1, which says
bad input."""


def stopped_by_ctrl_c(err: BaseException) -> bool:
    """Whether ``err`` is how Ctrl-C ends a tool: a ``KeyboardInterrupt``, or the ``SystemExit(1)``
    that Lightning raises in its place once its own clean-up is done (the interrupt is that
    exception's context)."""
    if isinstance(err, KeyboardInterrupt):
        return True
    return isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)


def hydra_config() -> Any:
    """This job's ``HydraConfig``, or ``None`` when the tool was called without Hydra's entry
    point (from Python or a test)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def rerun_command(tool: str) -> str:
    """The command that finishes an interrupted run of the Hydra tool ``tool``: this one again
    (its overrides, from the folder it was launched in), quoted for a POSIX shell."""
    import shlex

    hc = hydra_config()
    if hc is None:
        return shlex.join([tool, *sys.argv[1:]])
    return from_launch_folder([tool, *hc.overrides.task])


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: stop where the program is, as Ctrl-C's ``KeyboardInterrupt`` does, so
    the files being written are removed on the way out (Lightning's own handler, which runs
    before this one inside a ``Trainer``, only notes it). Lightning is imported here, when the
    signal comes, not before: ``--help`` of the argparse tools stays instant."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    raise SIGTERMException


def _is_sigterm(err: BaseException) -> bool:
    """Whether ``err`` is the ``SIGTERMException`` of :func:`_stop` (not loaded: it is not)."""
    module = sys.modules.get("lightning.pytorch.utilities.exceptions")
    return module is not None and isinstance(err, module.SIGTERMException)


def stop_cleanly(call: Callable[[], Any], log: logging.Logger, rerun: Callable[[], str]) -> Any:
    """``call()`` that SIGTERM (``kill``, ``timeout``, a scheduler) stops as Ctrl-C does: the
    file being written is removed rather than left as a hidden temporary (the default SIGTERM
    action ends the process without any clean-up), every output already written is whole, one
    line names the cause and the command that finishes the job (``rerun()``: the same one
    again), and the exit status is :data:`SIGTERM_EXIT` (:data:`SIGINT_EXIT` after Ctrl-C), not
    a traceback."""
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return call()
    except BaseException as err:  # Lightning ends Ctrl-C with exit(1): stopped_by_ctrl_c
        if _is_sigterm(err):
            cause, status = "SIGTERM", SIGTERM_EXIT
        elif stopped_by_ctrl_c(err):
            cause, status = "Ctrl-C", SIGINT_EXIT
        else:
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.warning(
        "stopped by %s; the outputs written so far are whole: run the same command again to "
        "finish: %s",
        cause,
        rerun(),
    )
    sys.exit(status)


def run_stoppable(run: Callable[[Any], Any], cfg: Any, log: logging.Logger, tool: str) -> Any:
    """:func:`run_or_exit` for the Hydra tool ``tool``, stopped by SIGTERM or Ctrl-C as
    :func:`stop_cleanly` says."""
    return stop_cleanly(lambda: run_or_exit(run, cfg, log), log, lambda: rerun_command(tool))


def main_stoppable(
    main: Callable[[list[str] | None], int], argv: list[str] | None, tool: str
) -> int:
    """``main(argv)`` of the argparse tool ``tool``, stopped by SIGTERM or Ctrl-C as
    :func:`stop_cleanly` says; the command that finishes it is this one again, from this
    folder (its paths may be relative)."""
    import os
    import shlex

    words = [tool, *(sys.argv[1:] if argv is None else argv)]
    command = f"{shlex.join(['cd', os.getcwd()])} && {shlex.join(words)}"
    return stop_cleanly(
        lambda: main(argv), logging.getLogger(tool.replace("-", ".")), lambda: command
    )


def check_output_file(value: str, shown: str, what: str, example: str) -> None:
    """Refuse, before any work, an output file that cannot be written as one: an existing folder
    (or a path ending in ``/``: it would become a file of that name), or a path under an existing
    file. Found only at the write, they cost the whole job and end in the atomic write's
    traceback. ``shown`` names the setting in the message (``output_file=<value>``), ``what`` the
    file (``"the JSON file"``), ``example`` a path to give instead."""
    import os

    path = Path(value)
    if str(value).endswith(("/", os.sep)) or path.is_dir():
        raise ValueError(f"{shown} is a folder: give {what} to write, e.g. {example}")
    check_output_folder(path.parent, shown, "give a path in a folder")


def check_output_folder(folder: str | Path, shown: str, advice: str) -> None:
    """Refuse, before any work, an output ``folder`` that is a file or lies under one: a
    ``ValueError`` naming the setting (``shown``), the file in the way and ``advice``."""
    from starganv2.utils.files import blocking_file

    blocker = blocking_file(folder)
    if blocker is not None:
        raise ValueError(
            f"{shown}: {blocker} is a file, not a folder; {advice} (missing folders are made)"
        )


def check_logger_folders(cfg: Any) -> None:
    """Refuse, before the loggers are made, a logger folder that is a file or lies under one
    (``<save_dir>/<name>`` of the CSV and TensorBoard loggers, ``<save_dir>/wandb`` of wandb's):
    a ``ValueError`` naming the logger's key and the file. The CSV and TensorBoard loggers
    stopped on it with a bare ``[Errno 17] File exists`` or a ``NotADirectoryError`` traceback,
    and wandb wrote its run to the system's temporary folder with a warning only."""
    for key, node in (cfg.get("logger") or {}).items():
        if not node or node.get("save_dir") is None:
            continue
        folder = Path(str(node.save_dir))
        if str(node.get("_target_", "")).endswith("WandbLogger"):
            folder = folder / "wandb"
        elif node.get("name"):
            folder = folder / str(node.name)
        check_output_folder(
            folder, f"logger.{key}", f"move it, or give logger.{key}.save_dir another folder"
        )


def from_launch_folder(words: list[str]) -> str:
    """``words`` quoted for a POSIX shell, after ``cd <launch folder> &&`` when the job knows the
    folder it was launched from: the launch's overrides may hold relative paths
    (``data.root=my_data``), which would name other folders, or none, from anywhere else."""
    import shlex

    hc = hydra_config()
    command = shlex.join(words)
    cwd = hc.runtime.get("cwd") if hc is not None else None
    if not cwd:
        return command
    return f"{shlex.join(['cd', str(cwd)])} && {command}"


def resolve_device(name: str | None, key: str = "device") -> Any:
    """``auto`` (or ``None``): the current accelerator if there is one, else the CPU.

    Raises ``ValueError`` naming ``key`` (the setting as the command spells it: ``device`` for
    the Hydra commands, ``--device`` for ``starganv2-align``) for a name torch does not know
    (``gpu``) and for a CUDA or MPS device this machine does not have, before anything is loaded.
    """
    import torch

    if name in (None, "auto"):
        acc = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        return acc if acc is not None else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"{key}={name!r} is invalid: expected auto, cpu, cuda, cuda:<index> or mps"
        ) from err
    count = {
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": int(torch.backends.mps.is_available()),
    }.get(device.type)
    if count is not None and (count == 0 or (device.index or 0) >= count):
        raise ValueError(
            f"{key}={name!r} is not available on this machine ({count} {device.type} "
            f"device(s)): use {key}=auto or {key}=cpu"
        )
    return device


def load_module(ckpt_path: str | Path, device: Any) -> Any:
    """The model of a checkpoint (any registered class), in eval mode on ``device``.

    Raises ``FileNotFoundError`` naming the key and path when the file does not exist.
    """
    from starganv2.models.registry import load_model

    return load_model(ckpt_path).to(device).eval()


# characters Hydra reads unquoted inside a value (not ``~``, its delete operator, nor spaces)
_HYDRA_PLAIN = re.compile(r"[\w/.\-+@]+")


def hydra_arg(key: str, value: object) -> str:
    """``key=value`` as Hydra reads it back with ``value`` unchanged: quoted (``key="..."``) when
    the value holds anything Hydra's override grammar treats specially (``,`` makes a sweep,
    ``=``, brackets, quotes, spaces, ``~``). Quote the whole command for the shell with
    ``shlex.join``."""
    text = str(value)
    if _HYDRA_PLAIN.fullmatch(text):
        return f"{key}={text}"
    if '"' not in text:  # shlex.join then wraps the word in single quotes, with no escapes
        return f'{key}="{text}"'
    return f"{key}='" + text.replace("'", "\\'") + "'"


BAD_INPUT: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    ValueError,
    ImportError,
    OutputWriteError,
)
"""Errors that mean bad input (a path, a key, a value, a missing extra) or an output the file
system refused (:class:`~starganv2.utils.files.OutputWriteError`: a full disk, a read-only
folder), reported by :func:`report_error`. ``ConfigError`` and the library's other input errors subclass these; an
entry point adds the run-time failures it reports the same way (a non-finite loss...)."""


def worker_error_message(err: BaseException) -> str:
    """The message of ``err`` as it was raised: an error raised in a DataLoader worker process
    reaches the main process as ``Caught <Error> in DataLoader worker process N.`` followed by
    the worker's traceback, whose last entry holds the message. Other errors: ``str(err)``."""
    text = str(err)
    if not text.startswith(f"Caught {type(err).__name__} in DataLoader worker process"):
        return text
    cls = type(err)
    builtin = cls.__module__ in ("builtins", "__main__")
    name = cls.__qualname__ if builtin else f"{cls.__module__}.{cls.__qualname__}"
    _, found, message = text.rpartition(f"\n{name}: ")
    return message.rstrip("\n") if found else text


def report_error(err: BaseException, log: logging.Logger) -> int:
    """Report ``err`` the way every console script does: its message as one error line (an
    error of a DataLoader worker without the worker's traceback: :func:`worker_error_message`),
    the traceback only at debug level (``hydra.verbose=true``, or ``--verbose`` for the argparse
    scripts). Returns the exit status, 1."""
    log.error("%s", worker_error_message(err))
    log.debug("where it was raised", exc_info=err)
    return 1


def run_or_exit(
    run: Callable[[Any], Any],
    cfg: Any,
    log: logging.Logger,
    errors: tuple[type[BaseException], ...] = BAD_INPUT,
) -> Any:
    """``run(cfg)`` for a Hydra entry point; on one of ``errors`` :func:`report_error` and exit
    with its status (the argparse scripts return that status from ``main`` instead). Required
    settings left unset (``???``) are one error line naming them all, before anything runs."""
    missing = missing_settings(cfg)
    if missing:
        them = "it" if len(missing) == 1 else "them"
        log.error(
            "%s %s required but not set: give %s on the command line, e.g. %s",
            ", ".join(missing),
            "is" if len(missing) == 1 else "are",
            them,
            " ".join(f"{k}=..." for k in missing),
        )
        sys.exit(1)
    try:
        return run(cfg)
    except errors as err:
        sys.exit(report_error(err, log))


def finish_wandb(loggers: list[Any], failed: bool) -> None:
    """End the wandb run this job's ``WandbLogger`` started (``failed``: with exit code 1). A
    sweep runs its jobs in one process (the basic launcher, Optuna), and Lightning's
    ``WandbLogger`` reuses a wandb run still open: without this, every later job (of
    ``starganv2-train`` or ``starganv2-eval``) logged into the first job's run, under its name
    and folder, and overwrote its config."""
    from lightning.pytorch.loggers import WandbLogger

    if not any(isinstance(logger, WandbLogger) for logger in loggers):
        return
    import wandb

    if wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)


@contextlib.contextmanager
def wandb_must_start(logger: Any) -> Iterator[None]:
    """Run the block that first uses ``logger`` (its ``log_hyperparams`` or ``log_metrics``
    starts a wandb run); a ``WandbLogger`` whose run cannot start (``logger.wandb.offline=false``
    with no API key or no network; offline, a setting wandb refuses, such as an id with a ``/``)
    raises one ``ConfigError`` line naming the key and the ways on, where it was wandb's
    traceback. Other loggers run the block as it is."""
    from lightning.pytorch.loggers import WandbLogger

    if not isinstance(logger, WandbLogger):
        yield
        return
    from wandb.errors import Error as WandbError

    from starganv2.cli.config_check import ConfigError

    try:
        yield
    except WandbError as err:
        if getattr(logger, "_offline", False):  # no login involved: a setting wandb refused
            raise ConfigError(
                f"logger.wandb: wandb could not start the run ({err}): correct the "
                "logger.wandb setting it names (an id such as logger.wandb.id=...)"
            ) from None
        raise ConfigError(
            f"logger.wandb: wandb could not start the run ({err}): log in with `wandb "
            "login` or set WANDB_API_KEY, or keep logger.wandb.offline=true (the default) "
            "and upload later with `wandb sync`"
        ) from None


def missing_settings(cfg: Any) -> list[str]:
    """The full keys of ``cfg`` whose value is the mandatory marker ``???`` (``ckpt_path``,
    ``data.root``...), in config order; interpolations are not resolved."""
    from omegaconf import DictConfig, OmegaConf

    found: list[str] = []

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node.keys():
            if OmegaConf.is_missing(node, key):
                found.append(f"{prefix}{key}")
            elif not OmegaConf.is_interpolation(node, key):
                child = node[key]
                if isinstance(child, DictConfig):
                    walk(child, f"{prefix}{key}.")

    if isinstance(cfg, DictConfig):
        walk(cfg, "")
    return found


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: debug messages, and the traceback of a reported error."""
    parser.add_argument(
        "--verbose", action="store_true", help="debug messages and the traceback of an error"
    )


def console_logging(verbose: bool = False) -> None:
    """The argparse scripts' console: third-party warnings, this library's info (or debug with
    ``--verbose``), one line each."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("starganv2").setLevel(logging.DEBUG if verbose else logging.INFO)
