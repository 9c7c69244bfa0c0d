"""Translate a detection dataset's images through ``Trainer.predict``.

The requests (:mod:`starganv2.synthesis.requests`) name each output by its path in the output
dataset; :class:`FitLoader` fits every source into the model's square (``letterbox`` keeps the
whole picture and its aspect ratio, so after :func:`~starganv2.synthesis.fit.unfit` every pixel,
and every box, is where it was) and :class:`DetectionItemWriter` (the ``write_item`` of
:class:`~starganv2.synthesis.prediction_writer.PredictionWriter`) maps each translation back to
its source's size and writes it whole. A source that cannot be decoded becomes one failure, not
a crash: the loader hands a blank square and the error on to the writer, which records it.

``fit="tile"`` keeps the source's own resolution (:mod:`starganv2.synthesis.tiles`): the loader
hands the tiles of a source ``(T, 3, S, S)`` as one request, :func:`collate_tiles` makes a row of
the batch of each tile (the request's target, seed, reference and ``psi`` repeated, so every tile
of an output gets the same style), ``predict_step`` translates the rows as any others, and the
writer blends the tiles of an output once it has all of them and writes it whole. A request
stays one output, so the sampler's share per rank, skipping finished outputs and the atomic
write are those of the other fits. A source smaller than a tile is letterboxed.

:func:`translate_requests` is the one call the augmentation makes, so the way images are
translated can change (another writer, DDP) without touching the rest. It stops after the batch
in progress when the process gets SIGTERM (Lightning's predict loop notes the signal but goes
on), raising Lightning's ``SIGTERMException``; every output written so far is whole, and a rerun
finishes the job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.exceptions import SIGTERMException
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms.functional import pil_to_tensor

from starganv2.data.folders import eval_transform, load_image
from starganv2.synthesis.fit import Fit, fit_square, unfit
from starganv2.synthesis.prediction_writer import PredictionWriter
from starganv2.synthesis.requests import (
    RequestSampler,
    TranslationRequest,
    TranslationRequests,
    collate_requests,
    prediction_loader,
)
from starganv2.synthesis.tiles import (
    TileLayout,
    blend_tiles,
    check_tile_options,
    cut_tiles,
    tile_layout,
)
from starganv2.utils.files import atomic_write
from starganv2.utils.images import from_uint8, to_pil
from starganv2.utils.quiet import info_held_back
from starganv2.utils.sigterm import notify_sigterm_without_collectives

__all__ = [
    "DETECTION_FITS",
    "Devices",
    "Reference",
    "FitLoader",
    "DetectionItemWriter",
    "collate_tiles",
    "translate_requests",
    "prediction_device",
    "output_format",
]

DETECTION_FITS = ("letterbox", "stretch", "tile")
"""Fits that keep every box where it was once the output is mapped back (``crop`` does not)."""
_WRITTEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""Formats an output is written in: those Pillow writes an RGB picture in, without a plugin."""


def output_format(suffix: str) -> str | None:
    """The Pillow format an output named ``*<suffix>`` is written in (the one Pillow registers
    for that suffix: ``.tif`` TIFF, ``.gif`` GIF, ``.jpg`` JPEG...), or ``None`` when it is none
    of :data:`_WRITTEN_FORMATS` (such outputs are named ``.png`` instead)."""
    fmt = Image.registered_extensions().get(suffix.lower())
    return fmt if fmt in _WRITTEN_FORMATS else None


@dataclasses.dataclass(frozen=True)
class AnnotatedSource:
    """A source image and the ``(width, height)`` its annotation gives.

    Where that is the size of an EXIF-rotated file as stored (not upright), the labelling tool
    ignored the tag, so the boxes are in the stored orientation: the image is translated as
    stored, and its output (which carries no EXIF tag) fits its boxes."""

    path: Path
    size: tuple[int, int]


def load_source(source: Any) -> Image.Image:
    """The source image as RGB: upright (EXIF orientation applied), or as stored for an
    :class:`AnnotatedSource` whose annotation gives the stored size of a rotated file.
    ``OSError`` naming the file when it cannot be decoded."""
    if not isinstance(source, AnnotatedSource):
        return load_image(source)
    img = load_image(source.path)
    if img.size == tuple(source.size):
        return img
    stored = load_image(source.path, exif=False)
    return stored if stored.size == tuple(source.size) else img


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference image (reference-guided styles): resized to the square like the training
    data, never letterboxed."""

    path: Path


class FitLoader:
    """``load_image`` of :class:`~starganv2.synthesis.requests.TranslationRequests`.

    A source path gives ``{"x": (3, S, S), "fit": dict of the Fit | None, "error": str | None}``
    (the fit as a plain dict: Lightning's batch transfer cannot copy frozen dataclasses); with
    ``fit="tile"`` a source at least a tile wide and high gives ``"x": (T, 3, S, S)``, its tiles,
    and ``"fit"`` ``{"mode": "tile", "height", "width", "tile", "size", "overlap"}``, what its
    :class:`~starganv2.synthesis.tiles.TileLayout` follows from (a smaller one is letterboxed).
    A :class:`Reference` gives its ``(3, S, S)`` square.

    Args:
        img_size: the model's side ``S``.
        fit: one of :data:`DETECTION_FITS`.
        tile_size: ``fit="tile"``: a tile's side in source pixels; ``None``: ``img_size`` (the
            source's own resolution, no resampling).
        tile_overlap: ``fit="tile"``: the share of a tile's side it shares with its neighbour.
    """

    def __init__(
        self,
        img_size: int,
        fit: str = "letterbox",
        tile_size: int | None = None,
        tile_overlap: float = 0.25,
    ) -> None:
        if fit not in DETECTION_FITS:
            raise ValueError(f"fit={fit!r} is invalid: expected one of {list(DETECTION_FITS)}")
        check_tile_options(tile_size, tile_overlap)
        self.img_size, self.fit = int(img_size), fit
        self.tile_size = self.img_size if tile_size is None else int(tile_size)
        self.tile_overlap = float(tile_overlap)
        self.ref_transform = eval_transform(self.img_size)

    def __call__(self, source: Any) -> torch.Tensor | dict[str, Any]:
        if isinstance(source, Reference):
            return self.ref_transform(load_image(source.path))
        try:
            img = load_source(source)
        except OSError as err:
            blank = torch.zeros(3, self.img_size, self.img_size)
            return {"x": blank, "fit": None, "error": str(err)}
        x = from_uint8(pil_to_tensor(img))  # (3, H, W) in [-1, 1]
        if self.fit == "tile":
            _, h, w = x.shape
            layout = tile_layout(h, w, self.tile_size, self.img_size, self.tile_overlap)
            if layout is not None:
                tiles = cut_tiles(x, layout)  # (T, 3, S, S)
                fit = {"mode": "tile", "height": h, "width": w, "tile": self.tile_size}
                fit.update(size=self.img_size, overlap=self.tile_overlap)
                return {"x": tiles, "fit": fit, "error": None}
        mode = "letterbox" if self.fit == "tile" else self.fit
        x_fit, fit = fit_square(x, self.img_size, mode)
        return {"x": x_fit, "fit": dataclasses.asdict(fit), "error": None}

    def __repr__(self) -> str:
        tiles = ""
        if self.fit == "tile":
            tiles = f", tile_size={self.tile_size}, tile_overlap={self.tile_overlap}"
        return f"FitLoader(img_size={self.img_size}, fit={self.fit!r}{tiles})"


def _layout(fit: dict[str, Any]) -> TileLayout:
    """The tile layout a ``fit="tile"`` record describes (the record holds the few numbers it
    follows from, which Lightning's batch transfer copies quickly)."""
    layout = tile_layout(fit["height"], fit["width"], fit["tile"], fit["size"], fit["overlap"])
    assert layout is not None, f"a tiled source is at least a tile wide and high: {fit}"
    return layout


def collate_tiles(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """:func:`~starganv2.synthesis.requests.collate_requests` of items whose ``x`` may hold a
    source's tiles ``(T, 3, S, S)``: such an item becomes ``T`` rows, row ``j`` with ``x`` its
    tile ``j``, ``"tile": j`` and every other value (target, seed, reference, ``psi``, key, fit)
    of the item repeated; an item with one ``(3, S, S)`` image stays one row (``"tile": None``)."""
    rows: list[dict[str, Any]] = []
    for item in items:
        x = item["x"]
        if x.dim() == 4:
            rows += [{**item, "x": x[j], "tile": j} for j in range(x.size(0))]
        else:
            rows.append({**item, "tile": None})
    return collate_requests(rows)


def _save(x: torch.Tensor, path: Path, quality: int) -> None:
    """``x (3, H, W)`` in [-1, 1] to ``path`` whole, in the format its suffix names."""
    img = to_pil(x)
    fmt = output_format(path.suffix) or "PNG"
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **kwargs))


class DetectionItemWriter:
    """``write_item`` of :class:`~starganv2.synthesis.prediction_writer.PredictionWriter`: maps
    each translation back to its source's geometry (the item's ``fit``) and writes it to
    ``root / key``; an item whose source could not be read is recorded instead.

    With ``fit="tile"`` each item is one tile (its ``tile`` index, the layout in ``fit``); the
    tiles of an output are kept until the last one comes, then blended and written at once.

    Attributes:
        written: keys written in this run (this rank's; every rank's once
            :func:`translate_requests` returns).
        failed: ``{key: reason}`` of outputs whose source could not be read (likewise).
        resized: ``{key: (width, height)}`` of sources whose decoded size differs from the
            item's ``size`` (the annotation's), e.g. an EXIF rotation; written at the decoded size.
        rank: this process's global rank in the prediction run (0 without DDP).
    """

    def __init__(self, root: str | Path, quality: int = 95) -> None:
        self.root, self.quality = Path(root), int(quality)
        self.written: list[str] = []
        self.failed: dict[str, str] = {}
        self.resized: dict[str, tuple[int, int]] = {}
        self.rank = 0
        self._tiles: dict[str, dict[int, torch.Tensor]] = {}

    def __call__(self, item: dict[str, Any], image: torch.Tensor) -> None:
        key = item["key"]
        if item["error"] is not None:
            self.failed[key] = item["error"]
            return
        if item["fit"]["mode"] == "tile":
            layout = _layout(item["fit"])
            tiles = self._tiles.setdefault(key, {})
            tiles[int(item["tile"])] = image
            if len(tiles) < len(layout):
                return
            del self._tiles[key]
            out = blend_tiles(torch.stack([tiles[j] for j in range(len(layout))]), layout)
            width, height = layout.width, layout.height
        else:
            fit = Fit(**{**item["fit"], "box": tuple(item["fit"]["box"])})
            out, width, height = unfit(image, fit), fit.width, fit.height
        if item.get("size") is not None and tuple(item["size"]) != (width, height):
            self.resized[key] = (width, height)
        _save(out, self.root / key, self.quality)  # (3, H, W)
        self.written.append(key)


@dataclasses.dataclass(frozen=True)
class Devices:
    """Where :func:`translate_requests` runs: the Lightning ``Trainer`` arguments of the same
    names. ``devices`` > 1 or ``num_nodes`` > 1 is a DDP run (``strategy="auto"`` gives ``ddp``):
    every process runs the whole program (Lightning starts the other ranks of a node by running
    its command again) and translates its share of the requests."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"


def _trainer(where: Devices | str, callbacks: list[Any], progress: bool) -> L.Trainer:
    """The prediction trainer on ``where`` (an accelerator name: one device); ``ValueError`` in
    one line for settings Lightning refuses or a strategy that spawns its ranks."""
    where = Devices(where) if isinstance(where, str) else where
    if any(word in str(where.strategy) for word in ("spawn", "fork", "notebook")):
        raise ValueError(
            f"strategy={where.strategy!r} starts its ranks inside the run, where they cannot hand "
            "their results back: expected strategy=auto or ddp (each rank runs the whole command)"
        )
    try:
        trainer = L.Trainer(
            accelerator=where.accelerator,
            devices=where.devices,
            num_nodes=where.num_nodes,
            strategy=where.strategy,
            logger=False,
            callbacks=callbacks,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=progress,
        )
    except MisconfigurationException as err:
        raise ValueError(
            f"accelerator={where.accelerator!r} devices={where.devices!r} "
            f"num_nodes={where.num_nodes!r} strategy={where.strategy!r} cannot run: {err}"
        ) from err
    notify_sigterm_without_collectives(trainer)  # Lightning's handler can deadlock DDP
    return trainer


def prediction_device(where: Devices | str = "auto") -> torch.device:
    """The device :func:`translate_requests` runs the model on in this process for ``where`` (a
    :class:`Devices`, or an accelerator name: one device); the label check runs its detector
    there too. Lightning's info lines about the devices are left to the trainer that
    translates, so a run shows them once."""
    with info_held_back():
        return _trainer(where, [], False).strategy.root_device


class _Writer(PredictionWriter):
    """The prediction writer, counting outputs (``written``), not the tiles that make them."""

    def __init__(self, root: Path, items: DetectionItemWriter) -> None:
        super().__init__(root, write_item=items)
        self.items = items

    def write_item(self, item: dict[str, Any], image: torch.Tensor) -> None:
        done = len(self.items.written)
        self.items(item, image)
        self.written += len(self.items.written) - done


class _StopOnSigterm(L.Callback):
    """Stop the prediction after the batch in progress (written by the writer before it) once
    the process got SIGTERM: Lightning's handler only sets ``trainer.received_sigterm``, which
    its fit loop checks and its predict loop does not."""

    def on_predict_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.received_sigterm:
            raise SIGTERMException


def _gather(items: DetectionItemWriter) -> None:
    """Every rank's ``written``, ``failed`` and ``resized`` into ``items``, on every rank; a
    collective call, so it returns once all ranks have finished their images."""
    every: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(every, (items.written, items.failed, items.resized))
    items.written = [key for written, _, _ in every for key in written]
    items.failed = {key: why for _, failed, _ in every for key, why in failed.items()}
    items.resized = {key: size for _, _, resized in every for key, size in resized.items()}


def translate_requests(
    module: L.LightningModule,
    requests: Sequence[TranslationRequest],
    root: str | Path,
    fit: str = "letterbox",
    batch_size: int = 8,
    quality: int = 95,
    where: Devices | str = "auto",
    progress: bool = False,
    tile_size: int | None = None,
    tile_overlap: float = 0.25,
) -> DetectionItemWriter:
    """Translate ``requests`` whose output ``root / key`` does not exist yet, with
    ``Trainer.predict`` on ``where`` (a :class:`Devices`, or an accelerator name: one device);
    returns the item writer (``written``, ``failed``, ``resized``, ``rank``). Under DDP each
    rank writes its own share (no file is written by two ranks) and the call returns, on every
    rank, once all ranks have finished, with every rank's ``written``, ``failed`` and
    ``resized``; with nothing left to translate no trainer starts. SIGTERM stops it after the
    batch in progress with ``SIGTERMException`` (see the module docstring). ``batch_size`` counts
    outputs: with ``fit="tile"`` a forward pass holds all the tiles of ``batch_size`` sources."""
    items = DetectionItemWriter(root, quality)
    writer = _Writer(Path(root), items)
    load = FitLoader(module.img_size, fit, tile_size, tile_overlap)
    data = TranslationRequests(requests, load)
    if fit == "tile":
        sampler = RequestSampler(data, skip=writer.is_written)
        loader = DataLoader(data, batch_size, sampler=sampler, collate_fn=collate_tiles)
    else:
        loader = prediction_loader(data, batch_size, skip=writer.is_written)
    if len(loader.sampler) == 0:
        return items
    trainer = _trainer(where, [writer, _StopOnSigterm()], progress)
    trainer.predict(module, loader, return_predictions=False)
    items.rank = trainer.global_rank
    if trainer.world_size > 1:
        _gather(items)
    return items
