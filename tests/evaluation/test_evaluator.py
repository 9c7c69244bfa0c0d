"""The Evaluator: argument checks, data checks, the metric selection (auto, a list, a mapping of
each metric's settings), modes."""

from __future__ import annotations

import pytest

from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.protocol import EvalProtocol
from tests.evaluation.conftest import TinyFeatures, evaluate, write_domain_data

TINY_FID = {"fid_lpips": {"feature_extractor": TinyFeatures()}}


def test_evaluate_rejects_domain_count_mismatch(tmp_path, offline_hub, tiny_module):
    root = write_domain_data(tmp_path / "data", ["a", "b", "c"], n_train=2, n_val=2)
    with pytest.raises(ValueError, match=r"3 domains .* num_domains=2"):
        evaluate(tiny_module, root, feature_extractor=TinyFeatures())


def test_evaluator_argument_errors(offline_hub):
    with pytest.raises(ValueError, match="num_outs_per_domain=1"):
        Evaluator(TINY_FID, num_outs_per_domain=1)
    with pytest.raises(ValueError, match="modes="):
        Evaluator(TINY_FID, modes=["latnet"])
    with pytest.raises(ValueError, match="evaluator.seed=-1"):
        Evaluator(TINY_FID, seed=-1)
    with pytest.raises(ValueError, match=r"metrics.fid_lpips.fid_features='fancy'"):
        Evaluator(metrics={"fid_lpips": {"fid_features": "fancy"}})
    with pytest.raises(ValueError, match=r"metrics=\['fancy'\]: unknown \['fancy'\]"):
        Evaluator(metrics=["fancy"])
    with pytest.raises(ValueError, match=r"metrics=\['fancy'\]: unknown \['fancy'\]"):
        Evaluator(metrics={"fancy": {}})
    with pytest.raises(ValueError, match=r"metrics=\[\]"):
        Evaluator(metrics=[])


def test_an_unknown_setting_names_its_key_and_the_valid_ones(offline_hub):
    with pytest.raises(ValueError) as err:
        Evaluator(metrics={"fid_lpips": {**TINY_FID["fid_lpips"], "fid_feature": "standard"}})
    msg = str(err.value)
    assert msg.startswith("metrics.fid_lpips.fid_feature='standard'")
    assert "fid_features" in msg and "quantize" in msg
    with pytest.raises(ValueError, match=r"metrics.shapes_quality.shapes_shift_px=\[1\].*shift_px"):
        Evaluator(metrics={"shapes_quality": {"shapes_shift_px": [1]}})


def test_the_evaluator_keeps_the_protocol_and_each_metric_its_settings(offline_hub):
    ev = Evaluator(
        {"shapes_quality": {"shift_px": [1]}, **TINY_FID},
        num_outs_per_domain=3,
        batch_size=5,
        seed=2,
        max_images_per_domain=4,
    )
    assert ev.protocol == EvalProtocol(
        num_outs_per_domain=3, batch_size=5, seed=2, max_images_per_domain=4
    )
    assert list(ev.metrics) == ["shapes_quality", "fid_lpips"]  # the order results come in
    assert ev.metrics["shapes_quality"] == {"shift_px": [1]}
    assert not ev.auto


def test_names_and_auto_select_metrics_with_their_defaults(tmp_path, monkeypatch):
    from starganv2.data.shapes import make_shapes_dataset
    from starganv2.evaluation import registry
    from starganv2.evaluation.protocol import EvalData

    built = []

    def fake_fid(protocol, *, fid_features="standard"):
        built.append(fid_features)
        return lambda model, data, modes: {}

    monkeypatch.setitem(registry._FACTORIES, "fid_lpips", fake_fid)
    assert Evaluator("shapes_quality").metrics == {"shapes_quality": {}}
    assert Evaluator(["shapes_quality"]).metrics == {"shapes_quality": {}}
    root = make_shapes_dataset(tmp_path / "shapes", img_size=32, n_train=2, n_val=2)
    shapes, other = EvalData(["a"], {}, {}, root), EvalData(["a"], {}, {}, tmp_path)
    auto = Evaluator()  # metrics="auto"
    assert auto.auto and auto.metrics == {"fid_lpips": {}} and built == ["standard"]
    assert auto.metrics_for(shapes) == ["fid_lpips", "shapes_quality"]
    assert auto.metrics_for(other) == ["fid_lpips"]
    named = Evaluator({"fid_lpips": {"fid_features": "torchvision"}})
    assert built[-1] == "torchvision"
    assert named.metrics_for(shapes) == ["fid_lpips"]  # a list or mapping runs what it names
