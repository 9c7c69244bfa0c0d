"""``PredictionWriter``: the Lightning callback that stores ``predict_step``'s outputs as files.

After every predicted batch it splits the output ``{"x_fake": (N, 3, S, S), **passed}`` into
``N`` items and calls ``write_item(item, image)`` for each: ``item`` holds that row of every
passed-through key (``key``, ``y_trg``, ``seed``, ``style``, the request's extras), ``image`` is
``(3, S, S)`` in [-1, 1] on the CPU. The default writes ``image`` to ``output_dir/<key>`` in the
format its suffix names (any PIL writes: ``.png``, ``.jpg``, ``.webp``, ``.bmp``, ``.tif``...; PNG
without a suffix; a suffix PIL cannot write is a ``ValueError`` naming the path).

Every file lands whole: written under a temporary name beside the target and renamed
(:func:`starganv2.utils.files.atomic_path`), so an interrupted run leaves no half-written output,
and a rerun skips what is done: pass :meth:`PredictionWriter.is_written` as ``skip`` to
:func:`starganv2.synthesis.requests.prediction_loader`, which leaves those requests out before
anything is read or translated. Under DDP each rank writes the outputs of its own share of the
requests (:class:`~starganv2.synthesis.requests.RequestSampler`), so no two ranks write one file.

Call ``Trainer.predict(..., return_predictions=False)``: the outputs are in the files, and keeping
them all in memory as well would grow with the dataset.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DistributedSampler

from starganv2.synthesis.requests import TranslationRequest
from starganv2.utils.images import QUALITY, image_format, save_picture, to_pil

__all__ = [
    "PredictionWriter",
    "split_prediction",
    "write_image",
    "save_picture",
    "image_format",
    "QUALITY",
]

log = logging.getLogger(__name__)

ItemWriter = Callable[[dict[str, Any], torch.Tensor], None]
"""``write_item(item, image)``: store one output (``image (3, S, S)`` in [-1, 1], CPU)."""


def write_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write ``image (3, H, W)`` in [-1, 1] to ``path`` atomically, in the format its suffix names
    (PNG without a suffix; ``ValueError`` naming ``path`` for a suffix PIL cannot write, see
    :func:`save_picture`); returns ``path``."""
    return save_picture(to_pil(image), path)


def split_prediction(prediction: Mapping[str, Any]) -> list[tuple[dict[str, Any], torch.Tensor]]:
    """``{"x_fake": (N, 3, S, S), **passed}`` -> ``N`` pairs ``(item, image)``: ``item`` holds
    row ``i`` of every passed key (a tensor row, or entry ``i`` of a list), ``image`` is
    ``x_fake[i]``."""
    images = prediction["x_fake"]
    n = images.size(0)
    out = []
    for i in range(n):
        item = {}
        for k, v in prediction.items():
            if k == "x_fake":
                continue
            if isinstance(v, torch.Tensor):
                item[k] = v[i] if v.dim() > 0 else v
            elif isinstance(v, Sequence) and not isinstance(v, (str, bytes)) and len(v) == n:
                item[k] = v[i]
            else:
                item[k] = v
        out.append((item, images[i]))
    return out


def _sharded(loader: Any) -> bool:
    """Whether a (Lightning-prepared) dataloader gives each rank its own share."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    samplers = (getattr(batch_sampler, "sampler", None), getattr(loader, "sampler", None))
    return any(isinstance(s, DistributedSampler) for s in samplers)


class PredictionWriter(BasePredictionWriter):
    """Writes each output of ``predict_step`` as it comes (see the module docstring).

    Args:
        output_dir: the folder the default writer and :meth:`is_written` resolve keys in.
        write_item: ``write_item(item, image)`` stores one output; default: the image at
            ``output_dir/<item["key"]>`` (:func:`write_image`). A custom writer must write
            atomically too (:func:`starganv2.utils.files.atomic_path`).
        is_written: ``is_written(request) -> bool``, whether a request's output exists; default:
            ``output_dir/<request.key>`` is a file. Give one with a custom ``write_item`` that
            writes elsewhere.

    Attributes:
        written: outputs this process wrote in the last prediction run (0 when all were done).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        write_item: ItemWriter | None = None,
        is_written: Callable[[TranslationRequest], bool] | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self._write_item = write_item
        self._is_written = is_written
        self.written = 0
        self._allowed_zero: bool | None = None

    def output_path(self, key: str) -> Path:
        """``output_dir/<key>``; ``ValueError`` for a key that is absolute or leaves the folder."""
        rel = PurePosixPath(str(key).replace(os.sep, "/"))
        if not str(key) or rel.is_absolute() or ".." in rel.parts:
            raise ValueError(
                f"key={key!r}: expected a relative path inside the output folder (no leading "
                "'/', no '..')"
            )
        return self.output_dir.joinpath(*rel.parts)

    def is_written(self, request: TranslationRequest) -> bool:
        """Whether ``request``'s output already exists (a rerun skips it)."""
        if self._is_written is not None:
            return bool(self._is_written(request))
        return self.output_path(request.key).is_file()

    def write_item(self, item: dict[str, Any], image: torch.Tensor) -> None:
        """Store one output (the ``write_item`` given, or the image at ``output_dir/<key>``)."""
        if self._write_item is not None:
            self._write_item(item, image)
        else:
            if "key" not in item:
                raise KeyError(
                    f"the prediction has no 'key' (keys {sorted(item)}): the default writer "
                    "names each file by its request's key; pass write_item to name them otherwise"
                )
            write_image(self.output_path(item["key"]), image)
        self.written += 1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Let a rank whose share is all done have no batch: Lightning refuses a zero-length
        dataloader on one rank of several unless the module allows it (prediction does not
        synchronise per batch, so an idle rank is harmless); restored in :meth:`teardown`."""
        if stage == "predict":
            self.written = 0
            self._allowed_zero = pl_module.allow_zero_length_dataloader_with_multiple_devices
            pl_module.allow_zero_length_dataloader_with_multiple_devices = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "predict" and self._allowed_zero is not None:
            pl_module.allow_zero_length_dataloader_with_multiple_devices = self._allowed_zero
            self._allowed_zero = None

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Refuse to start when several ranks would each translate every request."""
        if trainer.world_size > 1:
            loaders = trainer.predict_dataloaders
            loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
            unsharded = [i for i, dl in enumerate(loaders) if not _sharded(dl)]
            if unsharded:
                raise ValueError(
                    f"predict dataloader(s) {unsharded} give every one of the {trainer.world_size} "
                    "ranks all requests, so each output would be written by every rank: build "
                    "them with starganv2.synthesis.requests.prediction_loader (each rank its "
                    "share), or set the trainer's use_distributed_sampler=True"
                )

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for item, image in split_prediction(prediction):
            self.write_item(item, image)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log.info(
            "rank %d wrote %d output(s) under %s",
            trainer.global_rank,
            self.written,
            self.output_dir,
        )
