"""``NetSummary``: one block at the start of training that says what each net is and whether it
trains.

Lightning's model summary table showed FLOPs 0 (it measures them only for an
``example_input_array``) and two rows, ``nets`` and ``nets_ema``, both "train" mode, although the
averaged (EMA) copies are frozen and in eval mode; the face-landmark net, frozen too, was not
named. This callback takes its place: being a ``ModelSummary``, Lightning adds no summary of
its own beside it. On rank 0, once per ``fit``, it logs::

    nets of StarGANv2Module:
      net                       type            parameters  trainable  mode
      nets.generator            Generator           95,747        all  train
      ...
      nets.discriminator        Discriminator      177,363        all  train
      nets_ema.generator        Generator           95,747       none  eval   EMA copy of nets.generator
      ...
      fan                       FAN             (with w_hpf > 0)  none  eval   frozen
      total: 837,689 parameters (3.2 MB), 507,526 trainable

(the quick run's nets). A row is a net: an entry of a ``ModuleDict`` attribute (``nets``,
``nets_ema``) or any other direct submodule that holds parameters; its name is its state-dict
prefix. The training command leaves the callback out under
``trainer.enable_model_summary=false``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightning as L
from lightning.pytorch.callbacks import ModelSummary
from torch import nn

__all__ = ["NetSummary", "NetRow", "net_rows", "format_summary"]

log = logging.getLogger(__name__)

EMA_CONTAINER = "nets_ema"
"""The attribute that holds the averaged copies of ``nets`` (see :mod:`starganv2.models.base`)."""


@dataclass(frozen=True)
class NetRow:
    """One net of a module: ``name`` is its state-dict prefix (``nets.generator``), ``kind`` its
    class name, ``params``/``trainable`` its parameter counts, ``training`` its mode and
    ``note`` what it is for when it is not an ordinary trained net."""

    name: str
    kind: str
    params: int
    trainable: int
    bytes: int
    training: bool
    note: str


def net_rows(module: nn.Module) -> list[NetRow]:
    """The nets of ``module``, in attribute order: each entry of a ``ModuleDict`` attribute, and
    each other direct submodule with parameters. EMA copies (under ``nets_ema``) say whose copy
    they are; the submodules a :class:`~starganv2.models.base.TranslationModule` lists in
    ``FROZEN_NETS`` say ``frozen``."""
    frozen = set(getattr(module, "FROZEN_NETS", ()))
    rows = []
    for attr, child in module.named_children():
        entries = child.items() if isinstance(child, nn.ModuleDict) else [(None, child)]
        for key, net in entries:
            params = list(net.parameters())
            if not params:
                continue
            name = attr if key is None else f"{attr}.{key}"
            if attr == EMA_CONTAINER:
                note = f"EMA copy of nets.{key}"
            elif attr in frozen:
                note = "frozen"
            else:
                note = ""
            rows.append(
                NetRow(
                    name=name,
                    kind=type(net).__name__,
                    params=sum(p.numel() for p in params),
                    trainable=sum(p.numel() for p in params if p.requires_grad),
                    bytes=sum(p.numel() * p.element_size() for p in params),
                    training=net.training,
                    note=note,
                )
            )
    return rows


def _trainable(row: NetRow) -> str:
    if row.trainable == row.params:
        return "all"
    return "none" if row.trainable == 0 else f"{row.trainable:,}"


def format_summary(title: str, rows: list[NetRow]) -> str:
    """The summary block: ``title``, a table of ``rows`` and the totals (parameters, their size
    in MB, how many are trainable)."""
    header = ("net", "type", "parameters", "trainable", "mode", "")
    cells = [
        (r.name, r.kind, f"{r.params:,}", _trainable(r), "train" if r.training else "eval", r.note)
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    right = {2, 3}  # numbers align right

    def line(cols: tuple[str, ...]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths))
        ]
        return ("  " + "  ".join(out)).rstrip()

    total = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    size_mb = sum(r.bytes for r in rows) / 2**20
    return "\n".join(
        [
            title,
            line(header),
            *(line(c) for c in cells),
            f"  total: {total:,} parameters ({size_mb:.1f} MB), {trainable:,} trainable",
        ]
    )


class NetSummary(ModelSummary):
    """Log the nets of the module being fitted (see the module docstring) in place of
    Lightning's model summary table."""

    def __init__(self) -> None:
        super().__init__(max_depth=1)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            title = f"nets of {type(pl_module).__name__}:"
            log.info("%s", format_summary(title, net_rows(pl_module)))
