"""The detector of the detection-augmentation benchmark: a small FCOS trained from scratch.

Used by ``detection_augmentation.py`` (which puts this folder on ``sys.path``). Everything a
detector run needs is here: reading a COCO file of the built-in scenes into memory
(:func:`load_coco`), building the detector (:func:`build_detector`), training it for a fixed
number of steps on batches drawn from one or more pools of labelled images
(:func:`train_detector`, :func:`draw_batch`), the photometric baseline's augmentation
(:func:`photometric`), predicting and scoring with torchmetrics' COCO mAP (:func:`predict`,
:func:`evaluate`).

Why these choices:

- **torchvision's FCOS**, no pretrained weights: a well-kept anchor-free detector whose losses
  and post-processing are torchvision's, not ours; nothing is downloaded.
- **A backbone of our own**: the scene objects are 6 to 13 px at 48 x 32 (12 to 26 px at 96 x 64);
  an ImageNet backbone's stride 32 would see them as less than a cell. A few conv-BN-ReLU blocks
  down to one feature level at stride 4 (``stride=4``; 12 x 8 cells at 48 x 32) keep every object
  on at least one cell's centre region and cost little on a CPU.
- **One level**: torchvision's FCOS gives each level a size range from its anchor sizes, with
  lower bound 0 for the first level and upper bound infinity for the last, so a single level
  takes every object whatever its size.
- **No resizing**: ``min_size``/``max_size`` are set to the images' own height and width, so
  FCOS's transform keeps the pixels as they are (it only pads the batch).
- **Fixed steps and batch for every arm**: arms differ only in what their batches hold, so they
  get the same compute. Batches are drawn with a seeded generator: the run is repeatable.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = [
    "DetectionSet",
    "SmallBackbone",
    "build_detector",
    "draw_batch",
    "evaluate",
    "load_coco",
    "photometric",
    "predict",
    "train_detector",
]


@dataclass
class DetectionSet:
    """Labelled images held in memory.

    Attributes:
        images: ``(N, 3, H, W)`` uint8.
        boxes: ``N`` float tensors ``(M_i, 4)``, ``xyxy`` in pixels.
        labels: ``N`` int64 tensors ``(M_i,)``: the COCO ``category_id`` (1 = circle, 2 = square,
            3 = triangle for the built-in scenes; 0 is never used, as FCOS's background-free
            classification allows).
        names: ``N`` file names, as the COCO file gives them.
    """

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    names: list[str]

    def __len__(self) -> int:
        return self.images.size(0)

    def subset(self, keep: Sequence[int]) -> DetectionSet:
        """The images at the indices ``keep``, in that order."""
        idx = list(keep)
        return DetectionSet(
            self.images[idx] if idx else self.images[:0],
            [self.boxes[i] for i in idx],
            [self.labels[i] for i in idx],
            [self.names[i] for i in idx],
        )


def load_coco(path: str | Path) -> DetectionSet:
    """A COCO file whose images all have one size, read whole (file names relative to it).

    Images without annotations are kept (no boxes). Raises ``ValueError`` if sizes differ.
    """
    path = Path(path)
    data = json.loads(path.read_text())
    by_image: dict[Any, list[dict]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(ann["image_id"], []).append(ann)
    images, boxes, labels, names = [], [], [], []
    for record in data["images"]:
        with Image.open(path.parent / record["file_name"]) as im:
            array = np.asarray(im.convert("RGB"))
        images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))  # (3, H, W) uint8
        anns = by_image.get(record["id"], [])
        xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes.append(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1))  # (M, 4) xyxy
        labels.append(torch.tensor([a["category_id"] for a in anns], dtype=torch.int64))
        names.append(record["file_name"])
    sizes = {tuple(t.shape) for t in images}
    if len(sizes) > 1:
        raise ValueError(f"{path}: images of {len(sizes)} sizes {sorted(sizes)}: expected one")
    stacked = torch.stack(images) if images else torch.zeros(0, 3, 1, 1, dtype=torch.uint8)
    return DetectionSet(stacked, boxes, labels, names)


REGRESSION_BIAS = 0.5
"""Initial bias of FCOS's box regression (distances over the anchor size; see build_detector)."""


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallBackbone(nn.Module):
    """Conv-BN-ReLU blocks from ``(N, 3, H, W)`` to one feature map ``(N, width, H/stride,
    W/stride)``, returned as ``{"0": features}`` (the form torchvision's detectors expect).

    Args:
        width: channels of the feature map (the blocks before it have half).
        stride: 2 or 4: total downsampling (one stride-2 block per factor 2).
        depth: 3x3 blocks at the last resolution after the downsampling (receptive field).
    """

    def __init__(self, width: int = 64, stride: int = 4, depth: int = 2) -> None:
        super().__init__()
        if stride not in (2, 4):
            raise ValueError(f"stride={stride}: expected 2 or 4")
        half = width // 2
        layers = [_block(3, half, 1)]
        c = half
        for _ in range(int(math.log2(stride))):
            layers.append(_block(c, width, 2))
            c = width
        layers += [_block(width, width, 1) for _ in range(depth)]
        self.body = nn.Sequential(*layers)
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.body(x))])


def build_detector(
    image_size: tuple[int, int],
    num_classes: int = 4,
    width: int = 64,
    stride: int = 4,
    depth: int = 2,
) -> nn.Module:
    """A torchvision FCOS on :class:`SmallBackbone`, for images of ``image_size = (W, H)``.

    Args:
        image_size: ``(width, height)`` of every image; the transform keeps it (no resize).
        num_classes: logits per location; labels are indices below it (COCO ids 1..3 -> 4).
        width: channels of the backbone's feature map and of the head.
        stride: the feature map's stride (2 or 4).
        depth: blocks at the last resolution.
    """
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead

    w, h = image_size
    backbone = SmallBackbone(width, stride, depth)
    # one anchor per cell (FCOS needs exactly one); its size only sets the centre-sampling scale
    anchors = AnchorGenerator(sizes=((4 * stride,),), aspect_ratios=((1.0,),))
    head = FCOSHead(width, num_anchors=1, num_classes=num_classes, num_convs=2)
    # FCOS puts a ReLU on the box regression and starts its bias at 0: one large step can push
    # every output below 0, and the regression never learns again (seen at lr 4e-3: loss stuck
    # at 1.6, mAP 0). A bias of the targets' size (box sides / anchor size: about 0.2 to 0.8
    # here) keeps it alive.
    nn.init.constant_(head.regression_head.bbox_reg.bias, REGRESSION_BIAS)
    return FCOS(
        backbone,
        num_classes=num_classes,
        min_size=min(w, h),
        max_size=max(w, h),
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
        anchor_generator=anchors,
        head=head,
        score_thresh=0.05,
        detections_per_img=20,
        topk_candidates=100,
    )


def photometric(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The cheap baseline's appearance change of one image, ``(3, H, W)`` float in [0, 1]:
    brightness, contrast, saturation and hue jitter, grayscale (p = 0.2), darkening by a gamma in
    [1, 3] and a scale in [0.3, 1], then gaussian noise of sd up to 0.08. Geometry is untouched,
    so the boxes stay. Drawn from ``generator`` (repeatable)."""
    from torchvision.transforms import functional as TF

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    x = TF.adjust_brightness(x, u(0.5, 1.5))
    x = TF.adjust_contrast(x, u(0.5, 1.5))
    x = TF.adjust_saturation(x, u(0.3, 1.5))
    x = TF.adjust_hue(x, u(-0.1, 0.1))
    if u(0, 1) < 0.2:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    x = x.clamp(0, 1) ** u(1.0, 3.0) * u(0.3, 1.0)
    x = x + torch.randn(x.shape, generator=generator) * u(0.0, 0.08)
    return x.clamp(0, 1)


def draw_batch(
    sizes: Sequence[int], shares: Sequence[float], batch: int, generator: torch.Generator
) -> list[tuple[int, int]]:
    """``batch`` picks ``(pool, index)``: ``round(batch * share)`` from each pool (the last pool
    takes the rest), each index uniform in its pool. Fixed shares per batch, not per sample, so a
    50/50 arm sees exactly half of each in every step."""
    if len(sizes) != len(shares) or not sizes:
        raise ValueError(f"sizes {list(sizes)} and shares {list(shares)}: expected one per pool")
    if any(n < 1 for n, s in zip(sizes, shares) if s > 0):
        raise ValueError(f"pool sizes {list(sizes)}: a pool with a share must not be empty")
    counts = [round(batch * s) for s in shares[:-1]]
    counts.append(batch - sum(counts))
    picks = []
    for pool, (n, k) in enumerate(zip(sizes, counts)):
        for i in torch.randint(0, max(n, 1), (k,), generator=generator).tolist():
            picks.append((pool, i))
    return picks


def train_detector(
    model: nn.Module,
    pools: Sequence[DetectionSet],
    shares: Sequence[float],
    steps: int,
    batch: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    augment_p: float = 0.5,
    augment_pools: Sequence[int] = (0,),
) -> list[float]:
    """Train ``model`` in place for ``steps`` AdamW steps (linear warm-up over the first tenth,
    then cosine decay to 0; weight decay 1e-4; gradient norm clipped at 5: without the warm-up a
    mixed day/night run at lr 2e-3 diverged once and never recovered) on batches from ``pools`` in ``shares`` (:func:`draw_batch`).

    ``augment`` (e.g. :func:`photometric`) is applied with probability ``augment_p`` to each
    sample drawn from a pool in ``augment_pools``. Returns the loss of every step.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 10)

    def schedule(i: int) -> float:  # linear warm-up over a tenth of the steps, then cosine
        if i < warmup:
            return (i + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(i - warmup, steps) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    losses = []
    for _ in range(steps):
        images, targets = [], []
        for pool, i in draw_batch([len(p) for p in pools], shares, batch, gen):
            src = pools[pool]
            x = src.images[i].float() / 255  # (3, H, W) in [0, 1]
            if augment is not None and pool in augment_pools:
                if float(torch.rand((), generator=gen)) < augment_p:
                    x = augment(x, gen)
            images.append(x)
            targets.append({"boxes": src.boxes[i], "labels": src.labels[i]})
        loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def predict(model: nn.Module, data: DetectionSet, batch: int = 64) -> list[dict[str, torch.Tensor]]:
    """The model's detections on every image of ``data``: ``{"boxes", "scores", "labels"}``."""
    model.eval()
    out = []
    for start in range(0, len(data), batch):
        x = data.images[start : start + batch].float() / 255
        out += [{k: v.cpu() for k, v in d.items()} for d in model(list(x))]
    return out


def evaluate(
    predictions: Sequence[dict[str, torch.Tensor]], data: DetectionSet
) -> dict[str, float]:
    """COCO box mAP of ``predictions`` against ``data``'s boxes (torchmetrics'
    ``MeanAveragePrecision``, pycocotools backend): ``{"map50": mAP@0.5, "map": mAP@[.5:.95]}``."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    targets = [{"boxes": b, "labels": lab} for b, lab in zip(data.boxes, data.labels)]
    metric.update(list(predictions), targets)
    result = metric.compute()
    return {"map50": float(result["map_50"]), "map": float(result["map"])}
