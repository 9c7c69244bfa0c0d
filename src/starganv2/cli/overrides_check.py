"""Command-line overrides that Hydra refuses with a Python traceback, as one error line.

Hydra reports most bad overrides in a line or two, but two that users type stop inside its
composition with a traceback of some twenty lines and a message that names no key of ours:

- ``logger=null`` (a config group set to null): "Config group override must be a string or a
  list. Got NoneType";
- ``'metrics=[shapes_quality]' metrics.shapes_quality.seed=3`` (a setting under an entry of a list
  given on the same command line): "TypeError: Index 'shapes_quality' (str) is not an int".

:func:`checked_command_line` wraps a ``@hydra.main`` entry point so that these are one line saying
what to type instead, exit status 1, before Hydra composes anything."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

__all__ = ["override_problem", "checked_command_line", "config_groups"]


def config_groups() -> dict[str, list[str]]:
    """The config groups of ``starganv2.conf`` (``logger``, ``hydra/launcher``, ...) with the
    names of their options (``csv``, ``none``, ...), sorted."""
    groups: dict[str, list[str]] = {}

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.name.startswith(("_", ".")):
                name = f"{prefix}{entry.name}"
                options = sorted(
                    e.name[: -len(".yaml")] for e in entry.iterdir() if e.name.endswith(".yaml")
                )
                if options:
                    groups[name] = options
                walk(entry, name + "/")

    walk(resources.files("starganv2.conf"), "")
    return groups


HYDRA_GROUPS = "hydra/"
"""Hydra's own groups (``hydra/launcher``, ...): their options come from Hydra and its plugins,
not only from our configs, so they are left to Hydra."""


def override_problem(overrides: Sequence[str]) -> str | None:
    """What is wrong with ``overrides`` (the command line's ``key=value`` words) in a way Hydra
    reports with a traceback, as one line saying what to type instead; ``None`` otherwise (also
    for overrides Hydra's parser refuses: it reports those itself)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return None
    groups = config_groups()
    lists: dict[str, str] = {}  # keys an earlier override made a list, with that override
    for override in parsed:
        if override.is_sweep_override():
            continue
        key = override.get_key_element().lstrip("+~")
        problem = _group_problem(override, key, groups) or _list_entry_problem(override, key, lists)
        if problem is not None:
            return problem
        if not override.is_delete() and isinstance(override.value(), list):
            lists[key] = override.input_line or f"{key}=[...]"
        else:  # set again (a mapping, a name) or deleted: no longer the list
            lists.pop(key, None)
    return None


def _group_problem(override: Any, key: str, groups: dict[str, list[str]]) -> str | None:
    """A config group set to a value that is not an option's name (``logger=null``)."""
    group = key.replace(".", "/")
    if group not in groups or group.startswith(HYDRA_GROUPS) or override.is_delete():
        return None
    if isinstance(override.value(), (str, list, dict)):
        return None
    options = groups[group]
    off = f" ({key}=none turns it off)" if "none" in options else ""
    return (
        f"{override.input_line}: {key} is a config group, set to the name of one of its options: "
        f"{', '.join(options)}{off}"
    )


def _list_entry_problem(override: Any, key: str, lists: dict[str, str]) -> str | None:
    """A setting under a named entry of a key an earlier override made a list
    (``metrics=[shapes_quality]`` then ``metrics.shapes_quality.seed=3``)."""
    for listed, given in lists.items():
        if not key.startswith(listed + "."):
            continue
        entry, _, setting = key[len(listed) + 1 :].partition(".")
        if entry.isdigit():  # an index into the list: Hydra sets it
            continue
        value = override.get_value_element_as_str()
        problem = f"{key}={value}: {given} makes {listed} a list, which has no key {entry!r}"
        if listed.rpartition(".")[2] != "metrics" or not setting:
            return problem
        return (
            f"{problem}; the metrics of a list take no settings: give {listed} as a mapping of "
            f"metrics to their settings instead, e.g. '{listed}={{{entry}: {{{setting}: {value}}}}}'"
        )
    return None


_CFG_FLAGS = ("--cfg", "-c")


def hydra_cfg_resolved(argv: list[str], package: str | None) -> list[str]:
    """``argv`` with ``--cfg hydra --resolve`` made ``--cfg all --resolve --package hydra``: the
    same block, resolved. Hydra resolves ``--cfg hydra`` without the job's keys, and the run
    folder (``hydra.run.dir``) is made of them (``paths.log_dir``, ``task_name``, ``run_name``):
    it stopped with a traceback of omegaconf's frames ending ``Interpolation key 'paths.log_dir'
    not found``. A ``--package`` given (``hydra.run``) is kept."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in _CFG_FLAGS:
            next(words, None)  # its value, "hydra"
        elif not word.startswith(tuple(f"{flag}=" for flag in _CFG_FLAGS)):
            out.append(word)
    out += ["--cfg", "all"]
    return out if package else [*out, "--package", "hydra"]


def checked_command_line(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the ``@hydra.main`` function ``main``: called as a command (no arguments), its
    command line's overrides are checked with :func:`override_problem` first; a problem is one
    line on stderr and exit status 1. A call with a config (tests, other callers) is passed on."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            from hydra._internal.utils import get_args_parser

            try:
                given, _ = get_args_parser().parse_known_args(sys.argv[1:])
            except SystemExit:  # argparse's own error: Hydra reports it
                given = None
            problem = None if given is None else override_problem(given.overrides)
            if problem is not None:
                print(f"Error: {problem}", file=sys.stderr)
                sys.exit(1)
            if given is not None and given.cfg == "hydra" and given.resolve:
                sys.argv[1:] = hydra_cfg_resolved(sys.argv[1:], given.package)
        return main(*args, **kwargs)

    return wrapper
