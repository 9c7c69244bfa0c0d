"""Import the checkpoints of the original StarGAN (v1) code.

The original code saves, every ``model_save_step`` iterations, two plain state dicts:
``<iter>-G.ckpt`` (the generator, keys ``main.<i>...``) and ``<iter>-D.ckpt`` (the
discriminator, keys ``main.<i>...``, ``conv1.weight``, ``conv2.weight``); no optimizer states.
Their layer order and names are those of :mod:`starganv2.models.stargan_v1.nets`, so they load
with ``strict=True`` into ``nets.generator`` / ``nets.discriminator`` of a
:class:`~starganv2.models.stargan_v1.module.StarGANv1Module`. Files saved before PyTorch 0.4.1
lack the instance norms' ``num_batches_tracked`` counters, which are unused and filled in with 0.

The architecture is read from the tensor shapes (:func:`infer_v1_config`): ``num_domains``
(``c_dim``), ``g_conv_dim``, ``g_repeat_num`` from G; ``img_size``, ``d_conv_dim``,
``d_repeat_num`` from D. The generator alone does not fix the image size (it is fully
convolutional): without ``-D.ckpt``, pass ``img_size``.

Label layouts (see ``docs/baselines.md``):

- single-label data (RaFD-style, one-hot labels, cross-entropy): fits exactly; domain ``i`` is
  label ``i``.
- CelebA (``c_dim=5`` multi-hot attributes: black, blond, brown hair, male, young; trained with
  binary cross-entropy): convert with ``labels="celeba"`` (``starganv2-convert --labels celeba``),
  which stores ``label_mode="multi"``, the five attribute names and the hair colours as an
  exclusive group (:data:`LABEL_PRESETS`). The result is driven by attribute vectors
  (``translate_labels``; ``starganv2-sample`` draws the original's test grid) and fine-tunes with
  the original's binary cross-entropy. Without the preset the weights load as five single-label
  domains, i.e. five attribute *combinations* (domain 3 = male, old, no hair colour set).
- the two-dataset model (``--dataset Both``: CelebA and RaFD labels with a 2-entry mask vector,
  G has ``c_dim + c2_dim + 2`` label channels and D ``c_dim + c2_dim`` logits) does not fit:
  its labels are two label sets switched by the mask, which single-label domains cannot express;
  :func:`infer_v1_config` refuses it when D is given.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch

from starganv2.interop.original import ConversionError, refuse_library_checkpoint
from starganv2.models.stargan_v1.module import MODEL_NAME, StarGANv1Module
from starganv2.utils.files import load_weights_file, save_torch

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CELEBA_EXCLUSIVE",
    "LABEL_PRESETS",
    "V1_ARCH_KEYS",
    "V1_FILE",
    "is_v1_generator_file",
    "load_v1_state_dict",
    "infer_v1_config",
    "build_v1_module",
    "convert_v1_checkpoint",
]

log = logging.getLogger(__name__)

V1_FILE = re.compile(r"^(\d+)-([GD])\.(ckpt|pth)$")
"""``<iter>-G.ckpt`` / ``<iter>-D.ckpt`` (``.pth`` in early versions of the original code)."""
V1_ARCH_KEYS = (
    "img_size",
    "num_domains",
    "g_conv_dim",
    "d_conv_dim",
    "g_repeat_num",
    "d_repeat_num",
)
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
"""The attributes of the original's CelebA model, in its label order (``--selected_attrs``)."""
CELEBA_EXCLUSIVE = (("Black_Hair", "Blond_Hair", "Brown_Hair"),)
"""The hair colours: the original's test labels set one of them and clear the others."""
LABEL_PRESETS: dict[str, dict[str, Any]] = {
    "celeba": {
        "label_mode": "multi",
        "attributes": list(CELEBA_ATTRIBUTES),
        "exclusive": [list(g) for g in CELEBA_EXCLUSIVE],
    },
}
"""Module arguments of the released models' label layouts (``labels=`` of the conversion)."""
_RESBLOCK = re.compile(r"^main\.(\d+)\.main\.0\.weight$")
_D_CONV = re.compile(r"^main\.(\d+)\.weight$")

State = dict[str, torch.Tensor]


def is_v1_generator_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like the original StarGAN (v1) generator file ``<iter>-G.ckpt``."""
    m = V1_FILE.match(Path(path).name)
    return m is not None and m.group(2) == "G"


def load_v1_state_dict(path: str | os.PathLike) -> State:
    """Load one original file (``weights_only=True``) as a state dict; ``module.`` prefixes
    (``DataParallel``) are removed. :class:`ConversionError` names the file for anything else."""
    path = Path(path)
    expected = "a state dict saved by the original StarGAN code (<iter>-G.ckpt)"
    raw = load_weights_file(path, str(path), expected, ConversionError)
    refuse_library_checkpoint(raw, path)
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ConversionError(
            f"{path} is not a plain state dict of tensors (as the original StarGAN code saves); "
            "StarGAN v2 files (<iter>_nets_ema.ckpt) convert without --v1"
        )
    return {k.removeprefix("module."): v for k, v in raw.items()}


def _need(state: Mapping[str, torch.Tensor], net: str, key: str) -> torch.Tensor:
    if key not in state:
        raise ConversionError(
            f"{net}: key {key!r} is missing; is this an original StarGAN (v1) {net} file?"
        )
    return state[key]


def infer_v1_config(g: State, d: State | None = None) -> dict[str, Any]:
    """Architecture arguments of :class:`StarGANv1Module` read from tensor shapes.

    From G: ``num_domains`` and ``g_conv_dim`` (``main.0.weight`` is ``(g_conv_dim, 3 + c_dim,
    7, 7)``), ``g_repeat_num`` (residual blocks). From D, when given: ``d_conv_dim``,
    ``d_repeat_num`` (its stride-2 convs) and ``img_size`` (``conv2``'s kernel times
    ``2**d_repeat_num``). Raises :class:`ConversionError` when D's number of domain logits does
    not match G's label channels (the two-dataset mask-vector layout, or nets from two models).
    """
    first = _need(g, "generator", "main.0.weight")  # (g_conv_dim, 3 + c_dim, 7, 7)
    if first.dim() != 4 or first.shape[1] <= 3:
        raise ConversionError(
            f"generator: main.0.weight has shape {tuple(first.shape)}, expected "
            "(g_conv_dim, 3 + c_dim, 7, 7)"
        )
    config: dict[str, Any] = {
        "num_domains": int(first.shape[1]) - 3,
        "g_conv_dim": int(first.shape[0]),
        "g_repeat_num": len([k for k in g if _RESBLOCK.match(k)]),
    }
    if d is None:
        return config
    conv2 = _need(d, "discriminator", "conv2.weight")  # (c_dim, dim, k, k)
    d_convs = sorted(int(m.group(1)) for k in d if (m := _D_CONV.match(k)))
    if not d_convs:
        raise ConversionError("discriminator: no main.<i>.weight keys; is this a -D.ckpt file?")
    d_classes = int(conv2.shape[0])
    if d_classes != config["num_domains"]:
        hint = (
            " G has 2 label channels more than D has domain logits: this is the original's "
            "two-dataset model (--dataset Both: CelebA and RaFD labels with a mask vector), "
            "whose labels do not map to single-label domains."
            if config["num_domains"] == d_classes + 2
            else " The files do not belong to the same model."
        )
        raise ConversionError(
            f"generator takes {config['num_domains']} label channels (main.0.weight "
            f"{tuple(first.shape)}) but the discriminator has {d_classes} domain logits "
            f"(conv2.weight {tuple(conv2.shape)}).{hint}"
        )
    d_repeat_num = len(d_convs)
    config.update(
        d_conv_dim=int(d["main.0.weight"].shape[0]),
        d_repeat_num=d_repeat_num,
        img_size=int(conv2.shape[-1]) * 2**d_repeat_num,
    )
    return config


def _check_label_preset(labels: str, g: State, g_path: Path) -> None:
    """:class:`ConversionError` naming ``labels`` when the generator in ``g_path`` does not take
    as many labels as the preset has attributes: the module's own check blamed "attributes",
    which the user had not given, and said nothing of ``--labels``."""
    names = LABEL_PRESETS[labels]["attributes"]
    num_domains = infer_v1_config(g)["num_domains"]
    if num_domains != len(names):
        raise ConversionError(
            f"{g_path}: labels={labels!r} (--labels {labels}) is the layout of a generator "
            f"with {len(names)} label channels ({', '.join(names)}), but this one takes "
            f"{num_domains}: it is not that released model. Drop --labels: the file converts as "
            f"{num_domains} single-label domains, or as attribute vectors with its own names "
            "(--set label_mode=multi --set attributes=[a,b,...])"
        )


def _fill_counters(net: torch.nn.Module, state: State, where: str) -> State:
    """Add the ``num_batches_tracked`` buffers that files from PyTorch < 0.4.1 lack."""
    state = dict(state)
    filled = [
        k
        for k, v in net.state_dict().items()
        if k.endswith("num_batches_tracked") and k not in state
    ]
    for key in filled:
        state[key] = torch.zeros((), dtype=torch.long)
    if filled:
        log.info("%s: filled %d missing num_batches_tracked counters with 0", where, len(filled))
    return state


def _problems(net: torch.nn.Module, state: State, where: str) -> list[str]:
    expected = net.state_dict()
    out = [
        f"{where}: key {k!r} (shape {tuple(v.shape)}) is missing from the file"
        for k, v in expected.items()
        if k not in state
    ]
    out += [
        f"{where}: key {k!r} has shape {tuple(state[k].shape)} in the file but "
        f"{tuple(v.shape)} in the requested config"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    out += [f"{where}: key {k!r} in the file has no place here" for k in state if k not in expected]
    return out


def build_v1_module(
    g: State, d: State | None = None, source: str = "checkpoint", **overrides: Any
) -> StarGANv1Module:
    """A :class:`StarGANv1Module` holding the original weights.

    Architecture arguments come from :func:`infer_v1_config`; ``overrides`` may add any other
    module argument (``total_iters``, ``g_lr``...) and must give ``img_size`` when ``d`` is
    ``None``. Restated architecture values must match the file: otherwise
    :class:`ConversionError` lists every key that does not fit. Without ``d``, D keeps its fresh
    initialisation (logged).
    """
    inferred = infer_v1_config(g, d)
    if "img_size" not in inferred and "img_size" not in overrides:
        raise ConversionError(
            f"{source}: the generator alone does not fix the image size (it is fully "
            "convolutional) and no -D.ckpt was given; pass img_size (e.g. --set img_size=128 "
            "for the released CelebA 128x128 model)"
        )
    try:
        module = StarGANv1Module(**{**inferred, **overrides})
    except ValueError as e:  # a requested value that cannot hold the file's nets
        raise ConversionError(
            f"{source}: {e}. Inferred from the file: "
            + ", ".join(f"{k}={v}" for k, v in inferred.items())
            + f"; requested: {overrides}"
        ) from e
    pairs = [("generator", g)] + ([("discriminator", d)] if d is not None else [])
    states = {name: _fill_counters(module.nets[name], s, name) for name, s in pairs}
    problems = [p for name, s in states.items() for p in _problems(module.nets[name], s, name)]
    if problems:
        differ = [
            f"{k}={overrides[k]!r} was requested but the file has {k}={inferred[k]!r}"
            for k in V1_ARCH_KEYS
            if k in overrides and k in inferred and overrides[k] != inferred[k]
        ]
        hint = "; ".join(differ) or "the file does not have the original's layer layout"
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise ConversionError(
            f"{source} does not fit the requested configuration: {hint}. Inferred from the file: "
            + ", ".join(f"{k}={v}" for k, v in inferred.items())
            + ".\n"
            + "\n".join(shown)
        )
    for name, state in states.items():
        module.nets[name].load_state_dict(state, strict=True)
    if d is None:
        log.info(
            "no -D.ckpt given: the discriminator is freshly initialised (fine-tune it before "
            "trusting adversarial losses)"
        )
    return module


def convert_v1_checkpoint(
    g_path: str | os.PathLike,
    output_path: str | os.PathLike,
    d_path: str | os.PathLike | None = None,
    iteration: int | None = None,
    find_siblings: bool = True,
    overwrite: bool = False,
    labels: str | None = None,
    **overrides: Any,
) -> StarGANv1Module:
    """Convert original ``<iter>-G.ckpt`` (and ``<iter>-D.ckpt``) into one
    :class:`StarGANv1Module` checkpoint, which ``load_model``, sample, eval, export, translate and
    ``starganv2-train ckpt_path=...`` accept.

    Args:
        g_path: the generator file.
        output_path: the ``.ckpt`` to write (atomically: temporary file, then rename).
        d_path: the discriminator file; with ``find_siblings`` the ``<iter>-D.ckpt`` next to
            ``g_path`` is picked up when not given.
        iteration: saved as the module's iteration (default: the number in the file name, e.g.
            200000, else 0). The G schedule, the learning-rate decay and ``total_iters`` follow
            it when fine-tuning: pass 0 to restart them.
        overwrite: replace an existing ``output_path`` (default: refuse).
        labels: a label layout of :data:`LABEL_PRESETS` (``"celeba"``: the released CelebA
            model's five attributes, driven by attribute vectors); ``None``: single-label domains.
        overrides: module arguments (see :func:`build_v1_module`); they win over ``labels``.

    The original saves no optimizer states: fine-tuning starts with fresh Adam states.
    """
    g_path, output_path = Path(g_path), Path(output_path)
    own_names = "attributes" in overrides  # a layout of its own: no check against the preset
    if labels is not None:
        if labels not in LABEL_PRESETS:
            raise ConversionError(
                f"labels={labels!r}: expected one of {sorted(LABEL_PRESETS)} or none"
            )
        overrides = {**LABEL_PRESETS[labels], **overrides}
    if output_path.exists() and not overwrite:
        raise FileExistsError(
            f"{output_path} exists; pass overwrite=True (--overwrite) to replace it"
        )
    m = V1_FILE.match(g_path.name)
    if d_path is None and find_siblings and m is not None:
        sibling = g_path.with_name(f"{m.group(1)}-D.{m.group(3)}")
        d_path = sibling if sibling.is_file() else None
    g = load_v1_state_dict(g_path)
    d = load_v1_state_dict(d_path) if d_path is not None else None
    if labels is not None and not own_names:
        _check_label_preset(labels, g, g_path)
    module = build_v1_module(g, d, source=str(g_path), **overrides)
    module.iteration = int(iteration if iteration is not None else (m.group(1) if m else 0))
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": L.__version__,
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "optimizer_states": [opt.state_dict() for opt in module.build_optimizers()],
        "lr_schedulers": [],
        "starganv2": {
            "iteration": module.iteration,
            "model": MODEL_NAME,
            "converted_from": {
                "generator": str(g_path),
                "discriminator": None if d_path is None else str(d_path),
            },
        },
    }
    save_torch(checkpoint, output_path)
    log.info(
        "wrote %s (StarGAN v1, iteration %d; %s)",
        output_path,
        module.iteration,
        ", ".join(f"{k}={module.hparams[k]}" for k in V1_ARCH_KEYS),
    )
    return module
