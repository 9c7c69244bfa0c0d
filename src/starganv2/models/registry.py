"""Models by name: which class a checkpoint holds and how to load it without knowing it first.

Checkpoints written by this library record their model's name under
``checkpoint["starganv2"]["model"]`` (checkpoints from before that field are StarGAN v2).
:func:`load_model` reads it and calls that class's ``load_from_checkpoint``.

Checkpoints are read with ``weights_only=True``. Those written before the modules saved plain
containers as hyperparameters hold OmegaConf ones (``downsample`` as a ``DictConfig``,
``skip_resolutions`` as a ``ListConfig``): :func:`omegaconf_globals` lets torch read those
classes (and no others), and :func:`read_checkpoint` turns them into plain dicts and lists.

:func:`read_checkpoint` and :func:`check_checkpoint_fits` turn the ways a file can be wrong for
training (text, truncated, foreign, another model, other net sizes) into one
:class:`CheckpointError` line naming the file and what it is, instead of torch's tracebacks.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import logging
import os
import pickle
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MODELS",
    "DEFAULT_MODEL",
    "register_model",
    "model_class",
    "checkpoint_model_name",
    "MODEL_CONFIGS",
    "check_checkpoint_path",
    "omegaconf_globals",
    "legacy_checkpoint_globals",
    "plain_containers",
    "CheckpointError",
    "read_checkpoint",
    "check_checkpoint_fits",
    "load_model",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "stargan_v2"
MODELS: dict[str, str] = {
    "stargan_v2": "starganv2.models.stargan_v2.module:StarGANv2Module",
    "stargan_v1": "starganv2.models.stargan_v1.module:StarGANv1Module",
}


MODEL_CONFIGS: dict[str, tuple[str, ...]] = {
    "stargan_v2": ("small", "starganv2"),
    "stargan_v1": ("stargan_v1",),
}
"""The ``model=`` options (``conf/model/<option>.yaml``) that build each model."""

MODEL_EXPERIMENTS: dict[str, str] = {"stargan_v2": "quick", "stargan_v1": "stargan_v1_quick"}
"""An ``experiment=`` of each model (``conf/experiment/<option>.yaml``): another model's
experiment sets arguments this one does not take, so ``model=`` alone would fail after it."""


def _model_choice(name: str) -> str:
    """The ``model=...`` that trains ``name``, as the user would type it, with an experiment of
    that model to use in place of one of another model."""
    options = MODEL_CONFIGS.get(name)
    if not options:
        return f"the model config of {name}"
    choice = " or ".join(f"model={option}" for option in options)
    experiment = MODEL_EXPERIMENTS.get(name)
    if experiment is None:
        return choice
    return f"{choice} (with an experiment of that model, e.g. experiment={experiment}, if any)"


def register_model(name: str, target: str | type) -> None:
    """Make checkpoints naming ``name`` load with ``target`` (a class or ``"module:Class"``).

    ``ValueError`` (one line naming ``name`` and the class) for a name that is not a non-empty
    string, a string target without ``:``, a class whose ``MODEL_NAME`` is another name (its
    checkpoints record ``MODEL_NAME``, so ``load_model`` would not find it under ``name``), and a
    name already registered to another class (the built-in models' included: their checkpoints
    would load into it); the same class again (a reloaded module) is fine.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} is invalid: expected a non-empty string")
    if isinstance(target, str):
        if target.count(":") != 1:
            raise ValueError(
                f"model {name!r}: target={target!r} is invalid: expected 'module:Class'"
            )
        where = target
    else:
        where = f"{target.__module__}:{target.__qualname__}"
        own = getattr(target, "MODEL_NAME", None)
        if own != name:
            raise ValueError(
                f"model {name!r}: {where} has MODEL_NAME={own!r}, which its checkpoints record; "
                f"set MODEL_NAME = {name!r} on the class or register it as {own!r}"
            )
    known = MODELS.get(name)
    if known is not None and known != where:
        raise ValueError(
            f"model {name!r} is already registered to {known}; {where} must use another name"
        )
    MODELS[name] = where


def model_class(name: str) -> type:
    """The LightningModule class registered as ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    module, attr = MODELS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def checkpoint_model_name(checkpoint: dict[str, Any]) -> str:
    """The model name a checkpoint dict records (``stargan_v2`` for older checkpoints)."""
    return str(checkpoint.get("starganv2", {}).get("model", DEFAULT_MODEL))


def _checkpoint_in(folder: Path) -> Path | None:
    """A checkpoint in ``folder`` (a run folder or its ``checkpoints``): ``last.ckpt``, else the
    newest by name (``iter_*.ckpt`` are zero-padded), else ``None``."""
    for where in (folder / "checkpoints", folder):
        if (where / "last.ckpt").is_file():
            return where / "last.ckpt"
        found = sorted(p for p in where.glob("*.ckpt") if p.is_file())
        if found:
            return found[-1]
    return None


def check_checkpoint_path(ckpt_path: str | os.PathLike) -> Path:
    """``ckpt_path`` as a ``Path``, or ``FileNotFoundError`` naming the key when it is no file
    (a folder: naming a checkpoint in it, where there is one)."""
    path = Path(ckpt_path)
    if path.is_dir():
        found = _checkpoint_in(path)
        hint = (
            f"pass a file in it, e.g. ckpt_path={str(found)!r}"
            if found is not None
            else "it holds no *.ckpt file (nor does a checkpoints/ folder in it)"
        )
        raise FileNotFoundError(
            f"ckpt_path={str(ckpt_path)!r} is a folder, not a checkpoint file: {hint}"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={str(ckpt_path)!r}: no such checkpoint file (original StarGAN v2 files "
            "must be converted first: starganv2-convert <iter>_nets_ema.ckpt out.ckpt)"
        )
    return path


def omegaconf_globals() -> list[Any]:
    """What ``torch.load(weights_only=True)`` must be allowed to read OmegaConf containers (found
    by loading pickled ``DictConfig``/``ListConfig`` values until torch named no other): their
    classes and node types, ``typing.Any`` and the builtin types their metadata refer to."""
    from omegaconf import DictConfig, ListConfig, base, nodes

    return [
        DictConfig,
        ListConfig,
        base.ContainerMetadata,
        base.Metadata,
        nodes.AnyNode,
        nodes.StringNode,
        nodes.IntegerNode,
        nodes.FloatNode,
        nodes.BooleanNode,
        typing.Any,
        collections.defaultdict,
        dict,
        list,
        int,
        float,
        str,
        bool,
    ]


@contextlib.contextmanager
def legacy_checkpoint_globals() -> Iterator[None]:
    """Within it, ``torch.load(weights_only=True)`` (also Lightning's, which leaves
    ``weights_only`` to torch) reads the OmegaConf containers of older checkpoints'
    hyperparameters: :func:`omegaconf_globals`, and nothing else."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    with contextlib.nullcontext() if safe_globals is None else safe_globals(omegaconf_globals()):
        yield


def plain_containers(value: Any) -> Any:
    """``value`` with every OmegaConf container in it (nested in dicts, lists and tuples) turned
    into plain dicts and lists, interpolations left unresolved."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=False)
    if isinstance(value, dict):
        return {k: plain_containers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain_containers(v) for v in value)
    return value


class CheckpointError(ValueError):
    """A file that is no usable checkpoint for this run (bad input: reported in one line)."""


_ZIP_MAGIC = b"PK\x03\x04"


def _what_it_is(path: Path, err: BaseException) -> str:
    """What an unloadable ``path`` holds, judged from its first bytes and torch's error."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(64)
    if size == 0:
        return "is empty"
    if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err):
        return "is a PyTorch file holding Python objects, not a checkpoint of this library"
    if head.startswith(_ZIP_MAGIC):
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return (
            f"is a damaged or truncated checkpoint ({size} bytes; torch cannot read it: {reason})"
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"is not a PyTorch checkpoint ({size} bytes of unknown content)"
    first = text.splitlines()[0][:40] if text.strip() else ""
    return f"is a text file, not a checkpoint (it begins {first!r})"


def _name(key: str, path: str | os.PathLike) -> str:
    """``ckpt_path='x.ckpt'`` for a key, ``resume=auto: 'x.ckpt'`` for a setting."""
    return f"{key}: {str(path)!r}" if "=" in key else f"{key}={str(path)!r}"


def _is_v1_original(checkpoint: Any) -> bool:
    """Whether ``checkpoint`` looks like the original StarGAN (v1) code's ``<iter>-G.ckpt`` or
    ``-D.ckpt``: a plain state dict of tensors with ``main.<i>`` keys. Such a file was sent to
    the StarGAN v2 command (``starganv2-convert <iter>_nets_ema.ckpt``)."""
    return (
        isinstance(checkpoint, dict)
        and bool(checkpoint)
        and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
        and any(str(k).removeprefix("module.").startswith("main.") for k in checkpoint)
    )


def read_checkpoint(ckpt_path: str | os.PathLike, key: str = "ckpt_path") -> dict[str, Any]:
    """The checkpoint dict of a file this library wrote, tensors memory-mapped on the CPU.

    Raises ``FileNotFoundError`` when there is no file and :class:`CheckpointError` (one line:
    ``key``, the path, what the file is) when it is empty, text, truncated, or a PyTorch file that
    is no training checkpoint (no ``state_dict``, e.g. an original StarGAN v2 file).
    """
    path = check_checkpoint_path(ckpt_path)
    name = _name(key, path)
    try:
        with legacy_checkpoint_globals():
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch.load fails in many ways on foreign bytes; each is described
        raise CheckpointError(f"{name} {_what_it_is(path, err)}") from err
    if (
        isinstance(checkpoint, dict)
        and "generator" in checkpoint
        and "state_dict" not in checkpoint
    ):
        raise CheckpointError(
            f"{name} is an original StarGAN v2 file, no training checkpoint of this library "
            f"(found nets {sorted(map(str, checkpoint))[:6]}): convert it first with "
            "starganv2-convert <iter>_nets_ema.ckpt out.ckpt and pass out.ckpt"
        )
    if _is_v1_original(checkpoint):
        raise CheckpointError(
            f"{name} is an original StarGAN (v1) file, no training checkpoint of this library "
            "(a plain state dict of tensors): convert it first with starganv2-convert "
            "<iter>-G.ckpt out.ckpt (--v1 for other file names) and pass out.ckpt"
        )
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        found = sorted(map(str, checkpoint))[:6] if isinstance(checkpoint, dict) else None
        raise CheckpointError(
            f"{name} is a PyTorch file but no training checkpoint (expected a "
            f"'state_dict' entry, found {found if found is not None else type(checkpoint)}; "
            "original StarGAN v2 files must be converted first: starganv2-convert "
            "<iter>_nets_ema.ckpt out.ckpt)"
        )
    for entry in ("hyper_parameters", "datamodule_hyper_parameters"):
        if entry in checkpoint:
            checkpoint[entry] = plain_containers(checkpoint[entry])
    return checkpoint


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if hasattr(value, "shape") else None


def check_checkpoint_fits(
    checkpoint: dict[str, Any], model: Any, path: str | os.PathLike, key: str = "ckpt_path"
) -> None:
    """Raise :class:`CheckpointError` (one line naming both sides) when ``checkpoint`` holds
    another model than ``model`` (a ``LightningModule`` with ``MODEL_NAME``) or nets of other
    sizes; the settings that differ (``hyper_parameters``) are listed to say which. A setting the
    model cannot change on resume (its ``FIXED_SETTINGS``) is a ``ValueError`` naming it."""
    name = _name(key, path)
    theirs = checkpoint_model_name(checkpoint)
    mine = getattr(model, "MODEL_NAME", None)
    if mine is not None and theirs != mine:
        cls = MODELS.get(theirs, "an unregistered class").rsplit(":", 1)[-1]
        raise CheckpointError(
            f"{name} holds a {theirs} model ({cls}) but this run trains {mine} "
            f"({type(model).__name__}): choose {_model_choice(theirs)}, or another checkpoint"
        )
    fixed = getattr(model, "_check_fixed_settings", None)
    if fixed is not None:  # another variant of the same sizes, named by its setting; first, as
        fixed(checkpoint)  # migrating it would ask for weights (a FAN) the checkpoint never used
    migrate = getattr(model, "migrate_checkpoint", None)
    if migrate is not None:  # what loading will do first: an older checkpoint is brought up to date
        checkpoint = {**checkpoint, "state_dict": dict(checkpoint["state_dict"])}
        migrate(checkpoint)
    ours = model.state_dict()
    saved = checkpoint["state_dict"]
    differ = [k for k in ours if k in saved and _shape(ours[k]) != _shape(saved[k])]
    strict = getattr(model, "strict_loading", True)
    missing = [k for k in ours if k not in saved] if strict else []
    extra = [k for k in saved if k not in ours] if strict else []
    if not (differ or missing or extra):
        return
    if differ:
        k = differ[0]
        example = f"e.g. {k} is {_shape(saved[k])} there, {_shape(ours[k])} here"
    else:
        example = f"e.g. {(missing or extra)[0]} is {'missing there' if missing else 'extra'}"
    settings = _differing_settings(checkpoint.get("hyper_parameters", {}), model)
    raise CheckpointError(
        f"{name} holds {mine or theirs} nets of other sizes than this run's "
        f"({len(differ)} tensors of other shapes, {len(missing)} missing, {len(extra)} extra; "
        f"{example}); settings that differ: {'; '.join(settings) or 'none recorded'}"
    )


def _differing_settings(saved: Mapping[str, Any], model: Any) -> list[str]:
    """``key=value there, value here`` for each setting of ``model`` (its ``hparams``) that the
    checkpoint's ``saved`` settings give another value. A ``None`` that the model fills in
    (``model.resolved_settings``, e.g. StarGAN v1's ``d_repeat_num`` from ``img_size``) is
    compared as the value it stands for, and shown as ``5 (null: the default)``: a bare ``None``
    would read as a setting that is missing, and ``5`` against ``null`` is no difference."""
    hparams = dict(getattr(model, "hparams", {}))
    resolve = getattr(model, "resolved_settings", None)
    ours, theirs = (dict(h) if resolve is None else resolve(h) for h in (hparams, saved))

    def shown(raw: Mapping[str, Any], resolved: Mapping[str, Any], k: str) -> str:
        if raw.get(k) is None and resolved.get(k) is not None:
            return f"{resolved[k]!r} (null: the default)"
        return repr(resolved.get(k))

    return [
        f"{k}={shown(saved, theirs, k)} there, {shown(hparams, ours, k)} here"
        for k in saved
        if k in ours and ours[k] != theirs[k]
    ]


def _check_map_location(map_location: Any) -> None:
    """``ValueError`` naming ``map_location`` when it is a CUDA device this machine lacks: torch
    fails deep inside loading, which would read as a fault of the checkpoint. A dict or function
    ``map_location`` is left to torch (its error is reported by :func:`load_model`)."""
    if not isinstance(map_location, (str, torch.device)):
        return
    try:
        device = torch.device(map_location)
    except RuntimeError as err:
        raise ValueError(
            f"map_location={map_location!r} is no device ({err}); pass e.g. 'cpu' or 'cuda'"
        ) from err
    if device.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise ValueError(
            f"map_location={map_location!r} but torch.cuda.is_available() is False: this "
            "machine has no usable CUDA device; load with map_location='cpu'"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"map_location={map_location!r} but torch.cuda.device_count() is "
            f"{torch.cuda.device_count()}; pass a device index below that"
        )


def _check_mask_provider_known(checkpoint: Mapping[str, Any], name: str) -> None:
    """``CheckpointError`` naming the file when its model was built with a mask provider that is
    not registered in this process (one of your own, registered by code not imported here):
    building the model said only ``mask_provider='x' is invalid``, naming neither the file nor
    what to do."""
    from starganv2.models.masks import MASK_PROVIDERS

    provider = checkpoint.get("hyper_parameters", {}).get("mask_provider")
    if isinstance(provider, str) and provider not in MASK_PROVIDERS:
        raise CheckpointError(
            f"{name} was trained with mask_provider={provider!r}, which is not registered here "
            f"(known: {sorted(MASK_PROVIDERS)}): import the code that calls "
            f"register_mask_provider({provider!r}, ...) before loading it"
        )


def load_model(ckpt_path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """The model of a checkpoint written by this library (or by ``starganv2-convert``), in eval
    mode, whatever its class.

    Raises ``FileNotFoundError`` naming ``ckpt_path`` when there is no such file, and
    :class:`CheckpointError` (one line naming the file and what it holds) when it is no checkpoint
    of this library: text, empty, truncated, a foreign PyTorch file or an unconverted original
    StarGAN v2 file (:func:`read_checkpoint`, as training reports them). A ``map_location`` this
    machine has no device for (``"cuda"`` without CUDA) is a ``ValueError`` naming it.
    """
    peek = read_checkpoint(ckpt_path)
    path, name = Path(ckpt_path), _name("ckpt_path", ckpt_path)
    if "pytorch-lightning_version" not in peek:
        raise CheckpointError(
            f"{name} holds a 'state_dict' but was not written by this library (no "
            "'pytorch-lightning_version' entry); pass a checkpoint from starganv2-train or "
            "starganv2-convert"
        )
    model_name = checkpoint_model_name(peek)
    if model_name not in MODELS:  # a model of one's own, registered by code not imported here
        raise CheckpointError(
            f"{name} holds an unknown model {model_name!r}; known: {sorted(MODELS)}: import the "
            f"code that calls register_model({model_name!r}, ...) before loading it"
        )
    cls = model_class(model_name)
    _check_mask_provider_known(peek, name)
    del peek
    _check_map_location(map_location)
    try:
        with legacy_checkpoint_globals():
            model = cls.load_from_checkpoint(path, map_location=map_location)
    except RuntimeError as err:  # load_state_dict: the tensors do not fit the recorded model
        first = str(err).splitlines()[0]
        if first.startswith("Attempting to deserialize object on"):  # torch: no such device
            raise ValueError(
                f"map_location={map_location!r} names a device this machine lacks: {first}"
            ) from err
        raise CheckpointError(f"{name} does not load into {cls.__name__}: {first}") from err
    log.info("loaded %s (%s, iteration %d)", path, cls.__name__, getattr(model, "iteration", 0))
    return model.eval()
