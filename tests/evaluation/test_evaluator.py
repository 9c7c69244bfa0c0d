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
    with pytest.raises(ValueError, match=r"^modes=\['latnet'\]"):  # the argument, as typed
        Evaluator(TINY_FID, modes=["latnet"])
    with pytest.raises(ValueError, match="^seed=-1"):
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


def test_a_mode_the_model_lacks_names_the_key_of_the_caller(offline_hub):
    """``starganv2-eval`` has ``modes`` at the top level (``settings_key=""``); training has it
    under ``evaluator`` (the default)."""
    from starganv2.models.interface import GuidanceModeError
    from tests.helpers.translators import IdentityTranslator

    ev = Evaluator(["shapes_quality"], modes=["label"])
    model = IdentityTranslator(num_domains=2)  # a style model: latent and reference
    with pytest.raises(GuidanceModeError, match=r"^modes=\['label'\] needs 'label' guidance"):
        ev.modes_for(model, settings_key="")
    with pytest.raises(GuidanceModeError, match=r"^evaluator\.modes=\['label'\] needs"):
        ev.modes_for(model)


def test_save_images_without_a_metric_that_writes_images_is_refused(tmp_path, monkeypatch):
    """Only ``fid_lpips`` writes its outputs: ``save_images`` with metrics that write none would
    save nothing, silently; it is refused when the evaluator is built, naming both settings (or,
    for ``auto`` on attribute data, which runs ``attribute_accuracy``, when it evaluates)."""
    from starganv2.evaluation import registry
    from starganv2.evaluation.protocol import EvalData
    from tests.helpers.translators import IdentityTranslator

    assert registry.image_metrics() == ["fid_lpips"]
    with pytest.raises(ValueError) as err:
        Evaluator(["shapes_quality"], save_images=tmp_path / "imgs")
    msg = str(err.value)
    assert msg.startswith(
        f"save_images={str(tmp_path / 'imgs')!r} would save nothing: metrics=['shapes_quality'] "
        "runs no metric that writes images (only ['fid_lpips'] do)"
    )
    assert "leave save_images unset" in msg
    assert not (tmp_path / "imgs").exists()

    monkeypatch.setitem(registry._FACTORIES, "fid_lpips", lambda protocol: lambda *a: {})
    Evaluator(["fid_lpips", "shapes_quality"], save_images=tmp_path / "imgs")  # accepted
    auto = Evaluator(save_images=tmp_path / "imgs")  # fid_lpips, unless the data has attributes
    data = EvalData(["a", "b"], {}, {}, None, attributes=object())
    with pytest.raises(ValueError, match=r"^save_images=.*: metrics='auto' \(here \['attribute_"):
        auto.evaluate(IdentityTranslator(num_domains=2), data, settings_key="")


def test_one_mode_given_as_a_name_is_that_mode(offline_hub):
    """``modes=latent`` on the command line is the string ``"latent"``: the one mode, as
    ``metrics=shapes_quality`` is the one metric, not the letters (which were refused as
    ``modes=['l', 'a', 't', 'e', 'n', 't']``); a misspelt name is named as typed."""
    assert Evaluator(TINY_FID, modes="latent").modes == ("latent",)
    with pytest.raises(ValueError, match=r"^modes=\['latnet'\]: expected"):
        Evaluator(TINY_FID, modes="latnet")
