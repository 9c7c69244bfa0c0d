"""One StarGAN v1 iteration without Lightning: the n_critic schedule, the learning-rate rules,
the shuffled targets."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v1.nets import Discriminator, Generator
from starganv2.models.stargan_v1.step import (
    LossWeights,
    Nets,
    g_step_due,
    learning_rate,
    shuffled_labels,
    train_iteration,
)


def test_g_steps_on_every_n_critic_th_iteration():
    assert [i for i in range(12) if g_step_due(i, 5)] == [4, 9]
    assert all(g_step_due(i, 1) for i in range(3))


def test_train_iteration_updates_d_every_time_and_g_every_fifth():
    torch.manual_seed(0)
    nets = Nets(Generator(c_dim=2, conv_dim=4, repeat_num=1), Discriminator(16, 2, 4))
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([0, 1])
    calls = []
    for it in range(10):

        def update(loss, names, it=it):
            calls.append((it, names))

        stats = train_iteration(nets, x, y, y.flip(0), 2, LossWeights(), update, it)
        assert set(stats) == ({"d", "g"} if it in (4, 9) else {"d"})
    d_calls = [it for it, n in calls if n == ("discriminator",)]
    g_calls = [it for it, n in calls if n == ("generator",)]
    assert d_calls == list(range(10)) and g_calls == [4, 9]


def test_original_learning_rate_rule_barely_decays():
    kw = {"base_lr": 1e-4, "total_iters": 200_000, "decay_iters": 100_000}
    assert learning_rate(0, **kw) == learning_rate(100_000, **kw) == 1e-4
    assert learning_rate(100_999, **kw) == 1e-4
    # the first drop acts after iteration 101,000 (counted from 1), i.e. on iteration 101,000
    assert learning_rate(101_000, **kw) == pytest.approx(1e-4 * (1 - 1e-5))
    assert learning_rate(199_999, **kw) == pytest.approx(1e-4 * (1 - 99e-5))
    assert learning_rate(200_000, **kw) == pytest.approx(0.999e-4)


def test_linear_learning_rate_rule_reaches_zero():
    kw = {"base_lr": 1e-4, "total_iters": 200_000, "decay_iters": 100_000, "rule": "linear"}
    assert learning_rate(50_000, **kw) == 1e-4
    assert learning_rate(100_000, **kw) == 1e-4
    assert learning_rate(150_000, **kw) == pytest.approx(0.5e-4)
    assert learning_rate(199_999, **kw) == pytest.approx(1e-9)
    assert learning_rate(200_000, **kw) == 0.0
    assert learning_rate(5, base_lr=1e-3, total_iters=10, decay_iters=0, rule="linear") == 1e-3
    with pytest.raises(ValueError, match="lr_decay='cosine'"):
        learning_rate(0, 1e-4, 10, 5, rule="cosine")


def test_shuffled_labels_are_a_permutation_of_the_batch():
    y = torch.tensor([0, 0, 1, 2, 2, 2])
    out = shuffled_labels(y, torch.Generator().manual_seed(0))
    assert sorted(out.tolist()) == sorted(y.tolist())
    assert not torch.equal(out, y)
