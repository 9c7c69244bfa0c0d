"""The oracle masks of the built-in shapes data, for the high-pass skip (``mask_provider=
"shape_oracle"``): what the FAN's face masks are for faces.

Every shapes image is one shape on a uniform background (``metadata.json`` records its colour),
so the shape's outline is every pixel that differs from the background. :class:`ShapeOracleMasks`
takes the background as the per-channel median of the image's border pixels (exactly the
metadata's background on the data's images: the shapes stay clear of the border) and ramps the
mask from 0 at an RGB distance of :data:`MASK_LOW` to 1 at :data:`MASK_HIGH` (0-255 units), so
anti-aliased edges get partial values. On the data's images this is the outline rendered from the
metadata (``tests/data/test_shape_masks.py`` measures the agreement).

The fakes of the cycle term have no metadata. They get the silhouette of their own pixels, as the
FAN's masks of a fake come from the fake: the mask then tells the generator where *its output*
drew the shape. The alternative, the source's outline (which a good translation keeps), was not
taken: in the cycle ``G(G(x, s), s_x)`` it would hand the generator the outline of the very image
it must reconstruct, through the mask's edges, and make the cycle term easier for the high-pass
arm than for the others.

Both masks (the 32 px one and the 64/128 px one) are the same silhouette: shapes have no parts.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MASK_HIGH", "MASK_LOW", "ShapeOracleMasks", "silhouette"]

MASK_LOW = 20.0  # RGB distance (0-255) to the background below which a pixel is background
MASK_HIGH = 60.0  # ... and above which it is fully shape (shapes_quality counts > 40 as shape)


def silhouette(x: torch.Tensor) -> torch.Tensor:
    """Each pixel's RGB distance to the image's background: the shape's colour-free outline.

    ``x`` (N, 3, H, W) in [-1, 1] -> (N, 1, H, W), in [-1, 1] units; the background is the
    per-channel median of the image's border pixels. It feeds the oracle masks here and the shape
    classifier of ``evaluation/shapes_quality.py``: shape classes differ in outline only, so the
    classifier cannot lean on a domain's colour palette, which a reference-guided translation is
    meant to change.
    """
    border = torch.cat(
        [x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2
    )  # (N, 3, 4S)
    # torch's median (the lower middle value) as the middle of a sort: the same value, and
    # ONNX can export a sort (TopK) but has no median
    bg = border.sort(dim=2).values[:, :, (border.size(2) - 1) // 2]  # (N, 3)
    return (x - bg[:, :, None, None]).norm(dim=1, keepdim=True)


class ShapeOracleMasks(nn.Module):
    """Mask provider of the shapes data (see the module docstring); no parameters, no state.

    Args:
        low, high: the RGB distances (0-255) to the background where the mask is 0 and 1.
    """

    def __init__(self, low: float = MASK_LOW, high: float = MASK_HIGH) -> None:
        super().__init__()
        if not 0 <= low < high:
            raise ValueError(f"low={low!r}, high={high!r}: expected 0 <= low < high")
        self.low = float(low)
        self.high = float(high)

    @torch.no_grad()
    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (N, 3, H, W)`` in ``[-1, 1]`` -> the shape's mask ``(N, 1, H, W)`` in ``[0, 1]``,
        twice (for the 32 px skip and for the 64/128 px skips)."""
        distance = silhouette(x.float()) * 127.5  # (N, 1, H, W), RGB units 0-255
        mask = ((distance - self.low) / (self.high - self.low)).clamp(0, 1).to(x.dtype)
        return mask, mask

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.masks(x)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"
