"""The evaluation callback: every N iterations, logged at step=iteration, JSON files, fast errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from starganv2.callbacks.evaluation import EvaluationCallback
from starganv2.data.datamodule import ImageDomainDataModule
from starganv2.evaluation.backbones import ALEXNET_FILE, MissingWeightsError
from starganv2.evaluation.evaluator import Evaluator
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.evaluation.conftest import TinyFeatures, write_domain_data
from tests.helpers import TINY, quiet_trainer


@pytest.mark.slow
def test_evaluation_callback_every_n_iters_logs_and_writes(tmp_path, offline_hub):
    import csv

    from lightning.pytorch.loggers import CSVLogger

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=3)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "total_iters": 2})
    evaluator = Evaluator(
        metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}},
        num_outs_per_domain=2,
        max_images_per_domain=2,
        modes=["latent"],
    )
    cb = EvaluationCallback(evaluator, every_n_iters=1, dirpath=tmp_path / "eval")
    logger = CSVLogger(tmp_path / "logs", name="csv")
    trainer = quiet_trainer(callbacks=[cb], logger=logger)
    trainer.fit(module, datamodule=dm)
    assert module.iteration == 2
    assert sorted(cb.history) == [1, 2]  # at_end does not repeat iteration 2
    assert list(cb.history[2]) == [
        f"{m}_latent/{t}" for m in ("FID", "LPIPS") for t in ("b2a", "a2b", "mean")
    ]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "eval_0000001.json",
        "eval_0000002.json",
    ]
    assert json.loads((tmp_path / "eval" / "eval_0000002.json").read_text()) == pytest.approx(
        cb.history[2]
    )
    assert float(trainer.callback_metrics["eval/FID_latent/mean"]) == pytest.approx(
        cb.history[2]["FID_latent/mean"]
    )
    logger.finalize("success")
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval/LPIPS_latent/mean")]
    assert [int(r["step"]) for r in rows] == [1, 2]


def test_evaluation_callback_missing_weights_fail_when_built(tmp_path, empty_hub):
    with pytest.raises(MissingWeightsError, match=ALEXNET_FILE):
        EvaluationCallback({"metrics": ["fid_lpips"]}, every_n_iters=1)
