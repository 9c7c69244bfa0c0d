"""StarGAN v1 through the tools that take any Translator: label grids, sample callback,
evaluation (FID/LPIPS protocol in label mode, shapes figures), folder translation, ONNX export."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from starganv2.callbacks.samples import SampleGrids
from starganv2.data.datamodule import ShapesDataModule
from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.shapes_quality import shapes_quality
from starganv2.models.interface import GuidanceModeError
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.synthesis.grids import label_grid, latent_grid
from starganv2.synthesis.translate_folder import translate_folder
from tests.evaluation.conftest import TinyFeatures, write_domain_data
from tests.helpers import quiet_trainer
from tests.models.stargan_v1.test_module import TINY_V1


@pytest.fixture
def model() -> StarGANv1Module:
    torch.manual_seed(0)
    return StarGANv1Module(**TINY_V1).eval()


def test_label_grid_and_no_style_grids(model):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    grid = label_grid(model, x)
    assert grid.shape == (3, 2 * 34 + 2, 3 * 34 + 2)  # source + one column per domain
    with pytest.raises(GuidanceModeError, match="latent-guided grid.*deterministic"):
        latent_grid(model, x, torch.randn(2, 4))


def test_evaluation_in_label_mode(model, tmp_path, offline_hub):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=3, n_val=2)
    results = Evaluator(metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}}).evaluate(
        model, root
    )
    # one output per image: no diversity to measure, so no LPIPS figures
    assert sorted(results) == sorted(f"FID_label/{t}" for t in ("a2b", "b2a", "mean"))


def test_label_mode_evaluates_fid_without_the_alexnet_weights(model, tmp_path, empty_hub, caplog):
    """LPIPS does not apply to one output per image: offline users without the AlexNet file
    still get FID, and the log says why there is no LPIPS."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=3, n_val=2)
    metrics = {"fid_lpips": {"feature_extractor": TinyFeatures()}}
    with caplog.at_level("INFO", logger="starganv2.evaluation.fid_lpips"):
        results = Evaluator(metrics=metrics, modes=["label"]).evaluate(model, root)
    assert sorted(results) == sorted(f"FID_label/{t}" for t in ("a2b", "b2a", "mean"))
    assert "LPIPS diversity does not apply" in caplog.text


def test_eval_cli_asks_no_alexnet_weights_for_a_label_model(tmp_path, empty_hub):
    """starganv2-eval passes the model's modes to the evaluator: with modes=null a StarGAN v1
    checkpoint needs the Inception file only (its error names no AlexNet file)."""
    from starganv2.cli.eval import build_evaluator
    from starganv2.evaluation.backbones import MissingWeightsError
    from tests.integration.conftest import compose_train

    cfg = compose_train(["ckpt_path=x.ckpt"], tmp_path / "run", config_name="eval")
    with pytest.raises(MissingWeightsError) as err:
        build_evaluator(cfg, ("label",))
    assert "alexnet-owt" not in str(err.value)
    assert "weights-inception" in str(err.value)
    with pytest.raises(MissingWeightsError, match="alexnet-owt"):
        build_evaluator(cfg, ("latent", "reference"))  # StarGAN v2: both, as before


def test_shapes_figures_and_sample_grids_during_training(tmp_path):
    dm = ShapesDataModule(
        cache_dir=tmp_path / "cache",
        img_size=32,
        n_train=4,
        n_val=2,
        batch_size=2,
        num_workers=0,
        pin_memory=False,
        transform="stargan_v1",
        load_references=False,
        textures=["solid"],
        background_gray=[0.5, 0.5],
        background_tint=0.0,
    )
    module = StarGANv1Module(**{**TINY_V1, "num_domains": 3}, total_iters=2)
    grids = SampleGrids(tmp_path / "samples", every_n_iters=2, num_sources=3)
    quiet_trainer(callbacks=[grids]).fit(module, datamodule=dm)
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["0000002_label.png"]
    assert Image.open(tmp_path / "samples" / "0000002_label.png").size == (4 * 34 + 2, 3 * 34 + 2)
    res = shapes_quality(module, dm.root)
    assert {"shapes/target_accuracy_label", "shapes/position_error_px_label"} <= set(res)
    assert not any("reference" in k or "ref_color" in k for k in res)  # v1 has no references
    assert module.training  # the check restores the mode it found


def test_translate_folder_one_output_per_domain(model, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (40, 24), (200, 30, 30)).save(src / "a.png")
    (src / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    translate_folder(model, src, tmp_path / "out", domain_names=["cat", "dog"])
    outs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert "cat/a_0.png" in outs and "dog/a_0.png" in outs and "dog/a_0.txt" in outs
    assert Image.open(tmp_path / "out" / "dog" / "a_0.png").size == (40, 24)  # resized back


@pytest.mark.slow
def test_onnx_export_matches_pytorch(model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnxruntime as ort

    from starganv2.interop.onnx import export_onnx

    res = export_onnx(model, tmp_path, verify_batch_sizes=(1, 3))
    assert list(res) == ["label"] and max(res["label"]["max_abs_diff"].values()) < 1e-4
    session = ort.InferenceSession(str(tmp_path / "label.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "y"]
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([1, 0])
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), model.translate(x, y), atol=1e-4, rtol=0)
