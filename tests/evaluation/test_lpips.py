"""LPIPS from local files: ``AlexNetLPIPS`` gives torchmetrics' AlexNet LPIPS values, and
``LPIPSDiversity`` (a torchmetrics Metric) is the per-image mean over output pairs, averaged over
images, checked against plain loops."""

from __future__ import annotations

from itertools import combinations

import pytest
import torch

from starganv2.evaluation import backbones as B
from starganv2.evaluation.lpips import LPIPSDiversity, pairwise_lpips


def _outputs(b: int, k: int, seed: int = 0) -> torch.Tensor:
    """``(b, k, 3, 32, 32)`` outputs, a little outside [-1, 1] as a generator's are."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, k, 3, 32, 32, generator=g) * 2.2 - 1.1


@pytest.fixture
def alexnet_file(torch_home) -> str:
    return str(torch_home / "hub" / "checkpoints" / B.ALEXNET_FILE)


def test_alexnet_lpips_equals_torchmetrics_lpips(offline_hub):
    """Same backbone file, same linear layers: the same distances as torchmetrics computes."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    theirs = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
    ours = B.AlexNetLPIPS()
    x = _outputs(5, 2).clamp(-1, 1)
    expected = theirs(x[:, 0], x[:, 1])  # (5,)
    got = ours(x[:, 0], x[:, 1])
    assert got.shape == (5,)
    assert float(got.min()) > 0
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_alexnet_lpips_reads_an_explicit_file_outside_the_hub(alexnet_file, empty_hub):
    net = B.AlexNetLPIPS(alexnet_file)
    ref = torch.load(alexnet_file, map_location="cpu", weights_only=True)
    assert torch.equal(net.slices[0][0].weight, ref["features.0.weight"])
    assert torch.equal(net.slices[4][0].weight, ref["features.10.weight"])
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert not (empty_hub / B.ALEXNET_FILE).exists()  # nothing downloaded, copied or linked


def test_diversity_is_mean_over_45_pairs(offline_hub):
    """One image's value is the mean LPIPS of its 45 output pairs (torchmetrics, one batch)."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    metric = LPIPSDiversity()
    outputs = _outputs(2, 10)
    got = metric.per_image(outputs)
    assert got.shape == (2,)
    lpips = LearnedPerceptualImagePatchSimilarity(net_type="alex")  # default: mean reduction
    x = outputs.clamp(-1, 1)
    pairs = list(combinations(range(10), 2))
    assert len(pairs) == 45
    first, second = (torch.tensor(t) for t in zip(*pairs))
    for b in range(2):  # the mean LPIPS of the 45 pairs of image b, in one batch of 45
        direct = lpips(x[b, first], x[b, second])
        assert got[b].item() == pytest.approx(direct.item(), rel=1e-5)
    assert float(got.min()) > 0


def test_metric_is_the_mean_over_images_of_a_plain_pair_loop(alexnet_file):
    net = B.AlexNetLPIPS(alexnet_file)
    metric = LPIPSDiversity(net=net)
    batches = [_outputs(2, 3, seed=1), _outputs(3, 3, seed=2)]  # 5 images, 3 pairs each
    for outputs in batches:
        metric.update(outputs)
    per_image = []
    for outputs in batches:
        for x in outputs.clamp(-1, 1):  # (K, 3, H, W), one image's outputs
            pair_values = [
                float(net(x[i : i + 1], x[j : j + 1])) for i, j in combinations(range(3), 2)
            ]
            per_image.append(sum(pair_values) / len(pair_values))
    assert int(metric.count) == 5
    assert float(metric.compute()) == pytest.approx(sum(per_image) / 5, rel=1e-5)


def test_states_are_registered_and_summed_when_merged(alexnet_file):
    net = B.AlexNetLPIPS(alexnet_file)
    halves, whole = (LPIPSDiversity(net=net), LPIPSDiversity(net=net)), LPIPSDiversity(net=net)
    assert set(whole.metric_state) == {"sum", "count"}
    outputs = _outputs(5, 2)
    halves[0].update(outputs[:4])
    halves[1].update(outputs[4:])
    whole.update(outputs)
    halves[0].merge_state(halves[1])
    assert int(halves[0].count) == 5
    assert float(halves[0].compute()) == pytest.approx(float(whole.compute()), rel=1e-6)


def test_pairwise_lpips_names_a_bad_shape():
    with pytest.raises(ValueError, match=r"\(2, 1, 3, 32, 32\).*K >= 2"):
        pairwise_lpips(lambda a, b: a.sum(), _outputs(2, 1))


def test_missing_alexnet_fails_at_construction(empty_hub):
    with pytest.raises(B.MissingWeightsError) as err:
        LPIPSDiversity()
    assert str(empty_hub / B.ALEXNET_FILE) in str(err.value)
