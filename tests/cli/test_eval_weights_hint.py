"""The missing-weights hint of ``starganv2-eval`` under ``metrics=auto`` works as printed: on the
built-in shapes data, where ``auto`` also runs ``shapes_quality``, the pasted overrides keep it
(``'++metrics.fid_lpips.<key>=...'`` would make ``metrics`` the mapping of ``fid_lpips`` alone)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from starganv2.cli.eval import build_evaluator
from starganv2.evaluation.backbones import MissingWeightsError
from tests.helpers.console import WEIGHT_PLACEHOLDERS, pasted
from tests.integration.conftest import compose_train


def _compose(overrides: list[str], tmp_path):
    return compose_train(["ckpt_path=x.ckpt", *overrides], tmp_path / "run", config_name="eval")


def _hint(overrides: list[str], tmp_path) -> tuple[str, list[str]]:
    with pytest.raises(MissingWeightsError) as err:
        build_evaluator(_compose(overrides, tmp_path))
    return str(err.value), pasted(str(err.value))


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))


def _shapes_root(tmp_path):
    from starganv2.data.shapes import make_shapes_dataset

    return make_shapes_dataset(tmp_path / "shapes", img_size=32, n_train=2, n_val=2)


@pytest.mark.parametrize("data", [[], ["data=folder", "data.root=SHAPES", "data.num_domains=3"]])
def test_the_auto_hint_on_shapes_data_keeps_shapes_quality(tmp_path, empty_hub, data):
    """The default data (shapes), or a folder holding the generated shapes data."""
    if data:
        root = _shapes_root(tmp_path)
        data = [o.replace("SHAPES", str(root)) for o in data]
    message, tokens = _hint(data, tmp_path)
    assert tokens == [
        "~metrics",
        "+metrics={fid_lpips: {fid_weights: /path/to/weights-inception-2015-12-05-6726825d.pth, "
        "lpips_weights: /path/to/alexnet-owt-7be5be79.pth}, shapes_quality: {}}",
    ]
    assert (
        "metrics=auto runs ['fid_lpips', 'shapes_quality'] on the built-in shapes data" in message
    )
    for given in (data + tokens, [*data, "metrics=auto", *tokens]):
        metrics = OmegaConf.to_container(_compose(given, tmp_path).metrics)
        assert metrics == {"fid_lpips": WEIGHT_PLACEHOLDERS, "shapes_quality": {}}


def test_the_auto_hint_on_other_data_sets_fid_lpips_alone(tmp_path, empty_hub):
    """There ``auto`` is ``fid_lpips`` only: the ``++`` form is what it runs."""
    data = ["data=folder", f"data.root={tmp_path / 'photos'}", "data.num_domains=2"]
    _, tokens = _hint(data, tmp_path)
    assert tokens == [f"++metrics.fid_lpips.fid_weights={WEIGHT_PLACEHOLDERS['fid_weights']}"]
    metrics = OmegaConf.to_container(_compose(data + tokens, tmp_path).metrics)
    assert metrics == {"fid_lpips": {"fid_weights": WEIGHT_PLACEHOLDERS["fid_weights"]}}


def test_the_training_callbacks_auto_hint_keeps_shapes_quality(tmp_path, empty_hub):
    """``starganv2-train callbacks=eval`` on the shapes data: the hint names the callback's
    evaluator node in full and, pasted, keeps ``shapes_quality`` beside ``fid_lpips``."""
    from starganv2.cli.train import build_callbacks

    key = "callbacks.evaluation.evaluator.metrics"
    with pytest.raises(MissingWeightsError) as err:
        build_callbacks(compose_train(["callbacks=eval"], tmp_path / "run"))
    tokens = pasted(str(err.value))
    assert tokens == [
        f"~{key}",
        f"+{key}={{fid_lpips: {{fid_weights: /path/to/weights-inception-2015-12-05-6726825d.pth, "
        "lpips_weights: /path/to/alexnet-owt-7be5be79.pth}, shapes_quality: {}}",
    ]
    assert f"{key}=auto runs ['fid_lpips', 'shapes_quality']" in str(err.value)
    cfg = compose_train(["callbacks=eval", *tokens], tmp_path / "run")
    metrics = OmegaConf.to_container(OmegaConf.select(cfg, key))
    assert metrics == {"fid_lpips": WEIGHT_PLACEHOLDERS, "shapes_quality": {}}
