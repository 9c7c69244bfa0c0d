"""``StarGANv2Module``: the LightningModule that wires the four nets, their EMA and the losses.

One ``training_step`` is one iteration of the paper's schedule (manual optimization):

1. D step with a latent-code fake, 2. D step with a reference fake,
3. G step with latent codes (updates G, F and E), 4. G step with references (updates G only),
5. EMA update of G, F and E.

The iteration counter (``self.iteration``, saved in checkpoints), the NaN stop, logging, the
shared parts of inference and export and the checkpoint hooks are those of
:class:`~starganv2.models.base.TranslationModule`; the diversity weight and the stop at
``total_iters`` follow that counter, so a resumed run continues exactly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from starganv2.models.base import Stats, TranslationModule
from starganv2.models.deferred_weights import DeferredWeights
from starganv2.models.encoded_sources import EncodedSources, weights_stamp
from starganv2.models.interface import MODE_LATENT, MODE_REFERENCE
from starganv2.models.masks import MaskProvider, build_mask_provider, check_mask_provider
from starganv2.models.named_optimizers import named_optimizers
from starganv2.models.stargan_v2.downsample import per_net_downsample
from starganv2.models.stargan_v2.graphs import (
    LatentTranslator,
    MaskedGenerator,
    ReferenceTranslator,
)
from starganv2.models.stargan_v2.losses import ds_weight
from starganv2.models.stargan_v2.nets import (
    Discriminator,
    Generator,
    MappingNetwork,
    StyleEncoder,
    generator_layout,
    he_init,
    validate_img_size,
)
from starganv2.models.stargan_v2.step import (
    EMA_NETS,
    NET_NAMES,
    LossWeights,
    Nets,
    train_iteration,
)
from starganv2.models.training_checks import (
    NonFiniteLossError,
    check_adam,
    check_codes,
    check_gradient_clipping,
    check_images,
    check_learning_rates,
    check_loss_weights,
    domain_labels,
)
from starganv2.utils.checks import check_int

__all__ = ["StarGANv2Module", "NonFiniteLossError", "EMA_NETS", "MODEL_NAME", "TERMS"]

log = logging.getLogger(__name__)

MODEL_NAME = "stargan_v2"
"""The model's name in checkpoints (``checkpoint["starganv2"]["model"]``) and ``model=`` configs."""
OPTIMIZER_ORDER = NET_NAMES
COMPILABLE_NETS = EMA_NETS  # not D: torch.compile does not support R1's double backward
_IMAGE_KEYS = ("x_real", "x_ref", "x_ref2")
TERMS: dict[str, tuple[str, ...]] = {
    "d_latent": ("real", "fake", "reg"),
    "d_ref": ("real", "fake", "reg"),
    "g_latent": ("adv", "sty", "ds", "cyc"),
    "g_ref": ("adv", "sty", "ds", "cyc"),
}
"""Loss terms of each update, logged as ``train/<update>/<term>``."""


class StarGANv2Module(TranslationModule):
    """StarGAN v2 training and inference.

    Args:
        img_size: square image side (power of two >= 16); set by the data config.
        num_domains: number of domains (at least 2); set by the data config.
        latent_dim: length of the latent code z fed to the mapping network.
        style_dim: length of the style code s.
        hidden_dim: width of the mapping network's MLP.
        dim_in: first-layer width of G, E and D; ``None`` is the paper's ``2**14 // img_size``.
        max_conv_dim: cap on conv widths.
        w_hpf: weight of the generator's high-pass face skip (0 disables it; 1 for CelebA-HQ).
            With ``w_hpf > 0`` every generator call gets the face masks of its input, drawn by
            the frozen landmark network FAN (``self.fan``; see docs/faces.md).
        fan_weights: the FAN's weights, needed when ``w_hpf > 0``: ``wing.ckpt`` of the
            StarGAN v2 release or an original CelebA-HQ ``*_nets_ema.ckpt`` (its ``fan``
            entry). Read when first needed (``setup``, i.e. before training, the first mask or
            the first ``state_dict()``); ``None`` or a missing file is an error then. The FAN is
            saved in this module's checkpoints, so ``load_from_checkpoint`` does not read this
            file again (only for an old checkpoint without FAN weights).
        lambda_reg: R1 weight. lambda_sty: style reconstruction weight. lambda_cyc: cycle weight.
        lambda_ds: initial diversity weight, decayed linearly to 0 at iteration ``ds_iter``.
            Every loss weight must be >= 0.
        ds_iter: iterations of the diversity-weight decay (<= 0: no decay).
        total_iters: training stops when ``iteration`` reaches this.
        lr: Adam learning rate of G, E and D. f_lr: learning rate of the mapping network F.
        beta1, beta2: Adam betas. weight_decay: Adam (L2) weight decay of all four optimizers.
        ema_beta: EMA decay of G, F and E (per iteration).
        r1_fp32: compute D's real branch and R1 in float32 even under autocast.
        finite_check_every: check the losses for NaN/inf every this many iterations (the check
            synchronises with the device; non-finite values are remembered on device in between
            and always checked before a checkpoint is written, so no bad checkpoint is saved).
        channels_last: keep the nets' weights and the training images in channels-last memory
            format (faster convolutions on recent GPUs, especially with mixed precision).
        compile_nets: online nets to ``torch.compile`` when training starts, any of
            ``generator, mapping_network, style_encoder`` (``None`` or empty: none). The
            discriminator cannot be compiled: R1 needs a double backward through it, which
            ``aot_autograd`` does not support. Parameter names and checkpoints are unchanged.
        fused_adam: ``True``: fused Adam kernels; ``False``: the multi-tensor (``foreach``) Adam;
            ``None``: fused where the device supports it, else ``foreach``.
        r1_every: lazy R1 (as in StyleGAN2): the R1 penalty on every ``r1_every``-th D update
            only (two D updates per iteration, counted from 0), weighted by ``r1_every``. 1 (the
            default) is the paper. Changes the math: an option, measured in docs/scale.md.
        reuse_latent_fake: make the latent fake once per iteration, with its graph, for the
            latent D and G updates (the same tensor either way: G and F do not change in
            between). The same math with one G and one F forward less, at the memory of keeping
            that graph across the two D updates.
        downsample: how G's encoder, E and D halve the resolution: ``"avgpool"`` (the paper),
            ``"strided"`` or ``"blur"`` for all three, or a mapping from net name
            (``generator``, ``style_encoder``, ``discriminator``) to one of them, the nets not
            named keeping ``"avgpool"`` (see docs/ablations.md).
        extra_stage, decoder_shortcut, skip, skip_resolutions: the generator's skip path
            (:class:`~starganv2.models.stargan_v2.nets.Generator`); ``None`` follows the preset
            of ``w_hpf``. ``skip`` is ``"none"``, ``"highpass"`` (needs ``w_hpf > 0``),
            ``"attention"`` or ``"cross_attention"``.
        mask_provider: where the high-pass skip's masks come from (only with ``w_hpf > 0``):
            ``"fan"`` (faces: the landmark network, ``fan_weights``) or ``"shape_oracle"`` (the
            built-in shapes data: each image's shape silhouette against its uniform background,
            :class:`~starganv2.data.shape_masks.ShapeOracleMasks`; no weights).
        gradient_clip_val: clip each net's gradients before its optimizer steps: their norm to
            at most this (or, with ``gradient_clip_algorithm="value"``, each element to within
            +-this); ``None``: no clipping. ``+trainer.gradient_clip_val=...`` on the command
            line lands here (Lightning clips only automatically optimized modules).
        gradient_clip_algorithm: ``"norm"`` or ``"value"``, as Lightning's.

    Logging: the loss terms are logged only on Lightning's logging steps
    (``Trainer(log_every_n_steps=...)``, in iterations), averaged over DDP ranks there
    (``sync_dist``); other iterations read nothing back from the device.
    """

    MODEL_NAME = MODEL_NAME
    OPTIMIZER_ORDER = OPTIMIZER_ORDER
    TERMS = TERMS
    EMA_NETS = EMA_NETS
    FROZEN_NETS = ("nets_ema", "fan")
    NEEDS_REFERENCES = True
    # what the nets are; a checkpoint of another value often has the same tensor shapes (the
    # downsampling, the attention and cross-attention skips, the high-pass skip's weight and sizes)
    FIXED_SETTINGS = (
        "w_hpf",
        "downsample",
        "extra_stage",
        "decoder_shortcut",
        "skip",
        "skip_resolutions",
    )

    def resolved_settings(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hparams`` with the architecture settings it records as the nets take them (one
        downsampling per net, the generator's ``None`` resolved by :func:`generator_layout`):
        ``downsample=strided`` and ``{generator: strided, ...}``, or ``skip=null`` and the skip
        ``w_hpf`` implies, are one value on resume."""
        found = dict(hparams)
        if "downsample" in found:
            found["downsample"] = per_net_downsample(found["downsample"])
        layout_keys = ("extra_stage", "decoder_shortcut", "skip", "skip_resolutions")
        if "img_size" in hparams and "w_hpf" in hparams:
            layout = generator_layout(
                hparams["img_size"], hparams["w_hpf"], **{k: hparams.get(k) for k in layout_keys}
            )
            found.update({k: v for k, v in layout.items() if k in found})
        return found

    def __init__(
        self,
        img_size: int = 256,
        num_domains: int = 2,
        latent_dim: int = 16,
        style_dim: int = 64,
        hidden_dim: int = 512,
        dim_in: int | None = None,
        max_conv_dim: int = 512,
        w_hpf: float = 0.0,
        lambda_reg: float = 1.0,
        lambda_sty: float = 1.0,
        lambda_ds: float = 1.0,
        lambda_cyc: float = 1.0,
        ds_iter: int = 100_000,
        total_iters: int = 100_000,
        lr: float = 1e-4,
        f_lr: float = 1e-6,
        beta1: float = 0.0,
        beta2: float = 0.99,
        weight_decay: float = 1e-4,
        ema_beta: float = 0.999,
        r1_fp32: bool = True,
        finite_check_every: int = 1,
        channels_last: bool = False,
        compile_nets: Sequence[str] | None = None,
        fused_adam: bool | None = None,
        r1_every: int = 1,
        reuse_latent_fake: bool = True,
        fan_weights: str | os.PathLike | None = None,
        downsample: str | Mapping[str, str] = "avgpool",
        extra_stage: bool | None = None,
        decoder_shortcut: bool | None = None,
        skip: str | None = None,
        skip_resolutions: Sequence[int] | None = None,
        mask_provider: str = "fan",
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        super().__init__()
        validate_img_size(img_size, "img_size")
        check_int(total_iters, "total_iters")
        check_int(finite_check_every, "finite_check_every")
        check_int(r1_every, "r1_every")
        check_int(num_domains, "model.num_domains", minimum=2)  # a translation needs two domains
        check_loss_weights(
            lambda_reg=lambda_reg, lambda_sty=lambda_sty, lambda_ds=lambda_ds, lambda_cyc=lambda_cyc
        )
        check_learning_rates(lr=lr, f_lr=f_lr)
        check_adam(beta1, beta2, weight_decay)
        if not 0.0 <= ema_beta <= 1.0:
            raise ValueError(f"ema_beta={ema_beta!r} is invalid: expected a value in [0, 1]")
        compile_nets = [str(n) for n in (compile_nets or ())]
        bad = [n for n in compile_nets if n not in COMPILABLE_NETS]
        if bad:
            raise ValueError(
                f"compile_nets={compile_nets!r} is invalid: {bad} cannot be compiled; expected a "
                f"subset of {list(COMPILABLE_NETS)} (R1's double backward through the "
                "discriminator is not supported by torch.compile)"
            )
        check_mask_provider(mask_provider)
        check_gradient_clipping(gradient_clip_val, gradient_clip_algorithm)
        down = per_net_downsample(downsample)
        # plain containers (a config passes DictConfigs and ListConfigs), so that checkpoints
        # load with weights_only=True: save_hyperparameters() saves these local values
        downsample = downsample if isinstance(downsample, str) else dict(downsample.items())
        if skip_resolutions is not None:
            skip_resolutions = [int(r) for r in skip_resolutions]
        fan_weights = None if fan_weights is None else os.fspath(fan_weights)  # not a Path
        self.save_hyperparameters()
        # Initialise first, then copy: the original code copies into the EMA nets *before*
        # initialising the online nets, so its EMA starts from PyTorch's default init instead.
        self.set_nets(
            {
                "generator": Generator(
                    img_size=img_size,
                    style_dim=style_dim,
                    max_conv_dim=max_conv_dim,
                    w_hpf=w_hpf,
                    dim_in=dim_in,
                    downsample=down["generator"],
                    extra_stage=extra_stage,
                    decoder_shortcut=decoder_shortcut,
                    skip=skip,
                    skip_resolutions=skip_resolutions,
                ),
                "mapping_network": MappingNetwork(
                    latent_dim=latent_dim,
                    style_dim=style_dim,
                    num_domains=num_domains,
                    hidden_dim=hidden_dim,
                ),
                "style_encoder": StyleEncoder(
                    img_size=img_size,
                    style_dim=style_dim,
                    num_domains=num_domains,
                    max_conv_dim=max_conv_dim,
                    dim_in=dim_in,
                    downsample=down["style_encoder"],
                ),
                "discriminator": Discriminator(
                    img_size=img_size,
                    num_domains=num_domains,
                    max_conv_dim=max_conv_dim,
                    dim_in=dim_in,
                    downsample=down["discriminator"],
                ),
            },
            init=he_init,
        )
        if channels_last:
            self.to(memory_format=torch.channels_last)
        # frozen, eval mode, not optimised or averaged; the FAN's weights are read when needed
        provider = build_mask_provider(
            mask_provider, w_hpf=w_hpf, weights=fan_weights, load_weights=False
        )
        self.fan = provider if mask_provider == "fan" else None  # keeps the fan.* state names
        self.shape_oracle = None if mask_provider == "fan" else provider
        self._fan_weights = (
            None if self.fan is None else DeferredWeights(self.fan, self._read_fan_weights)
        )

    # ------------------------------------------------------------------ Translator protocol
    @property
    def latent_dim(self) -> int:
        """Length of the latent code z."""
        return int(self.hparams.latent_dim)

    @property
    def style_dim(self) -> int:
        """Length of the style code s."""
        return int(self.hparams.style_dim)

    @property
    def has_styles(self) -> bool:
        """StarGAN v2 outputs depend on a style code: latent and reference guidance."""
        return True

    @property
    def guidance_modes(self) -> tuple[str, ...]:
        """``("latent", "reference")``."""
        return (MODE_LATENT, MODE_REFERENCE)

    # ------------------------------------------------------------------ optimizers
    def configure_optimizers(self) -> list[dict[str, Any]]:
        """:meth:`build_optimizers` as Lightning takes them, each named after its net so that
        ``LearningRateMonitor`` logs ``lr-generator``, ``lr-mapping_network``,
        ``lr-style_encoder`` and ``lr-discriminator`` (the rates stay constant, see
        :mod:`starganv2.models.named_optimizers`)."""
        optimizers = self.adopt_implementation(self.build_optimizers())
        return named_optimizers(dict(zip(OPTIMIZER_ORDER, optimizers)))

    def optimizer_settings(self) -> dict[str, dict[str, Any]]:
        """``lr`` (``f_lr`` for F), ``betas`` and ``weight_decay`` of each net's Adam."""
        hp = self.hparams
        shared = {"betas": (float(hp.beta1), float(hp.beta2)), "weight_decay": hp.weight_decay}
        return {
            name: {"lr": hp.f_lr if name == "mapping_network" else hp.lr, **shared}
            for name in OPTIMIZER_ORDER
        }

    def build_optimizers(self) -> list[torch.optim.Optimizer]:
        """Four Adams in the order G, F, E, D with :meth:`optimizer_settings`; fused or foreach,
        see ``fused_adam``."""
        fused = self.hparams.get("fused_adam")
        settings = self.optimizer_settings()

        def adam(net: nn.Module, kw: dict[str, Any]) -> torch.optim.Optimizer:
            if fused is None:
                try:
                    return torch.optim.Adam(net.parameters(), fused=True, **kw)
                except RuntimeError:  # no fused kernel for this device
                    return torch.optim.Adam(net.parameters(), foreach=True, **kw)
            if fused:
                return torch.optim.Adam(net.parameters(), fused=True, **kw)
            return torch.optim.Adam(net.parameters(), foreach=True, **kw)

        return [adam(self.nets[name], settings[name]) for name in OPTIMIZER_ORDER]

    # ------------------------------------------------------------------ training
    def lambda_ds_now(self) -> float:
        """The diversity weight at the current iteration."""
        return ds_weight(self.iteration, self.hparams.lambda_ds, self.hparams.ds_iter)

    def loss_weights(self) -> LossWeights:
        """The loss weights of the current iteration."""
        hp = self.hparams
        return LossWeights(
            lambda_reg=hp.lambda_reg,
            lambda_sty=hp.lambda_sty,
            lambda_ds=self.lambda_ds_now(),
            lambda_cyc=hp.lambda_cyc,
            r1_fp32=hp.r1_fp32,
            r1_every=hp.get("r1_every", 1),
        )

    def online_nets(self) -> Nets:
        """The four online nets as the loss functions take them."""
        return Nets(*(self.nets[name] for name in Nets._fields))

    def setup(self, stage: str) -> None:
        """Check the data (see the base class), then read the FAN's weights now unless a
        checkpoint brought them: a missing ``fan_weights`` stops a run before it starts."""
        super().setup(stage)
        if self._fan_weights is not None:
            self._fan_weights.ensure()

    def on_fit_start(self) -> None:
        super().on_fit_start()
        for name in self.hparams.get("compile_nets") or ():
            self.nets[name].compile()  # in place: parameter names and checkpoints unchanged

    def _latents(self, batch: dict[str, torch.Tensor], n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The iteration's two latent codes ``(n, latent_dim)`` per source: the batch's fixed
        ``z_trg``/``z_trg2`` (tests, reproducibility), else drawn from torch's random state.

        Under DDP every rank is seeded alike (so a resume continues from rank 0's saved state on
        every rank): each draws the codes of the whole global batch, ``world_size * n`` rows, and
        keeps its own rows. The ranks' random states stay equal, their codes differ, and together
        they are the codes one process would draw for the global batch."""
        if "z_trg" in batch and "z_trg2" in batch:
            return batch["z_trg"], batch["z_trg2"]
        trainer = self._trainer
        world = int(getattr(trainer, "world_size", 1) or 1)
        rank = int(getattr(trainer, "global_rank", 0) or 0)
        shape = (world * n, self.hparams.latent_dim)
        device = batch["x_real"].device
        mine = slice(rank * n, (rank + 1) * n)
        return torch.randn(shape, device=device)[mine], torch.randn(shape, device=device)[mine]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        hp = self.hparams
        if hp.get("channels_last"):
            batch = {
                k: v.contiguous(memory_format=torch.channels_last) if k in _IMAGE_KEYS else v
                for k, v in batch.items()
            }
        weights = self.loss_weights()
        stats = train_iteration(
            self.online_nets(),
            batch,
            self._latents(batch, batch["x_real"].size(0)),
            weights,
            self._update,
            ema=self.nets_ema,
            ema_beta=hp.ema_beta,
            mask_fn=None if self.mask_source is None else self.mask_source.masks,
            iteration=self.iteration,
            reuse_latent_fake=hp.get("reuse_latent_fake", True),
        )
        self.end_iteration(stats, batch["x_real"].size(0), lambda_ds=weights.lambda_ds)

    def progress_bar_values(self, stats: Stats) -> dict[str, torch.Tensor]:
        """D's adversarial loss, G's adversarial and cycle terms (latent updates)."""
        return {
            "d": stats["d_latent"]["real"] + stats["d_latent"]["fake"],
            "g_adv": stats["g_latent"]["adv"],
            "cyc": stats["g_latent"]["cyc"],
        }

    # ------------------------------------------------------------------ the FAN's weights
    def _read_fan_weights(self, fan: nn.Module) -> None:
        path = self.hparams.get("fan_weights")
        if path is None:
            raise ValueError(
                f"w_hpf={self.hparams.w_hpf} needs the face-landmark network (FAN) for its face "
                "masks, but model.fan_weights is not set: download wing.ckpt (clovaai/stargan-v2: "
                "`bash download.sh wing` saves expr/checkpoints/wing.ckpt) and pass "
                "model.fan_weights=path/to/wing.ckpt; on the built-in shapes data use "
                "model.mask_provider=shape_oracle; or set model.w_hpf=0 (see docs/faces.md)"
            )
        fan.load_weights(path, key="model.fan_weights")

    def migrate_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Give a checkpoint without FAN weights (written before the FAN was part of the module)
        those of ``fan_weights``, so it loads with ``strict=True``."""
        if self._fan_weights is None:
            return
        state = checkpoint.setdefault("state_dict", {})
        if any(k.startswith("fan.") for k in state):
            return
        if self._fan_weights.pending and self.hparams.get("fan_weights") is None:
            raise ValueError(
                f"this checkpoint has w_hpf={self.hparams.w_hpf} but holds no FAN weights: "
                "pass them, e.g. StarGANv2Module.load_from_checkpoint(path, "
                "fan_weights='wing.ckpt') (see docs/faces.md)"
            )
        fan_state = self.fan.state_dict()  # reads fan_weights if nothing has yet
        log.warning(
            "the checkpoint holds no FAN weights: using those of %s", self.hparams.fan_weights
        )
        state.update({f"fan.{k}": v for k, v in fan_state.items()})

    # ------------------------------------------------------------------ inference (EMA nets)
    @torch.no_grad()
    def style_from_latent(self, z: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """Style codes ``(N, style_dim)`` of latent codes ``z (N, latent_dim)`` for domains ``y``
        (an int for every row, or an integer ``(N,)`` tensor), with the EMA mapping network.

        Checked as ``translate`` checks them: ``z`` a float tensor of the model's dtype, ``y`` in
        ``[0, num_domains)``; anything else is a ``TypeError``/``ValueError`` naming ``z`` or ``y``.
        """
        check_codes(z, None, self.latent_dim, "z", "latent_dim", self.input_dtype, self.device)
        y = domain_labels(y, z.size(0), self.num_domains, z.device, key="y")
        return self.inference_net("mapping_network")(z, y)

    @torch.no_grad()
    def style_from_reference(self, x_ref: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """Style codes ``(N, style_dim)`` of references ``x_ref (N, 3, H, W)`` in [-1, 1] of
        domains ``y`` (an int for every row, or an integer ``(N,)`` tensor), with the EMA style
        encoder.

        Checked as ``translate`` checks ``x_ref``: 8-bit images, another size or dtype, and labels
        out of range are a ``TypeError``/``ValueError`` naming ``x_ref`` or ``y``.
        """
        check_images(x_ref, self.img_size, "x_ref", self.input_dtype, self.device)
        y = domain_labels(y, x_ref.size(0), self.num_domains, x_ref.device, key="y")
        return self.inference_net("style_encoder")(x_ref, y)

    def _random_latents(self, n: int) -> torch.Tensor:
        """Fresh latent codes ``(n, latent_dim)`` in the mapping network's dtype and on its
        device (a model converted with ``.half()`` or ``.to(torch.bfloat16)`` wants its codes in
        that dtype)."""
        weight = next(self.inference_net("mapping_network").parameters())
        return torch.randn(n, self.latent_dim, device=weight.device, dtype=weight.dtype)

    @torch.no_grad()
    def encode_sources(self, x: torch.Tensor) -> EncodedSources:
        """Encode sources ``x (N, 3, H, W)`` in [-1, 1] once with the EMA generator, for
        ``translate`` with any number of styles: the generator's encoder does not see the style,
        so each later ``translate(encoded, ...)`` only decodes (same outputs as ``translate(x,
        ...)``; see :mod:`starganv2.models.encoded_sources`). The high-pass skip's masks of ``x``
        are computed here too. Valid until the generator's weights change."""
        check_images(x, self.img_size, "x", self.input_dtype, self.device)
        generator = self.inference_net("generator")
        masks = None if self.mask_source is None else self.mask_source.masks(x)
        features = generator.encode_source(x)
        return EncodedSources(x, features, masks, weights_stamp(generator, self.iteration))

    @torch.no_grad()
    def translate(
        self,
        x: torch.Tensor | EncodedSources,
        y_trg: torch.Tensor | int,
        z: torch.Tensor | None = None,
        x_ref: torch.Tensor | None = None,
        s: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Translate ``x (N, 3, H, W)`` in [-1, 1] into domains ``y_trg`` with the EMA nets.

        The style comes from exactly one of: latent codes ``z (N, latent_dim)``, reference images
        ``x_ref (N, 3, H, W)`` of domain ``y_trg``, or style codes ``s (N, style_dim)``. With none
        given, fresh latent codes are drawn (in the nets' dtype). ``y_trg`` may be an int (same
        domain for all rows). Returns ``(N, 3, H, W)`` clamped to [-1, 1]; an empty batch
        (``N = 0``) gives an empty one.

        ``x`` may also be what :meth:`encode_sources` returned for these sources: the generator
        then only decodes (translating one batch with many styles encodes it once).

        ``x`` and ``x_ref`` must be float ``(N, 3, img_size, img_size)`` in [-1, 1] and ``y_trg``
        an int or an integer tensor: anything else is a ``TypeError``/``ValueError`` naming the
        argument (see :meth:`~starganv2.models.base.TranslationModule.translation_inputs`).
        """
        encoded = x if isinstance(x, EncodedSources) else None
        generator = self.inference_net("generator")
        if encoded is not None:
            x = encoded.x
            if encoded.stamp != weights_stamp(generator, self.iteration):
                raise ValueError(
                    "translate: these sources were encoded (encode_sources) by another "
                    "generator or before this one's weights changed; encode them again with "
                    "this model's current weights"
                )
        y_trg = self.translation_inputs(x, y_trg)
        given = [v is not None for v in (z, x_ref, s)]
        if sum(given) > 1:
            raise ValueError("translate: pass at most one of z, x_ref, s")
        n, hp = x.size(0), self.hparams
        if x_ref is not None:
            check_images(x_ref, self.img_size, "x_ref", self.input_dtype, self.device)
            if x_ref.size(0) != n:
                raise ValueError(
                    f"x_ref has {x_ref.size(0)} images but x has {n}: expected one reference "
                    "per source image"
                )
        if z is not None:
            check_codes(z, n, hp.latent_dim, "z", "latent_dim", self.input_dtype, self.device)
        if s is not None:
            check_codes(s, n, hp.style_dim, "s", "style_dim", self.input_dtype, self.device)
        if n == 0:  # nothing to translate (the generator's AdaIN cannot reshape no styles)
            return x.new_empty(x.shape)
        if s is None:  # the inputs are checked: the nets directly, not the checking methods
            if x_ref is not None:
                s = self.inference_net("style_encoder")(x_ref, y_trg)
            else:
                z = self._random_latents(n) if z is None else z
                s = self.inference_net("mapping_network")(z, y_trg)
        if encoded is not None:
            return generator(encoded.features, s, masks=encoded.masks).clamp_(-1, 1)
        masks = None if self.mask_source is None else self.mask_source.masks(x)
        return generator(x, s, masks=masks).clamp_(-1, 1)

    @property
    def mask_source(self) -> MaskProvider | None:
        """The high-pass skip's mask provider (the FAN, its weights read, or the shapes oracle);
        ``None`` without the skip. Reading the FAN's weights here, not at its first forward,
        keeps file reads out of traced code (ONNX export)."""
        if self._fan_weights is not None:
            self._fan_weights.ensure()
        return self.fan if self.fan is not None else self.shape_oracle

    # ------------------------------------------------------------------ export
    def inference_graph(
        self, mode: str, psi: float = 1.0, s_mean: torch.Tensor | None = None
    ) -> nn.Module:
        """The EMA inference path of ``mode`` as a plain module (see :mod:`.graphs`)."""
        self.check_mode(mode)
        generator = self.inference_net("generator")
        if self.mask_source is not None:
            generator = MaskedGenerator(generator, self.mask_source)
        if mode == MODE_LATENT:
            return LatentTranslator(generator, self.inference_net("mapping_network"), psi, s_mean)
        return ReferenceTranslator(generator, self.inference_net("style_encoder"))

    def graph_input_names(self, mode: str) -> list[str]:
        """``["x", "y", "z"]`` (latent) or ``["x", "y", "x_ref"]`` (reference)."""
        return [*super().graph_input_names(mode), "z" if mode == MODE_LATENT else "x_ref"]

    def extra_graph_inputs(
        self, mode: str, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Random ``z (n, latent_dim)`` (latent) or ``x_ref (n, 3, S, S)`` in [-1, 1]."""
        if mode == MODE_LATENT:
            return (torch.randn(n, self.latent_dim, generator=generator),)
        size = self.img_size
        return (torch.rand(n, 3, size, size, generator=generator) * 2 - 1,)
