"""``StarGANv1Module``: the StarGAN baseline (Choi et al., CVPR 2018) as a LightningModule.

One ``training_step`` is one iteration of the original code (manual optimization): a D update,
and on every ``n_critic``-th iteration a G update (see :mod:`.step`). Target domains are the
batch's own labels shuffled, as in the original. The iteration counter (``self.iteration``,
saved in checkpoints), the NaN stop, logging and the checkpoint hooks are those of
:class:`~starganv2.models.base.TranslationModule`; the G schedule, the learning-rate decay and
the stop at ``total_iters`` follow that counter, so a resumed run continues exactly.

There are no style codes and no averaged weights: ``translate(x, y_trg)`` makes one output per
image and target domain with the generator itself. As in the original, whose nets are never
switched to eval mode, instance norm uses each image's own statistics in eval mode too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from starganv2.models.base import Stats, TranslationModule
from starganv2.models.domain_names import describe_domains, moved_domains
from starganv2.models.interface import MODE_ATTRIBUTE, MODE_LABEL, GuidanceModeError
from starganv2.models.named_optimizers import named_optimizers
from starganv2.models.stargan_v1.graphs import AttributeTranslator, LabelTranslator
from starganv2.models.stargan_v1.nets import Discriminator, Generator, default_d_repeat_num, one_hot
from starganv2.models.stargan_v1.step import (
    LR_DECAY_RULES,
    LossWeights,
    Nets,
    flip_labels,
    label_units,
    learning_rate,
    shuffled_labels,
    train_iteration,
)
from starganv2.models.training_checks import (
    NonFiniteLossError,
    check_adam,
    check_gradient_clipping,
    check_images,
    check_learning_rates,
    check_loss_weights,
)
from starganv2.utils.checks import check_img_size, check_int

__all__ = ["StarGANv1Module", "NonFiniteLossError", "MODEL_NAME", "TERMS"]

MODEL_NAME = "stargan_v1"
"""The model's name in checkpoints (``checkpoint["starganv2"]["model"]``) and ``model=`` configs."""
OPTIMIZER_ORDER = Nets._fields
TARGET_LABELS = ("shuffle", "batch", "flip")
LABEL_MODES = ("single", "multi")
TERMS: dict[str, tuple[str, ...]] = {
    "d": ("real", "fake", "cls", "gp"),
    "g": ("fake", "cls", "rec"),
}
"""Loss terms of each update, logged as ``train/<update>/<term>``."""


class StarGANv1Module(TranslationModule):
    """StarGAN (v1) training and inference.

    Defaults are the original code's (its ``main.py`` names in brackets where they differ).

    Args:
        img_size: square image side (power of two >= 16); set by the data config.
        num_domains: number of domains, the length of the label vectors (``c_dim``); set by the
            data config.
        g_conv_dim, d_conv_dim: first-layer widths of G and D.
        g_repeat_num: residual blocks of G.
        d_repeat_num: stride-2 convs of D; ``None``: 6 from 64 px up (the original), fewer
            below so that the trunk ends at 1x1 (5 at 32 px).
        lambda_cls: weight of the domain classification terms (D and G).
        lambda_rec: weight of G's reconstruction term.
        lambda_gp: weight of D's gradient penalty.
        n_critic: D updates per G update; G steps on iterations ``n_critic - 1, 2 n_critic - 1...``.
        total_iters: training stops when ``iteration`` reaches this (``num_iters``).
        g_lr, d_lr: Adam learning rates of G and D before decay.
        beta1, beta2: Adam betas.
        lr_decay: ``"original"``: the original's rule as written (after every
            ``lr_update_step``-th iteration of the last ``lr_decay_iters``, the rate drops by
            ``lr / lr_decay_iters``: with the defaults it ends at 0.999 of the rate, i.e. hardly
            decays); ``"linear"``: linearly to 0 over the last ``lr_decay_iters`` iterations.
        lr_decay_iters: length of the decay window (``num_iters_decay``); <= 0: no decay.
        lr_update_step: interval of the ``"original"`` rule's drops.
        target_labels: ``"shuffle"``: the batch's labels in a random order (the original);
            ``"batch"``: the data module's ``y_trg`` (single labels only: balanced over
            domains, drawn independently of the source, as for StarGAN v2); ``"flip"`` (multi
            labels only): each source's own attributes with ``flip_k`` of them changed,
            an exclusive group counting as one (:func:`~.step.flip_labels`).
        finite_check_every: check the losses for NaN/inf every this many iterations (a host
            sync; always checked before a checkpoint is written).
        label_mode: ``"single"``: one domain per image (``y_org (N,)`` int, one-hot labels,
            cross-entropy; domain folders); ``"multi"``: attribute vectors (``y_org (N,
            num_domains)`` of 1.0 / 0.0, binary cross-entropy summed over the attributes, as the
            original on CelebA; ``num_domains`` is the number of attributes). Guidance mode
            ``"attribute"``: drive it with :meth:`translate_labels`.
        attributes: the attribute names in label order (``multi`` only; ``None``: unnamed);
            set from ``data.attributes``.
        exclusive: groups of ``attributes`` of which at most one is on (the hair colours); the
            ``flip`` targets and the original's test grid keep them.
        flip_k: attributes changed per target with ``target_labels="flip"``.
        gradient_clip_val: clip each net's gradients before its optimizer steps: their norm to
            at most this (or, with ``gradient_clip_algorithm="value"``, each element to within
            +-this); ``None``: no clipping. ``+trainer.gradient_clip_val=...`` on the command
            line lands here (Lightning clips only automatically optimized modules).
        gradient_clip_algorithm: ``"norm"`` or ``"value"``, as Lightning's.

    Logging: ``train/d/{real,fake,cls,gp}`` every logged iteration, ``train/g/{fake,cls,rec}`` on
    logged iterations that update G, ``train/g_lr``, ``train/d_lr``, ``train/iteration``.
    """

    MODEL_NAME = MODEL_NAME
    FIXED_SETTINGS = ("label_mode",)  # one-hot domains or attribute vectors: same tensor shapes
    OPTIMIZER_ORDER = OPTIMIZER_ORDER
    TERMS = TERMS

    def __init__(
        self,
        img_size: int = 128,
        num_domains: int = 5,
        g_conv_dim: int = 64,
        d_conv_dim: int = 64,
        g_repeat_num: int = 6,
        d_repeat_num: int | None = None,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
        n_critic: int = 5,
        total_iters: int = 200_000,
        g_lr: float = 1e-4,
        d_lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_decay: Literal["original", "linear"] = "original",
        lr_decay_iters: int = 100_000,
        lr_update_step: int = 1000,
        target_labels: Literal["shuffle", "batch", "flip"] = "shuffle",
        finite_check_every: int = 1,
        label_mode: Literal["single", "multi"] = "single",
        attributes: Sequence[str] | None = None,
        exclusive: Sequence[Sequence[str]] = (),
        flip_k: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        super().__init__()
        check_img_size(img_size, "img_size")
        check_int(num_domains, "num_domains")
        if label_mode == "single" and num_domains < 2:
            raise ValueError(
                f"model.num_domains={num_domains!r} is invalid: expected at least 2 domains "
                "(a translation needs a source and a target domain)"
            )
        check_loss_weights(lambda_cls=lambda_cls, lambda_rec=lambda_rec, lambda_gp=lambda_gp)
        check_gradient_clipping(gradient_clip_val, gradient_clip_algorithm)
        check_int(n_critic, "n_critic")
        check_int(total_iters, "total_iters")
        check_int(lr_update_step, "lr_update_step")
        check_int(finite_check_every, "finite_check_every")
        check_learning_rates(g_lr=g_lr, d_lr=d_lr)
        check_adam(beta1, beta2)
        if lr_decay not in LR_DECAY_RULES:
            raise ValueError(
                f"lr_decay={lr_decay!r} is invalid: expected one of {list(LR_DECAY_RULES)}"
            )
        if target_labels not in TARGET_LABELS:
            raise ValueError(
                f"target_labels={target_labels!r} is invalid: expected one of {list(TARGET_LABELS)}"
            )
        # plain lists (a config passes ListConfigs), so checkpoints load with weights_only=True
        attributes = None if attributes is None else [str(a) for a in attributes]
        exclusive = [[str(a) for a in group] for group in exclusive]
        self._groups = _check_labels(
            label_mode, num_domains, target_labels, attributes, exclusive, flip_k
        )
        self.save_hyperparameters()
        self.set_nets(
            {
                "generator": Generator(
                    c_dim=num_domains, conv_dim=g_conv_dim, repeat_num=g_repeat_num
                ),
                "discriminator": Discriminator(
                    img_size=img_size,
                    c_dim=num_domains,
                    conv_dim=d_conv_dim,
                    repeat_num=d_repeat_num,
                ),
            }
        )

    @staticmethod
    def resolved_settings(hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hparams`` with the settings whose ``None`` stands for a value filled in: the
        value (``d_repeat_num``: :func:`~starganv2.models.stargan_v1.nets.default_d_repeat_num`
        of ``img_size``), so that a checkpoint saved with ``d_repeat_num=5`` and a run with
        ``null`` at 32 px (also 5) do not read as different settings."""
        out = dict(hparams)
        if out.get("d_repeat_num") is None and out.get("img_size") is not None:
            out["d_repeat_num"] = default_d_repeat_num(int(out["img_size"]))
        return out

    # ------------------------------------------------------------------ Translator protocol
    @property
    def multi_label(self) -> bool:
        """Whether the model is driven by attribute vectors (``label_mode="multi"``)."""
        return self.hparams.get("label_mode", "single") == "multi"

    @property
    def attribute_names(self) -> list[str]:
        """The attribute names in label order (``attr<i>`` where none were given)."""
        names = self.hparams.get("attributes")
        return list(names) if names else [f"attr{i}" for i in range(self.num_domains)]

    @property
    def exclusive_groups(self) -> list[tuple[int, ...]]:
        """The exclusive groups as attribute index tuples."""
        return list(self._groups)

    @property
    def has_styles(self) -> bool:
        """False: one output per image and target domain."""
        return False

    @property
    def guidance_modes(self) -> tuple[str, ...]:
        """``("label",)``; ``("attribute",)`` with ``label_mode="multi"``."""
        return (MODE_ATTRIBUTE,) if self.multi_label else (MODE_LABEL,)

    def _check_fixed_settings(self, checkpoint: dict[str, Any]) -> None:
        """Also refuse a checkpoint whose attributes this run puts at other labels
        (:meth:`_check_attribute_order`)."""
        super()._check_fixed_settings(checkpoint)
        self._check_attribute_order(checkpoint)

    def _check_attribute_order(self, checkpoint: dict[str, Any]) -> None:
        """``ValueError`` when an attribute of ``checkpoint``'s model sits at another label in
        this run's ``attributes``: the nets would go on learning it under another attribute's
        label. The attribute data module checks the same on resume from the names it saved; a
        checkpoint converted from the original's CelebA weights holds none, only the model's."""
        saved = (checkpoint.get("hyper_parameters") or {}).get("attributes")
        now = self.hparams.get("attributes")
        if not saved or not now:
            return
        saved, now = [str(a) for a in saved], [str(a) for a in now]
        moved = moved_domains(saved, now)
        if moved:
            raise ValueError(
                f"data.attributes: the checkpoint was trained with the attributes "
                f"({describe_domains(saved)}) and this run has ({describe_domains(now)}): "
                f"{moved} would change label, so the nets would learn them as other attributes; "
                f"give data.attributes in the checkpoint's order, "
                f"'data.attributes=[{','.join(saved)}]', or start a new run without the checkpoint"
            )

    def _check_label_mode(self, y_org: torch.Tensor) -> None:
        """``ValueError`` when the batch's labels are of the other ``label_mode``."""
        if (y_org.dim() == 2) != self.multi_label:
            raise ValueError(
                f"model.label_mode={self.hparams.get('label_mode', 'single')!r} but the batch's "
                f"labels y_org have shape {tuple(y_org.shape)}: attribute data (y_org (N, A)) "
                "needs model.label_mode=multi, domain folders (y_org (N,)) model.label_mode=single"
            )

    def check_first_batch(self, batch: Any) -> None:
        """The label mode first (its message says which ``label_mode`` the labels need), then
        the keys, images and domain labels as every model checks them."""
        y_org = batch.get("y_org") if isinstance(batch, Mapping) else None
        if isinstance(y_org, torch.Tensor):
            self._check_label_mode(y_org)
        super().check_first_batch(batch)

    def training_batch_keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``x_real``, and as domain indices ``y_org`` (single labels; attribute vectors are
        checked by :meth:`training_step`) and ``y_trg`` where ``target_labels="batch"`` reads it."""
        labels = () if self.multi_label else ("y_org",)
        if self.hparams.target_labels == "batch":
            labels = (*labels, "y_trg")
        return ("x_real",), labels

    # ------------------------------------------------------------------ optimizers
    def configure_optimizers(self) -> list[dict[str, Any]]:
        """:meth:`build_optimizers` as Lightning takes them, named ``lr-generator`` and
        ``lr-discriminator`` for ``LearningRateMonitor``. Their schedulers never change a rate:
        ``training_step`` sets the decayed rates itself (see
        :mod:`starganv2.models.named_optimizers`)."""
        optimizers = self.adopt_implementation(self.build_optimizers())
        return named_optimizers(dict(zip(OPTIMIZER_ORDER, optimizers)))

    def optimizer_settings(self) -> dict[str, dict[str, Any]]:
        """The ``betas`` of both Adams. Not the learning rates: ``training_step`` sets those
        at every iteration (:meth:`learning_rates`, decayed)."""
        betas = (float(self.hparams.beta1), float(self.hparams.beta2))
        return {name: {"betas": betas} for name in OPTIMIZER_ORDER}

    def build_optimizers(self) -> list[torch.optim.Optimizer]:
        """Two Adams, G then D (the original's betas (0.5, 0.999), no weight decay)."""
        hp = self.hparams
        settings = self.optimizer_settings()
        return [
            torch.optim.Adam(
                self.nets["generator"].parameters(), lr=hp.g_lr, **settings["generator"]
            ),
            torch.optim.Adam(
                self.nets["discriminator"].parameters(), lr=hp.d_lr, **settings["discriminator"]
            ),
        ]

    # ------------------------------------------------------------------ training
    def learning_rates(self) -> dict[str, float]:
        """The learning rates of G and D at the current iteration."""
        hp = self.hparams

        def lr(base: float) -> float:
            return learning_rate(
                self.iteration,
                base,
                hp.total_iters,
                hp.lr_decay_iters,
                hp.lr_decay,
                hp.lr_update_step,
            )

        return {"generator": lr(hp.g_lr), "discriminator": lr(hp.d_lr)}

    def loss_weights(self) -> LossWeights:
        """The loss weights."""
        hp = self.hparams
        return LossWeights(hp.lambda_cls, hp.lambda_rec, hp.lambda_gp)

    def online_nets(self) -> Nets:
        """The two nets as the loss functions take them."""
        return Nets(self.nets["generator"], self.nets["discriminator"])

    def _set_learning_rates(self, rates: Mapping[str, float]) -> None:
        for name, opt in self.optimizers_by_name().items():
            for group in opt.param_groups:
                group["lr"] = rates[name]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        hp = self.hparams
        x_real, y_org = batch["x_real"], batch["y_org"]
        self._check_label_mode(y_org)
        if hp.target_labels == "shuffle":
            y_trg = shuffled_labels(y_org)
        elif hp.target_labels == "flip":
            y_trg = flip_labels(y_org, hp.flip_k, self._groups)
        else:
            y_trg = batch["y_trg"]
        rates = self.learning_rates()
        self._set_learning_rates(rates)
        stats = train_iteration(
            self.online_nets(),
            x_real,
            y_org,
            y_trg,
            self.num_domains,
            self.loss_weights(),
            self._update,
            iteration=self.iteration,
            n_critic=hp.n_critic,
        )
        self.end_iteration(
            stats, x_real.size(0), g_lr=rates["generator"], d_lr=rates["discriminator"]
        )

    def progress_bar_values(self, stats: Stats) -> dict[str, torch.Tensor]:
        """D's adversarial loss; G's adversarial and reconstruction terms when G stepped."""
        bar = {"d": stats["d"]["real"] + stats["d"]["fake"]}
        if "g" in stats:
            bar.update(g_fake=stats["g"]["fake"], rec=stats["g"]["rec"])
        return bar

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def translate(
        self, x: torch.Tensor, y_trg: torch.Tensor | int, **style: torch.Tensor
    ) -> torch.Tensor:
        """Translate ``x (N, 3, H, W)`` in [-1, 1] into domains ``y_trg`` (``(N,)`` or one int
        for all rows). Returns ``(N, 3, H, W)`` in [-1, 1]: one output per image and domain.

        StarGAN v1 has no style codes: passing ``z``, ``x_ref`` or ``s`` is an error. A
        ``label_mode="multi"`` model has no domains: use :meth:`translate_labels`.
        """
        if self.multi_label:
            raise GuidanceModeError(
                "this StarGAN v1 model is driven by attribute vectors (label_mode=multi, "
                f"attributes {self.attribute_names}); call translate_labels(x, c_trg) with "
                f"c_trg (N, {self.num_domains}) of 1.0 / 0.0"
            )
        if style:
            raise GuidanceModeError(
                f"StarGANv1Module.translate got {sorted(style)}: StarGAN v1 is deterministic (no "
                "style codes; one output per image and target domain); call translate(x, y_trg)"
            )
        y_trg = self.translation_inputs(x, y_trg)
        return self.translate_labels(x, one_hot(y_trg, self.num_domains, x.dtype))

    @torch.no_grad()
    def translate_labels(self, x: torch.Tensor, c_trg: torch.Tensor) -> torch.Tensor:
        """Translate ``x (N, 3, H, W)`` to arbitrary label vectors ``c_trg (N, num_domains)``,
        e.g. the multi-hot attribute vectors of the original's CelebA weights (see
        ``docs/baselines.md``). ``x`` is checked as in :meth:`translate`; returns ``(N, 3, H, W)``
        clamped to [-1, 1]."""
        check_images(x, self.img_size, "x", self.input_dtype, self.device)
        expected = (x.size(0), self.num_domains)
        if not isinstance(c_trg, torch.Tensor) or tuple(c_trg.shape) != expected:
            shown = tuple(c_trg.shape) if isinstance(c_trg, torch.Tensor) else type(c_trg).__name__
            raise ValueError(
                f"c_trg is {shown}: expected a tensor ({x.size(0)}, {self.num_domains}) of label "
                "vectors, one row per image"
            )
        if x.size(0) == 0:  # as StarGAN v2's translate: torch's instance norm fails on none
            return x.clone()
        return self.inference_net("generator")(x, c_trg.to(x.dtype)).clamp_(-1, 1)

    # ------------------------------------------------------------------ export
    def inference_graph(self, mode: str, **options: object) -> nn.Module:
        """``(x, y) -> G(x, one_hot(y))`` (``label``) or ``(x, c) -> G(x, c)`` (``attribute``)
        as a plain module (see :mod:`.graphs`)."""
        self.check_mode(mode)
        if options:
            raise ValueError(f"the {mode} graph takes no options, got {sorted(options)}")
        if mode == MODE_ATTRIBUTE:
            return AttributeTranslator(self.inference_net("generator"))
        return LabelTranslator(self.inference_net("generator"), self.num_domains)

    def graph_input_names(self, mode: str) -> list[str]:
        """``["x", "y"]``; ``["x", "c"]`` for the attribute graph."""
        return ["x", "c"] if mode == MODE_ATTRIBUTE else ["x", "y"]

    def graph_inputs(
        self, mode: str, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Random ``(x, y)``, or ``(x, c)`` with ``c (n, num_domains)`` of 0.0 / 1.0 for the
        attribute graph, on the CPU."""
        x, y = super().graph_inputs(mode, n, generator)[:2]
        if mode != MODE_ATTRIBUTE:
            return x, y
        return x, torch.randint(0, 2, (n, self.num_domains), generator=generator).float()


def _check_labels(
    label_mode: str,
    num_domains: int,
    target_labels: str,
    attributes: Sequence[str] | None,
    exclusive: Sequence[Sequence[str]],
    flip_k: int,
) -> list[tuple[int, ...]]:
    """Check the label arguments together; return the exclusive groups as index tuples."""
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"label_mode={label_mode!r} is invalid: expected one of {list(LABEL_MODES)}"
        )
    if label_mode == "single":
        if attributes or exclusive or target_labels == "flip":
            raise ValueError(
                "attributes, exclusive and target_labels=flip are options of label_mode=multi "
                f"(got label_mode='single', attributes={attributes!r}, exclusive={exclusive!r}, "
                f"target_labels={target_labels!r}); set model.label_mode=multi for attribute data"
            )
        return []
    if target_labels == "batch":
        raise ValueError(
            "target_labels='batch' needs domain labels; with label_mode=multi expected "
            "'shuffle' (the original) or 'flip'"
        )
    names = list(attributes) if attributes else []
    if names and len(names) != num_domains:
        raise ValueError(
            f"attributes has {len(names)} names {names} but num_domains={num_domains}: expected "
            "one name per label entry"
        )
    if exclusive and not names:
        raise ValueError(f"exclusive={exclusive!r} names attributes, but attributes is not set")
    groups: list[tuple[int, ...]] = []
    for group in exclusive:
        unknown = [a for a in group if a not in names]
        if unknown or len(set(group)) < 2:
            raise ValueError(
                f"exclusive group {list(group)}: expected at least two different names from "
                f"attributes={names} (unknown: {unknown})"
            )
        groups.append(tuple(names.index(a) for a in group))
    check_int(flip_k, "flip_k")
    units = label_units(num_domains, groups)
    if flip_k > len(units):
        raise ValueError(
            f"flip_k={flip_k} is invalid: there are {len(units)} attributes to change (an "
            "exclusive group counts as one)"
        )
    return groups
