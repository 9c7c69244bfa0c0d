"""Translate a detection dataset's images through ``Trainer.predict``.

The requests (:mod:`starganv2.synthesis.requests`) name each output by its path in the output
dataset; :class:`FitLoader` fits every source into the model's square (``letterbox`` keeps the
whole picture and its aspect ratio, so after :func:`~starganv2.synthesis.fit.unfit` every pixel,
and every box, is where it was) and :class:`DetectionItemWriter` (the ``write_item`` of
:class:`~starganv2.synthesis.prediction_writer.PredictionWriter`) maps each translation back to
its source's size and writes it whole. A source that cannot be decoded becomes one failure, not
a crash: the loader hands a blank square and the error on to the writer, which records it.

:func:`translate_requests` is the one call the augmentation makes, so the way images are
translated can change (another writer, DDP) without touching the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torchvision.transforms.functional import pil_to_tensor

from starganv2.data.folders import eval_transform, load_image
from starganv2.synthesis.fit import Fit, fit_square, unfit
from starganv2.synthesis.prediction_writer import PredictionWriter
from starganv2.synthesis.requests import TranslationRequest, TranslationRequests, prediction_loader
from starganv2.utils.files import atomic_write
from starganv2.utils.images import from_uint8, to_pil
from starganv2.utils.quiet import info_held_back

__all__ = [
    "DETECTION_FITS",
    "Reference",
    "FitLoader",
    "DetectionItemWriter",
    "translate_requests",
    "prediction_device",
]

DETECTION_FITS = ("letterbox", "stretch")
"""Fits that keep every box where it was once the output is mapped back (``crop`` does not)."""
_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference image (reference-guided styles): resized to the square like the training
    data, never letterboxed."""

    path: Path


class FitLoader:
    """``load_image`` of :class:`~starganv2.synthesis.requests.TranslationRequests`.

    A source path gives ``{"x": (3, S, S), "fit": dict of the Fit | None, "error": str | None}``
    (the fit as a plain dict: Lightning's batch transfer cannot copy frozen dataclasses); a
    :class:`Reference` gives its ``(3, S, S)`` square.

    Args:
        img_size: the model's side ``S``.
        fit: one of :data:`DETECTION_FITS`.
    """

    def __init__(self, img_size: int, fit: str = "letterbox") -> None:
        if fit not in DETECTION_FITS:
            raise ValueError(f"fit={fit!r} is invalid: expected one of {list(DETECTION_FITS)}")
        self.img_size, self.fit = int(img_size), fit
        self.ref_transform = eval_transform(self.img_size)

    def __call__(self, source: Any) -> torch.Tensor | dict[str, Any]:
        if isinstance(source, Reference):
            return self.ref_transform(load_image(source.path))
        try:
            img = load_image(source)
        except OSError as err:
            blank = torch.zeros(3, self.img_size, self.img_size)
            return {"x": blank, "fit": None, "error": str(err)}
        x = from_uint8(pil_to_tensor(img))  # (3, H, W) in [-1, 1]
        x_fit, fit = fit_square(x, self.img_size, self.fit)
        return {"x": x_fit, "fit": dataclasses.asdict(fit), "error": None}

    def __repr__(self) -> str:
        return f"FitLoader(img_size={self.img_size}, fit={self.fit!r})"


def _save(x: torch.Tensor, path: Path, quality: int) -> None:
    """``x (3, H, W)`` in [-1, 1] to ``path`` whole, in the format its suffix names."""
    img = to_pil(x)
    fmt = _PIL_FORMATS.get(path.suffix.lower(), "PNG")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **kwargs))


class DetectionItemWriter:
    """``write_item`` of :class:`~starganv2.synthesis.prediction_writer.PredictionWriter`: maps
    each translation back to its source's geometry (the item's ``fit``) and writes it to
    ``root / key``; an item whose source could not be read is recorded instead.

    Attributes:
        written: keys written in this run (this rank).
        failed: ``{key: reason}`` of outputs whose source could not be read (this rank).
        resized: ``{key: (width, height)}`` of sources whose decoded size differs from the
            item's ``size`` (the annotation's), e.g. an EXIF rotation; written at the decoded size.
    """

    def __init__(self, root: str | Path, quality: int = 95) -> None:
        self.root, self.quality = Path(root), int(quality)
        self.written: list[str] = []
        self.failed: dict[str, str] = {}
        self.resized: dict[str, tuple[int, int]] = {}

    def __call__(self, item: dict[str, Any], image: torch.Tensor) -> None:
        key = item["key"]
        if item["error"] is not None:
            self.failed[key] = item["error"]
            return
        fit = Fit(**{**item["fit"], "box": tuple(item["fit"]["box"])})
        if item.get("size") is not None and tuple(item["size"]) != (fit.width, fit.height):
            self.resized[key] = (fit.width, fit.height)
        _save(unfit(image, fit), self.root / key, self.quality)  # (3, H, W)
        self.written.append(key)


def _trainer(accelerator: str, callbacks: list[Any], progress: bool) -> L.Trainer:
    return L.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )


def prediction_device(accelerator: str = "auto") -> torch.device:
    """The device :func:`translate_requests` runs the model on for ``accelerator`` (the label
    check runs its detector there too). Lightning's info lines about the devices are left to
    the trainer that translates, so a run shows them once."""
    with info_held_back():
        return _trainer(accelerator, [], False).strategy.root_device


def translate_requests(
    module: L.LightningModule,
    requests: Sequence[TranslationRequest],
    root: str | Path,
    fit: str = "letterbox",
    batch_size: int = 8,
    quality: int = 95,
    accelerator: str = "auto",
    progress: bool = False,
) -> DetectionItemWriter:
    """Translate ``requests`` whose output ``root / key`` does not exist yet, with
    ``Trainer.predict`` on one device; returns the item writer (``written``, ``failed``,
    ``resized``)."""
    items = DetectionItemWriter(root, quality)
    writer = PredictionWriter(root, write_item=items)
    data = TranslationRequests(requests, FitLoader(module.img_size, fit))
    loader = prediction_loader(data, batch_size, skip=writer.is_written)
    if len(loader.sampler) == 0:
        return items
    trainer = _trainer(accelerator, [writer], progress)
    trainer.predict(module, loader, return_predictions=False)
    return items
