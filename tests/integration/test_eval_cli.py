"""The evaluation application: composition of conf/eval.yaml, errors, and a full tiny run."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from starganv2.cli.eval import build_evaluator, run
from starganv2.evaluation import backbones as M
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.helpers.console import WEIGHT_PLACEHOLDERS, pasted
from tests.integration.conftest import CONF_DIR, compose_train, make_folder_dataset, run_cli

TINY_SHAPES_EVAL = [
    "data.img_size=32",
    "data.n_train=6",
    "data.n_val=2",
    "data.num_workers=0",
    "data.val_batch_size=2",
]


def _checkpoint(path: Path, num_domains: int, iteration: int = 3) -> Path:
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "num_domains": num_domains})
    module.iteration = iteration
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def compose_eval(overrides: list[str], output_dir: Path):
    return compose_train(overrides, output_dir, config_name="eval")


@pytest.mark.parametrize("data", sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml")))
def test_eval_config_composes_with_every_data_option(data, tmp_path):
    cfg = compose_eval([f"data={data}", "ckpt_path=x.ckpt"], tmp_path)
    assert cfg.num_outs_per_domain == 10 and cfg.modes is None  # None: all the model's modes
    assert cfg.metrics == "auto" and "fid_features" not in cfg  # a metric's own setting
    assert cfg.output_file == str(tmp_path / "metrics.json")
    assert "_target_" in cfg.data


def test_missing_checkpoint_names_ckpt_path(tmp_path):
    cfg = compose_eval([f"ckpt_path={tmp_path}/nope.ckpt"], tmp_path)
    with pytest.raises(FileNotFoundError, match=r"ckpt_path=.*nope\.ckpt"):
        run(cfg)


def test_missing_weights_fail_fast_before_reading_data(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    ckpt = _checkpoint(tmp_path / "m.ckpt", 2)
    cfg = compose_eval(
        [f"ckpt_path={ckpt}", "data=folder", f"data.root={tmp_path}/absent", "data.num_domains=2"],
        tmp_path,
    )
    t0 = time.perf_counter()
    with pytest.raises(M.MissingWeightsError) as err:
        run(cfg)
    assert time.perf_counter() - t0 < 10
    assert M.ALEXNET_FILE in str(err.value) and "lpips_weights" in str(err.value)


def test_unknown_metric_is_rejected(tmp_path):
    ckpt = _checkpoint(tmp_path / "m.ckpt", 3)
    cfg = compose_eval([f"ckpt_path={ckpt}", "metrics=[fid]"], tmp_path)
    with pytest.raises(ValueError, match=r"metrics=\['fid'\]: unknown"):
        run(cfg)


def test_metrics_compose_as_names_auto_or_settings(tmp_path):
    def metrics(override: str):
        cfg = compose_eval(["ckpt_path=x.ckpt", override], tmp_path)
        return OmegaConf.to_container(cfg)["metrics"]

    assert metrics("metrics=[shapes_quality]") == ["shapes_quality"]
    assert metrics("metrics=auto") == "auto"
    assert metrics("metrics={fid_lpips: {fid_features: torchvision}, shapes_quality: {}}") == {
        "fid_lpips": {"fid_features": "torchvision"},
        "shapes_quality": {},
    }


def test_unknown_metric_setting_is_rejected_with_its_key(tmp_path):
    ckpt = _checkpoint(tmp_path / "m.ckpt", 3)
    cfg = compose_eval([f"ckpt_path={ckpt}", "metrics={shapes_quality: {shift: [1]}}"], tmp_path)
    with pytest.raises(ValueError, match=r"metrics.shapes_quality.shift=\[1\].*'shift_px'"):
        run(cfg)


def test_a_weight_hint_for_a_list_of_metrics_works_as_printed(tmp_path, monkeypatch):
    """Hydra cannot set ``metrics.fid_lpips.<key>`` in a list (``Index 'fid_lpips' (str) is not
    an int``): the hint gives the metrics as a mapping with the paths filled in, which composes
    pasted after the list or in its place."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    given = ["ckpt_path=x.ckpt", "metrics=[fid_lpips,shapes_quality]"]
    with pytest.raises(M.MissingWeightsError) as err:
        build_evaluator(compose_eval(given, tmp_path))
    tokens = pasted(str(err.value))
    assert tokens == [
        "~metrics",
        "+metrics={fid_lpips: {fid_weights: /path/to/weights-inception-2015-12-05-6726825d.pth, "
        "lpips_weights: /path/to/alexnet-owt-7be5be79.pth}, shapes_quality: {}}",
    ]
    for overrides in (given + tokens, ["ckpt_path=x.ckpt", *tokens]):
        cfg = compose_eval(overrides, tmp_path)
        assert OmegaConf.to_container(cfg.metrics) == {
            "fid_lpips": WEIGHT_PLACEHOLDERS,
            "shapes_quality": {},
        }
    # auto and a mapping take the '++metrics.fid_lpips.<key>=...' form
    for given in (["ckpt_path=x.ckpt"], ["ckpt_path=x.ckpt", "metrics={shapes_quality: {}}"]):
        tokens = ["++metrics.fid_lpips.lpips_weights=/path/to/x.pth"]
        assert compose_eval(given + tokens, tmp_path).metrics.fid_lpips.lpips_weights


def test_a_bad_weight_file_names_the_key_typed(tmp_path):
    """An HTML page saved as weights: one error naming the setting and what the file is, not
    ``Error in call to target ...: UnpicklingError("invalid load key, '<'.")``."""
    page = tmp_path / "page.pth"
    page.write_text("<!DOCTYPE html>\n<html><body>Sign in</body></html>\n")
    overrides = [
        "ckpt_path=x.ckpt",
        f"++metrics.fid_lpips.fid_weights={page}",
        f"++metrics.fid_lpips.lpips_weights={page}",
    ]
    with pytest.raises(M.WeightsFileError) as err:
        build_evaluator(compose_eval(overrides, tmp_path))
    assert str(err.value).startswith(
        f"metrics.fid_lpips.fid_weights={page} is a text file, not a PyTorch file (it begins "
        "'<!DOCTYPE html>'), likely a web page or error message saved by a failed download. "
        f"Expected {M.STANDARD_INCEPTION_FILE}: download it from "
    )


def _two_domains_no_data(tmp_path, *extra):
    """The eval config of a 2-domain checkpoint on folder data that does not exist (so a check
    that runs before the data is read is what stops it), ``metrics=[shapes_quality]``."""
    ckpt = _checkpoint(tmp_path / "m.ckpt", 2)
    overrides = [f"ckpt_path={ckpt}", "data=folder", f"data.root={tmp_path}/absent"]
    overrides += ["data.num_domains=2", "metrics=[shapes_quality]", *extra]
    return compose_eval(overrides, tmp_path)


def test_save_images_needs_a_metric_that_writes_images(tmp_path):
    """``metrics=[shapes_quality] save_images=...`` would write nothing: refused at once, before
    the checkpoint or any data is read."""
    folder = tmp_path / "imgs"
    cfg = _two_domains_no_data(tmp_path, f"save_images={folder}")
    with pytest.raises(ValueError) as err:
        run(cfg)
    assert str(err.value).startswith(
        f"save_images={str(folder)!r} would save nothing: metrics=['shapes_quality'] runs no "
        "metric that writes images"
    )
    assert not folder.exists()


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ("[label]", r"^modes=\['label'\] needs 'label' guidance, but StarGANv2Module is a style"),
        ("[latnet]", r"^modes=\['latnet'\]: expected null or a non-empty subset"),
    ],
)
def test_modes_errors_name_the_top_level_key(tmp_path, modes, message):
    """In ``starganv2-eval`` the evaluator's settings sit at the top level: ``modes``, not
    ``evaluator.modes``; a mode the model lacks stops before any data is read."""
    cfg = _two_domains_no_data(tmp_path, f"modes={modes}")
    with pytest.raises(ValueError, match=message):
        run(cfg)


def test_help_is_light(tmp_path):
    t0 = time.perf_counter()
    proc = run_cli(["starganv2.cli.eval", "--help"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "num_outs_per_domain" in proc.stdout and "metrics: auto" in proc.stdout
    assert time.perf_counter() - t0 < 60


@pytest.fixture
def hub_with_random_weights(tmp_path, monkeypatch) -> Path:
    """torchvision Inception and AlexNet weight files (random init) in a temporary hub cache."""
    from torchvision.models import alexnet, inception_v3

    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), hub / M.ALEXNET_FILE)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), hub / M.TORCHVISION_INCEPTION_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return hub


@pytest.mark.slow
def test_full_run_on_shapes_writes_json_and_logs(tmp_path, hub_with_random_weights):
    ckpt = _checkpoint(tmp_path / "m.ckpt", 2, iteration=7)
    out = tmp_path / "run"
    cfg = compose_eval(
        [
            f"ckpt_path={ckpt}",
            f"data.cache_dir={tmp_path / 'cache'}",
            *TINY_SHAPES_EVAL,
            "data.domains=[circle,square]",  # 2 domains: 4 FIDs of 2048-d features to compute
            "data.num_domains=2",
            "metrics={fid_lpips: {fid_features: torchvision}, shapes_quality: {}}",
            "num_outs_per_domain=2",
            "max_images_per_domain=2",
            "batch_size=4",
            f"save_images={out / 'images'}",
            "device=cpu",
        ],
        out,
    )
    results = run(cfg)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == pytest.approx(results)
    tasks = ["square2circle", "circle2square"]
    for mode in ("latent", "reference"):
        for metric in ("FID", "LPIPS"):
            assert {f"{metric}_{mode}/{t}" for t in tasks + ["mean"]} <= set(saved)
    assert len([k for k in saved if k.startswith("FID_latent/")]) == 3  # 2 tasks + mean
    assert saved["iteration"] == 7
    assert isinstance(saved["iteration"], int)  # a count: "7" in the JSON, not "7.0"
    assert {"shapes/target_accuracy_latent", "shapes/ref_color_error"} <= set(saved)
    assert len(list((out / "images" / "reference" / "circle2square").glob("*.png"))) == 4
    with open(next(out.glob("csv/version_*/metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["eval/FID_latent/mean"]) == pytest.approx(saved["FID_latent/mean"])


@pytest.mark.slow
def test_cli_subprocess_on_folder_data_prints_json_path(tmp_path, hub_with_random_weights):
    root = make_folder_dataset(tmp_path / "data", ["a", "b"], n=3, size=32)
    ckpt = _checkpoint(tmp_path / "m.ckpt", 2)
    proc = run_cli(
        [
            "starganv2.cli.eval",
            f"ckpt_path={ckpt}",
            "data=folder",
            f"data.root={root}",
            "data.num_domains=2",
            "data.img_size=32",
            "data.num_workers=0",
            "metrics={fid_lpips: {fid_features: torchvision}}",
            "num_outs_per_domain=2",
            "modes=[latent]",
            "logger=none",
            f"paths.log_dir={tmp_path / 'outputs'}",
        ],
        cwd=tmp_path,
        timeout=600,
        env={"TORCH_HOME": str(hub_with_random_weights.parents[1])},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == "metrics.json" and path.is_file()
    assert set(json.loads(path.read_text())) == {
        "FID_latent/b2a",
        "FID_latent/a2b",
        "FID_latent/mean",
        "LPIPS_latent/b2a",
        "LPIPS_latent/a2b",
        "LPIPS_latent/mean",
        "iteration",
    }


@pytest.mark.slow
def test_wandb_runs_of_evaluations_in_one_process_are_their_own(tmp_path, monkeypatch):
    """``starganv2-eval -m ckpt_path=a,b logger=wandb``: the jobs run in one process, and the
    second logged into the first one's wandb run, still open, writing none of its own."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for job in ("a", "b"):
        ckpt = _checkpoint(tmp_path / f"{job}.ckpt", 2)
        overrides = [f"ckpt_path={ckpt}", f"data.cache_dir={tmp_path / 'cache'}"]
        overrides += [*TINY_SHAPES_EVAL, "data.domains=[circle,square]", "data.num_domains=2"]
        overrides += ["metrics=[shapes_quality]", "max_images_per_domain=2", "logger=wandb"]
        cfg = compose_eval([*overrides, "num_outs_per_domain=2", "device=cpu"], tmp_path / job)
        run(cfg)
        runs = list((tmp_path / job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, f"evaluation {job}: {runs}"


def test_a_wandb_run_that_cannot_start_is_one_line_naming_the_key():
    """``logger=wandb logger.wandb.offline=false`` without an API key was wandb's traceback at the
    end of the evaluation (after ``metrics.json``); train already said it in one line."""
    from lightning.pytorch.loggers import WandbLogger
    from wandb.errors import UsageError

    from starganv2.cli.config_check import ConfigError
    from starganv2.cli.eval import log_results

    class NoKey(WandbLogger):
        def __init__(self) -> None:  # no wandb run: it fails as wandb.init does without a key
            pass

        def log_metrics(self, metrics, step=None) -> None:
            raise UsageError("No API key configured. Use `wandb login` to log in.")

    with pytest.raises(ConfigError, match=r"^logger\.wandb: .*No API key.*offline=true"):
        log_results([NoKey()], {"FID_latent/mean": 1.0}, 3)
