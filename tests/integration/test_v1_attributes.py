"""StarGAN v1 as its paper uses it, end to end on the built-in shapes in attribute mode:
``experiment=stargan_v1_attributes`` trains on multi-hot labels and writes attribute grids,
``starganv2-sample`` draws the original's test grid and ``starganv2-eval`` the per-attribute
accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.integration.conftest import TINY_SHAPES, compose_train, tiny_overrides

ATTRS = ["circle", "square", "triangle", "warm", "large", "outline"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes_cache) -> Path:
    from starganv2.cli.train import run

    tmp = tmp_path_factory.mktemp("v1_attr")
    base = ["experiment=stargan_v1_attributes", "trainer.accelerator=cpu"]
    probe = compose_train(base, tmp / "probe")
    overrides = tiny_overrides(probe) + TINY_SHAPES + [f"data.cache_dir={shapes_cache}"]
    cfg = compose_train([*base, *overrides, "model.n_critic=2"], tmp / "run")
    assert cfg.data.sampler == "uniform" and cfg.model.attributes == ATTRS
    assert run(cfg)["iteration"] == 2
    out = Path(cfg.paths.output_dir)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["0000002_attribute.png"]
    return out / "checkpoints" / "last.ckpt"


def test_training_stores_the_attribute_layout(trained):
    from starganv2.models.registry import load_model

    module = load_model(trained)
    assert module.multi_label and module.attribute_names == ATTRS
    assert module.exclusive_groups == [(0, 1, 2)]


def test_sample_draws_the_originals_test_grid(trained, shapes_cache, tmp_path):
    from starganv2.cli.sample import run

    cfg = compose_train(
        [
            f"ckpt_path={trained}",
            "data=shapes_attributes",
            f"data.cache_dir={shapes_cache}",
            *TINY_SHAPES,
            "num_sources=2",
        ],
        tmp_path / "run",
        config_name="sample",
    )
    written = run(cfg)
    # 2 sources down; the source and one column per attribute across; 32 px tiles, padding 2
    assert Image.open(written["attribute_grid"]).size == ((1 + 6) * 34 + 2, 2 * 34 + 2)
    bad = compose_train(
        [f"ckpt_path={trained}", f"data.cache_dir={shapes_cache}", *TINY_SHAPES],
        tmp_path / "bad",
        config_name="sample",
    )
    with pytest.raises(ValueError, match="needs attribute data and its labels"):
        run(bad)


def test_eval_reports_per_attribute_accuracy(trained, shapes_cache, tmp_path):
    from starganv2.cli.eval import run

    cfg = compose_train(
        [
            f"ckpt_path={trained}",
            "data=shapes_attributes",
            f"data.cache_dir={shapes_cache}",
            *TINY_SHAPES,
            "metrics={attribute_accuracy: {classifier_steps: 5}}",
        ],
        tmp_path / "run",
        config_name="eval",
    )
    results = run(cfg)
    assert {f"attr/target/{a}" for a in ATTRS} <= set(results)
    assert 0.0 <= results["attr/kept/mean"] <= 1.0
