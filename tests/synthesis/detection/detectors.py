"""Stand-in detectors for the label check's tests: they "detect" what a test tells them, by image
size, and remember what they were called with (sizes, batch shapes), so a test can check both
the matching and the geometry the check hands over."""

from __future__ import annotations

import torch
from torch import nn

ANSWERS: dict[tuple[int, int], list[tuple[list[float], int]]] = {}
"""``{(width, height): [(xyxy, label), ...]}``: the detections of every image of that size."""
CALLS: list[tuple[int, ...]] = []
"""The shape of every image (list input) or batch (tensor input) seen, in order."""


def reset(answers: dict[tuple[int, int], list[tuple[list[float], int]]] | None = None) -> None:
    ANSWERS.clear()
    ANSWERS.update(answers or {})
    CALLS.clear()


def _answer(height: int, width: int) -> dict[str, torch.Tensor]:
    found = ANSWERS.get((width, height), [])
    return {
        "boxes": torch.tensor([b for b, _ in found], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([lab for _, lab in found], dtype=torch.int64),
        "scores": torch.full((len(found),), 0.9),
    }


class SizeDetector:
    """torchvision's interface: a list of ``(3, H, W)`` images in, one dict per image out."""

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for x in images:
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0, "images must be in [0, 1]"
            CALLS.append(tuple(x.shape))
            out.append(_answer(x.shape[-2], x.shape[-1]))
        return out


def batch_detector(x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """``detector_input=tensor``: one ``(N, 3, H, W)`` batch in."""
    CALLS.append(tuple(x.shape))
    return [_answer(x.shape[-2], x.shape[-1]) for _ in range(x.shape[0])]


def tensor_out(images: list[torch.Tensor]) -> torch.Tensor:
    """Breaks the contract: a tensor instead of a list of dicts."""
    return torch.zeros(len(images), 4)


def no_scores(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Breaks the contract: no ``scores``."""
    return [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)} for _ in images]


NOT_CALLABLE = 3


class FixedBoxes(nn.Module):
    """A TorchScript-able detector that finds the same boxes in every image."""

    def __init__(self, boxes: list[list[float]], labels: list[int]) -> None:
        super().__init__()
        self.register_buffer("boxes", torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        self.register_buffer("labels", torch.tensor(labels, dtype=torch.int64))

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out: list[dict[str, torch.Tensor]] = []
        for _ in images:
            scores = torch.ones(self.labels.shape[0])
            out.append({"boxes": self.boxes, "labels": self.labels, "scores": scores})
        return out
