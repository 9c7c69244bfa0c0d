"""The study's config deltas (conf/ablation_arm/, conf/experiment/ablation*.yaml) compose, set
what their names say, and build and run the module at tiny size."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from starganv2.cli.train import run
from starganv2.models.stargan_v2.downsample import Downsample
from tests.helpers.benchmarks import load_benchmark
from tests.integration.conftest import CONF_DIR, TINY_OVERRIDES, TINY_SHAPES, compose_train

ARMS = sorted(p.stem for p in (CONF_DIR / "ablation_arm").glob("*.yaml"))


def test_the_driver_knows_every_arm():
    driver = load_benchmark("ablation")
    assert sorted(driver.ARMS) == ARMS


def test_the_experiments_set_the_studys_data(tmp_path):
    full = compose_train(["experiment=ablation"], tmp_path)
    assert (full.data.img_size, full.data.background_tint) == (64, 0.06)
    assert list(full.data.textures) == ["solid", "stripes", "dots", "checker"]
    assert list(full.callbacks.evaluation.evaluator.metrics) == ["shapes_quality"]
    cpu = compose_train(["experiment=ablation_cpu"], tmp_path)
    assert (cpu.data.img_size, list(cpu.data.textures), cpu.model.total_iters) == (
        32,
        ["solid"],
        400,
    )
    assert list(full.callbacks.evaluation.evaluator.metrics.shapes_quality.shift_px) == [1, 2]
    assert (cpu.model.lr, cpu.model.lambda_cyc, cpu.model.dim_in) == (1e-3, 4.0, 16)  # quick's


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_builds_what_its_name_says(arm, tmp_path):
    cfg = compose_train(
        ["experiment=ablation_cpu", f"+ablation_arm={arm}", *TINY_OVERRIDES], tmp_path
    )
    module = instantiate(cfg.model)
    kinds = {
        name: {m.kind for m in module.nets[name].modules() if isinstance(m, Downsample)}
        for name in ("generator", "style_encoder", "discriminator")
    }
    expected = dict.fromkeys(kinds, {"avgpool"})
    kind = arm.split("_")[0]
    if arm.endswith(("_g", "_all")):
        expected["generator"] = {kind}
    if arm.endswith(("_ed", "_all")):
        expected["style_encoder"] = expected["discriminator"] = {kind}
    assert kinds == expected
    g = module.nets["generator"]
    assert g.skip == {"highpass": "highpass", "attention": "attention"}.get(
        arm, "cross_attention" if arm == "cross_attention" else "none"
    )
    assert (module.mask_source is not None) == (arm == "highpass")
    extra = len(g.encode) - len(compose_and_build(tmp_path).nets["generator"].encode)
    assert extra == (1 if arm in ("highpass", "hpf_layout") else 0)


def compose_and_build(tmp_path):
    cfg = compose_train(["experiment=ablation_cpu", *TINY_OVERRIDES], tmp_path)
    return instantiate(cfg.model)


@pytest.mark.slow
@pytest.mark.parametrize("arm", ["highpass", "cross_attention", "blur_all"])
def test_arm_trains_two_iterations(arm, tmp_path, shapes_cache):
    overrides = [
        "experiment=ablation_cpu",
        f"+ablation_arm={arm}",
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={shapes_cache}",
        "callbacks=default",
    ]
    assert run(compose_train(overrides, tmp_path / "run"))["iteration"] == 2
