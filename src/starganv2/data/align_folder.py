"""Align every face photo under a folder (:mod:`starganv2.faces.align`), mirroring the paths.

    input_dir/a/b/img.jpg  ->  output_dir/a/b/img.jpg      (img_size x img_size, aligned)

Bad input is handled as in folder translation: images that cannot be decoded, and photos in which
no face geometry can be fitted, are logged, skipped, listed in the returned report and in
``output_dir/align_failures.tsv``; the other images are written whole (temporary file, then
rename); existing outputs are skipped unless ``overwrite``, so an interrupted run resumes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import functional as TF
from tqdm.auto import tqdm

from starganv2.data.folders import IMAGE_SUFFIXES_TEXT, find_image_files, load_image
from starganv2.faces.align import align_faces
from starganv2.faces.fan import FAN
from starganv2.utils.files import atomic_write, write_failures
from starganv2.utils.images import to_pil

__all__ = ["AlignReport", "align_folder", "FAILURES_FILE"]

log = logging.getLogger(__name__)

FAILURES_FILE = "align_failures.tsv"
_PIL_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


@dataclass
class AlignReport:
    """What :func:`align_folder` did: outputs ``written``, ``skipped_existing`` outputs, and
    ``failed``: ``(input path, reason)`` for every image that could not be aligned."""

    written: int = 0
    skipped_existing: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _load(path: Path, size: int) -> torch.Tensor:
    """``(3, size, size)`` in ``[-1, 1]`` as the original prepares a photo (PIL bilinear resize,
    ``x / 255`` normalised to ``[-1, 1]``)."""
    img = load_image(path).resize((size, size), Image.Resampling.BILINEAR)
    return (TF.pil_to_tensor(img).float().div(255) - 0.5) / 0.5


def _save(x: torch.Tensor, path: Path, quality: int) -> None:
    fmt = _PIL_FORMATS.get(path.suffix.lower(), "PNG")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    atomic_write(path, lambda tmp: to_pil(x).save(tmp, format=fmt, **kwargs))


@torch.no_grad()
def align_folder(
    fan: FAN,
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    reference: torch.Tensor,
    img_size: int = 256,
    batch_size: int = 8,
    quality: int = 95,
    overwrite: bool = False,
    progress: bool = True,
) -> AlignReport:
    """Align every image under ``input_dir`` into ``output_dir`` at the mirrored path.

    Args:
        fan: the face-landmark net (on the device to use).
        reference: mean landmarks ``(98, 2)`` for ``img_size``
            (:func:`~starganv2.faces.align.load_mean_landmarks`).
        img_size: output side, a multiple of 64 (the original: 256).
        batch_size: photos per FAN pass.
        quality: JPEG / WebP quality of the outputs (same format as each input).
        overwrite: replace existing outputs (default: skip them).
        progress: show a progress bar.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input_dir={input_dir} is not a folder")
    if output_dir.exists() and not output_dir.is_dir():  # else a traceback at the first write
        raise FileExistsError(f"output_dir={output_dir} is a file: expected a folder")
    if (
        output_dir.resolve() == input_dir.resolve()
        or output_dir.resolve() in input_dir.resolve().parents
    ):
        raise ValueError(  # its images would all be taken for outputs: "no images found"
            f"output_dir={output_dir} is or contains input_dir={input_dir}: give an output folder "
            "outside the input folder (e.g. aligned/)"
        )
    if img_size < 64 or img_size % 64:
        raise ValueError(f"img_size={img_size} is invalid: expected a multiple of 64 (e.g. 256)")
    files = find_image_files(input_dir)
    files = [p for p in files if output_dir.resolve() not in p.resolve().parents]
    if not files:
        raise FileNotFoundError(f"no images ({IMAGE_SUFFIXES_TEXT}) found under {input_dir}")
    device = next(fan.parameters()).device
    report = AlignReport()
    todo = []
    for p in files:
        if not overwrite and (output_dir / p.relative_to(input_dir)).exists():
            report.skipped_existing += 1
        else:
            todo.append(p)
    bar = tqdm(total=len(todo), desc="align", unit="img", disable=not progress)
    for start in range(0, len(todo), batch_size):
        loaded: list[tuple[Path, torch.Tensor]] = []
        for p in todo[start : start + batch_size]:
            try:
                loaded.append((p, _load(p, img_size)))
            except OSError as e:
                log.warning("skipping %s: %s", p, e)
                report.failed.append((p, str(e)))
        if loaded:
            x = torch.stack([t for _, t in loaded]).to(device)
            aligned = align_faces(fan, x, reference).cpu()
            for (src, _), out in zip(loaded, aligned):
                if not torch.isfinite(out).all():
                    reason = "no face geometry could be fitted to the landmarks"
                    log.warning("skipping %s: %s", src, reason)
                    report.failed.append((src, reason))
                    continue
                _save(out, output_dir / src.relative_to(input_dir), quality)
                report.written += 1
        bar.update(len(todo[start : start + batch_size]))
    bar.close()
    log.info(
        "aligned %d image(s) into %s (%d existing skipped)",
        report.written,
        output_dir,
        report.skipped_existing,
    )
    write_failures(output_dir / FAILURES_FILE, report.failed, "aligned", log)
    return report
