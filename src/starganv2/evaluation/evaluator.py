"""``Evaluator``: the evaluation settings in one object, and the one entry to every metric.

``starganv2-eval`` (``conf/eval.yaml``) and the training callback (``conf/callbacks/eval.yaml``)
both build it from the same config node, ``conf/evaluator/default.yaml``::

    evaluator = Evaluator(metrics=["fid_lpips"], num_outs_per_domain=10)
    results = evaluator.evaluate(model, datamodule)   # {"FID_latent/cat2dog": ..., ...}

The metrics are looked up by name in :mod:`starganv2.evaluation.registry` and built when the
evaluator is (so missing weights fail at once, before any data is read).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from starganv2.evaluation.protocol import MODES, EvalData
from starganv2.evaluation.registry import MetricRunner, build_metric, metric_names
from starganv2.models.interface import Translator, require_mode
from starganv2.utils.checks import check_int

__all__ = ["Evaluator", "is_shapes_data"]

log = logging.getLogger(__name__)

AUTO = "auto"


def is_shapes_data(root: str | os.PathLike | None) -> bool:
    """Whether ``root`` holds the built-in shapes data (its ``metadata.json`` with parameters)."""
    if root is None:
        return False
    meta = Path(root) / "metadata.json"
    if not meta.is_file():
        return False
    try:
        return "params" in json.loads(meta.read_text())
    except (OSError, ValueError):
        return False


class Evaluator:
    """Evaluate a :class:`~starganv2.models.interface.Translator` with named metrics.

    Args:
        metrics: ``"auto"`` (``fid_lpips``, plus ``shapes_quality`` on the built-in shapes data)
            or a list of registered names (:func:`~starganv2.evaluation.registry.metric_names`).
        modes: guidance modes to evaluate (``latent``, ``reference`` for style models, ``label``
            for deterministic ones); ``None``: every mode the model supports.
        num_outs_per_domain: outputs per source image and task (>= 2; the paper uses 10).
        batch_size: source images per batch.
        seed: seed of the latent codes and reference draws (per image, so results do not depend
            on the batch size or the number of processes).
        max_images_per_domain: use only the first N validation (source and reference) and training
            (FID real) images of each domain; ``None``: all (the protocol). For quick checks.
        num_workers: DataLoader workers for image loading.
        fid_features: ``standard`` (TF-Inception, the usual FID) or ``torchvision`` (ImageNet
            Inception-v3, as the original StarGAN v2 code); ignored with ``feature_extractor``.
        fid_weights: explicit file for the FID network; ``None``: the torch hub cache.
        lpips_weights: explicit AlexNet file (``alexnet-owt-7be5be79.pth``); ``None``: hub cache.
        feature_extractor: a custom FID feature module, ``(N, 3, H, W)`` float in [0, 1] ->
            ``(N, D)`` (tests, other backbones).
        quantize: round outputs to 8 bit before FID, as a PNG round trip would.
        save_images: folder to also write every FID output as ``<mode>/<task>/<iiii>_<jj>.png``.
        shapes_num_outs_per_domain: outputs per source image and task of ``shapes_quality``.
        shapes_shift_px: shifts (px, each >= 1) for ``shapes_quality``'s shift consistency
            (``shapes/shift_error_px``, ``shapes/shift_gain``); empty: not measured.
    """

    def __init__(
        self,
        metrics: str | Sequence[str] = AUTO,
        modes: Sequence[str] | None = None,
        num_outs_per_domain: int = 10,
        batch_size: int = 32,
        seed: int = 0,
        max_images_per_domain: int | None = None,
        num_workers: int = 0,
        fid_features: str = "standard",
        fid_weights: str | os.PathLike | None = None,
        lpips_weights: str | os.PathLike | None = None,
        feature_extractor: nn.Module | None = None,
        quantize: bool = True,
        save_images: str | os.PathLike | None = None,
        shapes_num_outs_per_domain: int = 2,
        shapes_shift_px: Sequence[int] = (),
    ):
        if modes is not None:
            modes = tuple(modes)
            bad = [m for m in modes if m not in MODES]
            if not modes or bad:
                raise ValueError(
                    f"evaluator.modes={list(modes)}: expected null or a non-empty subset of "
                    f"{list(MODES)}"
                )
        for key, value, low in (
            ("num_outs_per_domain", num_outs_per_domain, 2),
            ("batch_size", batch_size, 1),
            ("shapes_num_outs_per_domain", shapes_num_outs_per_domain, 1),
        ):
            check_int(value, f"evaluator.{key}", low)
        if max_images_per_domain is not None and max_images_per_domain < 2:
            raise ValueError(
                f"evaluator.max_images_per_domain={max_images_per_domain}: expected null or >= 2 "
                "(FID needs 2)"
            )
        if isinstance(metrics, str) and metrics != AUTO:
            metrics = [metrics]
        self.auto = metrics == AUTO
        names = ["fid_lpips"] if self.auto else list(metrics)
        unknown = [m for m in names if m not in metric_names()]
        if unknown or not names:
            raise ValueError(
                f"evaluator.metrics={names}: unknown {unknown}; expected auto or a non-empty "
                f"list from {metric_names()}"
            )
        self.metrics = names
        self.modes = modes
        self.num_outs_per_domain = int(num_outs_per_domain)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.max_images_per_domain = max_images_per_domain
        self.num_workers = num_workers
        self.fid_features = fid_features
        self.fid_weights = fid_weights
        self.lpips_weights = lpips_weights
        self.feature_extractor = feature_extractor
        self.quantize = quantize
        self.save_images = save_images
        self.shapes_num_outs_per_domain = int(shapes_num_outs_per_domain)
        for k in shapes_shift_px:
            check_int(k, "evaluator.shapes_shift_px (each shift)", 1)
        self.shapes_shift_px = tuple(int(k) for k in shapes_shift_px)
        self._runners: dict[str, MetricRunner] = {n: build_metric(n, self) for n in names}

    def metrics_for(self, data: EvalData) -> list[str]:
        """The metric names that run on ``data`` (``auto`` adds ``shapes_quality`` on shapes)."""
        if self.auto and is_shapes_data(data.root):
            return [*self.metrics, "shapes_quality"]
        return list(self.metrics)

    def modes_for(self, model: Translator) -> tuple[str, ...]:
        """The modes evaluated for ``model``: ``modes``, or all the model supports."""
        if self.modes is None:
            return tuple(model.guidance_modes)
        for mode in self.modes:
            require_mode(model, mode, f"evaluator.modes={list(self.modes)}")
        return self.modes

    def evaluate(self, model: Translator, datamodule: Any) -> dict[str, float]:
        """All metrics of ``model`` on ``datamodule`` (a data module or a dataset folder, see
        :meth:`EvalData.from_datamodule`); the same dict on every rank under DDP, except that
        ``shapes_quality`` runs on rank 0 only."""
        data = (
            datamodule if isinstance(datamodule, EvalData) else EvalData.from_datamodule(datamodule)
        )
        self.check_data(model, data)
        data = data.limited(self.max_images_per_domain)
        modes = self.modes_for(model)
        results: dict[str, float] = {}
        for name in self.metrics_for(data):
            if name not in self._runners:
                self._runners[name] = build_metric(name, self)
            results.update(self._runners[name](model, data, modes))
        return results

    @staticmethod
    def check_data(model: Translator, data: EvalData) -> None:
        """Raise ``ValueError`` if ``data`` does not fit ``model`` (domain count, images)."""
        if len(data.domains) != model.num_domains:
            raise ValueError(
                f"the data has {len(data.domains)} domains {data.domains} but the model has "
                f"num_domains={model.num_domains}: evaluate with the data the model was trained on"
            )
        for split, files in (("train", data.train_files), ("val", data.val_files)):
            missing = [d for d in data.domains if len(files.get(d, [])) < 2]
            if missing:
                raise ValueError(
                    f"{split} images of domains {missing}: expected at least 2 per domain "
                    f"(found {[len(files.get(d, [])) for d in missing]})"
                )
