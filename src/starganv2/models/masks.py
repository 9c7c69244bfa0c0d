"""Mask providers: where the masks of StarGAN v2's high-pass skip come from.

The high-pass skip (``Generator(skip="highpass")``, ``w_hpf > 0``) multiplies encoder features by
a mask before the Laplacian, so only the masked region's edges reach the decoder. A provider maps
images ``x (N, 3, H, W)`` in ``[-1, 1]`` to two masks ``(N, 1, h, w)`` in ``[0, 1]``: the first
for the 32 px skip, the second for the 64 and 128 px skips (the generator resizes them). The
module asks its provider for the masks of every generator input: the sources, and the fakes of
the cycle term.

Providers (``StarGANv2Module(mask_provider=...)``, :data:`MASK_PROVIDERS`):

- ``"fan"``: faces. :class:`~starganv2.models.fan.FAN` (the frozen landmark network of the
  original CelebA-HQ model) draws the masks from landmark heatmaps (docs/faces.md).
- ``"shape_oracle"``: the built-in shapes data. :class:`~starganv2.data.shape_masks.ShapeOracleMasks`
  takes each image's shape silhouette against its uniform background: on the data's images that
  is the outline rendered from the metadata, so the high-pass skip can be measured where the
  ground truth is known (docs/ablations.md).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["MASK_PROVIDERS", "MaskProvider", "check_mask_provider"]

MASK_PROVIDERS = ("fan", "shape_oracle")


@runtime_checkable
class MaskProvider(Protocol):
    """Anything with ``masks(x) -> (mask_32, mask_64_128)`` (see the module docstring)."""

    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two masks ``(N, 1, h, w)`` in ``[0, 1]`` of images ``x (N, 3, H, W)`` in ``[-1, 1]``."""
        ...


def check_mask_provider(name: object, key: str = "mask_provider") -> str:
    """``name`` if it names a provider (:data:`MASK_PROVIDERS`), else ``ValueError`` naming ``key``."""
    if name not in MASK_PROVIDERS:
        raise ValueError(f"{key}={name!r} is invalid: expected one of {list(MASK_PROVIDERS)}")
    return str(name)
