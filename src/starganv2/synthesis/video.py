"""Interpolation videos, streamed to an MP4 encoder one frame at a time.

Frames are produced by generators (:func:`video_ref_frames`, :func:`video_latent_frames`) and
pushed to :class:`VideoWriter` as they come, so memory stays flat however long the video is: at
most one frame exists at a time between the model and the encoder.

Frame layout (``S`` = image size, ``N`` sources), two rows of ``N + 1`` tiles, no padding::

    [ style panel | source 1     | ... | source N     ]
    [ blank       | translated 1 | ... | translated N ]

In :func:`video_ref_frames` the style panel is a window sliding from the current reference to
the next one as their style codes are blended; in :func:`video_latent_frames` it is blank.

Writing needs PyAV (``pip install 'starganv2[video]'``). The file is written under a temporary name
in the output folder and renamed when complete, so an interrupted run never leaves a half-written
video under the final name.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from starganv2.models.encoded_sources import encode_once
from starganv2.models.interface import MODE_LATENT, MODE_REFERENCE, StyleTranslator, require_mode
from starganv2.models.training_checks import check_images, domain_labels, domain_list
from starganv2.synthesis.styles import latent_styles, seeded_style_means
from starganv2.utils.files import atomic_path
from starganv2.utils.images import to_hwc_uint8, to_unit

__all__ = [
    "VideoWriter",
    "check_fps",
    "require_pyav",
    "write_video",
    "video_ref_frames",
    "video_latent_frames",
    "video_ref",
    "video_latent",
    "count_video_frames",
]

log = logging.getLogger(__name__)


def require_pyav() -> Any:
    """The ``av`` module; ``ImportError`` saying how to install it when PyAV is missing (tools
    call it before writing anything, so a missing extra does not leave half the outputs)."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "writing videos needs PyAV, which is not installed: pip install 'starganv2[video]' "
            "(or pip install av)"
        ) from e
    return av


def _to_uint8_hwc(frame: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8 -> ``(H, W, 3)`` uint8 on the CPU."""
    if frame.dtype == torch.uint8:
        if frame.dim() != 3 or frame.size(-1) != 3:
            raise ValueError(f"uint8 frames must be (H, W, 3), got {tuple(frame.shape)}")
        return frame.cpu()
    if frame.dim() != 3 or frame.size(0) != 3:
        raise ValueError(f"float frames must be (3, H, W) in [0, 1], got {tuple(frame.shape)}")
    return to_hwc_uint8(frame, unit=True)


class VideoWriter:
    """Streaming MP4 writer (H.264 via PyAV). Use as a context manager::

        with VideoWriter("out.mp4", fps=30) as w:
            for frame in frames:  # (3, H, W) float in [0, 1], or (H, W, 3) uint8
                w.write(frame)

    Each frame is encoded as soon as it is written; the writer keeps no reference to it. Odd
    frame sides are padded by one black pixel (H.264 with yuv420p needs even sizes). The file
    appears at ``path`` only when the context exits without an error; on an error the temporary
    file is removed and an existing file at ``path`` is left untouched.

    Args:
        path: output ``.mp4`` file; parent folders are created.
        fps: frames per second.
        codec: encoder name (``libx264`` by default; ``mpeg4`` is a fallback when absent).
        crf: H.264 constant rate factor (lower = better quality, 0 = lossless; ignored by others).
    """

    def __init__(
        self, path: str | os.PathLike, fps: float = 30, codec: str = "libx264", crf: int = 18
    ) -> None:
        self.path = Path(path)
        self.fps = check_fps(fps)
        self.codec = codec
        self.crf = crf
        self.frames_written = 0
        self._container: Any = None
        self._stream: Any = None
        self._tmp: Path | None = None
        self._file: contextlib.ExitStack | None = None
        self._size: tuple[int, int] | None = None  # (H, W) of the first frame

    def __enter__(self) -> VideoWriter:
        av = require_pyav()
        codec = self.codec
        if codec not in av.codecs_available:
            log.warning("codec %s is not available in this PyAV build; using mpeg4", codec)
            codec = "mpeg4"
        self._file = contextlib.ExitStack()
        self._tmp = self._file.enter_context(atomic_path(self.path, suffix=".mp4"))
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = self._container.add_stream(codec, rate=frame_rate(self.fps))
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(self.crf)}
        return self

    def write(self, frame: torch.Tensor) -> None:
        """Encode one frame: ``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8."""
        if self._container is None:
            raise RuntimeError("VideoWriter.write called outside its `with` block")
        av = require_pyav()
        img = _to_uint8_hwc(frame)
        h, w = img.shape[:2]
        if self._size is None:
            self._size = (h, w)
            self._stream.height = h + h % 2
            self._stream.width = w + w % 2
        elif (h, w) != self._size:
            raise ValueError(
                f"frame {self.frames_written} is {h}x{w} but the video is {self._size[0]}x"
                f"{self._size[1]}: all frames must have the same size"
            )
        if h % 2 or w % 2:
            img = torch.nn.functional.pad(img.permute(2, 0, 1), (0, w % 2, 0, h % 2))
            img = img.permute(1, 2, 0)
        video_frame = av.VideoFrame.from_ndarray(img.contiguous().numpy(), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._file is not None and self._container is not None
        file, self._file = self._file, None
        try:
            if exc_type is None:
                if self.frames_written == 0:
                    raise ValueError(f"no frames were written to {self.path}: nothing to save")
                for packet in self._stream.encode():  # flush the encoder
                    self._container.mux(packet)
            self._container.close()
        except BaseException as err:
            self._container = None
            file.__exit__(type(err), err, err.__traceback__)  # drops the temporary file
            raise
        self._container = None
        if exc_type is not None:
            file.__exit__(exc_type, exc, tb)
            return
        file.close()  # renames the complete file into place
        log.info("wrote %s (%d frames, %g fps)", self.path, self.frames_written, self.fps)


def write_video(
    frames: Iterable[torch.Tensor], path: str | os.PathLike, fps: float = 30, **kwargs: Any
) -> int:
    """Stream ``frames`` (an iterator is consumed one frame at a time) into ``path``.

    Returns the number of frames written. ``kwargs`` go to :class:`VideoWriter`.
    """
    with VideoWriter(path, fps=fps, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames_written


def count_video_frames(path: str | os.PathLike) -> int:
    """Number of frames in a video file, counted by decoding it (PyAV)."""
    av = require_pyav()
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


MAX_RATE_DENOMINATOR = 1001
"""Largest denominator of the frame rate given to the encoder (NTSC's 30000/1001)."""


def frame_rate(fps: float) -> Fraction:
    """``fps`` as the fraction the encoder stores, its denominator at most
    :data:`MAX_RATE_DENOMINATOR`: a float's exact fraction (``29.97`` is
    ``8435870297325159 / 2**48``) overflows the encoder's 32-bit rational."""
    return Fraction(fps).limit_denominator(MAX_RATE_DENOMINATOR)


def check_fps(fps: float, key: str = "fps") -> float:
    """``fps`` if it is a finite number > 0 (at least ``1 / 2002``, the smallest rate
    :func:`frame_rate` keeps above 0), else ``ValueError`` naming ``key`` (a video of 0 or a
    negative frame rate does not exist; the encoder would silently pick its default)."""
    number = isinstance(fps, (int, float)) and not isinstance(fps, bool)
    if not number or not math.isfinite(fps) or not frame_rate(fps) > 0:
        raise ValueError(f"{key}={fps!r} is invalid: expected frames per second > 0")
    return fps


def _frame(panel: torch.Tensor, x_src: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
    """Tile one frame: ``panel (3, S, S)``, ``x_src``/``x_fake (N, 3, S, S)``, all in [-1, 1].

    Returns ``(3, 2S, (N + 1) S)`` in [0, 1].
    """
    top = torch.cat([panel, *x_src.unbind(0)], dim=2)  # (3, S, (N + 1) S)
    bottom = torch.cat([torch.full_like(panel, -1.0), *x_fake.unbind(0)], dim=2)
    return to_unit(torch.cat([top, bottom], dim=1))


def _alphas(frames_per_transition: int) -> list[float]:
    if frames_per_transition < 1:
        raise ValueError(
            f"frames_per_transition={frames_per_transition!r} is invalid: expected >= 1"
        )
    return [k / frames_per_transition for k in range(frames_per_transition)]


def _group_references(y_ref: torch.Tensor, domain_names: Sequence[str] | None) -> dict[int, list]:
    groups: dict[int, list[int]] = {}
    for i, y in enumerate(y_ref.tolist()):
        groups.setdefault(int(y), []).append(i)
    single = [d for d, idx in groups.items() if len(idx) < 2]
    if single:
        names = [domain_names[d] if domain_names else str(d) for d in single]
        raise ValueError(
            "video_ref interpolates between consecutive references of the same domain, but "
            f"domain(s) {names} have a single reference. Give at least two references for each "
            "domain (e.g. two images per domain folder), or drop those domains."
        )
    return groups


@torch.no_grad()
def video_ref_frames(
    module: StyleTranslator,
    x_src: torch.Tensor,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    frames_per_transition: int = 30,
    domain_names: Sequence[str] | None = None,
) -> Iterator[torch.Tensor]:
    """Frames of a reference-guided interpolation video, produced lazily.

    References are grouped by domain (in order of first appearance, keeping their order within
    a domain); for each pair of consecutive references of a domain, the style code is blended
    linearly from the first to the second over ``frames_per_transition`` frames, while the style
    panel slides from one reference to the other. Each domain ends on a frame of its last
    reference. Frame count: ``sum over domains of (refs - 1) * frames_per_transition + 1``.

    Args:
        x_src: ``(N, 3, S, S)`` sources in [-1, 1]; x_ref: ``(M, 3, S, S)`` references of
            domains ``y_ref`` (an integer ``(M,)`` tensor, or one int for all), checked as
            :func:`~starganv2.synthesis.grids.reference_grid` checks them.
        domain_names: names used in the error message for a domain with a single reference.

    Raises ``ValueError`` before any frame if a domain has fewer than two references.
    Yields ``(3, 2S, (N + 1) S)`` frames in [0, 1] (see the module docstring).
    """
    require_mode(module, MODE_REFERENCE, "a reference-guided video")
    # checked here, not at the first frame: a list of labels failed on .tolist, and one label
    # too few was reported as a domain with a single reference
    check_images(x_src, module.img_size, "x_src")
    check_images(x_ref, module.img_size, "x_ref")
    y_ref = domain_labels(y_ref, x_ref.size(0), module.num_domains, x_ref.device, key="y_ref")
    groups = _group_references(y_ref, domain_names)
    alphas = _alphas(frames_per_transition)
    return _video_ref_frames(module, x_src, x_ref, y_ref, groups, alphas)


def _video_ref_frames(module, x_src, x_ref, y_ref, groups, alphas) -> Iterator[torch.Tensor]:
    n = x_src.size(0)
    size = x_ref.size(-1)
    s_ref = module.style_from_reference(x_ref, y_ref.to(x_ref.device))  # (M, style_dim)
    src = encode_once(module, x_src)  # one encoding for every frame
    for y, idx in groups.items():
        y_trg = torch.full((n,), y, dtype=torch.long, device=x_src.device)
        for a, b in zip(idx[:-1], idx[1:]):
            strip = torch.cat([x_ref[a], x_ref[b]], dim=2)  # (3, S, 2S)
            for alpha in alphas:
                s = torch.lerp(s_ref[a], s_ref[b], alpha).expand(n, -1)  # (N, style_dim)
                offset = round(alpha * size)
                panel = strip[:, :, offset : offset + size]  # (3, S, S)
                yield _frame(panel, x_src, module.translate(src, y_trg, s=s))
        last = idx[-1]
        s = s_ref[last].expand(n, -1)
        yield _frame(x_ref[last], x_src, module.translate(src, y_trg, s=s))


@torch.no_grad()
def video_latent_frames(
    module: StyleTranslator,
    x_src: torch.Tensor,
    domains: Sequence[int] | None = None,
    num_codes: int = 4,
    frames_per_transition: int = 30,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[torch.Tensor]:
    """Frames of a latent-guided interpolation video, produced lazily.

    For each target domain, ``num_codes`` latent codes are drawn and mapped to (truncated) style
    codes; the style is blended linearly between consecutive codes over ``frames_per_transition``
    frames (interpolating styles rather than latents keeps the path on the mapped manifold).
    Each domain ends on its last code. Frame count:
    ``len(domains) * ((num_codes - 1) * frames_per_transition + 1)``.

    Args:
        x_src: ``(N, 3, S, S)`` sources in [-1, 1].
        domains: target domains (default: all).
        num_codes: latent codes per domain (>= 2).
        psi, s_mean: truncation, as in :func:`starganv2.synthesis.grids.latent_grid`.
        generator: CPU ``torch.Generator`` for the latent codes.

    Yields ``(3, 2S, (N + 1) S)`` frames in [0, 1].
    """
    require_mode(module, MODE_LATENT, "a latent-guided video")
    if num_codes < 2:
        raise ValueError(f"num_codes={num_codes!r} is invalid: interpolation needs at least 2")
    alphas = _alphas(frames_per_transition)
    # checked here, not at the first frame: 8-bit sources failed inside full_like
    check_images(x_src, module.img_size, "x_src")
    domains = (
        list(range(module.num_domains))
        if domains is None
        else domain_list(domains, module.num_domains, "domains")
    )
    if psi != 1.0 and s_mean is None:  # not from generator: the codes stay those of psi=1
        s_mean = seeded_style_means(module)
    return _video_latent_frames(module, x_src, domains, num_codes, alphas, psi, s_mean, generator)


def _video_latent_frames(
    module, x_src, domains, num_codes, alphas, psi, s_mean, generator
) -> Iterator[torch.Tensor]:
    n = x_src.size(0)
    blank = torch.full_like(x_src[0], -1.0)
    src = encode_once(module, x_src)  # one encoding for every frame
    for y in domains:
        z = torch.randn(num_codes, module.latent_dim, generator=generator)
        z = z.to(x_src.device, x_src.dtype)  # the model's dtype, which x_src has (checked)
        s_codes = latent_styles(module, z, y, psi, s_mean)  # (K, style_dim)
        y_trg = torch.full((n,), y, dtype=torch.long, device=x_src.device)
        for k in range(num_codes - 1):
            for alpha in alphas:
                s = torch.lerp(s_codes[k], s_codes[k + 1], alpha).expand(n, -1)
                yield _frame(blank, x_src, module.translate(src, y_trg, s=s))
        s = s_codes[-1].expand(n, -1)
        yield _frame(blank, x_src, module.translate(src, y_trg, s=s))


def video_ref(
    module: StyleTranslator,
    x_src: torch.Tensor,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    path: str | os.PathLike,
    frames_per_transition: int = 30,
    fps: int = 30,
    domain_names: Sequence[str] | None = None,
) -> int:
    """Write the reference-guided video of :func:`video_ref_frames` to ``path`` (MP4).

    Returns the number of frames written. Raises ``ValueError`` before writing anything if a
    domain has a single reference.
    """
    frames = video_ref_frames(module, x_src, x_ref, y_ref, frames_per_transition, domain_names)
    return write_video(frames, path, fps=fps)


def video_latent(
    module: StyleTranslator,
    x_src: torch.Tensor,
    path: str | os.PathLike,
    domains: Sequence[int] | None = None,
    num_codes: int = 4,
    frames_per_transition: int = 30,
    fps: int = 30,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Write the latent-guided video of :func:`video_latent_frames` to ``path`` (MP4).

    Returns the number of frames written.
    """
    frames = video_latent_frames(
        module, x_src, domains, num_codes, frames_per_transition, psi, s_mean, generator
    )
    return write_video(frames, path, fps=fps)
