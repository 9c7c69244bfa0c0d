"""The Evaluator: argument checks, data checks, the metric registry, auto metrics, modes."""

from __future__ import annotations

import pytest

from starganv2.evaluation.evaluator import Evaluator
from tests.evaluation.conftest import TinyFeatures, evaluate, write_domain_data


def test_evaluate_rejects_domain_count_mismatch(tmp_path, offline_hub, tiny_module):
    root = write_domain_data(tmp_path / "data", ["a", "b", "c"], n_train=2, n_val=2)
    with pytest.raises(ValueError, match=r"3 domains .* num_domains=2"):
        evaluate(tiny_module, root, feature_extractor=TinyFeatures())


def test_evaluator_argument_errors(offline_hub):
    with pytest.raises(ValueError, match="num_outs_per_domain=1"):
        Evaluator(feature_extractor=TinyFeatures(), num_outs_per_domain=1)
    with pytest.raises(ValueError, match="modes="):
        Evaluator(feature_extractor=TinyFeatures(), modes=["latnet"])
    with pytest.raises(ValueError, match="fid_features='fancy'"):
        Evaluator(fid_features="fancy")
    with pytest.raises(ValueError, match=r"metrics=\['fancy'\]: unknown \['fancy'\]"):
        Evaluator(metrics=["fancy"])
