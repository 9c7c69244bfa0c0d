"""Import the checkpoints released with the original StarGAN v2 code.

The original code saves one file per group of nets, each a dict keyed by net name:

* ``<iter>_nets_ema.ckpt``: ``generator``, ``mapping_network``, ``style_encoder`` (EMA weights)
  and, in the released files, ``fan``: the frozen face-landmark net. It is kept for models with
  the high-pass skip (``w_hpf > 0``, CelebA-HQ), so a converted model needs no other file
  (``wing.ckpt`` given as ``fan_path`` replaces it), and ignored otherwise (AFHQ);
* ``<iter>_nets.ckpt`` (optional): the online ``generator``, ``mapping_network``,
  ``style_encoder`` and ``discriminator`` (its copy of ``fan`` is not used);
* ``<iter>_optims.ckpt`` (optional): their Adam states under the same names.

Tensor names match this package's nets (``nets_ema.generator.<key>`` etc.), possibly prefixed
with ``module.`` (saved from ``DataParallel``). The 2020 CelebA-HQ release lacks the generator's
``hpf.filter`` buffer, which is a constant and is filled in.

The architecture (``img_size``, ``num_domains``, ``latent_dim``, ``style_dim``, ``hidden_dim``,
``dim_in``, ``max_conv_dim``, ``w_hpf``) is inferred from the tensor shapes
(:func:`infer_config`). :func:`convert_checkpoint` writes a Lightning checkpoint of
:class:`~starganv2.models.stargan_v2.module.StarGANv2Module` that ``load_from_checkpoint`` reads and that
``Trainer.fit(ckpt_path=...)`` resumes (it holds optimizer states: the original ones when
``*_optims.ckpt`` is given, otherwise fresh Adam states).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch

from starganv2.models.stargan_v2.module import (
    EMA_NETS,
    MODEL_NAME,
    OPTIMIZER_ORDER,
    StarGANv2Module,
)
from starganv2.models.stargan_v2.step import NET_NAMES
from starganv2.utils.files import load_weights_file, save_torch

__all__ = [
    "ConversionError",
    "load_original",
    "refuse_library_checkpoint",
    "infer_config",
    "build_module",
    "convert_checkpoint",
    "ARCH_KEYS",
]

log = logging.getLogger(__name__)

ARCH_KEYS = (
    "img_size",
    "num_domains",
    "latent_dim",
    "style_dim",
    "hidden_dim",
    "dim_in",
    "max_conv_dim",
    "w_hpf",
)
ALL_NETS = NET_NAMES
FAN_ENTRY = "fan"
_ITER_RE = re.compile(r"^(\d+)_(nets_ema|nets|optims)\.ckpt$")

StateDicts = dict[str, dict[str, torch.Tensor]]


class ConversionError(ValueError):
    """The files do not hold a StarGAN v2 checkpoint matching the requested configuration."""


def _strip_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}


def refuse_library_checkpoint(raw: Any, path: str | os.PathLike) -> None:
    """Raise :class:`ConversionError` when ``raw`` (a loaded file) is already a checkpoint of this
    library: it needs no conversion, whichever converter (v2 or ``--v1``) it was given to."""
    if isinstance(raw, Mapping) and "state_dict" in raw and "pytorch-lightning_version" in raw:
        raise ConversionError(
            f"{path} is already a checkpoint of this library (written by starganv2-train or "
            "starganv2-convert): pass it as it is (ckpt_path=...), no conversion needed"
        )


def load_original(path: str | os.PathLike, allowed: tuple[str, ...] = ALL_NETS) -> StateDicts:
    """Load one original checkpoint file (``weights_only=True``) as ``{net name: state_dict}``.

    ``module.`` prefixes are removed; a ``fan`` entry (the face-landmark net) is accepted
    whatever ``allowed`` says. Raises :class:`ConversionError` naming the file for anything that
    is not such a dict.
    """
    path = Path(path)
    expected = "a file saved by the original StarGAN v2 code (a dict of state dicts)"
    raw = load_weights_file(path, str(path), expected, ConversionError)
    if not isinstance(raw, Mapping):
        raise ConversionError(f"{path} holds a {type(raw).__name__}, expected a dict of nets")
    refuse_library_checkpoint(raw, path)
    if raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ConversionError(
            f"{path} is a plain state dict of tensors, as the original StarGAN (v1) code saves "
            "its <iter>-G.ckpt, not a StarGAN v2 file (a dict of nets): convert it with --v1 "
            "(and --discriminator <iter>-D.ckpt)"
        )
    out: StateDicts = {}
    for name, state in raw.items():
        if name not in allowed and name != FAN_ENTRY:
            raise ConversionError(
                f"{path} has an unexpected entry {name!r}; expected some of {list(allowed)}"
                + _wrong_file_hint(name, allowed)
            )
        if not isinstance(state, Mapping):
            raise ConversionError(f"{path}: entry {name!r} is not a state dict")
        out[name] = _strip_prefix(state)
    return out


def _wrong_file_hint(name: str, allowed: tuple[str, ...]) -> str:
    """What to do when the nets_ema file holds ``name``, a net of the other files: the bare
    "unexpected entry 'discriminator'" did not say that the *_nets.ckpt or *_optims.ckpt was
    given where the *_nets_ema.ckpt goes."""
    if name in ALL_NETS and allowed == EMA_NETS:
        return (
            ": this is an *_nets.ckpt or *_optims.ckpt file; give the <iter>_nets_ema.ckpt "
            "(the other two are read from beside it, or from --nets and --optims)"
        )
    return ""


def _infer_config_of(nets: StateDicts, source: str) -> dict[str, Any]:
    """:func:`infer_config` with ``source`` (the file) named in its errors: it sees only the
    nets, so "the checkpoint lacks ['style_encoder']" named no file."""
    try:
        return infer_config(nets)
    except ConversionError as err:
        raise ConversionError(
            f"{source}: {err} (expected the EMA nets of an original <iter>_nets_ema.ckpt)"
        ) from None


def _count(state: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def _need(state: Mapping[str, Any], net: str, key: str, dims: int) -> torch.Tensor:
    """``state[key]``, or :class:`ConversionError` naming the key when it is missing or does not
    have ``dims`` dimensions (the shapes the architecture is read from)."""
    if key not in state:
        raise ConversionError(f"{net}: key {key!r} is missing; is this a StarGAN v2 checkpoint?")
    value = state[key]
    if not isinstance(value, torch.Tensor) or value.dim() != dims:
        shown = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "no tensor"
        raise ConversionError(
            f"{net}: key {key!r} has {shown}, expected {dims} dimensions; is this a StarGAN v2 "
            "checkpoint?"
        )
    return state[key]


def infer_config(nets: StateDicts) -> dict[str, Any]:
    """Architecture hyperparameters of :class:`StarGANv2Module` read from tensor shapes.

    Needs ``generator``, ``mapping_network`` and ``style_encoder``. ``w_hpf`` is ``8 /
    hpf.filter[1, 1]`` when the buffer is present, else 1 when the generator has one more
    downsampling stage than ``log2(img_size) - 4`` (the high-pass variant), else 0.
    ``max_conv_dim`` is the widest conv found (any larger value builds the same nets).
    """
    missing = [n for n in EMA_NETS if n not in nets]
    if missing:
        raise ConversionError(f"the checkpoint lacks {missing}; found {sorted(nets)}")
    g, f, e = nets["generator"], nets["mapping_network"], nets["style_encoder"]

    fc0 = _need(f, "mapping_network", "shared.0.weight", 2)  # (hidden_dim, latent_dim)
    hidden_dim, latent_dim = fc0.shape
    num_domains = _count(f, r"^unshared\.(\d+)\.")
    style_dim = _need(e, "style_encoder", "unshared.0.weight", 2).shape[0]  # (style_dim, dim_out)
    dim_in = _need(e, "style_encoder", "shared.0.weight", 4).shape[0]  # (dim_in, 3, 3, 3)
    n_resblk = _count(e, r"^shared\.(\d+)\.conv1\.weight$")
    img_size = 2 ** (n_resblk + 2)
    widths = [v.shape[0] for k, v in e.items() if k.endswith("conv2.weight")]
    max_conv_dim = max(widths, default=dim_in)

    n_encode = _count(g, r"^encode\.(\d+)\.")
    stages = n_encode - 2  # minus the two bottleneck blocks
    if "hpf.filter" in g:
        w_hpf = float(8.0 / _need(g, "generator", "hpf.filter", 2)[1, 1])
    elif stages == int(math.log2(img_size)) - 3:
        w_hpf = 1.0
    else:
        w_hpf = 0.0
    expected_stages = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
    if stages != expected_stages:
        raise ConversionError(
            f"generator has {stages} downsampling stages (keys encode.0-{n_encode - 1}) but the "
            f"style encoder implies img_size={img_size}, which needs {expected_stages} "
            f"(w_hpf={w_hpf}): the nets do not belong together"
        )
    return {
        "img_size": int(img_size),
        "num_domains": int(num_domains),
        "latent_dim": int(latent_dim),
        "style_dim": int(style_dim),
        "hidden_dim": int(hidden_dim),
        "dim_in": int(dim_in),
        "max_conv_dim": int(max_conv_dim),
        "w_hpf": w_hpf,
    }


def _match(target: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> list[str]:
    """Problems loading ``state`` into ``target``, one line each (key and both shapes)."""
    expected = target.state_dict()
    problems = []
    for key, value in expected.items():
        if key in state and not isinstance(state[key], torch.Tensor):
            problems.append(
                f"{where}: key {key!r} is a {type(state[key]).__name__} in the file, expected a "
                f"tensor of shape {tuple(value.shape)}"
            )
        elif key not in state:
            problems.append(
                f"{where}: key {key!r} (shape {tuple(value.shape)} in the requested config) is "
                "missing from the file"
            )
        elif tuple(state[key].shape) != tuple(value.shape):
            problems.append(
                f"{where}: key {key!r} has shape {tuple(state[key].shape)} in the file but "
                f"{tuple(value.shape)} in the requested config"
            )
    for key in state:
        if key not in expected:
            shape = getattr(state[key], "shape", None)
            problems.append(
                f"{where}: key {key!r} (shape {None if shape is None else tuple(shape)}) in the "
                "file has no place in the requested config"
            )
    return problems


def _fill_hpf(generator: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    """Give ``state`` the generator's constant ``hpf.filter`` where the file lacks it (the 2020
    CelebA-HQ release); whether it did."""
    if "hpf.filter" in generator.state_dict() and "hpf.filter" not in state:
        state["hpf.filter"] = generator.state_dict()["hpf.filter"].clone()
        return True
    return False


def _mismatch_error(
    source: str, problems: list[str], inferred: dict[str, Any], overrides: dict[str, Any]
) -> ConversionError:
    """The error for nets that do not fit: the requested values the file contradicts, with the
    advice to drop them; without such a request, the nets disagree with each other (an online
    nets file of another model) and there is no override to remove."""
    differ = {k: (inferred[k], overrides[k]) for k in ARCH_KEYS if k in overrides}
    differ = {k: v for k, v in differ.items() if v[0] != v[1]}
    values = ", ".join(f"{k}={inferred[k]}" for k in ARCH_KEYS)
    if differ:
        requested = "; ".join(
            f"{k}={req!r} was requested but the file has {k}={got!r}"
            for k, (got, req) in differ.items()
        )
        head = (
            f"{source} does not fit the requested configuration: {requested}. Remove those "
            f"overrides to use the values inferred from the file ({values})."
        )
    else:
        head = (
            f"{source}: the nets do not agree with each other: the keys below do not fit the "
            f"configuration inferred from the EMA nets ({values})."
        )
        if all(line.startswith("nets.") for line in problems):
            head += (
                " The online nets (*_nets.ckpt) belong to another model: pass the right one "
                "with --nets, or --no-siblings to go without."
            )
    problems = sorted(problems, key=lambda line: "has shape" not in line)  # shapes first
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return ConversionError(head + "\n" + "\n".join(shown))


def build_module(
    nets_ema: StateDicts,
    nets: StateDicts | None = None,
    source: str = "checkpoint",
    **overrides: Any,
) -> StarGANv2Module:
    """A :class:`StarGANv2Module` holding the original weights.

    Architecture hyperparameters come from :func:`infer_config`; ``overrides`` may add any other
    module argument (``lr``, ``lambda_ds``, ``total_iters``...) and may restate architecture
    values, which must then match the file: otherwise :class:`ConversionError` lists every key
    that does not fit with both shapes. A model with ``w_hpf > 0`` needs ``fan_weights`` among
    them (the file with the face-landmark net). Without ``nets`` the online G, F, E start as
    copies of the EMA nets and D keeps its fresh initialisation (logged).
    """
    inferred = _infer_config_of(nets_ema, source)
    kwargs = {**inferred, **overrides}
    module = StarGANv2Module(**kwargs)
    groups = [("nets_ema", nets_ema, module.nets_ema, EMA_NETS)]
    if nets is not None:
        missing = [n for n in ALL_NETS if n not in nets]
        if missing:
            raise ConversionError(f"the online-nets file lacks {missing}; found {sorted(nets)}")
        groups.append(("nets", nets, module.nets, ALL_NETS))
    problems, filled, loads = [], [], []
    for prefix, states, target, names in groups:
        for name in names:
            state = dict(states[name])
            if name == "generator" and _fill_hpf(target[name], state):
                filled.append(f"{prefix}.{name}")
            problems += _match(target[name], state, f"{prefix}.{name}")
            loads.append((target[name], state))
    if problems:
        raise _mismatch_error(source, problems, inferred, overrides)
    if filled:
        log.info(
            "%s: filled the missing constant buffer hpf.filter (%s)", source, ", ".join(filled)
        )
    for net, state in loads:
        net.load_state_dict(state, strict=True)
    if nets is None:
        for name in EMA_NETS:
            module.nets[name].load_state_dict(module.nets_ema[name].state_dict())
        log.info(
            "no *_nets.ckpt given: online generator, mapping network and style encoder start as "
            "copies of the EMA nets; the discriminator is freshly initialised (fine-tune it "
            "before trusting adversarial losses)"
        )
    return module


def _sibling(nets_ema_path: Path, kind: str) -> Path | None:
    name = nets_ema_path.name
    if not name.endswith("_nets_ema.ckpt"):
        return None
    candidate = nets_ema_path.with_name(name[: -len("nets_ema.ckpt")] + f"{kind}.ckpt")
    return candidate if candidate.is_file() else None


def _fan_source(
    nets_ema: StateDicts,
    nets_ema_path: Path,
    fan_path: str | os.PathLike | None,
    overrides: dict[str, Any],
) -> str | None:
    """The file the FAN's weights come from for a model with the high-pass skip (``fan_path``,
    else ``nets_ema_path`` when it has a ``fan`` entry); ``None`` without the skip."""
    has_fan = nets_ema.pop(FAN_ENTRY, None) is not None
    inferred = _infer_config_of(nets_ema, str(nets_ema_path))["w_hpf"]
    w_hpf = float(overrides.get("w_hpf", inferred))
    if (w_hpf > 0) != (inferred > 0):  # else the message below blames the file for the request
        raise ConversionError(
            f"w_hpf={overrides['w_hpf']!r} was requested but {nets_ema_path} has w_hpf={inferred} "
            f"({'a' if inferred > 0 else 'no'} high-pass skip): remove that override to use the "
            "file's value"
        )
    if w_hpf <= 0:
        if has_fan:
            log.info("%s: ignoring 'fan' (w_hpf=0: no face masks)", nets_ema_path)
        if fan_path is not None:
            log.warning("ignoring fan_path=%s: the model has w_hpf=0 (no face masks)", fan_path)
        return None
    if fan_path is not None:
        return str(fan_path)
    if "fan_weights" in overrides:  # given as a module argument
        return None
    if has_fan:
        return str(nets_ema_path)
    raise ConversionError(
        f"{nets_ema_path} has the high-pass skip (w_hpf={w_hpf}) but no 'fan' entry: pass the "
        "face-landmark net's weights with --fan wing.ckpt (fan_path=...; clovaai/stargan-v2: "
        "`bash download.sh wing` saves expr/checkpoints/wing.ckpt)"
    )


def _read_fan_option(module: StarGANv2Module, fan_path: str | os.PathLike | None) -> None:
    """Read ``--fan``'s weights into ``module.fan`` now, so that a file that is missing or not
    the FAN's is named as ``--fan`` (the module reads them later, as ``model.fan_weights``,
    its training setting, which this command has no option for)."""
    if fan_path is None or module.fan is None:
        return
    from starganv2.faces.fan import FAN

    module.fan.load_state_dict(FAN.from_file(fan_path, key="--fan").state_dict())


def _load_failure(err: ValueError | KeyError) -> str:
    """Why ``Optimizer.load_state_dict`` refused a state: a ``KeyError``'s text is the bare key
    (``'param_groups'``), so it is named as the missing key of an Adam state dict."""
    if isinstance(err, KeyError):
        return (
            f"it lacks the key {err.args[0]!r} (an optimizer state dict holds 'state' and "
            "'param_groups')"
        )
    return str(err)


def _check_moment_shapes(opt: torch.optim.Optimizer, where: str) -> None:
    """Raise :class:`ConversionError` naming the parameter and both shapes when a loaded state
    tensor (Adam's ``exp_avg``, ``exp_avg_sq``) does not have its parameter's shape.

    ``Optimizer.load_state_dict`` checks only the number of parameters, so the states of another
    architecture (an ``*_optims.ckpt`` from another run) load silently, and the first fine-tuning
    step then fails deep in Adam or crashes the process (a segmentation fault on the CPU).
    """
    for index, param in enumerate(p for group in opt.param_groups for p in group["params"]):
        for key, value in opt.state.get(param, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise ConversionError(
                    f"{where}: {key!r} of parameter {index} has shape {tuple(value.shape)} but the "
                    f"parameter has {tuple(param.shape)}: the optimizer states belong to another "
                    "model; pass the *_optims.ckpt of the same run (--optims), or leave it out "
                    "(--no-siblings, and --nets for the online nets) to start with fresh Adam "
                    "states"
                )


def convert_checkpoint(
    nets_ema_path: str | os.PathLike,
    output_path: str | os.PathLike,
    nets_path: str | os.PathLike | None = None,
    optims_path: str | os.PathLike | None = None,
    iteration: int | None = None,
    find_siblings: bool = True,
    overwrite: bool = False,
    fan_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> StarGANv2Module:
    """Convert original checkpoint files into one :class:`StarGANv2Module` checkpoint.

    Args:
        nets_ema_path: the ``*_nets_ema.ckpt`` file.
        output_path: the ``.ckpt`` to write (atomically: temporary file, then rename).
        nets_path, optims_path: the ``*_nets.ckpt`` / ``*_optims.ckpt`` files; with
            ``find_siblings`` they are picked up next to ``nets_ema_path`` when not given.
        iteration: saved as the module's iteration (default: the number that prefixes the file
            name, e.g. 100000 for ``100000_nets_ema.ckpt``, else 0). It drives the diversity
            weight schedule and ``total_iters`` when fine-tuning: pass 0 to restart the schedule.
        overwrite: replace an existing ``output_path`` (default: refuse).
        fan_path: the face-landmark net's weights (``wing.ckpt``) for a model with ``w_hpf > 0``;
            default: the ``fan`` entry of ``nets_ema_path``. The converted checkpoint holds them.
        overrides: module arguments (see :func:`build_module`).

    Returns the module (EMA and online nets loaded).
    """
    nets_ema_path, output_path = Path(nets_ema_path), Path(output_path)
    if output_path.exists() and not overwrite:
        raise FileExistsError(
            f"{output_path} exists; pass overwrite=True (--overwrite) to replace it"
        )
    if find_siblings:
        nets_path = nets_path if nets_path is not None else _sibling(nets_ema_path, "nets")
        optims_path = optims_path if optims_path is not None else _sibling(nets_ema_path, "optims")
    nets_ema = load_original(nets_ema_path, allowed=EMA_NETS)
    nets = load_original(nets_path) if nets_path is not None else None
    if nets is not None:
        nets.pop(FAN_ENTRY, None)
        missing = [n for n in ALL_NETS if n not in nets]
        if missing:  # named here: build_module does not know the file
            raise ConversionError(
                f"{nets_path} lacks {missing} (found {sorted(nets)}): expected the online nets "
                "of *_nets.ckpt; pass the right one with --nets, or --no-siblings to go without"
            )
    fan_weights = _fan_source(nets_ema, nets_ema_path, fan_path, overrides)
    if fan_weights is not None:
        overrides.setdefault("fan_weights", fan_weights)
    module = build_module(nets_ema, nets, source=str(nets_ema_path), **overrides)
    _read_fan_option(module, fan_path)

    optimizers = module.build_optimizers()
    if optims_path is not None:
        states = load_original(optims_path)
        missing = [n for n in OPTIMIZER_ORDER if n not in states]
        if missing:
            raise ConversionError(f"{optims_path} lacks optimizer states for {missing}")
        for name, opt in zip(OPTIMIZER_ORDER, optimizers):
            try:
                opt.load_state_dict(states[name])
            except (ValueError, KeyError) as e:
                raise ConversionError(
                    f"{optims_path}: optimizer state {name!r} does not fit: {_load_failure(e)}"
                ) from e
            _check_moment_shapes(opt, f"{optims_path}: optimizer state {name!r}")
        log.info("loaded the optimizer states from %s", optims_path)
    else:
        log.info("no *_optims.ckpt given: fine-tuning starts with fresh Adam states")

    if iteration is None:
        m = _ITER_RE.match(nets_ema_path.name)
        iteration = int(m.group(1)) if m else 0
    module.iteration = int(iteration)
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": L.__version__,
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "optimizer_states": [opt.state_dict() for opt in optimizers],
        "lr_schedulers": [],
        "starganv2": {
            "iteration": module.iteration,
            "model": MODEL_NAME,
            "converted_from": {
                "nets_ema": str(nets_ema_path),
                "nets": None if nets_path is None else str(nets_path),
                "optims": None if optims_path is None else str(optims_path),
                "fan": module.hparams.get("fan_weights"),
            },
        },
    }
    save_torch(checkpoint, output_path)
    log.info(
        "wrote %s (iteration %d; %s)",
        output_path,
        module.iteration,
        ", ".join(f"{k}={module.hparams[k]}" for k in ARCH_KEYS),
    )
    return module
