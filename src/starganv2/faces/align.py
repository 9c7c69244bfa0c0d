"""Face alignment as StarGAN v2's CelebA-HQ model expects its inputs (the original's ``align``
mode), in torch: no OpenCV.

For each photo, as the original does:

1. resize to ``img_size`` x ``img_size`` and find the 98 landmarks with the FAN
   (:meth:`~starganv2.faces.fan.FAN.landmarks`);
2. pad the image to twice its size by mirroring, the mirrored border fading (weight
   ``min(distance to the edge / (side / 4), 1) ** 4``) into a blurred copy (half resolution,
   Gaussian of sigma ``img_size // 100`` px, back to full size), so no hard mirror seams show;
3. map the landmarks onto the mean CelebA-HQ landmarks (``celeba_lm_mean.npz``, key ``mean``,
   given at 256 px and scaled to ``img_size``) with a similarity transform: centre on the
   landmarks' mean, rotate the face's x-axis (from the eyes and the mouth corners) onto the
   reference's, scale by the mean ratio of the eye and mouth-corner distances from the centre,
   move to the reference's centre;
4. warp (black outside the padded image) and keep the top-left ``img_size`` square.

The original warps with OpenCV's 8x8 Lanczos filter; this module uses torch's bicubic
``grid_sample`` (measured against it in docs/faces.md). The original scales the reference by
``img_size // 256``, which is 0 below 256 px; the scale here is ``img_size / 256`` (the same for
multiples of 256).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from starganv2.faces.fan import FAN

__all__ = [
    "REFERENCE_SIZE",
    "load_mean_landmarks",
    "face_axis",
    "similarity_matrix",
    "pad_mirror",
    "warp",
    "align_faces",
    "to_pixels",
]

log = logging.getLogger(__name__)

REFERENCE_SIZE = 256
"""Side of the image the mean landmarks of ``celeba_lm_mean.npz`` are given for."""
_LEFT_EYE = (*range(60, 68), 96)  # eye contour and pupil, WFLW layout
_RIGHT_EYE = (*range(68, 76), 97)
_MOUTH_CORNERS = (76, 82)
_SCALE_POINTS = (96, 97, 76, 82)  # pupils and mouth corners


def load_mean_landmarks(path: str | os.PathLike, img_size: int = REFERENCE_SIZE) -> torch.Tensor:
    """The mean CelebA-HQ landmarks ``(98, 2)`` (x, y) of ``celeba_lm_mean.npz`` (key ``mean``,
    at 256 px), scaled to ``img_size``. Errors name the file and say what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"mean landmarks {str(path)!r}: no such file; expected celeba_lm_mean.npz of the "
            "StarGAN v2 release (clovaai/stargan-v2: `bash download.sh wing` saves "
            "expr/checkpoints/celeba_lm_mean.npz)"
        )
    try:
        with _open_npz(path) as data:
            mean = data["mean"] if "mean" in data.files else None
            found = list(data.files)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"mean landmarks {str(path)!r} is not a readable .npz file: {err}"
        ) from err
    if mean is None or tuple(mean.shape) != (98, 2):
        raise ValueError(
            f"mean landmarks {str(path)!r}: expected an array 'mean' of shape (98, 2), found "
            f"{_names(found) if mean is None else tuple(mean.shape)}"
        )
    reference = torch.from_numpy(mean.astype("float32")) * (img_size / REFERENCE_SIZE)
    if not torch.isfinite(similarity_matrix(reference, reference)).all():
        # else every photo would be listed as faceless, after the FAN had run on all of them
        raise ValueError(
            f"mean landmarks {str(path)!r}: the array 'mean' holds no face layout (non-finite "
            "values, or eyes and mouth corners at one point); expected the celeba_lm_mean.npz "
            "of the StarGAN v2 release"
        )
    return reference


def _open_npz(path: Path) -> Any:
    """``numpy.load`` of an ``.npz`` file; a ``.npy`` file (one bare array, which ``np.load``
    returns as is, with no names and no ``with``) is a ``ValueError`` saying what to write."""
    import numpy as np

    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        raise ValueError(
            f"it is a .npy file (one array of shape {tuple(loaded.shape)}); expected an .npz "
            "file with an array 'mean' of shape (98, 2), as numpy.savez(path, mean=array) writes"
        )
    return loaded


def _names(found: list[str], shown: int = 5) -> str:
    """The arrays of an ``.npz`` for an error line, at most ``shown`` of them: a torch
    checkpoint (a zip too) given by mistake holds hundreds of entries."""
    more = f", ... ({len(found)} in all)" if len(found) > shown else ""
    return "[" + ", ".join(repr(n) for n in found[:shown]) + more + "]"


def face_axis(landmarks: torch.Tensor) -> torch.Tensor:
    """The face's unit x-axis ``(2,)`` from landmarks ``(98, 2)``: the eye-to-eye direction
    averaged with the normal of the mouth-to-eyes direction."""
    left = landmarks[list(_LEFT_EYE)].mean(0)
    right = landmarks[list(_RIGHT_EYE)].mean(0)
    mouth = landmarks[list(_MOUTH_CORNERS)].mean(0)
    up = (left + right) * 0.5 - mouth
    axis = (right - left) - torch.stack([up[1], -up[0]])  # minus up turned a quarter clockwise
    return axis / axis.norm()


def similarity_matrix(landmarks: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The ``(3, 3)`` float64 matrix taking pixel positions of a face with ``landmarks (98, 2)``
    onto the ``reference (98, 2)`` layout (see the module docstring, step 3)."""
    src, ref = landmarks.double(), reference.double()
    src_mean, ref_mean = src.mean(0), ref.mean(0)
    a, b = face_axis(src), face_axis(ref)
    cos = (a * b).sum()
    cross = a[0] * b[1] - a[1] * b[0]
    sin = torch.sqrt((1 - cos * cos).clamp_min(0)) * torch.sign(cross)
    points = list(_SCALE_POINTS)
    scale = ((ref[points] - ref_mean).norm(dim=1) / (src[points] - src_mean).norm(dim=1)).mean()
    rotate = torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])])  # (2, 2), a onto b
    matrix = torch.eye(3, dtype=torch.float64)
    matrix[:2, :2] = scale * rotate
    matrix[:2, 2] = ref_mean - scale * rotate @ src_mean
    return matrix


def _gaussian_blur(x: torch.Tensor, sigma: int) -> torch.Tensor:
    """Separable Gaussian of ``x (N, C, H, W)``, kernel radius ``int(4 sigma + 0.5)``, edges
    extended (as ``scipy.ndimage`` with ``mode="nearest"``); ``sigma = 0`` returns ``x``."""
    if sigma <= 0:
        return x
    radius = int(4 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.size(1)
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def pad_mirror(pixels: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 2: ``pixels (N, 3, S, S)`` in ``[0, 255]`` -> ``(N, 3, 2S, 2S)``, and the landmarks
    ``(N, 98, 2)`` moved by the padding."""
    n, c, h, w = pixels.shape
    padded = F.pad(pixels, (w // 2, w // 2, h // 2, h // 2), mode="reflect")
    small = F.interpolate(padded, size=(h, w), mode="bilinear", align_corners=False)
    small = torch.floor(small + 0.5)  # 8-bit, as the original's half-size copy
    blurred = _gaussian_blur(small, h // 100)
    big_h, big_w = padded.shape[-2:]
    blurred = F.interpolate(blurred, size=(big_h, big_w), mode="bilinear", align_corners=False)
    ramp = big_h // 4  # the original uses the height for both axes
    rows = torch.arange(big_h, dtype=pixels.dtype, device=pixels.device)
    cols = torch.arange(big_w, dtype=pixels.dtype, device=pixels.device)
    wy = (rows / ramp).clamp(0, 1)
    wx = (cols / ramp).clamp(0, 1)
    wy = torch.minimum(wy, wy.flip(0)).view(-1, 1)
    wx = torch.minimum(wx, wx.flip(0)).view(1, -1)
    weight = torch.minimum(wy, wx) ** 4  # (2S, 2S)
    out = padded * weight + blurred * (1 - weight)
    shift = torch.tensor([big_w // 4, big_h // 4], dtype=landmarks.dtype, device=landmarks.device)
    return out, landmarks + shift


def warp(pixels: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Step 4: ``pixels (N, C, H, W)`` warped by ``matrices (N, 3, 3)`` (source pixel positions
    to output ones, pixel centres at integers) onto ``(N, C, size, size)``; bicubic, 0 outside."""
    n, _, h, w = pixels.shape
    inverse = torch.linalg.inv(matrices.double())  # (N, 3, 3): output -> source
    v, u = torch.meshgrid(
        torch.arange(size, dtype=torch.float64, device=pixels.device),
        torch.arange(size, dtype=torch.float64, device=pixels.device),
        indexing="ij",
    )
    out_xy1 = torch.stack([u, v, torch.ones_like(u)], dim=-1).view(1, -1, 3)  # (1, P, 3)
    src = out_xy1 @ inverse.transpose(1, 2)  # (N, P, 3)
    sx, sy = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1)  # (N, P, 2)
    grid = grid.view(n, size, size, 2).to(pixels.dtype)
    return F.grid_sample(pixels, grid, mode="bicubic", padding_mode="zeros", align_corners=False)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Images in ``[-1, 1]`` -> whole pixel values in ``[0, 255]`` (float), truncated as the
    original does before aligning."""
    return torch.floor((x.float() * 0.5 + 0.5) * 255).clamp(0, 255)


@torch.no_grad()
def align_faces(fan: FAN, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Align faces ``x (N, 3, S, S)`` in ``[-1, 1]`` onto ``reference (98, 2)`` landmarks (for
    side ``S``); returns ``(N, 3, S, S)`` in ``[-1, 1]``.

    ``S`` must be a multiple of 64 (the landmarks come from 64x64 heatmaps). Rows whose landmark
    fit is degenerate (e.g. no face at all) come back as NaN images: test with ``isfinite``.
    """
    size = x.size(-1)
    if x.dim() != 4 or x.size(-2) != size or size % 64:
        raise ValueError(
            f"align_faces expects square images (N, 3, S, S) with S a multiple of 64, got "
            f"{tuple(x.shape)}"
        )
    landmarks = fan.landmarks(x).float()  # (N, 98, 2)
    padded, landmarks = pad_mirror(to_pixels(x), landmarks)
    reference = reference.to(landmarks.device)
    matrices = torch.stack([similarity_matrix(lm, reference) for lm in landmarks])
    bad = ~torch.isfinite(matrices).flatten(1).all(1)
    if bad.any():
        matrices[bad] = torch.eye(3, dtype=matrices.dtype, device=matrices.device)
    aligned = warp(padded, matrices, size) / 255 * 2 - 1
    aligned[bad] = math.nan
    return aligned
