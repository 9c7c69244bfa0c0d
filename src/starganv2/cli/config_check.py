"""Early checks of a composed config against the constructors it targets.

Hydra rejects unknown override keys; these checks add what it cannot see: a key that is not an
argument of its ``_target_``, a value of the wrong type, a mandatory value left as ``???``. Each
error names the full key, shows the value and says what was expected, before anything trains.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

__all__ = [
    "ConfigError",
    "check_target_node",
    "check_trainer_limits",
    "check_config",
    "instantiate",
]


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:  # the allowed values, not the word "Literal"
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a resolved config value fits a constructor's type hint (lenient where unsure)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is Path:
        return isinstance(value, (str, Path))
    base = origin or hint
    if base in (list, tuple, Sequence, typing.Sequence) or (
        isinstance(base, type) and issubclass(base, Sequence) and base is not str
    ):
        return isinstance(value, (list, tuple))
    if base in (dict, Mapping, typing.Mapping):
        return isinstance(value, dict)
    return True  # classes, callables, ...: leave it to the constructor


def _signature_params(obj: Any) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Parameters and type hints of a target, following ``**kwargs`` up the class hierarchy (a
    subclass that passes ``**kwargs`` to its parent accepts the parent's arguments)."""
    params: dict[str, inspect.Parameter] = {}
    hints: dict[str, Any] = {}
    chain = inspect.getmro(obj) if inspect.isclass(obj) else (obj,)
    for cls in chain:
        init = cls.__init__ if inspect.isclass(obj) else cls
        if inspect.isclass(obj) and "__init__" not in vars(cls):
            continue
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            return params, hints, True
        try:
            found = typing.get_type_hints(init)
        except Exception:  # unresolvable annotations: check names only
            found = {}
        for name, p in signature.parameters.items():
            if name in ("self", "args", "kwargs") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            params.setdefault(name, p)
            if name in found:
                hints.setdefault(name, found[name])
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            return params, hints, False
        if not inspect.isclass(obj) or cls is object:
            break
    return params, hints, True


def check_target_node(node: DictConfig, key: str) -> None:
    """Check one ``_target_`` node: every key is an argument of the target, of the right type;
    nested ``_target_`` nodes are checked too.

    Raises :class:`ConfigError` naming ``key.<arg>``.
    """
    from hydra.utils import get_method

    target = node.get("_target_")
    if target is None:
        return
    try:
        obj = get_method(target)
    except Exception as err:  # hydra raises ImportError or ValueError
        raise ConfigError(f"{key}._target_={target!r} cannot be imported: {err}") from err
    params, hints, open_kwargs = _signature_params(obj)
    for name in node:
        if str(name).startswith("_"):
            continue
        full = f"{key}.{name}"
        try:
            value = node[name]
        except MissingMandatoryValue as err:
            raise ConfigError(
                f"{full} is required but not set: give it on the command line, e.g. {full}=..."
            ) from err
        if name not in params:
            if open_kwargs:
                continue
            raise ConfigError(
                f"{full} is not an argument of {target}; valid keys: {', '.join(params)}"
            )
        if isinstance(value, DictConfig) and "_target_" in value:
            check_target_node(value, full)
            continue
        resolved = (
            OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        )
        hint = hints.get(name, inspect.Parameter.empty)
        if not _matches(resolved, hint):
            literal = typing.Literal in {
                typing.get_origin(h) for h in (hint, *typing.get_args(hint))
            }
            what = "is not an allowed value" if literal else "has the wrong type"
            raise ConfigError(
                f"{full}={resolved!r} {what}: expected {_type_name(hint)}"
                + _source_note(node, name, full)
            )


_EPOCH_LIMITS = {"max_epochs": (None, -1), "min_epochs": (None, -1, 0)}


def check_trainer_limits(node: DictConfig, key: str = "trainer") -> None:
    """Refuse epoch limits in a trainer node: training length is ``model.total_iters``
    (iterations), and an epoch (a pass over the balanced sampler's draw) ends training at an
    iteration that depends on the data size, silently short of ``total_iters``."""
    for name, neutral in _EPOCH_LIMITS.items():
        value = node.get(name)
        if value not in neutral:
            raise ConfigError(
                f"{key}.{name}={value!r} counts passes over the data and would end training at "
                f"an iteration set by the data size; set the training length in iterations with "
                f"model.total_iters=... and leave {key}.{name}=-1"
            )


def check_config(cfg: DictConfig, keys: Sequence[str]) -> None:
    """Check the ``_target_`` nodes at ``keys`` (e.g. ``data``, ``model``, ``trainer``) and, for
    dict-valued groups such as ``callbacks`` and ``logger``, each ``_target_`` node inside them.
    The ``trainer`` node's epoch limits are refused too (:func:`check_trainer_limits`)."""
    for key in keys:
        try:
            node = OmegaConf.select(cfg, key, throw_on_missing=True)
        except MissingMandatoryValue as err:
            raise ConfigError(f"{key} is required but not set") from err
        if node is None:
            continue
        if "_target_" in node:
            check_target_node(node, key)
            if key == "trainer":
                check_trainer_limits(node, key)
        else:
            for name, child in node.items():
                if isinstance(child, DictConfig) and "_target_" in child:
                    check_target_node(child, f"{key}.{name}")


def instantiate(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, but a constructor's own error (a missing weight file, a bad
    value...) comes out as itself, with its message, instead of wrapped in Hydra's exception."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if type(cause) is ValueError:
            raise ValueError(_keys_in_full(_with_full_key(str(cause), node), node)) from None
        if isinstance(cause, (OSError, ValueError, ImportError, RuntimeError)):
            if len(cause.args) == 1 and isinstance(cause.args[0], str):
                cause.args = (_keys_in_full(cause.args[0], node),)
            raise cause from None
        raise


def _keys_in_full(message: str, node: Any) -> str:
    """Keys of ``node`` and of its sub-nodes named in a constructor's message by their own name
    (an evaluator's ``'++metrics.fid_lpips.fid_weights=...'``) given with their full path
    (``'++callbacks.evaluation.evaluator.metrics.fid_lpips.fid_weights=...'``), the form a user
    types on the command line; a deletion too (``'~metrics'``, given with ``'+metrics={...}'``
    to replace a list of metrics by a mapping, becomes ``'~evaluator.metrics'``). Names already
    preceded by a dot are left alone."""
    if not isinstance(node, DictConfig) or not node._get_full_key(None):
        return message
    owners = {str(k): node._get_full_key(None) for k in node}
    for value in node.values():
        if isinstance(value, DictConfig):
            owners.update({str(k): value._get_full_key(None) for k in value})
    for key, owner in owners.items():
        message = re.sub(
            rf"(?<![\w.+~])(\+\+|\+|~)?{re.escape(key)}(?=[.=])", rf"\g<1>{owner}.{key}", message
        )
        message = re.sub(rf"(?<![\w.+~])~{re.escape(key)}(?=')", rf"~{owner}.{key}", message)
    return message


def _with_full_key(message: str, node: Any) -> str:
    """A constructor's ``name=value ...`` message with the config key in full (``img_size=48``
    becomes ``model.img_size=48``), and where the value comes from when the key interpolates
    another (``model.img_size`` is ``${data.img_size}``: the user set ``data.img_size``)."""
    match = re.match(r"(\w+)=", message)
    if not isinstance(node, DictConfig) or match is None or match.group(1) not in node:
        return message
    prefix = node._get_full_key(None)
    if not prefix:
        return message
    name = match.group(1)
    full = f"{prefix}.{name}"
    return full + message[len(name) :] + _source_note(node, name, full)


def _source_note(node: DictConfig, name: str, full: str) -> str:
    """`` (model.img_size is taken from data.img_size: set that)`` when ``node[name]`` is an
    interpolation of another key, which is the one a user sets; else ``""``."""
    raw = OmegaConf.to_container(node, resolve=False).get(name)
    source = re.fullmatch(r"\$\{([\w.]+)\}", raw) if isinstance(raw, str) else None
    return "" if source is None else f" ({full} is taken from {source.group(1)}: set that)"
