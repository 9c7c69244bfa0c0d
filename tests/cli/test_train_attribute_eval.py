"""Evaluation during training on attribute data: ``metrics: auto`` there is
``attribute_accuracy`` alone, so neither validation nor ``callbacks=eval`` asks for the FID/LPIPS
weights it never uses, and the evaluation callback takes the attribute data module."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from starganv2.callbacks.evaluation import EvaluationCallback
from starganv2.cli.train import build_callbacks, validation_evaluator
from tests.integration.conftest import compose_train


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))


def test_validation_on_attribute_data_needs_no_weights(tmp_path, empty_hub):
    cfg = compose_train(
        ["experiment=stargan_v1_attributes", "val_every_n_iters=2"], tmp_path / "run"
    )
    assert cfg.evaluator.metrics == "auto"
    assert list(validation_evaluator(cfg).metrics) == ["attribute_accuracy"]


def test_the_evaluation_callback_on_attribute_data_needs_no_weights(tmp_path, empty_hub):
    cfg = compose_train(["experiment=stargan_v1_attributes", "callbacks=eval"], tmp_path / "run")
    (callback,) = [c for c in build_callbacks(cfg) if isinstance(c, EvaluationCallback)]
    assert list(callback.evaluator.metrics) == ["attribute_accuracy"]
    # a list chosen by the user stays as it is
    cfg = compose_train(
        [
            "experiment=stargan_v1_attributes",
            "callbacks=eval",
            "callbacks.evaluation.evaluator.metrics=[attribute_accuracy]",
        ],
        tmp_path / "run",
    )
    node = OmegaConf.select(cfg, "callbacks.evaluation.evaluator.metrics")
    assert list(node) == ["attribute_accuracy"]


def test_the_callback_measures_an_attribute_data_module(tmp_path):
    """It asked for a data module with domain folders and refused attribute data at its first
    evaluation, after training."""
    from starganv2.data.attribute_datamodule import ShapesAttributeDataModule
    from starganv2.evaluation.evaluator import Evaluator
    from starganv2.models.stargan_v1.module import StarGANv1Module
    from tests.helpers import quiet_trainer

    dm = ShapesAttributeDataModule(
        tmp_path, img_size=16, n_train=8, n_val=4, batch_size=4, scan_workers=1
    )
    evaluator = Evaluator(metrics={"attribute_accuracy": {"classifier_steps": 5}})
    callback = EvaluationCallback(evaluator, every_n_iters=1, dirpath=None)
    model = StarGANv1Module(
        img_size=16,
        num_domains=6,
        g_conv_dim=8,
        d_conv_dim=8,
        g_repeat_num=1,
        total_iters=1,
        n_critic=1,
        label_mode="multi",
        attributes=["circle", "square", "triangle", "warm", "large", "outline"],
        exclusive=[["circle", "square", "triangle"]],
    )
    quiet_trainer(callbacks=[callback]).fit(model, datamodule=dm)
    assert "attr/target/mean" in callback.history[1]
