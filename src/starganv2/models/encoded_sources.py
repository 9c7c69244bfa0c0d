"""Sources encoded once, translated with many styles.

StarGAN v2's generator encodes its input without seeing the style (the style enters only the
decoder's AdaIN layers), so translating the same sources with K styles needs one encoding and K
decodings, not K of each. :class:`EncodedSources` holds that encoding (and the high-pass skip's
masks of the sources, which do not depend on the style either); a style model that offers
``encode_sources(x)`` accepts it in place of ``x`` in ``translate``, with the same outputs.

The evaluation protocol (10 styles per source), the sample grids, folder translation and the
interpolation videos all translate one batch of sources many times: they call
:func:`encode_once` first, which returns the plain tensor for models that cannot share an
encoding (StarGAN v1 concatenates the target label to its input), so callers need no branch.

An encoding belongs to the weights that made it: ``translate`` refuses one made before the
generator's parameters changed (an optimizer or EMA step in between), with a message to encode
again, instead of decoding stale features.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from starganv2.models.stargan_v2.nets import SourceFeatures

__all__ = ["EncodedSources", "weights_stamp", "encode_once"]


def weights_stamp(net: nn.Module, *extra: int) -> tuple[int, ...]:
    """``extra``, the identity of ``net`` and the in-place version counters of its parameters:
    an EMA update (``lerp_``), ``load_state_dict`` or any other in-place op on them changes it.
    Fused optimizer kernels do *not* bump the counters (seen with torch 2.14's fused Adam), so a
    training module passes its iteration counter as ``extra`` too."""
    return (*extra, id(net), *(p._version for p in net.parameters()))


class EncodedSources(NamedTuple):
    """Source images ``x (N, 3, S, S)`` with the generator's encoding of them (``features``),
    the high-pass skip's masks of them (``masks``, ``None`` without the skip) and the stamp of
    the generator's weights that made the encoding (:func:`weights_stamp`).

    Made by a style model's ``encode_sources(x)``; pass it as ``x`` to that model's
    ``translate`` (any number of times, with any styles and target domains)."""

    x: torch.Tensor
    features: SourceFeatures
    masks: tuple[torch.Tensor, torch.Tensor] | None
    stamp: tuple[int, ...]


def encode_once(model: object, x: torch.Tensor) -> torch.Tensor | EncodedSources:
    """``model.encode_sources(x)`` where the model has it, else ``x`` itself: what to pass as
    ``x`` to ``model.translate`` when one batch of sources is translated several times."""
    encode = getattr(model, "encode_sources", None)
    return x if encode is None else encode(x)
