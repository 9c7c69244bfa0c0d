"""Named metrics. Each is a factory that takes the shared protocol and the metric's own settings
as keyword arguments, and returns a function of the model and the data:

    runner = build_metric("fid_lpips", protocol, {"fid_features": "torchvision"})  # fails fast
    results = runner(model, data, modes)            # {"FID_latent/mean": ..., ...}

A factory's keyword arguments are the metric's settings, ``metrics.<name>.<key>`` in the config;
their defaults are the metric's defaults (:func:`metric_settings`). Built in: ``fid_lpips``
(:mod:`~starganv2.evaluation.fid_lpips`, needs the Inception and AlexNet weights) and
``shapes_quality`` (:mod:`~starganv2.evaluation.shapes_quality`, the built-in shapes data only,
no weights) and ``attribute_accuracy`` (:mod:`~starganv2.evaluation.attribute_accuracy`,
attribute data only, no weights). Add your own with :func:`register_metric`::

    def my_metric(protocol: EvalProtocol, *, threshold: float = 0.5) -> MetricRunner: ...
    register_metric("my_metric", my_metric)      # then metrics={my_metric: {threshold: 0.3}}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starganv2.evaluation.protocol import EvalData, EvalProtocol
from starganv2.utils.registration import check_new_entry, defined_at

__all__ = [
    "MetricFactory",
    "MetricRunner",
    "build_metric",
    "image_metrics",
    "metric_names",
    "metric_settings",
    "register_metric",
]

MetricRunner = Callable[[Any, EvalData, Sequence[str]], dict[str, float]]
"""``runner(model, data: EvalData, modes) -> {key: value}``."""

MetricFactory = Callable[..., MetricRunner]
"""``factory(protocol: EvalProtocol, **settings) -> MetricRunner``."""

_FACTORIES: dict[str, str | MetricFactory] = {
    "fid_lpips": "starganv2.evaluation.fid_lpips:metric",
    "shapes_quality": "starganv2.evaluation.shapes_quality:metric",
    "attribute_accuracy": "starganv2.evaluation.attribute_accuracy:metric",
}
_SAVES_IMAGES: set[str] = {"fid_lpips"}
"""The metrics that write their outputs to ``protocol.save_images``."""


def register_metric(name: str, factory: MetricFactory, *, saves_images: bool = False) -> None:
    """Make ``factory(protocol, **settings) -> runner`` available as ``metrics=[name]``.

    ``saves_images``: whether the runner writes its outputs to ``protocol.save_images`` (the
    evaluator refuses ``save_images`` when no metric that runs does, as it would save nothing).
    A name registered by another function (a built-in's included) is refused, as mask providers'
    are: the second metric would replace the first silently; the same function again (a reloaded
    module) replaces it.
    """
    if name == "auto":
        raise ValueError("'auto' is reserved: it picks the metrics that fit the data")
    if not callable(factory):
        raise TypeError(
            f"metric {name!r}: factory={factory!r} is not callable; expected "
            "factory(protocol, **settings) -> runner(model, data, modes)"
        )
    check_new_entry("metric", name, _FACTORIES, factory)
    _FACTORIES[name] = factory
    if saves_images:
        _SAVES_IMAGES.add(name)
    else:
        _SAVES_IMAGES.discard(name)


def image_metrics() -> list[str]:
    """The registered metrics that write their outputs to ``protocol.save_images``
    (``fid_lpips``)."""
    return sorted(n for n in _SAVES_IMAGES if n in _FACTORIES)


def metric_names() -> list[str]:
    """The registered metric names."""
    return sorted(_FACTORIES)


def _factory(name: str) -> MetricFactory:
    if name not in _FACTORIES:
        raise ValueError(
            f"metrics: unknown {name!r}; expected auto or a list from {metric_names()}"
        )
    factory = _FACTORIES[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        factory = _FACTORIES[name] = getattr(importlib.import_module(module), attr)
    return factory


def metric_settings(name: str) -> dict[str, Any]:
    """The settings metric ``name`` takes, with their defaults (``inspect.Parameter.empty`` for
    a required one): its factory's keyword arguments after the protocol."""
    params = list(inspect.signature(_factory(name)).parameters.values())[1:]
    return {
        p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def build_metric(
    name: str, protocol: EvalProtocol, settings: Mapping[str, Any] | None = None
) -> MetricRunner:
    """The runner of metric ``name`` with the shared ``protocol`` and its own ``settings``
    (missing ones take the metric's defaults). An unknown setting, or a missing one the metric
    requires, is a ``ValueError`` that names ``metrics.<name>.<key>``; a ``ValueError`` or
    ``TypeError`` of the factory's own is said after ``metrics.<name>:`` unless it names it (a
    registered metric's "threshold must be below 1" did not say which metric refused it)."""
    factory = _factory(name)
    settings = dict(settings or {})
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    valid = metric_settings(name)
    unknown = [k for k in settings if k not in valid]
    if unknown and not takes_any:
        key = unknown[0]
        raise ValueError(
            f"metrics.{name}.{key}={settings[key]!r}: {name} has no setting {key!r}; "
            f"expected some of {sorted(valid)}"
        )
    required = [k for k, default in valid.items() if default is inspect.Parameter.empty]
    missing = [k for k in required if k not in settings]
    if missing:
        raise ValueError(
            f"metrics.{name}.{missing[0]} is required: {name} has no default for it; set "
            f"metrics.{name}.{missing[0]}=<value>"
        )
    try:
        runner = factory(protocol, **settings)
    except (ValueError, TypeError) as err:
        if type(err) not in (ValueError, TypeError) or str(err).startswith(f"metrics.{name}"):
            raise
        raise type(err)(f"metrics.{name}: {err}") from err
    if not callable(runner):
        raise TypeError(
            f"metrics.{name}: its factory {defined_at(factory)} returned {type(runner).__name__} "
            f"{runner!r:.80}, not a runner(model, data, modes) -> {{key: number}}"
        )
    return runner
