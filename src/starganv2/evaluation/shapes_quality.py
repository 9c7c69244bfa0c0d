"""Translation quality on the built-in ``shapes`` data, measured without any pretrained network.

The synthetic data knows its ground truth (``root/metadata.json``: class, centre, size, colour,
texture and background of every image), so a translation ``x_src -> domain trg`` can be checked:

- **Target accuracy**: the share of outputs that a small CNN, trained on the shapes training set,
  classifies as the target domain. The classifier sees only each pixel's distance to the
  background colour (:func:`silhouette`), so it judges the *shape*, not the domain's colour
  palette. It is trained once (deterministic, a few seconds on a CPU) and cached next to the dataset as
  :data:`CLASSIFIER_FILE`.
- **Position error** (px): distance between the centroid of the output's shape pixels (pixels far
  from the source's background colour) and the source's centre from the metadata. The content of
  a translation (position, size, background) should be kept.
- **Reference colour error** (0-255 RGB, Euclidean): distance between the output's shape colour
  and the reference image's colour from the metadata (reference mode). The shape colour is the mean
  of the brightest :data:`COLOR_TOP_SHARE` of the shape's interior pixels, so textures (a darker
  shade of the colour, blended at stripe edges) do not bias it.

- **Size error** (px) and **box IoU**: the output's shape box against the box of the target shape
  drawn at the source's centre and size (:mod:`.shapes_geometry`), what a detector's labels need.
- **Diversity** (0-255): mean absolute pixel difference between two outputs of one source with
  two styles, a pixel-space stand-in for LPIPS diversity that needs no weights.
- **Shift consistency** (``shift_px``): how far the output's shape moves when the source is
  shifted, against the shift (:func:`~.shapes_geometry.shift_figures`).

The same estimators run on the real validation images give their floors
(``shapes/position_error_px_real``, ``shapes/color_error_real``, ``shapes/size_error_px_real``,
``shapes/box_iou_real``), and
``shapes/ref_color_error_chance`` is the error of a random other reference of the target domain:
a model that ignores the reference scores near that.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from starganv2.data.folders import eval_transform, list_domain_files, load_image
from starganv2.data.shape_masks import silhouette
from starganv2.evaluation.protocol import EvalData, rank_world, reference_styles, translate_task
from starganv2.evaluation.shapes_geometry import (
    box_iou,
    mask_boxes,
    outline_box,
    shift_figures,
    shift_images,
    size_error,
)
from starganv2.models.interface import MODE_LABEL, MODE_LATENT, MODE_REFERENCE, Translator
from starganv2.utils.files import atomic_write
from starganv2.utils.images import to_uint8

__all__ = [
    "CLASSIFIER_FILE",
    "ShapeClassifier",
    "silhouette",
    "load_or_train_classifier",
    "shape_color",
    "shape_mask",
    "shapes_quality",
    "mask_centroid",
    "train_classifier",
    "degrade",
]

log = logging.getLogger(__name__)

CLASSIFIER_VERSION = 2
CLASSIFIER_FILE = f"quality_classifier-v{CLASSIFIER_VERSION}.pt"
MASK_THRESHOLD = 40.0  # RGB distance (0-255) from the background that counts as shape
COLOR_TOP_SHARE = 0.1  # share of the brightest interior pixels that gives a shape's colour
CLASSIFIER_SIZE = 32  # the classifier sees every image resized to this side (shape is clear at 32)


class ShapeClassifier(nn.Module):
    """A small CNN on :func:`silhouette`: ``(N, 3, S, S)`` in [-1, 1] -> ``(N, num_domains)``."""

    def __init__(self, num_domains: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in (width, width * 2, width * 2, width * 4):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_domains)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(silhouette(x)).mean(dim=(2, 3)))  # (N, num_domains)


def _load_split(files: dict[str, list[Path]], img_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    transform = eval_transform(img_size)
    xs, ys = [], []
    for y, paths in enumerate(files.values()):
        xs += [transform(load_image(p)) for p in paths]
        ys += [y] * len(paths)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    net.eval()
    pred = torch.cat([net(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    return float((pred == y).float().mean())


def degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Training augmentation of the classifier: the artefacts of generated images.

    ``x`` (N, 3, H, W) in [-1, 1]. Per image, with probability 1/2 each: a blur (3x3 box), pixel
    noise (Gaussian, std up to 0.3) and a speckle of the shape's interior (noise only where the
    image differs from its background). Without it a classifier trained on the clean synthetic
    images put every slightly noisy output of a young generator in one class, however clearly a
    person saw the target shape.
    """
    n = x.size(0)

    def pick() -> torch.Tensor:
        return (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]

    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    x = torch.where(pick(), blurred, x)
    std = 0.3 * torch.rand(n, 1, 1, 1, generator=gen)
    x = torch.where(pick(), x + std * torch.randn(x.shape, generator=gen), x)
    inside = (silhouette(x) > 0.3).float()  # (N, 1, H, W)
    speckle = 0.4 * torch.randn(x.shape, generator=gen) * inside
    x = torch.where(pick(), x + speckle, x)
    return x.clamp(-1, 1)


def train_classifier(
    root: str | os.PathLike,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
) -> tuple[ShapeClassifier, dict[str, Any]]:
    """Train a :class:`ShapeClassifier` on ``root/train`` at :data:`CLASSIFIER_SIZE` px for
    ``steps`` Adam steps (whole shuffled passes over the data, the last one cut short).

    Deterministic for a seed (own generators; the global RNG state is left untouched). Returns the
    net (eval mode, CPU) and its info: ``domains``, ``train_accuracy``, ``val_accuracy`` (on
    ``root/val`` when present).
    """
    root = Path(root)
    train_files = list_domain_files(root / "train")
    domains = list(train_files)
    x, y = _load_split(train_files, CLASSIFIER_SIZE)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # callers may be in no_grad
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = ShapeClassifier(len(domains))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        step = 0
        while step < steps:
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                if step == steps:
                    break
                step += 1
                idx = order[i : i + batch_size]
                xb = x[idx]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                xb = degrade(xb, gen)
                loss = F.cross_entropy(net(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            log.info("shape classifier step %d/%d: loss %.4f", step, steps, loss.item())
    net.eval()
    info: dict[str, Any] = {"domains": domains, "version": CLASSIFIER_VERSION, "steps": steps}
    info["train_accuracy"] = _accuracy(net, x, y)
    if (root / "val").is_dir():
        x_val, y_val = _load_split(list_domain_files(root / "val"), CLASSIFIER_SIZE)
        info["val_accuracy"] = _accuracy(net, x_val, y_val)
    return net, info


def load_or_train_classifier(
    root: str | os.PathLike, seed: int = 0, steps: int = 300
) -> tuple[ShapeClassifier, dict[str, Any]]:
    """The cached classifier of a shapes dataset (``root/`` :data:`CLASSIFIER_FILE`), trained on
    first use (see :func:`train_classifier`). The file is written atomically, and the net
    retrained when its domains, seed or steps do not match."""
    root = Path(root)
    path = root / CLASSIFIER_FILE
    domains = list(list_domain_files(root / "train"))
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        info = saved["info"]
        if (info["domains"], info.get("seed"), info.get("steps")) == (domains, seed, steps):
            net = ShapeClassifier(len(domains))
            net.load_state_dict(saved["state_dict"])
            return net.eval(), info
        log.warning("%s: other domains, seed or steps; retraining", path)
    log.info("training the shapes quality classifier (cached at %s)", path)
    net, info = train_classifier(root, steps=steps, seed=seed)
    info["seed"] = seed
    atomic_write(path, lambda tmp: torch.save({"state_dict": net.state_dict(), "info": info}, tmp))
    log.info("shape classifier: val accuracy %.4f", info.get("val_accuracy", float("nan")))
    return net, info


# ----------------------------------------------------------------------------------------------
# Ground-truth estimators
# ----------------------------------------------------------------------------------------------


def shape_mask(img: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Shape pixels: RGB distance to ``background`` above :data:`MASK_THRESHOLD`.

    ``img`` (N, 3, H, W) in 0-255, ``background`` (N, 3) in 0-255 -> bool (N, H, W).
    """
    return (img - background[:, :, None, None]).norm(dim=1) > MASK_THRESHOLD


def mask_centroid(mask: torch.Tensor) -> torch.Tensor:
    """Centroids ``(N, 2)`` as ``(x, y)`` in pixels (pixel centres at ``i + 0.5``); NaN if empty."""
    n, h, w = mask.shape
    m = mask.float()
    total = m.sum(dim=(1, 2))
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    cx = (m.sum(1) * xs).sum(1) / total
    cy = (m.sum(2) * ys).sum(1) / total
    return torch.stack([cx, cy], dim=1)


def shape_color(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Colour ``(N, 3)`` of each shape: mean of the brightest :data:`COLOR_TOP_SHARE` (by
    luminance) of its interior pixels.

    Interior = the mask eroded by one pixel (anti-aliased edges mix with the background), or the
    mask itself when erosion leaves nothing. NaN for an empty mask.
    """
    eroded = -F.max_pool2d(-mask[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0.5
    out = torch.full((img.size(0), 3), float("nan"))
    lum_w = torch.tensor([0.299, 0.587, 0.114])
    for k in range(img.size(0)):
        m = eroded[k] if eroded[k].any() else mask[k]
        if not m.any():
            continue
        pix = img[k].permute(1, 2, 0)[m]  # (P, 3)
        lum = pix @ lum_w
        out[k] = pix[lum >= lum.quantile(1 - COLOR_TOP_SHARE)].mean(0)
    return out


def _dataset_params(root: Path) -> dict[str, Any]:
    meta = root / "metadata.json"
    if not meta.is_file():
        raise FileNotFoundError(
            f"{meta}: not found; the shapes quality check needs a dataset written by "
            "starganv2.shapes (data=shapes)"
        )
    return json.loads(meta.read_text())["params"]


def _metadata(root: Path) -> dict[str, dict[str, Any]]:
    _dataset_params(root)
    records = json.loads((root / "metadata.json").read_text())["images"]
    return {r["path"]: r for r in records}


def _to_255(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` -> float 0-255 holding the 8-bit values a saved image would have."""
    return to_uint8(x).float()


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------


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
    ``shift_error_px_<k>px``.
    """
    root = Path(root)
    params = _dataset_params(root)
    meta = _metadata(root)
    modes = tuple(module.guidance_modes) if modes is None else tuple(modes)
    img_size = module.img_size
    val_files = list_domain_files(root / "val")
    domains = list(val_files)
    if len(domains) != module.num_domains:
        raise ValueError(
            f"{root / 'val'} has {len(domains)} domains {domains} but the model has "
            f"num_domains={module.num_domains}"
        )
    if max_images_per_domain is not None:
        val_files = {d: ps[:max_images_per_domain] for d, ps in val_files.items()}
    data_size = int(params["img_size"])
    scale = img_size / data_size  # metadata pixels -> model pixels
    info: dict[str, Any] = {}
    if classifier is None:
        classifier, info = load_or_train_classifier(root, seed=seed)
    classifier = classifier.to(module.device).eval()

    def record(path: Path) -> dict[str, Any]:
        return meta[path.relative_to(root).as_posix()]

    def expected_boxes(recs: list[dict[str, Any]], shape: str | None = None) -> torch.Tensor:
        """Boxes (B, 4) of ``shape`` (default: each record's own) at each record's centre and
        size, in model pixels."""
        return torch.stack(
            [
                outline_box(
                    shape or r["domain"],
                    img_size,
                    r["cx"] * scale,
                    r["cy"] * scale,
                    r["size"] * scale,
                )
                for r in recs
            ]
        )

    def classify(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != CLASSIFIER_SIZE:
            size = (CLASSIFIER_SIZE, CLASSIFIER_SIZE)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        return classifier(x.clamp(-1, 1)).argmax(1).cpu()

    out: dict[str, float] = {}
    if "val_accuracy" in info:
        out["shapes/classifier_val_accuracy"] = float(info["val_accuracy"])

    # Estimator floors on the real validation images.
    pos_real, col_real, size_real, iou_real = [], [], [], []
    transform = eval_transform(img_size)
    for paths in val_files.values():
        x = torch.stack([transform(load_image(p)) for p in paths])
        recs = [record(p) for p in paths]
        bg = torch.tensor([r["background"] for r in recs], dtype=torch.float32)
        mask = shape_mask(_to_255(x), bg)
        true_pos = torch.tensor([[r["cx"], r["cy"]] for r in recs]) * scale
        pos_real.append((mask_centroid(mask) - true_pos).norm(dim=1))
        true_col = torch.tensor([r["color"] for r in recs], dtype=torch.float32)
        col_real.append((shape_color(_to_255(x), mask) - true_col).norm(dim=1))
        boxes, true_boxes = mask_boxes(mask), expected_boxes(recs)
        size_real.append(size_error(boxes, true_boxes))
        iou_real.append(box_iou(boxes, true_boxes))
    out["shapes/position_error_px_real"] = float(torch.cat(pos_real).nanmean())
    out["shapes/color_error_real"] = float(torch.cat(col_real).nanmean())
    out["shapes/size_error_px_real"] = float(torch.cat(size_real).nanmean())
    out["shapes/box_iou_real"] = float(torch.cat(iou_real).nanmean())
    shift_mode = (
        next((m for m in modes if m in (MODE_LATENT, MODE_LABEL)), None) if shift_px else None
    )
    shift_gen = torch.Generator().manual_seed(seed)
    shifts = [(int(k), 0) for k in shift_px] + [(0, int(k)) for k in shift_px]

    was_training = module.training
    module.eval()
    try:
        for mode in modes:
            correct, pos_err, empty, col_err, col_chance = [], [], [], [], []
            size_err, iou, diversity = [], [], []
            shift_err: dict[int, list[torch.Tensor]] = {}
            shift_gain: list[torch.Tensor] = []
            for trg, trg_domain in enumerate(domains):
                ref_files = val_files[trg_domain]
                ref_styles = None
                if mode == MODE_REFERENCE:
                    ref_styles = reference_styles(module, ref_files, trg, batch_size)
                    ref_cols = torch.tensor(
                        [record(p)["color"] for p in ref_files], dtype=torch.float32
                    )
                for src in (s for s in range(len(domains)) if s != trg):
                    src_files = val_files[domains[src]]
                    for b in translate_task(
                        module,
                        src_files,
                        src,
                        trg,
                        mode,
                        num_outs=num_outs_per_domain,
                        batch_size=batch_size,
                        seed=seed,
                        ref_styles=ref_styles,
                    ):
                        n, k = b.outputs.shape[:2]
                        fake = b.outputs.flatten(0, 1)  # (B*K, 3, H, W)
                        correct.append(classify(fake) == trg)
                        recs = [record(src_files[int(i)]) for i in b.index]
                        bg = torch.tensor([r["background"] for r in recs], dtype=torch.float32)
                        bg = bg.repeat_interleave(k, 0)  # (B*K, 3)
                        img = _to_255(fake.cpu())
                        mask = shape_mask(img, bg)
                        true_pos = torch.tensor([[r["cx"], r["cy"]] for r in recs]) * scale
                        err = (mask_centroid(mask) - true_pos.repeat_interleave(k, 0)).norm(dim=1)
                        pos_err.append(err)
                        empty.append(~mask.flatten(1).any(1))
                        boxes = expected_boxes(recs, trg_domain).repeat_interleave(k, 0)
                        size_err.append(size_error(mask_boxes(mask), boxes))
                        iou.append(box_iou(mask_boxes(mask), boxes))
                        if k >= 2:
                            diversity.append(_pairwise_l1(img.view(n, k, *img.shape[1:])))
                        if mode == shift_mode:
                            bg_src = bg[::k]  # (B, 3)
                            for (dx, dy), e, g in _shifted(
                                module, b.x_src, trg, mode, shifts, bg_src, shift_gen
                            ):
                                shift_err.setdefault(max(abs(dx), abs(dy)), []).append(e)
                                shift_gain.append(g)
                        if mode == MODE_REFERENCE:
                            idx = b.ref_index.flatten()  # (B*K,)
                            target_col = ref_cols[idx]
                            col_err.append((shape_color(img, mask) - target_col).norm(dim=1))
                            other = (idx + len(ref_files) // 2) % len(ref_files)  # another one
                            col_chance.append((ref_cols[other] - target_col).norm(dim=1))
            out[f"shapes/target_accuracy_{mode}"] = float(torch.cat(correct).float().mean())
            out[f"shapes/position_error_px_{mode}"] = float(torch.cat(pos_err).nanmean())
            out[f"shapes/empty_shape_rate_{mode}"] = float(torch.cat(empty).float().mean())
            out[f"shapes/size_error_px_{mode}"] = float(torch.cat(size_err).nanmean())
            out[f"shapes/box_iou_{mode}"] = float(torch.cat(iou).nanmean())
            if diversity:
                out[f"shapes/diversity_l1_{mode}"] = float(torch.cat(diversity).mean())
            if shift_err:
                every = torch.cat([torch.cat(v) for v in shift_err.values()])
                out["shapes/shift_error_px"] = float(every.nanmean())
                out["shapes/shift_gain"] = float(torch.cat(shift_gain).nanmean())
                for step, errs in sorted(shift_err.items()):
                    out[f"shapes/shift_error_px_{step}px"] = float(torch.cat(errs).nanmean())
            if mode == MODE_REFERENCE:
                out["shapes/ref_color_error"] = float(torch.cat(col_err).nanmean())
                out["shapes/ref_color_error_chance"] = float(torch.cat(col_chance).mean())
    finally:
        module.train(was_training)
    for key, value in out.items():
        log.info("%s: %.4f", key, value)
    return {k: float(v) if np.isfinite(v) else float("nan") for k, v in out.items()}


def _pairwise_l1(img: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (0-255) over the pairs of each source's outputs:
    ``(B, K, 3, H, W) -> (B,)``."""
    k = img.size(1)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    diffs = [(img[:, i] - img[:, j]).abs().mean(dim=(1, 2, 3)) for i, j in pairs]  # each (B,)
    return torch.stack(diffs).mean(0)


def _shifted(
    module: Translator,
    x: torch.Tensor,
    trg: int,
    mode: str,
    shifts: Sequence[tuple[int, int]],
    background: torch.Tensor,
    gen: torch.Generator,
) -> Any:
    """For each shift: ``(shift, distance of the output's move from it (B,), gain (B,))`` of the
    sources ``x (B, 3, H, W)`` translated into ``trg`` with and without the shift, with one style
    (a latent code from ``gen`` in latent mode)."""
    y = torch.full((x.size(0),), trg, dtype=torch.long, device=x.device)
    if mode == MODE_LATENT:
        z = torch.randn(x.size(0), module.latent_dim, generator=gen).to(x.device)
        s = module.style_from_latent(z, y)

        def run(v: torch.Tensor) -> torch.Tensor:
            return module.translate(v, y, s=s)
    else:

        def run(v: torch.Tensor) -> torch.Tensor:
            return module.translate(v, y)

    def centroid(v: torch.Tensor) -> torch.Tensor:
        return mask_centroid(shape_mask(_to_255(run(v).cpu()), background))

    centre = centroid(x)
    for dx, dy in shifts:
        yield (dx, dy), *shift_figures(centre, centroid(shift_images(x, dx, dy)), (dx, dy))


def metric(evaluator: Any) -> Any:
    """Registry factory of ``shapes_quality``: runs :func:`shapes_quality` on rank 0 (other ranks
    return nothing) with the evaluator's seed, batch size and image limit."""

    def run(model: Translator, data: EvalData, modes: Sequence[str]) -> dict[str, float]:
        if rank_world()[0] != 0:
            return {}
        if data.root is None:
            raise ValueError("shapes_quality needs the dataset folder of the built-in shapes data")
        return shapes_quality(
            model,
            data.root,
            modes=modes,
            num_outs_per_domain=evaluator.shapes_num_outs_per_domain,
            batch_size=evaluator.batch_size,
            seed=evaluator.seed,
            max_images_per_domain=evaluator.max_images_per_domain,
            shift_px=evaluator.shapes_shift_px,
        )

    return run
