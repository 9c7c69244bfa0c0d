"""The metric registry: a factory's keyword arguments are the metric's settings, checked by name;
a new metric is one function and one register_metric call."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from starganv2.evaluation import registry
from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.protocol import EvalData, EvalProtocol
from tests.helpers.translators import IdentityTranslator


def test_builtin_settings_and_defaults():
    assert registry.metric_settings("fid_lpips") == {
        "fid_features": "standard",
        "fid_weights": None,
        "lpips_weights": None,
        "feature_extractor": None,
        "quantize": True,
    }
    assert registry.metric_settings("shapes_quality") == {"num_outs_per_domain": 2, "shift_px": ()}


def test_unknown_metric_and_reserved_name():
    with pytest.raises(ValueError, match=r"metrics: unknown 'fancy'.*fid_lpips"):
        registry.build_metric("fancy", EvalProtocol())
    with pytest.raises(ValueError, match="reserved"):
        registry.register_metric("auto", lambda protocol: None)


def test_a_registered_metric_gets_the_protocol_and_its_own_settings(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    seen = {}

    def count_images(protocol: EvalProtocol, *, scale: float = 1.0, label: str = "n"):
        seen.update(protocol=protocol, scale=scale)

        def run(model, data, modes):
            return {f"{label}/{m}": scale * len(data.val_files["a"]) for m in modes}

        return run

    registry.register_metric("count_images", count_images)
    assert "count_images" in registry.metric_names()
    assert registry.metric_settings("count_images") == {"scale": 1.0, "label": "n"}
    ev = Evaluator({"count_images": {"scale": 2.0}}, batch_size=3, modes=["latent"])
    assert seen["protocol"].batch_size == 3 and seen["scale"] == 2.0
    files = [tmp_path / f"{i}.png" for i in range(3)]
    data = EvalData(["a"], {"a": files}, {"a": files}, None)
    assert ev.evaluate(IdentityTranslator(num_domains=1, latent_dim=2), data) == {"n/latent": 6.0}
    with pytest.raises(ValueError, match=r"metrics.count_images.scal=3.*\['label', 'scale'\]"):
        Evaluator({"count_images": {"scal": 3}})


def test_factories_take_the_protocol_first_and_settings_by_keyword():
    for name in registry.metric_names():
        params = list(inspect.signature(registry._factory(name)).parameters.values())
        assert params[0].name == "protocol"
        assert all(p.kind == p.KEYWORD_ONLY for p in params[1:]), name


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ({"b/mean": "bright"}, r"metric 'bad' returned 'b/mean': str 'bright', not a number"),
        ({"b/mean": torch.tensor(0.5)}, r"'b/mean': Tensor .*\.item\(\)"),
        (None, r"metric 'bad' returned NoneType None: .* dict \{key: number\}"),
        ({"n/latent": 1.0}, r"returned the key 'n/latent': another metric's key"),
    ],
)
def test_a_registered_metric_that_returns_no_numbers_is_named(
    monkeypatch, tmp_path, returned, message
):
    """A metric's figures go to JSON, the loggers and ``trainer.callback_metrics``: a string, a
    tensor or ``None`` failed there with an unrelated ``TypeError`` (or a string was written to
    ``metrics.json``), and a key of another metric replaced its figure silently."""
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    registry.register_metric("good", lambda protocol: lambda model, data, modes: {"n/latent": 1})
    registry.register_metric("bad", lambda protocol: lambda model, data, modes: returned)
    files = [tmp_path / f"{i}.png" for i in range(3)]
    data = EvalData(["a"], {"a": files}, {"a": files}, None)
    model = IdentityTranslator(num_domains=1, latent_dim=2)
    with pytest.raises(ValueError, match=message):
        Evaluator(["good", "bad"], modes=["latent"]).evaluate(model, data)
    fine = {"b/mean": np.float32(0.5), "b/count": np.int64(3)}
    monkeypatch.setitem(registry._FACTORIES, "bad", lambda p: lambda m, d, modes: fine)
    results = Evaluator(["good", "bad"], modes=["latent"]).evaluate(model, data)
    assert results == {"n/latent": 1, "b/mean": 0.5, "b/count": 3}
    assert [type(v) for v in results.values()] == [int, float, int]  # what json.dumps takes


def test_a_registered_metrics_own_refusal_names_the_metric(monkeypatch):
    """A factory's ValueError ("threshold must be below 1") did not say which metric, of several
    in the config, refused which setting; a required setting left out was a TypeError about a
    function's arguments."""
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))

    def thresholded(protocol: EvalProtocol, *, threshold: float, scale: float = 1.0):
        if threshold >= 1:
            raise ValueError(f"threshold={threshold}: expected below 1")
        if scale <= 0:
            raise ValueError(f"metrics.thresholded.scale={scale}: expected above 0")
        return lambda model, data, modes: {}

    registry.register_metric("thresholded", thresholded)
    with pytest.raises(ValueError) as err:
        registry.build_metric("thresholded", EvalProtocol(), {"threshold": 2})
    assert str(err.value) == "metrics.thresholded: threshold=2: expected below 1"
    with pytest.raises(ValueError) as err:  # one that names itself is kept as it is
        registry.build_metric("thresholded", EvalProtocol(), {"threshold": 0.5, "scale": 0})
    assert str(err.value) == "metrics.thresholded.scale=0: expected above 0"
    with pytest.raises(ValueError) as err:
        registry.build_metric("thresholded", EvalProtocol(), {"scale": 2})
    assert str(err.value) == (
        "metrics.thresholded.threshold is required: thresholded has no default for it; set "
        "metrics.thresholded.threshold=<value>"
    )
    assert registry.build_metric("thresholded", EvalProtocol(), {"threshold": 0.5})(0, 0, []) == {}


def _other_factory(protocol: EvalProtocol):
    return lambda model, data, modes: {}


def test_a_wrong_registration_is_refused_in_one_line_naming_the_metric(monkeypatch):
    """A non-callable factory, an empty or non-string name and a name taken by another function
    (``fid_lpips`` included) were accepted: the built-in was replaced silently, a name ``3`` broke
    every later message that lists the names (``'<' not supported between 'int' and 'str'``), and
    a factory that returned no runner failed with ``'NoneType' object is not callable``."""
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    with pytest.raises(TypeError, match=r"^metric 'mine': factory=42 is not callable"):
        registry.register_metric("mine", 42)
    for name in ("", 3):
        with pytest.raises(ValueError, match=r"is invalid: expected a non-empty string"):
            registry.register_metric(name, _other_factory)
    with pytest.raises(ValueError) as err:
        registry.register_metric("fid_lpips", _other_factory)
    assert str(err.value) == (
        "metric 'fid_lpips' is already registered by starganv2.evaluation.fid_lpips:metric; "
        "tests.evaluation.test_registry:_other_factory must use another name"
    )
    registry.register_metric("mine", _other_factory)
    registry.register_metric("mine", _other_factory)  # the same function again: a reload
    with pytest.raises(ValueError, match=r"'mine' is already registered by .*:_other_factory"):
        registry.register_metric("mine", lambda protocol: _other_factory(protocol))
    registry.register_metric("no_runner", lambda protocol: None)
    with pytest.raises(TypeError, match=r"^metrics.no_runner: its factory .* returned NoneType"):
        registry.build_metric("no_runner", EvalProtocol())
    assert registry.metric_names() == sorted(registry.metric_names())
