"""``benchmarks/train_speed.py``: the ``cudnn_benchmark`` part of a variant sets
``torch.backends.cudnn.benchmark`` for that variant's runs only (a process-wide flag, and the
variants of one run are interleaved, so a flag left set would leak into the next variant)."""

from __future__ import annotations

import argparse

import pytest
import torch

from tests.helpers.benchmarks import load_benchmark

train_speed = load_benchmark("train_speed")


def _args() -> argparse.Namespace:
    return argparse.Namespace(
        img_size=16, batch=2, num_domains=2, dim_in=8, max_conv_dim=16, style_dim=4,
        hidden_dim=8, latent_dim=4, seed=0, warmup=1, iters=1,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["plain", "plain+cudnn_benchmark", "eager+cudnn_benchmark"])
def test_cudnn_benchmark_is_set_during_the_variant_only(name: str, monkeypatch) -> None:
    args = _args()
    variant = train_speed.Variant(name, args, torch.device("cpu"))
    seen: list[bool] = []
    inner = variant._run_plain if variant.plain else variant._run_lightning

    def spy(*a):
        seen.append(torch.backends.cudnn.benchmark)
        return inner(*a)

    monkeypatch.setattr(variant, "_run_plain" if variant.plain else "_run_lightning", spy)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    sec = variant.run(1, 1, train_speed.make_batches(args, 2))
    assert sec > 0
    assert seen == ["cudnn_benchmark" in name]
    assert torch.backends.cudnn.benchmark is False


def test_unknown_part_is_refused() -> None:
    with pytest.raises(SystemExit, match="cudnn_benchmark"):
        train_speed.Variant("plain+cudnn_bench", _args(), torch.device("cpu"))


def test_count_ops_counts_the_whole_iteration() -> None:
    """The comparator does more convolution work than our step (every net's weight gradients, the
    diversity term's second fake with a graph); once the optimizers hold their state (the first
    iteration creates it), a count is the same each time."""
    args = _args()
    batches = train_speed.make_batches(args, 2)
    counts = {}
    for name in ("original", "plain"):
        variant = train_speed.Variant(name, args, torch.device("cpu"))
        first = train_speed.count_ops(variant, batches)
        counts[name] = train_speed.count_ops(variant, batches)
        assert train_speed.count_ops(variant, batches) == counts[name]
        assert first[0] == counts[name][0]  # the same FLOPs; more calls (the optimizers' state)
    (f_orig, c_orig), (f_plain, c_plain) = counts["original"], counts["plain"]
    assert f_orig > f_plain > 0
    assert c_orig > 0 and c_plain > 0
