"""Named metrics: each a factory that takes the :class:`~starganv2.evaluation.evaluator.Evaluator`
(its shared settings) and returns a function of the model and the data.

    runner = build_metric("fid_lpips", evaluator)   # builds what it needs now (fails fast)
    results = runner(model, data, modes)            # {"FID_latent/mean": ..., ...}

Built in: ``fid_lpips`` (:mod:`~starganv2.evaluation.fid_lpips`, needs the Inception and AlexNet
weights) and ``shapes_quality`` (:mod:`~starganv2.evaluation.shapes_quality`, the built-in shapes
data only, no weights). Add your own with :func:`register_metric`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MetricRunner", "register_metric", "build_metric", "metric_names"]

MetricRunner = Callable[[Any, Any, Sequence[str]], dict[str, float]]
"""``runner(model, data: EvalData, modes) -> {key: value}``."""

_FACTORIES: dict[str, str | Callable[[Any], MetricRunner]] = {
    "fid_lpips": "starganv2.evaluation.fid_lpips:metric",
    "shapes_quality": "starganv2.evaluation.shapes_quality:metric",
}


def register_metric(name: str, factory: Callable[[Any], MetricRunner]) -> None:
    """Make ``factory(evaluator) -> runner`` available as ``metrics=[name]``."""
    if name == "auto":
        raise ValueError("'auto' is reserved: it picks the metrics that fit the data")
    _FACTORIES[name] = factory


def metric_names() -> list[str]:
    """The registered metric names."""
    return sorted(_FACTORIES)


def build_metric(name: str, evaluator: Any) -> MetricRunner:
    """The runner of metric ``name`` for ``evaluator``'s settings."""
    if name not in _FACTORIES:
        raise ValueError(
            f"metrics: unknown {name!r}; expected auto or a list from {metric_names()}"
        )
    factory = _FACTORIES[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(evaluator)
