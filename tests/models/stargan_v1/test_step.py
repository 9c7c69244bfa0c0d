"""One StarGAN v1 iteration without Lightning: the n_critic schedule, the learning-rate rules,
the shuffled targets."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v1.nets import Discriminator, Generator
from starganv2.models.stargan_v1.step import (
    LossWeights,
    Nets,
    flip_labels,
    g_step_due,
    label_units,
    learning_rate,
    original_test_labels,
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


def test_shuffled_labels_of_attribute_vectors_are_whole_rows():
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    out = shuffled_labels(c, torch.Generator().manual_seed(1))
    assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, c.tolist()))


def test_label_units_count_a_group_once():
    assert label_units(5, [(0, 1, 2)]) == [(0, 1, 2), (3,), (4,)]
    assert label_units(3) == [(0,), (1,), (2,)]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_flip_labels_changes_k_units_and_keeps_the_groups(k):
    gen = torch.Generator().manual_seed(0)
    group = (0, 1, 2)
    c = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1], [1, 1, 0, 0, 1]] * 25)
    out = flip_labels(c, k, [group], gen)
    assert out.shape == c.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    group_changed = (out[:, :3] != c[:, :3]).any(1).long()
    one_on = c[:, :3].sum(1) == 1
    kept_or_fixed = one_on | group_changed.bool()  # a row with two colours is fixed when drawn
    assert out[kept_or_fixed][:, list(group)].sum(1).eq(1).all()  # one hair colour each
    assert kept_or_fixed.sum() >= 50  # rows 1 and 2 of the pattern, at least
    singles_changed = (out[:, 3:] != c[:, 3:]).sum(1)
    assert (group_changed + singles_changed).eq(k).all()
    assert group_changed[one_on].sum() > 0  # a valid group moves to another member when drawn
    if k == 3:
        assert group_changed.eq(1).all()
    with pytest.raises(ValueError, match=r"flip_k=4 is invalid: expected 1 <= flip_k <= 3"):
        flip_labels(c, 4, [group], gen)


def test_train_iteration_with_attribute_vectors():
    torch.manual_seed(0)
    nets = Nets(Generator(c_dim=3, conv_dim=4, repeat_num=1), Discriminator(16, 3, 4))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    stats = train_iteration(nets, x, c, flip_labels(c, 1), 3, LossWeights(), lambda *a: None, 4)
    assert set(stats) == {"d", "g"} and all(torch.isfinite(v) for v in stats["g"].values())


def test_original_test_labels_set_one_group_member_or_flip():
    c = torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 1, 0, 1]])
    cols = original_test_labels(c, [(0, 1, 2)])
    assert len(cols) == 5
    assert cols[1].tolist() == [[0, 1, 0, 1, 0], [0, 1, 0, 0, 1]]  # blond on, other colours off
    assert cols[3].tolist() == [[1, 0, 0, 0, 0], [0, 1, 1, 1, 1]]  # male switched, rest kept
    assert torch.equal(c, torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 1, 0, 1]]))  # not modified
