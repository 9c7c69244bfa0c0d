"""The four StarGAN v2 networks (Choi et al., CVPR 2020) and their building blocks.

Plain ``nn.Module`` s with no knowledge of Lightning or Hydra. Module and attribute names follow
the paper's released code (``from_rgb, encode, decode, to_rgb, hpf, shared, unshared, main,
conv1, conv2, norm1, norm2, conv1x1, fc``) so its checkpoints load with ``strict=True``.

Images are ``(N, 3, H, W)`` in ``[-1, 1]``; domain labels ``y`` are ``(N,)`` long tensors in
``[0, num_domains)``; style codes ``s`` are ``(N, style_dim)``; latent codes ``z`` are
``(N, latent_dim)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v2.attention import SelfAttention
from starganv2.models.stargan_v2.downsample import Downsample, check_downsample
from starganv2.models.stargan_v2.fast_layers import InstanceNorm2d
from starganv2.models.stargan_v2.resample_conv import conv3x3_avgpool, upsample_conv3x3
from starganv2.utils.checks import check_img_size, check_int

__all__ = [
    "ResBlk",
    "AdaIN",
    "AdainResBlk",
    "HighPass",
    "Generator",
    "SourceFeatures",
    "MappingNetwork",
    "StyleEncoder",
    "Discriminator",
    "default_dim_in",
    "he_init",
    "validate_img_size",
    "generator_layout",
    "SKIPS",
]

log = logging.getLogger(__name__)

MIN_IMG_SIZE = 16
_HPF_RESOLUTIONS = (32, 64, 128)  # feature sizes where the high-pass skip joins the decoder
_ATTENTION_RESOLUTIONS = (32, 64)  # the attention skips' default feature sizes
SKIPS = ("none", "highpass", "attention", "cross_attention")
"""The generator's skip paths from encoder to decoder (``Generator(skip=...)``)."""


def validate_img_size(img_size: int, name: str = "img_size") -> None:
    """Raise ``ValueError`` unless ``img_size`` is a power of two and at least 16.

    The trunks of E and D halve the resolution down to 4x4 and the generator encoder keeps
    ``log2(img_size) - 4`` downsampling blocks, so 16 px is the smallest meaningful size.
    """
    check_img_size(img_size, name, MIN_IMG_SIZE)


def default_dim_in(img_size: int) -> int:
    """The paper's first-layer width: ``2**14 // img_size`` (64 at 256 px)."""
    return 2**14 // img_size


def _resolve_dim_in(dim_in: int | None, img_size: int) -> int:
    dim_in = default_dim_in(img_size) if dim_in is None else dim_in
    check_int(dim_in, "dim_in")
    return dim_in


def he_init(module: nn.Module) -> None:
    """He (Kaiming normal, fan_in) init of conv and linear weights, zero biases.

    Apply with ``net.apply(he_init)``; norms keep their default (weight 1, bias 0).
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)


class ResBlk(nn.Module):
    """Pre-activation residual block: (norm, LeakyReLU 0.2, 3x3 conv) twice, optional 2x pooling.

    The shortcut is a learned 1x1 conv without bias when ``dim_in != dim_out`` and the same
    average pooling (applied first: they commute, and the conv then runs at a quarter of the
    pixels); the sum is scaled by ``1/sqrt(2)`` to keep unit variance.

    ``downsample_kind`` says how the resolution is halved (:mod:`.downsample`): the paper's
    ``"avgpool"``; ``"strided"`` (``conv1`` at stride 2, the shortcut takes every second pixel);
    ``"blur"`` (a fixed binomial low-pass filter at stride 2 where the paper pools). Parameters
    and state-dict names are the same for all three.

    With ``"avgpool"``, ``conv1`` and the pooling after it run as one stride-2 4x4 conv made from
    ``conv1``'s weight (:func:`~.resample_conv.conv3x3_avgpool`: the same function with 4/9 of
    the multiply-adds); ``fuse_resample = False`` (an attribute, not saved) runs them apart.

    Shapes: ``(N, dim_in, H, W) -> (N, dim_out, H', W')`` with ``H' = H/2`` when downsampling.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        normalize: bool = False,
        downsample: bool = False,
        downsample_kind: str = "avgpool",
    ) -> None:
        super().__init__()
        self.actv = nn.LeakyReLU(0.2)
        self.normalize = normalize
        self.downsample = downsample
        self.downsample_kind = check_downsample(downsample_kind)
        self.learned_sc = dim_in != dim_out
        strided = downsample and self.downsample_kind == "strided"
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 2 if strided else 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = InstanceNorm2d(dim_in, affine=True)
            self.norm2 = InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)
        if downsample:
            self.pool = Downsample(self.downsample_kind)  # no parameters, no state-dict entry
        self.fuse_resample = True  # see the class docstring

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        # The paper's order is 1x1 conv, then pooling; both are linear and act on different axes,
        # so they commute: pooling first gives the same result (to float rounding) with a
        # quarter of the 1x1 conv's multiply-adds. ("strided": subsampling, then the 1x1 conv,
        # is the 1x1 conv at stride 2.)
        if self.downsample:
            x = self.pool(x)
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.actv(x)
        if self.downsample and self.downsample_kind == "avgpool" and self.fuse_resample:
            x = conv3x3_avgpool(x, self.conv1)  # conv1, then pooling, in one smaller conv
        else:
            x = self.conv1(x)  # at stride 2 for "strided"
            if self.downsample and self.downsample_kind != "strided":
                x = self.pool(x)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(self.actv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    """Adaptive instance norm: ``(1 + gamma) * IN(x) + beta`` with ``gamma, beta = fc(s)``.

    Shapes: ``x (N, C, H, W)``, ``s (N, style_dim)`` -> ``(N, C, H, W)``.
    """

    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.fc(s).view(s.size(0), -1, 1, 1)  # (N, 2C, 1, 1)
        gamma, beta = h.chunk(2, dim=1)  # each (N, C, 1, 1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder block: (AdaIN, LeakyReLU 0.2, [2x nearest upsample], 3x3 conv) twice.

    The shortcut (nearest upsample and a bias-free 1x1 conv when widths differ; the conv runs
    first, at a quarter of the pixels, which gives the same values) is used only when
    ``shortcut`` is true; by default (``None``) that is when ``w_hpf == 0``, as in the paper: with
    the high-pass skip the residual branch alone is returned. ``conv1x1`` is built either way so
    the released checkpoints' keys match.

    With ``upsample``, the upsampling and ``conv1`` run as four 2x2 convs of the low-resolution
    input made from ``conv1``'s weight (:func:`~.resample_conv.upsample_conv3x3`: the same
    function with 4/9 of the multiply-adds); ``fuse_resample = False`` (an attribute, not saved)
    runs them apart.

    Shapes: ``x (N, dim_in, H, W)``, ``s (N, style_dim)`` -> ``(N, dim_out, H', W')``.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        style_dim: int = 64,
        w_hpf: float = 0.0,
        upsample: bool = False,
        shortcut: bool | None = None,
    ) -> None:
        super().__init__()
        self.w_hpf = w_hpf
        self.shortcut = w_hpf == 0 if shortcut is None else bool(shortcut)
        self.actv = nn.LeakyReLU(0.2)
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)
        self.fuse_resample = True  # see the class docstring

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        # The paper's order is upsampling, then the 1x1 conv; nearest upsampling copies pixels and
        # the 1x1 conv is per pixel, so convolving first gives the same values with a quarter of
        # the multiply-adds.
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def _residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = self.actv(self.norm1(x, s))
        if self.upsample and self.fuse_resample:
            x = upsample_conv3x3(x, self.conv1)  # upsampling, then conv1, in one smaller conv
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.conv1(x)
        x = self.actv(self.norm2(x, s))
        return self.conv2(x)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out = self._residual(x, s)
        if self.shortcut:
            out = (out + self._shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    """Fixed depthwise 3x3 Laplacian divided by ``w_hpf``: passes edges of the masked features.

    The kernel is a buffer named ``filter`` (as in the released checkpoints, where it is present
    in some files and absent from others). Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        if w_hpf <= 0:
            raise ValueError(f"w_hpf={w_hpf!r} is invalid for HighPass: expected > 0")
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
        self.register_buffer("filter", kernel / w_hpf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.size(1)
        weight = self.filter.to(x.dtype).expand(channels, 1, 3, 3)  # (C, 1, 3, 3)
        return F.conv2d(x, weight, padding=1, groups=channels)


class Generator(nn.Module):
    """G: encoder of normalised ResBlks, decoder of AdaIN ResBlks conditioned on a style code.

    ``log2(img_size) - 4`` downsampling stages (one more with ``extra_stage``), widths doubling
    from ``dim_in`` up to ``max_conv_dim``, then two bottleneck blocks on each side.

    The skip path from encoder to decoder (``skip``, joining after the decoder block that outputs
    each size in ``skip_resolutions``):

    - ``"none"``: none (the paper's AFHQ generator);
    - ``"highpass"``: with face ``masks`` given, encoder features are masked, high-passed
      (:class:`HighPass`, divided by ``w_hpf``) and added (the paper's CelebA-HQ skip);
    - ``"attention"``: a SAGAN self-attention block on the decoder's features
      (:class:`~.attention.SelfAttention`, new parameters under ``attn.<size>``);
    - ``"cross_attention"``: the same block with the encoder's features at that size as keys and
      values: the decoder looks up what it needs from the source, with no mask.

    ``w_hpf`` is the paper's preset: ``w_hpf > 0`` means ``extra_stage=True,
    decoder_shortcut=False, skip="highpass"``; ``w_hpf == 0`` means ``extra_stage=False,
    decoder_shortcut=True, skip="none"``. ``extra_stage`` and ``decoder_shortcut`` may be set
    independently of it; ``skip`` must agree with it (``"highpass"`` exactly when ``w_hpf > 0``).
    The default arguments build the paper's nets with the released checkpoints' state-dict names.

    Args:
        img_size: square image side in pixels; a power of two >= 16.
        style_dim: length of the style code.
        max_conv_dim: cap on the channel count.
        w_hpf: weight of the high-pass skip (its filter is divided by it); 0 disables it.
        dim_in: width of the first conv; ``None`` means the paper's ``2**14 // img_size``.
        downsample: how the encoder halves the resolution: ``"avgpool"`` (the paper),
            ``"strided"`` or ``"blur"`` (see :mod:`.downsample`).
        extra_stage: one more downsampling stage in the encoder (and upsampling stage in the
            decoder); ``None``: ``w_hpf > 0``.
        decoder_shortcut: the decoder blocks keep their shortcut; ``None``: ``w_hpf == 0``.
        skip: one of :data:`SKIPS`; ``None``: ``"highpass"`` if ``w_hpf > 0`` else ``"none"``.
        skip_resolutions: feature sizes (px) where the skip joins the decoder; each must be the
            output size of an upsampling decoder block (from twice the bottleneck's size to
            ``img_size``). ``None``: the paper's 32, 64 and 128 for ``"highpass"``, 32 and 64 for
            the attention skips, those of them the net has (none, at ``img_size=16``, is an
            error: a skip that joins nowhere would be silently absent). Ignored, with a
            warning, without a skip (``skip="none"``).
    """

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1.0,
        dim_in: int | None = None,
        downsample: str = "avgpool",
        extra_stage: bool | None = None,
        decoder_shortcut: bool | None = None,
        skip: str | None = None,
        skip_resolutions: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        validate_img_size(img_size)
        check_int(style_dim, "style_dim")
        check_int(max_conv_dim, "max_conv_dim")
        if w_hpf < 0:
            raise ValueError(f"w_hpf={w_hpf!r} is invalid: expected >= 0 (0 disables the skip)")
        check_downsample(downsample)
        skip = _resolve_skip(w_hpf, skip)
        extra_stage = w_hpf > 0 if extra_stage is None else bool(extra_stage)
        dim_in = _resolve_dim_in(dim_in, img_size)
        self.img_size = img_size
        self.skip = skip
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            InstanceNorm2d(dim_in, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(dim_in, 3, 1, 1, 0),
        )
        repeat_num = int(math.log2(img_size)) - 4
        if extra_stage:
            repeat_num += 1
        widths: dict[int, int] = {}  # feature size -> width of the decoder's output there
        size = img_size
        dim_out = dim_in
        for _ in range(repeat_num):
            widths[size] = dim_in
            size //= 2
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(
                ResBlk(dim_in, dim_out, normalize=True, downsample=True, downsample_kind=downsample)
            )
            self.decode.insert(
                0,
                AdainResBlk(
                    dim_out, dim_in, style_dim, w_hpf, upsample=True, shortcut=decoder_shortcut
                ),
            )
            dim_in = dim_out
        for _ in range(2):  # bottleneck
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(
                0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf, shortcut=decoder_shortcut)
            )
        self.skip_resolutions = _resolve_skip_resolutions(
            skip, skip_resolutions, widths, img_size, w_hpf
        )
        if skip == "highpass":
            self.hpf = HighPass(w_hpf)
        elif skip != "none":
            self.attn = nn.ModuleDict(
                {str(r): SelfAttention(widths[r]) for r in self.skip_resolutions}
            )

    def forward(
        self,
        x: torch.Tensor | SourceFeatures,
        s: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor] | None = None,
        return_features: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, SourceFeatures]:
        """Translate ``x (N, 3, H, W)`` with style ``s (N, style_dim)``; ``masks`` are the two
        masks ``(N, 1, h, w)`` of the high-pass skip, used at 32 px and at the other sizes (only
        with ``skip="highpass"``; without them that skip is left out).

        The encoder does not see the style, so one source's encoding serves every style: ``x``
        may be the :class:`SourceFeatures` of an earlier call (from ``return_features=True`` or
        :meth:`encode_source`), and then only the decoder runs. ``return_features=True`` returns
        ``(image, features)`` (the features with their graph, if one is being built).
        """
        if isinstance(x, SourceFeatures):
            features = x
        else:
            # the skip features this call uses; all of them when the features are handed back
            used = self.skip == "cross_attention" or masks is not None
            features = self._encode(
                x, keep_skips=(self.skip != "none") if return_features else used
            )
        out = self._decode(features, s, masks)
        return (out, features) if return_features else out

    def encode_source(self, x: torch.Tensor) -> SourceFeatures:
        """The encoder's half of :meth:`forward` for ``x (N, 3, H, W)``, to decode with any
        number of styles (``generator(features, s, masks)``); keeps the skip features whatever
        the masks later are."""
        return self._encode(x, self.skip != "none")

    def _encode(self, x: torch.Tensor, keep_skips: bool) -> SourceFeatures:
        x = self.from_rgb(x)
        skips: dict[int, torch.Tensor] = {}
        for block in self.encode:
            if keep_skips and x.size(2) in self.skip_resolutions:
                skips[x.size(2)] = x
            x = block(x)
        return SourceFeatures(x, skips)

    def _decode(
        self,
        features: SourceFeatures,
        s: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        use_skip = masks is not None and hasattr(self, "hpf")
        cross = self.skip == "cross_attention"
        if (use_skip or cross) and self.skip_resolutions and not features.skips:
            raise ValueError(
                "these SourceFeatures hold no skip features, which this generator needs here: "
                "make them with encode_source() or return_features=True"
            )
        x = features.h
        for block in self.decode:
            x = block(x, s)
            size = x.size(2)
            if size not in self.skip_resolutions:
                continue
            if use_skip:
                mask = masks[0] if size == 32 else masks[1]
                mask = F.interpolate(mask, size=size, mode="bilinear")
                x = x + self.hpf(mask * features.skips[size])
            elif self.skip != "highpass":
                x = self.attn[str(size)](x, features.skips[size] if cross else None)
        return self.to_rgb(x)


class SourceFeatures(NamedTuple):
    """What the generator's encoder makes of source images, before any style: the bottleneck
    features ``h (N, C, h, w)`` and the encoder's features at the skip sizes (``skips``:
    ``{size: (N, C_size, size, size)}``, empty for a generator without skip). The generator
    decodes them with any style code (``generator(features, s)``): one encoding of a batch
    serves every style, in training (the D updates' and the diversity term's fakes) and in
    inference."""

    h: torch.Tensor
    skips: dict[int, torch.Tensor]

    def detach(self) -> SourceFeatures:
        """The same features cut from their graph."""
        return SourceFeatures(self.h.detach(), {k: v.detach() for k, v in self.skips.items()})


def generator_layout(
    img_size: int,
    w_hpf: float,
    extra_stage: bool | None = None,
    decoder_shortcut: bool | None = None,
    skip: str | None = None,
    skip_resolutions: Sequence[int] | None = None,
) -> dict[str, object]:
    """The layout :class:`Generator` builds from these arguments, with ``None`` resolved as it
    resolves them (the ``w_hpf`` preset, the default skip sizes the net has): two spellings of
    one net give the same dict. Several layouts have the same state-dict shapes (the high-pass
    skip's sizes and the decoder shortcut at equal widths), so a resumed run compares this."""
    extra_stage = w_hpf > 0 if extra_stage is None else bool(extra_stage)
    decoder_shortcut = w_hpf == 0 if decoder_shortcut is None else bool(decoder_shortcut)
    skip = _resolve_skip(w_hpf, skip)
    repeat_num = int(math.log2(img_size)) - 4 + int(extra_stage)
    sizes = dict.fromkeys((img_size >> k for k in range(repeat_num)), 0)  # the decoder's sizes
    resolutions = (
        ()
        if skip == "none"
        else _resolve_skip_resolutions(skip, skip_resolutions, sizes, img_size, w_hpf)
    )
    return {
        "extra_stage": extra_stage,
        "decoder_shortcut": decoder_shortcut,
        "skip": skip,
        "skip_resolutions": list(resolutions),
    }


def _resolve_skip(w_hpf: float, skip: str | None) -> str:
    """The skip kind: ``skip``, or the preset of ``w_hpf``; a contradiction is an error."""
    preset = "highpass" if w_hpf > 0 else "none"
    if skip is None:
        return preset
    if skip not in SKIPS:
        raise ValueError(f"skip={skip!r} is invalid: expected one of {list(SKIPS)}")
    if (skip == "highpass") != (w_hpf > 0):
        raise ValueError(
            f"skip={skip!r} contradicts w_hpf={w_hpf!r}: w_hpf is the high-pass skip's weight, so "
            "skip='highpass' needs w_hpf > 0 and any other skip needs w_hpf=0"
        )
    return skip


def _resolve_skip_resolutions(
    skip: str,
    resolutions: Sequence[int] | None,
    widths: dict[int, int],
    img_size: int,
    w_hpf: float,
) -> tuple[int, ...]:
    """Validated feature sizes where the skip joins the decoder (see :class:`Generator`).

    A skip that would join nowhere is an error, not a silent no-op (the masks would still be
    drawn for nothing); ``resolutions`` given without a skip is logged as unused.
    """
    if skip == "none":
        if resolutions is not None:
            log.warning(
                "skip_resolutions=%r is not used: skip='none' (w_hpf=%s and no attention skip) "
                "has no skip path",
                list(resolutions),
                w_hpf,
            )
        return ()
    available = sorted(widths)
    if resolutions is None:
        default = _HPF_RESOLUTIONS if skip == "highpass" else _ATTENTION_RESOLUTIONS
        chosen = tuple(r for r in default if r in widths)
        if not chosen:
            kind = f"skip={skip!r}" + (f" (w_hpf={w_hpf!r})" if skip == "highpass" else "")
            raise ValueError(
                f"{kind} joins the decoder nowhere at img_size={img_size}: none of the default "
                f"skip_resolutions {list(default)} is a decoder feature size of this generator "
                f"({available}); {_skip_fit_hint(available, img_size, False)}"
            )
        return chosen
    chosen = tuple(sorted({int(r) for r in resolutions}))
    bad = [r for r in chosen if r not in widths]
    if bad or not chosen:
        hint = "" if available else f"; {_skip_fit_hint(available, img_size, True)}"
        raise ValueError(
            f"skip_resolutions={list(resolutions)!r} is invalid for skip={skip!r}: expected a "
            f"non-empty subset of the sizes of the upsampling decoder blocks' outputs {available}"
            + hint
        )
    return chosen


def _skip_fit_hint(available: list[int], img_size: int, resolutions_given: bool) -> str:
    """What makes a skip fit a generator whose decoder outputs only the sizes ``available``:
    with none (``img_size=16`` without ``extra_stage``), ``extra_stage=True`` adds a block that
    outputs ``img_size``; from ``img_size=32`` every default size list has a member."""
    larger = f"img_size >= {2 * MIN_IMG_SIZE}"
    if available:
        return f"set skip_resolutions={available}, or use {larger}"
    if resolutions_given:
        return (
            f"without extra_stage this decoder has no upsampling block at img_size={img_size}: set "
            f"extra_stage=True (its last block then outputs {img_size} px), or use {larger}"
        )
    return (
        f"set skip_resolutions=[{img_size}] and extra_stage=True (without extra_stage the "
        f"decoder has no upsampling block at img_size={img_size}), or use {larger}"
    )


def _gather_domain(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pick row ``i``'s domain ``y[i]``: ``(N, num_domains, ...) -> (N, ...)``."""
    return out[torch.arange(y.size(0), device=y.device), y]


class MappingNetwork(nn.Module):
    """F: latent code and domain to style code. A shared 4-layer MLP, then one 4-layer head per
    domain; row ``i`` takes the output of head ``y[i]``.

    Shapes: ``z (N, latent_dim)``, ``y (N,)`` -> ``(N, style_dim)``.
    """

    def __init__(
        self,
        latent_dim: int = 16,
        style_dim: int = 64,
        num_domains: int = 2,
        hidden_dim: int = 512,
    ) -> None:
        super().__init__()
        check_int(latent_dim, "latent_dim")
        check_int(style_dim, "style_dim")
        check_int(num_domains, "num_domains")
        check_int(hidden_dim, "hidden_dim")
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            head: list[nn.Module] = []
            for _ in range(3):
                head += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            head.append(nn.Linear(hidden_dim, style_dim))
            self.unshared.append(nn.Sequential(*head))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)  # (N, hidden_dim)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return _gather_domain(out, y)  # (N, style_dim)


def _trunk(
    img_size: int, dim_in: int, max_conv_dim: int, downsample: str = "avgpool"
) -> tuple[list[nn.Module], int]:
    """The E / D trunk: 3x3 conv, ResBlks halving to 4x4, LeakyReLU, 4x4 valid conv, LeakyReLU.

    Returns the layers (ending in ``(N, dim_out, 1, 1)``) and ``dim_out``.
    """
    blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True, downsample_kind=downsample))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


class StyleEncoder(nn.Module):
    """E: image and domain to style code. The shared trunk, then one linear head per domain.

    ``downsample`` says how the trunk halves the resolution: ``"avgpool"`` (the paper),
    ``"strided"`` or ``"blur"`` (see :mod:`.downsample`); the parameters are the same.

    Shapes: ``x (N, 3, img_size, img_size)``, ``y (N,)`` -> ``(N, style_dim)``.
    """

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
        downsample: str = "avgpool",
    ) -> None:
        super().__init__()
        validate_img_size(img_size)
        check_int(style_dim, "style_dim")
        check_int(num_domains, "num_domains")
        check_int(max_conv_dim, "max_conv_dim")
        blocks, dim_out = _trunk(
            img_size, _resolve_dim_in(dim_in, img_size), max_conv_dim, check_downsample(downsample)
        )
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x).flatten(1)  # (N, dim_out)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return _gather_domain(out, y)  # (N, style_dim)


class Discriminator(nn.Module):
    """D: multi-task discriminator, one real/fake logit per domain; row ``i`` reads ``y[i]``.

    ``downsample`` says how the trunk halves the resolution: ``"avgpool"`` (the paper),
    ``"strided"`` or ``"blur"`` (see :mod:`.downsample`); the parameters are the same.

    Shapes: ``x (N, 3, img_size, img_size)``, ``y (N,)`` -> ``(N,)`` logits.
    """

    def __init__(
        self,
        img_size: int = 256,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
        downsample: str = "avgpool",
    ) -> None:
        super().__init__()
        validate_img_size(img_size)
        check_int(num_domains, "num_domains")
        check_int(max_conv_dim, "max_conv_dim")
        blocks, dim_out = _trunk(
            img_size, _resolve_dim_in(dim_in, img_size), max_conv_dim, check_downsample(downsample)
        )
        blocks.append(nn.Conv2d(dim_out, num_domains, 1, 1, 0))
        self.main = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.main(x).flatten(1)  # (N, num_domains)
        return _gather_domain(out, y)  # (N,)
