"""The label check: does every object still sit in its box after translation?

A translator can move, shrink or erase an object while the copied annotation stays put. A check
looks at each translated output in its final geometry (the written file: un-letterboxed, at its
source's pixel size, so the source's boxes compare directly) and says, per box, whether the
object is still there. :func:`augment_dataset` records the result in its report and, with
``drop_failed``, leaves failed outputs out of the dataset.

Checks are named in :data:`CHECKS` (``check=detector``: a user-supplied detector must re-detect
each box; ``check=scene``: the exact check of the built-in scenes, :mod:`.scene_check`); another
check is one more entry (:func:`register_check`), built from the dataset, the
device and the shared :class:`CheckOptions`.

The detector contract (``detector=``): a Python path ``package.module:name`` of a callable (a
function or a callable object; a class is instantiated with no arguments) or a local TorchScript
file (``torch.jit.load``). It is called, under ``torch.no_grad`` on the model's device, with

- ``detector_input=list`` (default; torchvision's detection models): a list of ``N`` float
  tensors ``(3, H, W)`` in [0, 1], sizes may differ;
- ``detector_input=tensor``: one float tensor ``(N, 3, H, W)`` in [0, 1] (outputs of one size),

and returns a list of ``N`` dicts ``{"boxes": (K, 4) xyxy pixels, "labels": (K,) int, "scores":
(K,)}``, the image's detections. An ``nn.Module`` detector is put in eval mode.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torchvision.ops import box_iou
from torchvision.transforms.functional import pil_to_tensor

from starganv2.data.folders import load_image
from starganv2.synthesis.detection.dataset import Box, DetectionDataset, DetectionImage

__all__ = [
    "CHECKS",
    "DETECTOR_INPUTS",
    "CheckOptions",
    "LabelCheck",
    "DetectorCheck",
    "build_check",
    "register_check",
    "is_required",
    "load_detector",
    "match_boxes",
]

log = logging.getLogger(__name__)

DETECTOR_INPUTS = ("list", "tensor")
"""How a detector is called: a list of ``(3, H, W)`` images, or one ``(N, 3, H, W)`` batch."""


@dataclass(frozen=True)
class CheckOptions:
    """The options every check may read (``check_*`` keys of ``conf/augment.yaml``).

    Attributes:
        iou: a box is re-found by a detection overlapping it at IoU >= ``iou``.
        score: detections below this score are ignored.
        match_class: whether the detection's label must be the box's (via ``labels``).
        labels: ``{dataset category name: detector label}``; ``None``: the dataset's own ids
            (COCO ``category_id``, YOLO class index; VOC has none).
        detector: ``detector=detector``: the callable path or TorchScript file.
        detector_input: one of :data:`DETECTOR_INPUTS`.
        batch_size: images per detector call.
    """

    iou: float = 0.5
    score: float = 0.3
    match_class: bool = True
    labels: Mapping[str, int] | None = None
    detector: str | None = None
    detector_input: str = "list"
    batch_size: int = 8

    def settings(self) -> dict[str, Any]:
        """What a report records so a rerun knows whether remembered results still apply."""
        labels = None if self.labels is None else {str(k): int(v) for k, v in self.labels.items()}
        return {
            "iou": float(self.iou),
            "score": float(self.score),
            "class": bool(self.match_class),
            "labels": labels,
            "detector": self.detector,
            "detector_input": self.detector_input,
        }


class LabelCheck(Protocol):
    """A built check: ``check(items)`` gives one result per ``(file, source image)`` pair:
    ``{"passed": bool, "boxes": [{"index", "category", "iou", "matched", "required"}]}`` (a
    check may add figures of its own to a box's record: ``check=scene`` adds ``fill``)."""

    def __call__(self, items: Sequence[tuple[Path, DetectionImage]]) -> list[dict[str, Any]]: ...


CheckFactory = Callable[[DetectionDataset, torch.device, CheckOptions], LabelCheck]
CHECKS: dict[str, CheckFactory | None] = {"none": None}
"""Checks by name; ``none`` checks nothing (the report's ``check`` is ``null``)."""


def register_check(name: str, factory: CheckFactory) -> None:
    """Make ``check=<name>`` build ``factory(dataset, device, options)``."""
    CHECKS[name] = factory


def build_check(
    name: str, dataset: DetectionDataset, device: torch.device, options: CheckOptions
) -> LabelCheck | None:
    """The check ``name`` for ``dataset``, validated before anything is translated; ``None``
    for ``none``. ``ValueError`` (one line) for an unknown name or bad options."""
    if name not in CHECKS:
        raise ValueError(f"check={name!r} is invalid: expected one of {list(CHECKS)}")
    factory = CHECKS[name]
    return None if factory is None else factory(dataset, device, options)


def check_options(options: CheckOptions) -> None:
    """``ValueError`` naming the key of an option out of range."""
    if not 0.0 < float(options.iou) <= 1.0:
        raise ValueError(f"check_iou={options.iou!r} is invalid: expected a number in (0, 1]")
    if not 0.0 <= float(options.score) <= 1.0:
        raise ValueError(f"check_score={options.score!r} is invalid: expected a number in [0, 1]")
    if options.detector_input not in DETECTOR_INPUTS:
        raise ValueError(
            f"detector_input={options.detector_input!r} is invalid: expected one of "
            f"{list(DETECTOR_INPUTS)}"
        )


def load_detector(spec: str | None) -> Callable[..., Any]:
    """The detector named by ``spec`` (see the module docstring); ``ValueError`` naming
    ``detector`` when it cannot be found or loaded."""
    if not spec:
        raise ValueError(
            "detector=None: check=detector needs detector=package.module:name (a callable) or "
            "detector=path/to/model.pt (a TorchScript file)"
        )
    spec = str(spec)
    if ":" in spec and not Path(spec).exists():
        mod_name, _, attr = spec.partition(":")
        if os.getcwd() not in sys.path:  # mydetector.py beside the command, as `python -m` has
            sys.path.append(os.getcwd())  # it (last: installed packages keep their names)
        try:
            obj: Any = importlib.import_module(mod_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"detector={spec!r} does not import ({type(err).__name__}: {err}): expected "
                "package.module:name of a callable on the Python path or in the current folder"
            ) from err
        if isinstance(obj, type):
            obj = obj()  # a class: its instance is the detector
        if not callable(obj):
            raise ValueError(f"detector={spec!r} is a {type(obj).__name__}: expected a callable")
        return obj
    path = Path(spec)
    if not path.is_file():
        raise ValueError(
            f"detector={spec!r} is not a file: expected a TorchScript file (torch.jit.save) or "
            "package.module:name"
        )
    try:
        with warnings.catch_warnings():  # torch >= 2.10 calls TorchScript deprecated; it loads
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"detector={spec!r} is not a TorchScript file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from err


def match_boxes(
    boxes: torch.Tensor,
    box_labels: torch.Tensor | None,
    detections: Mapping[str, torch.Tensor],
    iou: float,
    score: float,
) -> tuple[list[float], list[bool]]:
    """Greedy one-to-one matching of ``boxes (B, 4)`` to ``detections`` (``boxes (K, 4)``,
    ``labels (K,)``, ``scores (K,)``), highest IoU first, each detection used once.

    Only detections with score >= ``score`` take part, and with ``box_labels (B,)`` only those of
    the box's label. Returns per box the IoU of its match (unmatched: its best eligible IoU, 0
    with none) and whether it was matched at IoU >= ``iou``.
    """
    n = boxes.shape[0]
    keep = detections["scores"] >= score
    det_boxes = detections["boxes"][keep].float()
    if n == 0 or det_boxes.shape[0] == 0:
        return [0.0] * n, [False] * n
    ious = box_iou(boxes.float(), det_boxes)  # (B, K)
    if box_labels is not None:
        same = box_labels[:, None] == detections["labels"][keep][None, :].to(box_labels)
        ious = torch.where(same, ious, torch.full_like(ious, -1.0))
    best = ious.clamp(min=0).max(dim=1).values.tolist()
    result_iou, matched = list(best), [False] * n
    used_det: set[int] = set()
    order = torch.argsort(ious.flatten(), descending=True, stable=True).tolist()
    k = ious.shape[1]
    for flat in order:
        b, d = divmod(flat, k)
        value = float(ious[b, d])
        if value < iou:
            break
        if matched[b] or d in used_det:
            continue
        matched[b], result_iou[b] = True, value
        used_det.add(d)
    return result_iou, matched


def is_required(box: Box) -> bool:
    """A COCO crowd region (``iscrowd=1``) groups many objects: no detector finds it as one."""
    return not (isinstance(box.raw, dict) and box.raw.get("iscrowd"))


def _dataset_label(ds: DetectionDataset, box: Box) -> int | None:
    """The dataset's own id of ``box``'s class (COCO ``category_id``, YOLO class index);
    ``None`` where it has none (a COCO annotation without a numeric ``category_id``)."""
    if ds.format == "coco" and isinstance(box.raw, dict):
        try:
            return int(box.raw.get("category_id"))
        except (TypeError, ValueError):
            return None
    if ds.format == "yolo" and isinstance(box.raw, str):
        return int(float(box.raw.split()[0]))
    return None


@dataclass
class DetectorCheck:
    """``check=detector``: every required box must be re-detected by ``detector``.

    Args:
        dataset: the dataset whose boxes are checked (gives the class ids).
        detector: a callable following the contract of the module docstring.
        device: where the detector runs (the model's device).
        options: thresholds, class mapping, input kind, batch size.
    """

    dataset: DetectionDataset
    detector: Callable[..., Any]
    device: torch.device
    options: CheckOptions = field(default_factory=CheckOptions)

    def __post_init__(self) -> None:
        check_options(self.options)
        if isinstance(self.detector, torch.nn.Module):
            self.detector = self.detector.to(self.device).eval()
        self.labels: dict[str, int] = {}
        if self.options.match_class:
            self.labels = self._label_map()

    def _label_map(self) -> dict[str, int]:
        """``{category name: detector label}`` for every category the boxes use."""
        used = {b.category: b for im in self.dataset.images for b in im.boxes if is_required(b)}
        if self.options.labels is not None:
            given = {str(k): int(v) for k, v in self.options.labels.items()}
            missing = sorted(set(used) - set(given))
            if missing:
                raise ValueError(
                    f"check_labels={given} has no detector label for the dataset's categories "
                    f"{missing}: expected one per category name (or check_class=false)"
                )
            return given
        ids = {name: _dataset_label(self.dataset, b) for name, b in used.items()}
        without = sorted(name for name, v in ids.items() if v is None)
        if without:
            raise ValueError(
                f"check_labels=None but a {self.dataset.format} dataset has no class ids "
                f"(categories {without} have none): give "
                "check_labels={category name: detector label} or check_class=false"
            )
        return {k: int(v) for k, v in ids.items() if v is not None}

    def _label(self, box: Box) -> int:
        """The detector label ``box`` must be found with: ``check_labels``'s for its class name,
        else the dataset's own id of this box (COCO categories may share a name, so the name's
        id is not the box's)."""
        if self.options.labels is None:
            label = _dataset_label(self.dataset, box)
            if label is not None:
                return label
        return self.labels.get(box.category, -1)

    def detect(self, images: Sequence[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Run the detector on ``images`` (each ``(3, H, W)`` in [0, 1]); one dict per image,
        checked against the contract (``ValueError`` naming ``detector`` otherwise)."""
        images = [x.to(self.device) for x in images]
        out: list[dict[str, torch.Tensor]] = []
        with torch.no_grad():
            if self.options.detector_input == "list":
                out = list(self._call(images))
            else:
                groups: dict[tuple[int, int], list[int]] = {}
                for i, x in enumerate(images):
                    groups.setdefault(tuple(x.shape[-2:]), []).append(i)
                by_index: dict[int, Any] = {}
                for idx in groups.values():
                    batch = torch.stack([images[i] for i in idx])  # (n, 3, H, W)
                    by_index.update(zip(idx, self._call(batch, len(idx))))
                out = [by_index[i] for i in range(len(images))]
        return [self._checked(d) for d in out]

    def _call(self, x: Any, n: int | None = None) -> list[Any]:
        n = len(x) if n is None else n
        try:
            result = self.detector(x)
        except Exception as err:
            raise ValueError(
                f"detector={self.options.detector!r} failed on {n} image(s) "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            ) from err
        if not isinstance(result, (list, tuple)) or len(result) != n:
            raise ValueError(
                f"detector={self.options.detector!r} returned {type(result).__name__}"
                f"{f' of length {len(result)}' if isinstance(result, (list, tuple)) else ''} for "
                f"{n} image(s): expected a list of {n} dicts with boxes, labels, scores"
            )
        return list(result)

    def _checked(self, d: Any) -> dict[str, torch.Tensor]:
        ok = isinstance(d, Mapping) and all(
            isinstance(d.get(k), torch.Tensor) for k in ("boxes", "labels", "scores")
        )
        if ok:
            boxes, labels, scores = d["boxes"], d["labels"], d["scores"]
            k = boxes.shape[0] if boxes.dim() == 2 else -1
            ok = boxes.dim() == 2 and boxes.shape[1] == 4 and labels.shape == scores.shape == (k,)
        if not ok:
            shown = (
                {
                    k: tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                    for k, v in d.items()
                }
                if isinstance(d, Mapping)
                else type(d).__name__
            )
            raise ValueError(
                f"detector={self.options.detector!r} returned {shown} for an image: expected "
                '{"boxes": (K, 4), "labels": (K,), "scores": (K,)} tensors'
            )
        return {k: d[k].detach().cpu() for k in ("boxes", "labels", "scores")}

    def validate(self, height: int, width: int) -> None:
        """Run the detector once on a grey ``height x width`` image: a detector that fails or
        breaks the contract stops the run here, before any translation."""
        self.detect([torch.full((3, height, width), 0.5)])

    def check_image(self, image: DetectionImage, det: Mapping[str, torch.Tensor]) -> dict:
        """The result for one output of ``image`` given its detections."""
        boxes = torch.tensor([b.xyxy for b in image.boxes], dtype=torch.float32).reshape(-1, 4)
        labels = None
        if self.options.match_class:
            labels = torch.tensor([self._label(b) for b in image.boxes], dtype=torch.long)
        ious, matched = match_boxes(boxes, labels, det, self.options.iou, self.options.score)
        records = [
            {
                "index": i,
                "category": b.category,
                "iou": round(float(ious[i]), 4),
                "matched": bool(matched[i]),
                "required": is_required(b),
            }
            for i, b in enumerate(image.boxes)
        ]
        return {"passed": all(r["matched"] for r in records if r["required"]), "boxes": records}

    def __call__(self, items: Sequence[tuple[Path, DetectionImage]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        step = max(1, int(self.options.batch_size))
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            pics = [pil_to_tensor(load_image(p)).float() / 255.0 for p, _ in chunk]  # (3, H, W)
            for (_, image), det in zip(chunk, self.detect(pics)):
                results.append(self.check_image(image, det))
        return results


def _detector_check(
    dataset: DetectionDataset, device: torch.device, options: CheckOptions
) -> DetectorCheck:
    check_options(options)
    check = DetectorCheck(dataset, load_detector(options.detector), device, options)
    first = dataset.images[0]
    check.validate(first.height, first.width)
    return check


register_check("detector", _detector_check)


def _scene_check(
    dataset: DetectionDataset, device: torch.device, options: CheckOptions
) -> LabelCheck:
    """``check=scene`` (:mod:`.scene_check`), imported when built: that module imports this one,
    so the name is known wherever the checks are, without an import cycle."""
    from starganv2.synthesis.detection.scene_check import scene_check

    return scene_check(dataset, device, options)


register_check("scene", _scene_check)
