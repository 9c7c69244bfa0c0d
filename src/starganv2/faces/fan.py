"""FAN: the frozen face-landmark network behind StarGAN v2's CelebA-HQ model (``w_hpf > 0``).

A face-alignment network from the wing-loss work (Wang et al., "Adaptive Wing Loss", ICCV 2019):
a coordinate convolution, three residual blocks and one hourglass of depth 4 with 256 features
predict 98 landmark heatmaps (the WFLW layout) and one face-boundary heatmap at 64x64 from a
256x256 image. The generator's high-pass skip uses two masks drawn from the heatmaps
(:meth:`FAN.masks`, :mod:`starganv2.faces.masks`); face alignment uses the landmark points
(:meth:`FAN.landmarks`).

Module and attribute names follow the released weights (``conv1.conv``, ``bn1``, ``conv2``..
``conv4``, ``m0.coordconv.conv``, ``m0.b1_4``.. ``m0.b2_plus_1``.., ``top_m_0``, ``conv_last0``,
``bn_end0``, ``l0``), so ``wing.ckpt`` and the ``fan`` entry of the original CelebA-HQ
checkpoints load with ``strict=True``: 6,333,603 parameters, 336 state-dict entries.

The network is frozen: no gradients, and always in eval mode (``.train()`` leaves it in eval, so
its BatchNorms use the stored statistics); it is never initialised, optimised or averaged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.faces.masks import NUM_LANDMARKS, face_masks
from starganv2.utils.files import load_weights_file

__all__ = ["FAN", "FANWeightsError", "read_fan_state", "heatmap_peaks"]

log = logging.getLogger(__name__)

INPUT_SIZE = 256
"""The FAN sees every image resized to this side."""
WEIGHTS_HINT = (
    "wing.ckpt of the StarGAN v2 release (clovaai/stargan-v2: `bash download.sh wing` saves "
    "expr/checkpoints/wing.ckpt), or an original CelebA-HQ *_nets_ema.ckpt, whose 'fan' entry "
    "holds the same weights"
)


class FANWeightsError(ValueError):
    """A file does not hold FAN weights in a layout this package reads."""


def _coordinate_grid(size: int) -> torch.Tensor:
    """``(1, 3, size, size)``: row and column positions in ``[-1, 1]`` and the distance from the
    centre scaled to a maximum of 1."""
    ramp = torch.arange(size).float() / (size - 1) * 2 - 1
    rows = ramp.view(size, 1).expand(size, size)
    cols = ramp.view(1, size).expand(size, size)
    radius = torch.sqrt(rows.pow(2) + cols.pow(2))
    radius = radius / radius.max()
    return torch.stack([rows, cols, radius]).unsqueeze(0)


class CoordConv(nn.Module):
    """A convolution that also sees three position channels (row, column, radius) appended to
    its input. The grid is a non-persistent buffer: it moves with ``.to()`` and stays out of the
    state dict. Shapes: ``(N, dim_in, size, size) -> (N, dim_out, size', size')``."""

    def __init__(
        self,
        size: int,
        dim_in: int,
        dim_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.register_buffer("coords", _coordinate_grid(size), persistent=False)
        self.conv = nn.Conv2d(dim_in + 3, dim_out, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = self.coords.to(x.dtype).expand(x.size(0), -1, -1, -1)  # (N, 3, size, size)
        return self.conv(torch.cat([x, coords], dim=1))


class ConvBlock(nn.Module):
    """Pre-activation residual block whose residual concatenates three bias-free 3x3 convs of
    ``dim_out / 2``, ``/ 4`` and ``/ 4`` channels, each fed by the previous one (BatchNorm, ReLU
    before each). The shortcut is BatchNorm, ReLU and a 1x1 conv when the widths differ (named
    ``downsample`` in the weights, though the resolution is kept).

    Shapes: ``(N, dim_in, H, W) -> (N, dim_out, H, W)``.
    """

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        half, quarter = dim_out // 2, dim_out // 4
        self.bn1 = nn.BatchNorm2d(dim_in)
        self.conv1 = nn.Conv2d(dim_in, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if dim_in != dim_out:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(dim_in), nn.ReLU(), nn.Conv2d(dim_in, dim_out, 1, 1, bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + shortcut


class HourGlass(nn.Module):
    """A coordinate 1x1 conv, then an hourglass: at each level a full-resolution branch
    (``b1_<level>``) plus a half-resolution branch (``b2_<level>``, the next level down or
    ``b2_plus_1`` at the bottom, ``b3_<level>``) upsampled back (nearest).

    Shapes: ``(N, features, 64, 64) -> (N, features, 64, 64)``.
    """

    def __init__(self, depth: int = 4, features: int = 256, size: int = 64) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(size, features, features, 1)
        self._add_level(depth, features)

    def _add_level(self, level: int, features: int) -> None:
        self.add_module(f"b1_{level}", ConvBlock(features, features))
        self.add_module(f"b2_{level}", ConvBlock(features, features))
        if level > 1:
            self._add_level(level - 1, features)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(features, features))
        self.add_module(f"b3_{level}", ConvBlock(features, features))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        upper = getattr(self, f"b1_{level}")(x)
        lower = getattr(self, f"b2_{level}")(F.avg_pool2d(x, 2, stride=2))
        if level > 1:
            lower = self._level(level - 1, lower)
        else:
            lower = getattr(self, f"b2_plus_{level}")(lower)
        lower = getattr(self, f"b3_{level}")(lower)
        return upper + F.interpolate(lower, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, self.coordconv(x))


@contextlib.contextmanager
def _full_precision(device_type: str) -> Iterator[None]:
    """Autocast off inside (the masks threshold the heatmaps, so they are made in float32 as in
    the original); nothing is entered when autocast is off, which keeps export graphs plain."""
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            yield
    else:
        yield


class FAN(nn.Module):
    """The face-landmark network (see the module docstring). Built frozen and in eval mode.

    ``forward`` is the raw network; :meth:`heatmaps`, :meth:`masks` and :meth:`landmarks` take
    images in ``[-1, 1]`` of any size, as the rest of the library does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = CoordConv(INPUT_SIZE, 3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass(4, 256, INPUT_SIZE // 4)
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, NUM_LANDMARKS + 1, 1, 1, 0)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> FAN:
        """Stay in eval mode whatever ``mode`` is: the FAN is frozen, its BatchNorm statistics
        must never update (Lightning calls ``.train()`` on the whole module at fit start)."""
        return super().train(False)

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(N, 99, 64, 64)`` (98 landmark heatmaps, then the boundary heatmap) of
        images ``x01 (N, 3, 256, 256)`` in ``[0, 1]``."""
        if tuple(x01.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(
                f"FAN.forward takes (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) images in [0, 1], got "
                f"{tuple(x01.shape)}; heatmaps(), masks() and landmarks() take any size"
            )
        x = F.relu(self.bn1(self.conv1(x01)))  # (N, 64, 128, 128)
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)  # (N, 128, 64, 64)
        x = self.conv4(self.conv3(x))  # (N, 256, 64, 64)
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)

    @torch.no_grad()
    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """Landmark heatmaps ``(N, 98, 64, 64)`` of images ``x (N, 3, H, W)`` in ``[-1, 1]``,
        resized to 256x256 first (bilinear); float32 even under autocast."""
        with _full_precision(x.device.type):
            x = x.to(self.l0.weight.dtype)
            x = F.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
            return self(x * 0.5 + 0.5)[:, :NUM_LANDMARKS]

    @torch.no_grad()
    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's two face masks ``(N, 1, 256, 256)`` of images ``x (N, 3, H, W)`` in
        ``[-1, 1]``: for the 32 px skip, then for the 64/128 px skips
        (:func:`~starganv2.faces.masks.face_masks`)."""
        with _full_precision(x.device.type):
            return face_masks(self.heatmaps(x))

    @torch.no_grad()
    def landmarks(self, x: torch.Tensor) -> torch.Tensor:
        """Landmark points ``(N, 98, 2)`` as ``(x, y)`` pixel coordinates of images
        ``x (N, 3, H, W)`` in ``[-1, 1]``.

        As in the original, the heatmap positions (64x64) are scaled by ``H // 64``: exact for
        sides that are multiples of 64 (alignment resizes to such a side first).
        """
        heatmaps = self.heatmaps(x)
        return heatmap_peaks(heatmaps) * (x.size(2) // heatmaps.size(2))

    # ------------------------------------------------------------------ weights
    def load_weights(
        self, source: str | os.PathLike | Mapping[str, Any], key: str = "fan_weights"
    ) -> FAN:
        """Load released weights from a file (see :func:`read_fan_state`) or a state dict.

        Every FAN weight must be present (missing ones are an error that lists them), except the
        BatchNorm ``num_batches_tracked`` counters, which files saved before PyTorch 0.4.1 lack
        and which the frozen net never reads (set to 0, as the original's loader leaves them);
        entries that are not FAN weights are listed in a warning and ignored; a ``module.``
        prefix is accepted. ``key`` names the setting the path came from, for error messages.
        Returns self.
        """
        where = f"{key}={str(source)!r}" if not isinstance(source, Mapping) else "FAN weights"
        state = read_fan_state(source, key) if not isinstance(source, Mapping) else source
        state = {k.removeprefix("module."): v for k, v in state.items()}
        expected = self.state_dict()
        counters = [k for k in expected if k.endswith("num_batches_tracked") and k not in state]
        missing = [k for k in expected if k not in state and k not in counters]
        if missing:  # before the counters' line: a wrong file gets the error alone
            raise FANWeightsError(
                f"{where}: {len(missing)} of the {len(expected)} FAN weights are missing "
                f"({', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}); expected the "
                f"{WEIGHTS_HINT}"
            )
        state.update({k: torch.zeros((), dtype=torch.long) for k in counters})
        if counters:
            log.info("%s: set %d missing num_batches_tracked counters to 0", where, len(counters))
        wrong = [
            f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} expected"
            for k, v in expected.items()
            if tuple(state[k].shape) != tuple(v.shape)
        ]
        if wrong:
            raise FANWeightsError(f"{where}: FAN weights of the wrong shape: {'; '.join(wrong)}")
        unexpected = sorted(k for k in state if k not in expected)
        if unexpected:
            log.warning(
                "%s: ignoring %d entries that are not FAN weights: %s",
                where,
                len(unexpected),
                ", ".join(unexpected),
            )
        self.load_state_dict({k: state[k] for k in expected}, strict=True)
        return self

    @classmethod
    def from_file(cls, path: str | os.PathLike, key: str = "fan_weights") -> FAN:
        """A frozen FAN with the weights of ``path`` (see :meth:`load_weights`)."""
        return cls().load_weights(path, key)


def read_fan_state(path: str | os.PathLike, key: str = "fan_weights") -> Mapping[str, Any]:
    """The FAN state dict stored in ``path`` (read on the CPU with ``weights_only=True``).

    Layouts: ``wing.ckpt`` (a dict whose ``state_dict`` entry holds the weights), an original
    ``*_nets_ema.ckpt`` / ``*_nets.ckpt`` (its ``fan`` entry), a checkpoint of this library with
    the FAN inside (its ``fan.*`` weights), or a bare state dict.
    Raises ``FileNotFoundError`` / :class:`FANWeightsError` naming ``key`` and the file.
    """
    path = Path(path)
    raw = load_weights_file(path, f"{key}={str(path)!r}", f"the {WEIGHTS_HINT}", FANWeightsError)
    if isinstance(raw, Mapping):
        for entry in ("state_dict", "fan"):
            if isinstance(raw.get(entry), Mapping):
                inside = {k[4:]: v for k, v in raw[entry].items() if k.startswith("fan.")}
                return inside or raw[entry]
        if raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
            return raw
    found = sorted(map(str, raw)) if isinstance(raw, Mapping) else type(raw).__name__
    raise FANWeightsError(
        f"{key}={str(path)!r} holds no FAN weights (found {found}): expected a dict with a "
        f"'state_dict' or 'fan' entry, or a state dict; the {WEIGHTS_HINT}"
    )


def heatmap_peaks(heatmaps: torch.Tensor) -> torch.Tensor:
    """Peak of each heatmap ``(N, C, H, W) -> (N, C, 2)`` as ``(x, y)`` in heatmap pixels.

    As in the original: the first maximum, moved a quarter pixel towards the higher neighbour
    along each axis when it is not on the border, and half a pixel back (``col + 0.5 +- 0.25``).
    """
    n, c, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, c, h * w)
    index = flat.argmax(dim=2)  # (N, C), the first maximum
    row, col = index // w, index % w
    inside = (col > 0) & (col < w - 1) & (row > 0) & (row < h - 1)
    r, q = row.clamp(1, h - 2), col.clamp(1, w - 2)

    def value(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, (rows * w + cols).unsqueeze(2)).squeeze(2)  # (N, C)

    slope = torch.stack(
        [value(r, q + 1) - value(r, q - 1), value(r + 1, q) - value(r - 1, q)], dim=2
    )  # (N, C, 2)
    nudge = torch.where(inside.unsqueeze(2), slope.sign() * 0.25, torch.zeros_like(slope))
    peaks = torch.stack([col, row], dim=2).to(heatmaps.dtype) + 1  # (N, C, 2)
    return peaks + nudge - 0.5
