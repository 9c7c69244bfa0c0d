"""What the shapes data know of each image (``root/metadata.json``, written by
:func:`starganv2.data.shapes.make_shapes_dataset`): its class, centre, half-extent, colour and
background, at the image size of the model being evaluated.

    truth = ShapesTruth("data/shapes", img_size=64)
    recs = truth.records(paths)          # one metadata record per image file
    truth.centres(recs)                  # (B, 2) in the model's pixels
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from starganv2.evaluation.shapes_geometry import outline_box

__all__ = ["ShapesTruth"]


class ShapesTruth:
    """The metadata of the shapes dataset at ``root``, scaled to ``img_size`` pixels.

    Raises ``FileNotFoundError`` when ``root`` holds no ``metadata.json`` (not shapes data).
    """

    def __init__(self, root: str | os.PathLike, img_size: int):
        self.root = Path(root)
        meta = self.root / "metadata.json"
        if not meta.is_file():
            raise FileNotFoundError(
                f"{meta}: not found; the shapes quality check needs a dataset written by "
                "starganv2.shapes (data=shapes)"
            )
        doc = json.loads(meta.read_text())
        self.img_size = img_size
        self.scale = img_size / int(doc["params"]["img_size"])  # metadata pixels -> model pixels
        self._records = {r["path"]: r for r in doc["images"]}

    def records(self, paths: Sequence[Path]) -> list[dict[str, Any]]:
        """The metadata record of each image file (a path under ``root``)."""
        return [self._records[Path(p).relative_to(self.root).as_posix()] for p in paths]

    @staticmethod
    def backgrounds(recs: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Background colours ``(B, 3)`` in 0-255."""
        return torch.tensor([r["background"] for r in recs], dtype=torch.float32)

    @staticmethod
    def colours(recs: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Shape colours ``(B, 3)`` in 0-255."""
        return torch.tensor([r["color"] for r in recs], dtype=torch.float32)

    def centres(self, recs: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Shape centres ``(B, 2)`` as ``(x, y)`` in model pixels."""
        return torch.tensor([[r["cx"], r["cy"]] for r in recs]) * self.scale

    def boxes(self, recs: Sequence[dict[str, Any]], shape: str | None = None) -> torch.Tensor:
        """Boxes ``(B, 4)`` of ``shape`` (default: each record's own) drawn at each record's centre
        and size, in model pixels: what a translation into ``shape`` that keeps position and size
        draws (see :mod:`.shapes_geometry`)."""
        s = self.scale
        return torch.stack(
            [
                outline_box(
                    shape or r["domain"], self.img_size, r["cx"] * s, r["cy"] * s, r["size"] * s
                )
                for r in recs
            ]
        )
