"""``check=scene``: the exact label check of the built-in day/night scenes.

The objects of :mod:`starganv2.data.detection_scenes` are known, so no detector is needed: each
translated output is read back as written (un-letterboxed, at its source's size), and
:func:`starganv2.evaluation.scene_check.scene_box_figures` measures per box the box IoU of the
object pixels' extent and the share of the box they fill. A box passes as
:func:`~starganv2.evaluation.scene_check.scene_box_check` says: IoU >= ``check_iou`` and the fill
within :data:`FILL_TOL` of its class's. The class comes from the dataset's category name
(``circle``, ``square``, ``triangle``); a dataset with another category is refused before
anything is translated (``check=detector`` is the check for other data).

The figures go into the report (``iou``, ``fill`` per box), so the share of objects kept and the
translations' geometry can be read from it without checking again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms.functional import pil_to_tensor

from starganv2.data.detection_scenes import CLASSES
from starganv2.data.folders import load_image
from starganv2.evaluation.scene_check import CLASS_FILL, scene_box_figures
from starganv2.synthesis.detection.check import CheckOptions, check_options, is_required
from starganv2.synthesis.detection.dataset import DetectionDataset, DetectionImage
from starganv2.utils.images import from_uint8

__all__ = ["FILL_TOL", "SceneCheck", "scene_check"]

log = logging.getLogger(__name__)

FILL_TOL = 0.25
"""Largest difference between the share of its box an object fills and its class's
(:data:`~starganv2.evaluation.scene_check.CLASS_FILL`): ``scene_box_check``'s default."""


@dataclass
class SceneCheck:
    """Every required box of a built-in scene must still hold its object.

    Args:
        dataset: a dataset of the built-in scenes (categories named as in
            :data:`~starganv2.data.detection_scenes.CLASSES`); ``ValueError`` otherwise.
        iou: least box IoU between the object pixels' extent and the box.
        fill_tol: largest difference between the object's fill of its box and its class's.
    """

    dataset: DetectionDataset
    iou: float = 0.5
    fill_tol: float = FILL_TOL

    def __post_init__(self) -> None:
        if not 0.0 < float(self.iou) <= 1.0:
            raise ValueError(f"check_iou={self.iou!r} is invalid: expected a number in (0, 1]")
        used = sorted({b.category for im in self.dataset.images for b in im.boxes})
        other = [name for name in used if name not in CLASSES]
        if other:
            raise ValueError(
                f"check=scene but the {self.dataset.format} dataset {self.dataset.source} has "
                f"categories {other}: check=scene is only for the built-in scenes (categories "
                f"{list(CLASSES)}); use check=detector for other data"
            )

    def check_image(self, image: DetectionImage, picture: torch.Tensor) -> dict[str, Any]:
        """The result for one output of ``image``; ``picture`` is the output, ``(3, H, W)`` in
        [-1, 1] at the source's size."""
        boxes = torch.tensor([b.xyxy for b in image.boxes], dtype=torch.float32).reshape(-1, 4)
        ious, fills = scene_box_figures(picture, boxes)  # (M,), (M,)
        records = []
        for i, b in enumerate(image.boxes):
            iou, fill = float(ious[i]), float(fills[i])
            matched = iou >= self.iou and abs(fill - CLASS_FILL[b.category]) <= self.fill_tol
            records.append(
                {
                    "index": i,
                    "category": b.category,
                    "iou": round(iou, 4),
                    "fill": round(fill, 4),
                    "matched": bool(matched),
                    "required": is_required(b),
                }
            )
        return {"passed": all(r["matched"] for r in records if r["required"]), "boxes": records}

    def __call__(self, items: Sequence[tuple[Path, DetectionImage]]) -> list[dict[str, Any]]:
        results = []
        for path, image in items:
            picture = from_uint8(pil_to_tensor(load_image(path)))  # (3, H, W) in [-1, 1]
            results.append(self.check_image(image, picture))
        return results


def scene_check(
    dataset: DetectionDataset, device: torch.device, options: CheckOptions
) -> SceneCheck:
    """The ``check=scene`` factory of :data:`~.check.CHECKS`: ``check_iou`` is the check's
    ``iou``; it runs on the CPU (a few pixel statistics per box), so ``device`` is unused, and so
    are the detector's options."""
    check_options(options)
    if options.detector is not None:
        log.warning("detector=%r is not used: check=scene needs no detector", options.detector)
    return SceneCheck(dataset, iou=options.iou)
