"""``attribute_accuracy`` judges models driven by attribute vectors only: a StarGAN v1 model of
domain labels has ``translate_labels`` too, but its figures would be meaningless."""

from __future__ import annotations

import pytest

from starganv2.data.attribute_datamodule import ShapesAttributeDataModule
from starganv2.evaluation.evaluator import Evaluator
from starganv2.models.interface import GuidanceModeError
from starganv2.models.stargan_v1.module import StarGANv1Module

TINY_V1 = {"img_size": 16, "num_domains": 6, "g_conv_dim": 8, "d_conv_dim": 8, "g_repeat_num": 1}


def test_a_model_of_domain_labels_is_refused(tmp_path):
    dm = ShapesAttributeDataModule(tmp_path, img_size=16, n_train=12, n_val=4, scan_workers=1)
    evaluator = Evaluator(metrics={"attribute_accuracy": {"classifier_steps": 2}})
    with pytest.raises(GuidanceModeError) as err:
        evaluator.evaluate(StarGANv1Module(**TINY_V1), dm)
    assert str(err.value).startswith(
        "attribute_accuracy needs 'attribute' guidance (a model trained on attribute vectors: "
        "StarGAN v1 with model.label_mode=multi), but StarGANv1Module supports only ['label']"
    )
    multi = StarGANv1Module(**TINY_V1, label_mode="multi")
    assert 0.0 <= evaluator.evaluate(multi, dm)["attr/target/mean"] <= 1.0
