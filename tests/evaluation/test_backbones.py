"""Feature networks from local files only: fast errors naming the file, explicit paths, the hub cache."""

from __future__ import annotations

import re
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
    """A ``FidLpips`` built directly names its Python arguments; :func:`FL.metric`, the config
    path, names the config keys (:func:`test_python_users_are_told_the_python_argument`)."""
    with pytest.raises(B.MissingWeightsError) as err:
        FL.FidLpips(fid_weights=tmp_path / "inception.pth", num_outs_per_domain=2)
    msg = str(err.value)
    assert f"- fid_weights={tmp_path / 'inception.pth'}: weight file not found" in msg
    assert f"put it at {empty_hub / B.ALEXNET_FILE}" in msg
    assert f"lpips_weights='/path/to/{B.ALEXNET_FILE}'" in msg


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


# ---------------------------------------------------------------------------------------------- who is told what
def test_python_users_are_told_the_python_argument(empty_hub):
    """Classes built directly name their own argument (``weights_path=...``, ``fid_weights=...``),
    not a command-line override; the config path (the ``fid_lpips`` metric, as ``Evaluator``
    builds it) keeps the override."""
    from starganv2.evaluation.fid import FID
    from starganv2.evaluation.lpips import LPIPSDiversity

    for build, arg, filename in (
        (lambda: FID(features="torchvision"), "weights_path", B.TORCHVISION_INCEPTION_FILE),
        (lambda: FID(), "weights_path", B.STANDARD_INCEPTION_FILE),
        (LPIPSDiversity, "weights_path", B.ALEXNET_FILE),
        (lambda: B.AlexNetLPIPS(), "weights_path", B.ALEXNET_FILE),
        (lambda: FL.FidLpips(feature_extractor=TinyFeatures()), "lpips_weights", B.ALEXNET_FILE),
    ):
        with pytest.raises(B.MissingWeightsError) as err:
            build()
        msg = str(err.value)
        assert msg.endswith(f"or pass its path with {arg}='/path/to/{filename}'."), msg
        assert "++" not in msg and "metrics." not in msg
    with pytest.raises(B.MissingWeightsError) as err:
        Evaluator(metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}})
    assert f"'++metrics.fid_lpips.lpips_weights=/path/to/{B.ALEXNET_FILE}'" in str(err.value)


# ---------------------------------------------------------------------------------------------- foreign files
def _html_page(path: Path) -> Path:
    path.write_text("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n")
    return path


def _junk(path: Path) -> Path:
    path.write_bytes(bytes(range(255, 6, -1)) * 8)  # no zip, no pickle, no text
    return path


def _other_net(path: Path) -> Path:
    torch.save({"fc.weight": torch.zeros(3, 2), "features.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    return path


def _a_tensor(path: Path) -> Path:
    torch.save(torch.zeros(3), path)
    return path


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (
            _html_page,
            "is a text file, not a PyTorch file (it begins '<!DOCTYPE html>'), likely a web page "
            "or error message saved by a failed download",
        ),
        (_junk, "is not a PyTorch file (1992 bytes of unknown content)"),
        (
            _other_net,
            "is a PyTorch file holding other weights: 15 missing keys (e.g. 'features.0.bias', "
            "'features.3.weight', 'features.3.bias'); 1 unexpected key (e.g. 'fc.weight'); 1 of "
            "other shapes (e.g. 'features.0.weight' is (8, 3, 3, 3), expected (64, 3, 11, 11))",
        ),
        (_a_tensor, "is a PyTorch file but no state dict (it holds a Tensor)"),
    ],
)
def test_a_file_that_holds_no_weights_is_one_clear_error(offline_hub, tmp_path, make, what):
    """A web page saved by a failed download, foreign bytes, another network's state dict: one
    ``WeightsFileError`` that names the setting in full and the file, says what the file holds and
    what to do (not pickle's ``invalid load key``, a ``KeyError`` or torch's dump of every key)."""
    bad = make(tmp_path / "weights.pth")
    settings = {"feature_extractor": TinyFeatures(), "lpips_weights": str(bad)}
    with pytest.raises(B.WeightsFileError) as err:
        Evaluator(metrics={"fid_lpips": settings})
    msg = str(err.value)
    assert msg.startswith(f"metrics.fid_lpips.lpips_weights={bad} {what}"), msg
    assert msg.endswith(
        f"Expected {B.ALEXNET_FILE}: download it from {B.WEIGHT_URLS[B.ALEXNET_FILE]} on a "
        "machine with network and pass its path."
    )
    assert "\n" not in msg
    with pytest.raises(B.WeightsFileError, match=rf"^weights_path={bad} {re.escape(what)}"):
        B.AlexNetLPIPS(bad)  # a Python user is told the Python argument


def test_a_bad_file_in_the_hub_cache_says_where_it_is_and_how_to_pass_another(empty_hub):
    empty_hub.mkdir(parents=True)
    _html_page(empty_hub / B.ALEXNET_FILE)
    with pytest.raises(B.WeightsFileError) as err:
        Evaluator(metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}})
    msg = str(err.value)
    assert msg.startswith(
        f"weight file {B.ALEXNET_FILE} in the torch hub cache ({empty_hub / B.ALEXNET_FILE}) is a "
        "text file"
    )
    assert f"put it at {empty_hub / B.ALEXNET_FILE}, or pass its path with '++metrics." in msg


@pytest.mark.parametrize("make", [_html_page, _junk, _other_net])
@pytest.mark.parametrize("fid_features", B.FID_FEATURES)
def test_a_bad_fid_file_is_one_clear_error(offline_hub, tmp_path, fid_features, make):
    """Both FID networks: the ``standard`` one is read by torch-fidelity (unrestricted
    ``torch.load``), so the file is checked here first."""
    bad = make(tmp_path / "inception.pth")
    settings = {"fid_features": fid_features, "fid_weights": str(bad)}
    with pytest.raises(B.WeightsFileError) as err:
        Evaluator(metrics={"fid_lpips": settings})
    msg = str(err.value)
    assert msg.startswith(f"metrics.fid_lpips.fid_weights={bad} is "), msg
    assert f"Expected {B.FID_WEIGHT_FILES[fid_features]}: download it from" in msg
    if make is _other_net:
        assert "holding other weights: " in msg and "'Conv2d_1a_3x3.conv.weight'" in msg
        assert "1 unexpected key (e.g. 'features.0.weight')" in msg
        classes = 1008 if fid_features == "standard" else 1000
        assert f"'fc.weight' is (3, 2), expected ({classes}, 2048)" in msg
