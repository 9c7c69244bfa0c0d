"""Feature networks from local files only: fast errors naming the file, explicit paths, the hub cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from starganv2.evaluation import backbones as B
from starganv2.evaluation import fid_lpips as FL
from starganv2.evaluation.evaluator import Evaluator
from tests.evaluation.conftest import TinyFeatures


# ---------------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize(
    ("kwargs", "filename"),
    [
        ({"fid_features": "standard"}, B.STANDARD_INCEPTION_FILE),
        ({"fid_features": "torchvision"}, B.TORCHVISION_INCEPTION_FILE),
    ],
)
def test_missing_fid_weights_fail_fast_and_name_the_file(offline_hub, kwargs, filename):
    t0 = time.perf_counter()
    with pytest.raises(B.MissingWeightsError) as err:
        Evaluator(metrics={"fid_lpips": kwargs})
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert filename in msg and str(offline_hub) in msg and "fid_weights" in msg


def test_missing_lpips_weights_fail_fast_and_name_the_file(empty_hub):
    t0 = time.perf_counter()
    with pytest.raises(B.MissingWeightsError) as err:
        Evaluator(metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}})
    assert time.perf_counter() - t0 < 5
    assert B.ALEXNET_FILE in str(err.value) and str(empty_hub) in str(err.value)


def test_explicit_missing_path_names_key(tmp_path):
    with pytest.raises(B.MissingWeightsError, match=r"fid_weights=.*nothere\.pth"):
        B.find_weights(B.STANDARD_INCEPTION_FILE, tmp_path / "nothere.pth", "fid_weights")


@pytest.mark.parametrize("fid_features", B.FID_FEATURES)
def test_every_missing_file_is_listed_in_one_error(empty_hub, fid_features):
    """An empty hub cache: one error names the FID and the LPIPS file, each with the exact path
    to put it at in ``torch.hub.get_dir()/checkpoints`` and the setting that takes its path."""
    fid_file = B.FID_WEIGHT_FILES[fid_features]
    t0 = time.perf_counter()
    with pytest.raises(B.MissingWeightsError) as err:
        Evaluator(metrics={"fid_lpips": {"fid_features": fid_features}})
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert err.value.files == (fid_file, B.ALEXNET_FILE)
    assert msg.startswith(f"2 weight files are missing ({fid_file}, {B.ALEXNET_FILE})")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    assert hub == empty_hub
    for filename, key in ((fid_file, "fid_weights"), (B.ALEXNET_FILE, "lpips_weights")):
        assert f"put it at {hub / filename}" in msg
        assert f"metrics.fid_lpips.{key}=/path/to/{filename}" in msg
        assert B.WEIGHT_URLS[filename] in msg


def test_missing_explicit_and_hub_files_are_listed_together(empty_hub, tmp_path):
    with pytest.raises(B.MissingWeightsError) as err:
        FL.FidLpips(fid_weights=tmp_path / "inception.pth", num_outs_per_domain=2)
    msg = str(err.value)
    assert (
        f"metrics.fid_lpips.fid_weights={tmp_path / 'inception.pth'}: weight file not found" in msg
    )
    assert f"put it at {empty_hub / B.ALEXNET_FILE}" in msg


def test_find_all_weights_returns_paths_in_order(torch_home, offline_hub, tmp_path):
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    found = B.find_all_weights(
        [B.WeightRequest(B.ALEXNET_FILE), B.WeightRequest("any.pth", explicit, "key")]
    )
    assert found == [offline_hub / B.ALEXNET_FILE, explicit]


# ---------------------------------------------------------------------------------------------- real nets
def _random_fidelity_inception_state(monkeypatch) -> dict:
    """A randomly initialised state dict of torch-fidelity's FID Inception (no download)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, **k: None)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return net.state_dict()


@pytest.mark.slow
def test_standard_and_torchvision_extractors_load_from_hub_cache(offline_hub, monkeypatch):
    """Random-init weight files in the hub cache are picked up; outputs are 2048-d features."""
    from torchvision.models import inception_v3

    torch.save(
        _random_fidelity_inception_state(monkeypatch), offline_hub / B.STANDARD_INCEPTION_FILE
    )
    torch.save(
        inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(),
        offline_hub / B.TORCHVISION_INCEPTION_FILE,
    )
    x = torch.rand(2, 3, 32, 32)
    try:
        for kind in B.FID_FEATURES:
            net = B.build_fid_feature_extractor(kind)
            assert net(x).shape == (2, 2048)
            assert float(net(x).abs().sum()) > 0
        fl = FL.FidLpips(fid_features="torchvision", num_outs_per_domain=2)
        assert isinstance(fl.fid.feature_extractor, B.TorchvisionInceptionFeatures)
    finally:
        for f in (B.STANDARD_INCEPTION_FILE, B.TORCHVISION_INCEPTION_FILE):
            (offline_hub / f).unlink()


def test_missing_weights_hint_is_an_override_hydra_accepts(tmp_path, monkeypatch):
    """``metrics.fid_lpips.fid_weights=...`` is rejected when metrics=auto ("not in struct");
    ``++...`` sets it either way. $TORCH_HOME is named only when it is what set the cache."""
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(B.MissingWeightsError) as err:
        B.find_weights(B.ALEXNET_FILE, None, "metrics.fid_lpips.lpips_weights")
    msg = str(err.value)
    assert f"'++metrics.fid_lpips.lpips_weights=/path/to/{B.ALEXNET_FILE}'" in msg
    assert "set by $TORCH_HOME" not in msg and "$TORCH_HOME moves it" in msg
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(B.MissingWeightsError, match=r"set by \$TORCH_HOME"):
        B.find_weights(B.ALEXNET_FILE, None, "metrics.fid_lpips.lpips_weights")
