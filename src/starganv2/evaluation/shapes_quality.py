"""Translation quality on the built-in ``shapes`` data, measured without any pretrained network:
the metric named ``shapes_quality``.

The synthetic data knows its ground truth (:class:`~.shapes_truth.ShapesTruth`: class, centre,
size, colour, texture and background of every image), so a translation ``x_src -> domain trg``
can be checked:

- **Target accuracy**: the share of outputs that a small CNN, trained on the shapes training set,
  classifies as the target domain (:mod:`.shapes_classifier`; it judges the shape, not the colour).
- **Position error** (px): distance between the centroid of the output's shape pixels (pixels far
  from the source's background colour, :mod:`.shapes_estimators`) and the source's centre from the
  metadata. The content of a translation (position, size, background) should be kept.
- **Reference colour error** (0-255 RGB, Euclidean): distance between the output's shape colour
  and the reference image's colour from the metadata (reference mode).
- **Size error** (px) and **box IoU**: the output's shape box against the box of the target shape
  drawn at the source's centre and size (:mod:`.shapes_geometry`), what a detector's labels need.
- **Diversity** (0-255): mean absolute pixel difference between two outputs of one source with
  two styles, a pixel-space stand-in for LPIPS diversity that needs no weights.
- **Shift consistency** (``shift_px``): how far the output's shape moves when the source is
  shifted, against the shift (:func:`~.shapes_geometry.shift_figures`).

The same estimators run on the real validation images give their floors
(``shapes/position_error_px_real``, ``shapes/color_error_real``, ``shapes/size_error_px_real``,
``shapes/box_iou_real``), and ``shapes/ref_color_error_chance`` is the error of a random other
reference of the target domain: a model that ignores the reference scores near that.

This file holds the evaluation loop (:func:`shapes_quality`: modes, tasks, batches) and the
registry factory (:func:`metric`); each figure is a small function of one batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from starganv2.data.folders import eval_transform, list_domain_files, load_image
from starganv2.evaluation.protocol import (
    EvalData,
    EvalProtocol,
    as_model_input,
    latent_codes,
    rank_world,
    reference_styles,
    translate_task,
)
from starganv2.evaluation.registry import MetricRunner
from starganv2.evaluation.shapes_classifier import classify, load_or_train_classifier
from starganv2.evaluation.shapes_estimators import (
    mask_centroid,
    pairwise_l1,
    shape_color,
    shape_mask,
    to_255,
)
from starganv2.evaluation.shapes_geometry import (
    box_iou,
    mask_boxes,
    shift_figures,
    shift_images,
    size_error,
)
from starganv2.evaluation.shapes_truth import ShapesTruth
from starganv2.models.interface import MODE_LABEL, MODE_LATENT, MODE_REFERENCE, Translator
from starganv2.utils.checks import check_int

__all__ = ["metric", "real_floors", "shapes_quality"]

log = logging.getLogger(__name__)


class _Figures:
    """Per-output values gathered batch by batch, each key reduced to one mean at the end
    (NaN-aware: an empty mask has no centroid). Keys keep the order they were first added in."""

    def __init__(self) -> None:
        self.parts: dict[str, list[torch.Tensor]] = {}

    def add(self, key: str, values: torch.Tensor) -> None:
        self.parts.setdefault(key, []).append(values)

    def means(self) -> dict[str, float]:
        return {k: float(torch.cat(v).float().nanmean()) for k, v in self.parts.items()}


@dataclass
class _Run:
    """What every task of one :func:`shapes_quality` call shares."""

    module: Translator
    truth: ShapesTruth
    domains: list[str]
    val_files: dict[str, list[Path]]
    classifier: nn.Module
    num_outs: int
    batch_size: int
    seed: int
    shifts: list[tuple[int, int]] = field(default_factory=list)


@torch.no_grad()
def shapes_quality(
    module: Translator,
    root: str | os.PathLike,
    *,
    modes: Sequence[str] | None = None,
    num_outs_per_domain: int = 2,
    batch_size: int = 32,
    seed: int = 0,
    max_images_per_domain: int | None = None,
    classifier: nn.Module | None = None,
    shift_px: Sequence[int] = (),
) -> dict[str, float]:
    """Quality figures of ``module`` on the shapes dataset at ``root`` (see the module docstring).

    Every validation image of every source domain is translated into every other domain,
    ``num_outs_per_domain`` times per mode (``None``: every mode the model supports; a
    deterministic model makes one output per image), with the same latent codes and references
    as :mod:`starganv2.evaluation.protocol`. Returns ``shapes/...`` keys: ``target_accuracy_<mode>``,
    ``position_error_px_<mode>`` (at the model's image size), ``empty_shape_rate_<mode>``,
    ``ref_color_error`` and ``ref_color_error_chance`` (reference mode), ``size_error_px_<mode>``
    and ``box_iou_<mode>``, ``diversity_l1_<mode>`` (with ``num_outs_per_domain >= 2``), and the
    floors ``classifier_val_accuracy``, ``position_error_px_real``, ``color_error_real``,
    ``size_error_px_real``, ``box_iou_real``. With ``shift_px`` (e.g. ``(1, 2)``), the first of
    the latent and label modes also translates every source shifted by ``k`` px right and ``k``
    px down, with the same style, for each ``k``: ``shift_error_px``, ``shift_gain`` and
    ``shift_error_px_<k>px``. ``classifier``: the target-accuracy judge (default: the dataset's
    cached one, see :func:`~.shapes_classifier.load_or_train_classifier`, trained with its own
    fixed seed whatever ``seed``: another seed of the latent codes and references would otherwise
    retrain it, over the cached one, and change the figures of even a deterministic model).
    """
    root = Path(root)
    truth = ShapesTruth(root, module.img_size)
    modes = tuple(module.guidance_modes) if modes is None else tuple(modes)
    val_files = list_domain_files(root / "val")
    domains = list(val_files)
    if len(domains) != module.num_domains:
        raise ValueError(
            f"{root / 'val'} has {len(domains)} domains {domains} but the model has "
            f"num_domains={module.num_domains}"
        )
    if max_images_per_domain is not None:
        val_files = {d: ps[:max_images_per_domain] for d, ps in val_files.items()}
    out: dict[str, float] = {}
    if classifier is None:  # one judge for every seed: ``seed`` draws styles, not the judge
        classifier, info = load_or_train_classifier(root)
        if "val_accuracy" in info:
            out["shapes/classifier_val_accuracy"] = float(info["val_accuracy"])
    out.update(real_floors(truth, val_files))
    run = _Run(
        module,
        truth,
        domains,
        val_files,
        classifier.to(module.device).eval(),
        num_outs_per_domain,
        batch_size,
        seed,
        shifts=[(int(k), 0) for k in shift_px] + [(0, int(k)) for k in shift_px],
    )
    shift_mode = next((m for m in modes if m in (MODE_LATENT, MODE_LABEL)), None)
    was_training = module.training
    module.eval()
    try:
        for mode in modes:
            out.update(_mode_figures(run, mode, with_shifts=bool(shift_px) and mode == shift_mode))
    finally:
        module.train(was_training)
    for key, value in out.items():
        log.info("%s: %.4f", key, value)
    return {k: float(v) if np.isfinite(v) else float("nan") for k, v in out.items()}


def real_floors(truth: ShapesTruth, val_files: dict[str, list[Path]]) -> dict[str, float]:
    """The estimators on the real validation images, at the truth's image size: the floors of
    position, colour, size and box figures (``shapes/<figure>_real``)."""
    figures = _Figures()
    transform = eval_transform(truth.img_size)
    for paths in val_files.values():
        img = to_255(torch.stack([transform(load_image(p)) for p in paths]))
        recs = truth.records(paths)
        mask = shape_mask(img, truth.backgrounds(recs))
        boxes, true_boxes = mask_boxes(mask), truth.boxes(recs)
        figures.add(
            "position_error_px_real", (mask_centroid(mask) - truth.centres(recs)).norm(dim=1)
        )
        figures.add("color_error_real", (shape_color(img, mask) - truth.colours(recs)).norm(dim=1))
        figures.add("size_error_px_real", size_error(boxes, true_boxes))
        figures.add("box_iou_real", box_iou(boxes, true_boxes))
    return {f"shapes/{k}": v for k, v in figures.means().items()}


def _mode_figures(run: _Run, mode: str, with_shifts: bool) -> dict[str, float]:
    """The ``shapes/...`` figures of one guidance mode, over every task and batch."""
    figures = _Figures()
    shift_errors: dict[int, list[torch.Tensor]] = {}  # by shift length (px)
    shift_gains: list[torch.Tensor] = []
    for trg, trg_domain in enumerate(run.domains):
        ref_files = run.val_files[trg_domain]
        ref_styles = ref_colours = None
        if mode == MODE_REFERENCE:
            ref_styles = reference_styles(run.module, ref_files, trg, run.batch_size)
            ref_colours = run.truth.colours(run.truth.records(ref_files))
        for src in (s for s in range(len(run.domains)) if s != trg):
            src_files = run.val_files[run.domains[src]]
            for b in translate_task(
                run.module,
                src_files,
                src,
                trg,
                mode,
                num_outs=run.num_outs,
                batch_size=run.batch_size,
                seed=run.seed,
                ref_styles=ref_styles,
            ):
                recs = run.truth.records([src_files[int(i)] for i in b.index])
                img, mask = _output_figures(figures, run, b.outputs, recs, trg, mode)
                if ref_colours is not None:
                    _colour_figures(figures, img, mask, ref_colours, b.ref_index.flatten())
                if with_shifts:
                    background = run.truth.backgrounds(recs)  # (B, 3)
                    shifted = _shifted(run, b.x_src, src, trg, b.index, mode, background)
                    for (dx, dy), err, gain in shifted:
                        shift_errors.setdefault(max(abs(dx), abs(dy)), []).append(err)
                        shift_gains.append(gain)
    out = {f"shapes/{k}": v for k, v in figures.means().items()}
    if shift_errors:
        every = torch.cat([torch.cat(v) for v in shift_errors.values()])
        out["shapes/shift_error_px"] = float(every.nanmean())
        out["shapes/shift_gain"] = float(torch.cat(shift_gains).nanmean())
        for step, errs in sorted(shift_errors.items()):
            out[f"shapes/shift_error_px_{step}px"] = float(torch.cat(errs).nanmean())
    return out


def _output_figures(
    figures: _Figures,
    run: _Run,
    outputs: torch.Tensor,
    recs: list[dict[str, Any]],
    trg: int,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the per-output figures of one batch ``outputs (B, K, 3, H, W)`` of sources ``recs``
    translated into ``trg``: target accuracy, position, emptiness, size, box IoU, diversity.
    Returns the outputs in 0-255 and their shape masks, ``(B*K, 3, H, W)`` and ``(B*K, H, W)``."""
    n, k = outputs.shape[:2]
    fake = outputs.flatten(0, 1)  # (B*K, 3, H, W)
    figures.add(f"target_accuracy_{mode}", classify(run.classifier, fake) == trg)
    img = to_255(fake.cpu())
    mask = shape_mask(img, run.truth.backgrounds(recs).repeat_interleave(k, 0))  # (B*K, H, W)
    centres = run.truth.centres(recs).repeat_interleave(k, 0)  # (B*K, 2)
    figures.add(f"position_error_px_{mode}", (mask_centroid(mask) - centres).norm(dim=1))
    figures.add(f"empty_shape_rate_{mode}", ~mask.flatten(1).any(1))
    boxes = run.truth.boxes(recs, run.domains[trg]).repeat_interleave(k, 0)  # (B*K, 4)
    figures.add(f"size_error_px_{mode}", size_error(mask_boxes(mask), boxes))
    figures.add(f"box_iou_{mode}", box_iou(mask_boxes(mask), boxes))
    if k >= 2:
        figures.add(f"diversity_l1_{mode}", pairwise_l1(img.view(n, k, *img.shape[1:])))
    return img, mask


def _colour_figures(
    figures: _Figures,
    img: torch.Tensor,
    mask: torch.Tensor,
    ref_colours: torch.Tensor,
    ref_index: torch.Tensor,
) -> None:
    """Add the reference colour error of outputs ``img (B*K, 3, H, W)`` (0-255) made with the
    references ``ref_index (B*K,)`` (colours ``ref_colours (R, 3)``), and its chance level: the
    distance to another reference of the same domain."""
    target = ref_colours[ref_index]  # (B*K, 3)
    figures.add("ref_color_error", (shape_color(img, mask) - target).norm(dim=1))
    other = (ref_index + len(ref_colours) // 2) % len(ref_colours)  # another one
    figures.add("ref_color_error_chance", (ref_colours[other] - target).norm(dim=1))


def _shifted(
    run: _Run,
    x: torch.Tensor,
    src: int,
    trg: int,
    index: torch.Tensor,
    mode: str,
    background: torch.Tensor,
) -> Iterator[tuple[tuple[int, int], torch.Tensor, torch.Tensor]]:
    """For each of ``run.shifts``: ``(shift, distance of the output's move from it (B,), gain
    (B,))`` of the sources ``x (B, 3, H, W)`` (images ``index (B,)`` of domain ``src``) translated
    into ``trg`` with and without the shift, with one style: in latent mode the first latent code
    of each image (:func:`~starganv2.evaluation.protocol.latent_codes`, seeded by the image, so
    the figures do not depend on the batch size)."""
    module = run.module
    y = torch.full((x.size(0),), trg, dtype=torch.long, device=x.device)
    s = None
    if mode == MODE_LATENT:
        z = torch.cat(
            [latent_codes(run.seed, src, trg, int(i), 1, module.latent_dim) for i in index]
        )  # (B, latent_dim)
        s = module.style_from_latent(as_model_input(module, z), y)

    def centroid(v: torch.Tensor) -> torch.Tensor:
        v = as_model_input(module, v)
        out = module.translate(v, y) if s is None else module.translate(v, y, s=s)
        return mask_centroid(shape_mask(to_255(out.float().cpu()), background))

    centre = centroid(x)
    for dx, dy in run.shifts:
        yield (dx, dy), *shift_figures(centre, centroid(shift_images(x, dx, dy)), (dx, dy))


def metric(
    protocol: EvalProtocol, *, num_outs_per_domain: int = 2, shift_px: Sequence[int] = ()
) -> MetricRunner:
    """Registry factory of ``shapes_quality`` (settings ``metrics.shapes_quality.<key>``):
    :func:`shapes_quality` on rank 0 (other ranks return nothing) with the protocol's seed, batch
    size and image limit.

    Args:
        protocol: the evaluation protocol (seed, batch size, image limit).
        num_outs_per_domain: outputs per source image and task (>= 1; fewer than the FID's 10:
            the figures are per output, not distributions).
        shift_px: shifts (px, each >= 1) for the shift consistency (``shapes/shift_error_px``,
            ``shapes/shift_gain``); empty: not measured.
    """
    check_int(num_outs_per_domain, "metrics.shapes_quality.num_outs_per_domain", 1)
    for k in shift_px:
        check_int(k, "metrics.shapes_quality.shift_px (each shift)", 1)
    shifts = tuple(int(k) for k in shift_px)

    def run(model: Translator, data: EvalData, modes: Sequence[str]) -> dict[str, float]:
        if rank_world()[0] != 0:
            return {}
        if data.root is None:
            raise ValueError("shapes_quality needs the dataset folder of the built-in shapes data")
        return shapes_quality(
            model,
            data.root,
            modes=modes,
            num_outs_per_domain=num_outs_per_domain,
            batch_size=protocol.batch_size,
            seed=protocol.seed,
            max_images_per_domain=protocol.max_images_per_domain,
            shift_px=shifts,
        )

    return run
