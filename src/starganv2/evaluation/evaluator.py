"""``Evaluator``: the evaluation protocol in one object, and the one entry to every metric.

``starganv2-eval`` (``conf/eval.yaml``) and the training callback (``conf/callbacks/eval.yaml``)
both build it from the same config node, ``conf/evaluator/default.yaml``::

    evaluator = Evaluator(metrics=["fid_lpips"], num_outs_per_domain=10)
    evaluator = Evaluator(metrics={"fid_lpips": {"fid_features": "torchvision"}})
    results = evaluator.evaluate(model, datamodule)   # {"FID_latent/cat2dog": ..., ...}

The evaluator holds the protocol every metric shares (modes, outputs per image, batch, seed, image
limit); each metric holds its own settings (``metrics.<name>.<key>``). The metrics are looked up
by name in :mod:`starganv2.evaluation.registry` and built when the evaluator is (so missing
weights and unknown settings fail at once, before any data is read).

Before evaluating, :meth:`Evaluator.check_data` refuses data that do not fit the model: another
domain count, a domain with fewer than 2 images (naming its folder), and, when the model knows the
domain names it was trained with (``model.trained_domains``), folders that put one of them at
another label (:func:`check_trained_domains`; ``starganv2-eval`` compares with the names saved in
the checkpoint).

Errors at construction name the arguments as they are (``modes=...``, ``metrics.fid_lpips.<key>``):
the keys of ``starganv2-eval``, where the settings sit at the top level; the training config's
builder (:func:`starganv2.cli.config_check.instantiate`) gives them in full there
(``evaluator.modes``). Errors found only when evaluating (a mode the model lacks) name
``<settings_key>.<key>``, ``settings_key`` an argument of :meth:`Evaluator.evaluate`.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from starganv2.evaluation.backbones import MissingWeightsError, WeightsFileError
from starganv2.evaluation.protocol import MODES, EvalData, EvalProtocol
from starganv2.evaluation.registry import MetricRunner, build_metric, image_metrics, metric_names
from starganv2.models.domain_names import check_domain_order
from starganv2.models.interface import Translator, require_mode
from starganv2.utils.checks import check_int

__all__ = [
    "Evaluator",
    "auto_metric_names",
    "check_trained_domains",
    "is_shapes_data",
    "restate_as_mapping",
]

log = logging.getLogger(__name__)

AUTO = "auto"
AUTO_SHAPES = "shapes_quality"  # what ``auto`` adds on the built-in shapes data
AUTO_ATTRIBUTES = "attribute_accuracy"  # what ``auto`` is on attribute data

MetricsArg = str | Sequence[str] | Mapping[str, Mapping[str, Any] | None]


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


def auto_metric_names(shapes: bool) -> list[str]:
    """The metrics ``auto`` runs on domain data: ``fid_lpips``, plus ``shapes_quality`` on the
    built-in shapes data (``shapes``); attribute data take ``attribute_accuracy`` instead."""
    return ["fid_lpips", AUTO_SHAPES] if shapes else ["fid_lpips"]


def _selected(metrics: MetricsArg) -> dict[str, dict[str, Any]]:
    """``{name: settings}`` of ``metrics`` (a list or mapping; ``auto``: ``fid_lpips``)."""
    if isinstance(metrics, str):
        metrics = auto_metric_names(shapes=False) if metrics == AUTO else [metrics]
    if isinstance(metrics, Mapping):
        chosen = {str(k): dict(v or {}) for k, v in metrics.items()}
    else:
        chosen = {str(k): {} for k in metrics}
    unknown = [m for m in chosen if m not in metric_names()]
    if unknown or not chosen:
        raise ValueError(
            f"metrics={list(chosen)}: unknown {unknown}; expected auto, a non-empty "
            f"list from {metric_names()} or a mapping {{name: {{setting: value}}}}"
        )
    return chosen


_SETTING_OVERRIDE = re.compile(r"'\+\+((?:\w+\.)*)metrics\.(\w+)\.(\w+)=([^'\s]+)'")
"""A metric setting's override in a message (``'++metrics.fid_lpips.fid_weights=/path/...'``),
with the path of the evaluator's node when it has one
(``'++callbacks.evaluation.evaluator.metrics...'``)."""


def _flow(value: Any) -> str:
    """``value`` in Hydra's override syntax: ``{fid_lpips: {fid_weights: /path/to/x.pth}}``."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


LIST_NOTE = (
    "A list of metrics takes no settings: these overrides give the metrics as a mapping, with "
    "every path this message asks for."
)
"""Why :func:`restate_as_mapping` changed the overrides of an error about a list of metrics."""


def restate_as_mapping(
    err: BaseException, chosen: Mapping[str, Mapping[str, Any]], note: str
) -> None:
    """Rewrite in place the one-line message of ``err`` (a weights error) so that its overrides
    of metric settings (``'++metrics.fid_lpips.fid_weights=...'``, or with the evaluator's node
    path in front) keep every metric of ``chosen``, and say why (``note``).

    Such an override, pasted, makes ``metrics`` a mapping of the metrics it names: after a list
    Hydra refuses it (``Index 'fid_lpips' (str) is not an int``), and in place of ``auto`` it
    drops the metrics ``auto`` adds for the data (``shapes_quality`` on the shapes data). Each
    becomes ``'~metrics' '+metrics={...}'``, the mapping form of all the ``chosen`` metrics with
    every setting the message names filled in, which works as printed: pasted after the list or
    ``auto``, in its place, or with either in a config file. Messages of more than one argument,
    or with no such override, are left alone."""
    if len(err.args) != 1 or not isinstance(err.args[0], str):
        return
    message = err.args[0]
    found = _SETTING_OVERRIDE.findall(message)
    if not found:
        return
    mapping = {name: dict(settings) for name, settings in chosen.items()}
    for _, name, key, value in found:
        mapping.setdefault(name, {})[key] = value
    node = found[0][0] + "metrics"
    override = f"'~{node}' '+{node}={_flow(mapping)}'"
    err.args = (_SETTING_OVERRIDE.sub(lambda _: override, message) + " " + note,)


def _key(settings_key: str, name: str) -> str:
    """``<settings_key>.<name>``, or ``name`` for settings at the top level (``""``)."""
    return f"{settings_key}.{name}" if settings_key else name


class Evaluator:
    """Evaluate a :class:`~starganv2.models.interface.Translator` with named metrics.

    Args:
        metrics: which metrics run, each with its own settings: a mapping ``{name: {setting:
            value}}`` (settings left out take the metric's defaults; see
            :func:`~starganv2.evaluation.registry.metric_settings`), a list of registered names
            (each with its defaults), or ``"auto"`` (``fid_lpips``, plus ``shapes_quality`` on
            the built-in shapes data).
        modes: guidance modes to evaluate (``latent``, ``reference`` for style models, ``label``
            for deterministic ones; one name alone, ``"latent"``, is that mode); ``None``: every
            mode the model supports.
        num_outs_per_domain: outputs per source image and task (>= 2; the paper uses 10).
        batch_size: source images per batch.
        seed: seed of the latent codes and reference draws (per image, so results do not depend
            on the batch size or the number of processes).
        max_images_per_domain: use only the first N validation (source and reference) and training
            (FID real) images of each domain; ``None``: all (the protocol). For quick checks.
        num_workers: DataLoader workers for image loading.
        save_images: folder to also write the outputs of the metrics that make images to measure
            them (``fid_lpips``, :func:`~starganv2.evaluation.registry.image_metrics`) as
            ``<mode>/<task>/<iiii>_<jj>.png``; with metrics that write none (``[shapes_quality]``)
            it is a ``ValueError``, here or, for ``auto`` on attribute data, at :meth:`evaluate`.
    """

    def __init__(
        self,
        metrics: MetricsArg = AUTO,
        modes: Sequence[str] | None = None,
        num_outs_per_domain: int = 10,
        batch_size: int = 32,
        seed: int = 0,
        max_images_per_domain: int | None = None,
        num_workers: int = 0,
        save_images: str | os.PathLike | None = None,
    ):
        if isinstance(modes, str):
            modes = [modes]  # modes=latent: one mode, as metrics=shapes_quality is one metric
        if modes is not None:
            modes = tuple(modes)
            bad = [m for m in modes if m not in MODES]
            if not modes or bad:
                raise ValueError(
                    f"modes={list(modes)}: expected null or a non-empty subset of {list(MODES)}"
                )
        for key, value, low in (
            ("num_outs_per_domain", num_outs_per_domain, 2),
            ("batch_size", batch_size, 1),
            ("seed", seed, 0),
            ("num_workers", num_workers, 0),
        ):
            check_int(value, key, low)
        if max_images_per_domain is not None and max_images_per_domain < 2:
            raise ValueError(
                f"max_images_per_domain={max_images_per_domain}: expected null or >= 2 "
                "(FID needs 2)"
            )
        self.auto = isinstance(metrics, str) and metrics == AUTO
        self.metrics = _selected(metrics)
        self.modes = modes
        if not self.auto:  # auto's choice depends on the data: checked by evaluate
            self.check_saves_images(save_images, list(self.metrics), list(self.metrics), "")
        self.protocol = EvalProtocol(
            num_outs_per_domain=int(num_outs_per_domain),
            batch_size=int(batch_size),
            seed=int(seed),
            max_images_per_domain=max_images_per_domain,
            num_workers=int(num_workers),
            save_images=Path(save_images) if save_images is not None else None,
            modes=modes,
        )
        try:
            self._runners: dict[str, MetricRunner] = {
                name: build_metric(name, self.protocol, settings)
                for name, settings in self.metrics.items()
            }
        except (MissingWeightsError, WeightsFileError) as err:
            if not isinstance(metrics, (str, Mapping)):
                restate_as_mapping(err, self.metrics, LIST_NOTE)
            raise

    @staticmethod
    def check_saves_images(
        save_images: Any, names: list[str], given: Any, settings_key: str
    ) -> None:
        """Raise ``ValueError`` when ``save_images`` is set but none of the metrics ``names`` that
        run writes images: it would save nothing, silently. ``given`` is ``metrics`` as set."""
        writers = image_metrics()
        if save_images is None or any(name in writers for name in names):
            return
        chosen = f"{_key(settings_key, 'metrics')}={given!r}"
        if list(names) != list(given):
            chosen += f" (here {names})"
        raise ValueError(
            f"{_key(settings_key, 'save_images')}={str(save_images)!r} would save nothing: "
            f"{chosen} runs no metric that writes images (only {writers} do); add fid_lpips to "
            "the metrics (it needs the Inception and AlexNet weights, see docs/evaluation.md) or "
            "leave save_images unset (null)"
        )

    def metrics_for(self, data: EvalData) -> list[str]:
        """The metric names that run on ``data`` (``auto`` adds ``shapes_quality`` on shapes, and
        is ``attribute_accuracy`` on attribute data)."""
        if self.auto and data.attributes is not None:
            return [AUTO_ATTRIBUTES]
        if self.auto:
            return auto_metric_names(is_shapes_data(data.root))
        return list(self.metrics)

    def modes_for(self, model: Translator, settings_key: str = "evaluator") -> tuple[str, ...]:
        """The modes evaluated for ``model``: ``modes``, or all the model supports. A mode the
        model lacks is a ``GuidanceModeError`` naming ``<settings_key>.modes`` (``modes`` for
        ``settings_key=""``)."""
        if self.modes is None:
            return tuple(model.guidance_modes)
        for mode in self.modes:
            require_mode(model, mode, f"{_key(settings_key, 'modes')}={list(self.modes)}")
        return self.modes

    def evaluate(
        self, model: Translator, datamodule: Any, settings_key: str = "evaluator"
    ) -> dict[str, float]:
        """All metrics of ``model`` on ``datamodule`` (a data module or a dataset folder, see
        :meth:`EvalData.from_datamodule`); the same dict on every rank under DDP, except that
        ``shapes_quality`` runs on rank 0 only.

        ``settings_key`` is the config key of the evaluator's settings, named in the errors found
        only now (a mode the model lacks: ``<settings_key>.modes``): ``evaluator``, the training
        config's node, by default; ``""`` for settings at the top level (``starganv2-eval``).
        """
        data = (
            datamodule if isinstance(datamodule, EvalData) else EvalData.from_datamodule(datamodule)
        )
        self.check_data(model, data)
        data = data.limited(self.protocol.max_images_per_domain)
        modes = self.modes_for(model, settings_key)
        names = self.metrics_for(data)
        if self.auto:
            self.check_saves_images(self.protocol.save_images, names, AUTO, settings_key)
        results: dict[str, float] = {}
        for name in names:
            if name not in self._runners:  # auto's shapes_quality, with its defaults
                self._runners[name] = build_metric(name, self.protocol)
            results.update(_checked_results(name, self._runners[name](model, data, modes), results))
        return results

    @staticmethod
    def check_data(model: Translator, data: EvalData) -> None:
        """Raise ``ValueError`` if ``data`` does not fit ``model``: another domain count, a domain
        with fewer than 2 images (naming its folder), or, when the model knows the names it was
        trained with (``model.trained_domains``), a domain of those at another label
        (:func:`check_trained_domains`)."""
        if data.attributes is not None:
            if len(data.domains) != model.num_domains:
                raise ValueError(
                    f"the data has {len(data.domains)} attributes {data.domains} but the model "
                    f"has num_domains={model.num_domains}: evaluate with the data the model was "
                    "trained on"
                )
            return
        if len(data.domains) != model.num_domains:
            raise ValueError(
                f"the data has {len(data.domains)} domains {data.domains} but the model has "
                f"num_domains={model.num_domains}: evaluate with the data the model was trained on"
            )
        trained = getattr(model, "trained_domains", None)
        where = (
            "the data" if data.root is None else f"the domain folders under {data.root / 'train'}"
        )
        check_trained_domains(data.domains, where, trained, "the model (model.trained_domains)")
        for split, files in (("train", data.train_files), ("val", data.val_files)):
            few = {d: files.get(d, []) for d in data.domains if len(files.get(d, [])) < 2}
            if few:
                raise ValueError(_too_few_images(data.root, split, few))


def _checked_results(name: str, returned: object, earlier: Mapping[str, Any]) -> dict[str, float]:
    """The figures metric ``name`` ``returned``, as plain numbers (a ``float`` or ``int``: what JSON,
    the loggers and ``trainer.callback_metrics`` take), else ``ValueError`` naming the metric and
    the key. A registered metric is anyone's code, and what it returns is otherwise noticed only
    after the evaluation, by an unrelated part (a string in ``metrics.json``, a tensor failing the
    JSON writer, a string failing the callback), or never: a key another metric gave before
    (``earlier``) would replace its figure."""
    if not isinstance(returned, Mapping):
        raise ValueError(
            f"metric {name!r} returned {type(returned).__name__} {returned!r:.80}: its runner must "
            "return a dict {key: number}"
        )
    checked: dict[str, float] = {}
    for key, value in returned.items():
        if not isinstance(key, str) or key in earlier:
            why = "another metric's key" if key in earlier else "not a string"
            raise ValueError(f"metric {name!r} returned the key {key!r}: {why}; use its own keys")
        if not isinstance(value, numbers.Real):
            raise ValueError(
                f"metric {name!r} returned {key!r}: {type(value).__name__} {value!r:.80}, not a "
                "number; return a float (a tensor's or array's .item())"
            )
        checked[key] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return checked


def _too_few_images(root: Path | None, split: str, few: Mapping[str, Sequence[Path]]) -> str:
    """The message for the domains of ``split`` with fewer than 2 images (``few``), each named by
    its folder ``root/split/<domain>`` (by its name when the data have no folder)."""
    where = [str(root / split / d) if root is not None else f"{split} domain {d!r}" for d in few]
    counts = "; ".join(f"{w}: {len(ps)} image(s)" for w, ps in zip(where, few.values()))
    use = "the FID reals" if split == "train" else "the sources and references"
    return (
        f"{counts}; expected at least 2 images per domain in {split}/ ({use}): add images to "
        "that folder"
    )


def check_trained_domains(
    names: Sequence[str], where: str, trained: Sequence[str] | None, trained_where: str
) -> None:
    """Compare the data's domain names ``names`` (given by ``where``) with those the model was
    trained with, ``trained`` (known from ``trained_where``; ``None``: unknown, nothing to do).

    Labels are positions: a domain of ``trained`` that ``names`` puts at another label would be
    translated as another domain and its figures reported under its own name
    (``FID_latent/circle2apple`` measuring a square): ``ValueError`` naming both lists. Other
    differences (a renamed folder, a new name at a label) keep every label and may be meant: a
    warning naming both lists (:func:`~starganv2.models.domain_names.check_domain_order`).
    """
    check_domain_order(
        names,
        where,
        trained,
        trained_where,
        effect="translated with another domain's label and their figures reported under their "
        "own names",
        remedy="evaluate with the data the model was trained on, its domain folders named as then",
        kept="the figures are named after the data's folders",
    )
