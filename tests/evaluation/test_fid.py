"""``FID`` as a torchmetrics Metric: its value against a plain numpy Frechet distance of the same
features and against torchmetrics' own FID, its registered states and how they reduce, and what
``reset`` keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from starganv2.evaluation import backbones as B
from starganv2.evaluation.fid import FID
from tests.evaluation.conftest import TinyFeatures

STATES = {
    f"{kind}_features_{part}"
    for kind in ("real", "fake")
    for part in ("sum", "cov_sum", "num_samples")
}


def numpy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two feature sets ``(N, D)``, written out with numpy: the trace of
    ``sqrtm(s1 @ s2)`` as the trace of the symmetric ``sqrtm(s1^(1/2) s2 s1^(1/2))``."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # s1^(1/2)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """20 'real' and 16 'generated' 32 px images in [0, 1] from different distributions."""
    g = torch.Generator().manual_seed(0)
    real = torch.rand(20, 3, 32, 32, generator=g)
    fake = torch.rand(16, 3, 32, 32, generator=g) ** 2
    return real, fake


def test_fid_equals_numpy_frechet_distance_of_the_same_features(images):
    real, fake = images
    extractor = TinyFeatures()
    metric = FID(extractor)
    for chunk in real.split(7):  # several updates accumulate
        metric.update(chunk, real=True)
    metric.update(fake, real=False)
    got = float(metric.compute())
    with torch.no_grad():
        expected = numpy_fid(extractor(real).double().numpy(), extractor(fake).double().numpy())
    assert expected > 0.01  # the two sets differ: a real distance, not rounding noise
    assert got == pytest.approx(expected, rel=1e-5)


def test_fid_equals_torchmetrics_fid_with_the_same_extractor(images):
    """The figures the protocol reported with torchmetrics' FrechetInceptionDistance stay."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = images
    ours, theirs = FID(TinyFeatures()), FrechetInceptionDistance(TinyFeatures(), normalize=True)
    for metric in (ours, theirs):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    assert float(ours.compute()) == pytest.approx(float(theirs.compute()), rel=1e-6)


def test_states_are_registered_and_summed_when_merged(images):
    """``merge_state`` applies each state's ``dist_reduce_fx`` (what DDP sync does): two halves
    merged give the metric of all images."""
    real, fake = images
    halves, whole = (FID(TinyFeatures()), FID(TinyFeatures())), FID(TinyFeatures())
    assert set(whole.metric_state) == STATES
    halves[0].update(real[:13], real=True)
    halves[0].update(fake[:4], real=False)
    halves[1].update(real[13:], real=True)
    halves[1].update(fake[4:], real=False)
    whole.update(real, real=True)
    whole.update(fake, real=False)
    halves[0].merge_state(halves[1])
    assert int(halves[0].real_features_num_samples) == 20
    assert float(halves[0].compute()) == pytest.approx(float(whole.compute()), rel=1e-6)


def test_reset_keeps_real_statistics_only_when_asked(images):
    real, fake = images
    keep, plain = FID(TinyFeatures(), reset_real_features=False), FID(TinyFeatures())
    for metric in (keep, plain):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    first = float(keep.compute())
    keep.reset()
    plain.reset()
    assert int(keep.real_features_num_samples) == 20 and int(keep.fake_features_num_samples) == 0
    assert int(plain.real_features_num_samples) == 0
    keep.update(fake, real=False)
    assert float(keep.compute()) == pytest.approx(first, rel=1e-12)


def test_feature_size_is_measured_without_num_features():
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (N, 3, H, W) -> (N, 3)
    assert FID(pool).metric_state["real_features_sum"].shape == (3,)


def test_too_few_images_and_bad_shapes_are_named(images):
    real, _ = images
    metric = FID(TinyFeatures())
    metric.update(real, real=True)
    metric.update(real[:1], real=False)
    with pytest.raises(RuntimeError, match=r"2 real and 2 generated.*20 real and 1 generated"):
        metric.compute()
    with pytest.raises(ValueError, match=r"\(20, 32, 32\).*\(N, 3, H, W\)"):
        metric.update(real[:, 0], real=True)


def test_features_choice_and_missing_weights_fail_at_construction(empty_hub):
    with pytest.raises(ValueError, match=r"features='fancy'.*'standard', 'torchvision'"):
        FID(features="fancy")
    with pytest.raises(B.MissingWeightsError) as err:
        FID(features="torchvision")
    assert str(empty_hub / B.TORCHVISION_INCEPTION_FILE) in str(err.value)
