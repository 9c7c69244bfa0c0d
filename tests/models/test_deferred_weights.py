"""``DeferredWeights``: a frozen net's weights are read at its first forward, ``state_dict()`` or
``ensure()``, once, and not at all when a loaded state dict brought them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from starganv2.models.deferred_weights import DeferredWeights

WANT = {"weight": torch.full((2, 2), 3.0), "bias": torch.full((2,), -1.0)}


class Reader:
    def __init__(self, fail: bool = False):
        self.calls, self.fail = 0, fail

    def __call__(self, net):
        self.calls += 1
        if self.fail:
            raise FileNotFoundError("model.weights='gone.ckpt': no such file")
        net.load_state_dict(WANT)


def _deferred(fail=False):
    net, reader = nn.Linear(2, 2), Reader(fail)
    return net, reader, DeferredWeights(net, reader)


@pytest.mark.parametrize("first_use", ["forward", "state_dict", "ensure"])
def test_read_once_at_first_use(first_use):
    net, reader, deferred = _deferred()
    assert reader.calls == 0 and deferred.pending
    {
        "forward": lambda: net(torch.ones(1, 2)),
        "state_dict": net.state_dict,
        "ensure": deferred.ensure,
    }[first_use]()
    assert reader.calls == 1 and not deferred.pending
    torch.testing.assert_close(net(torch.ones(1, 2)), torch.full((1, 2), 5.0))
    assert torch.equal(net.state_dict()["weight"], WANT["weight"])
    assert reader.calls == 1


def test_a_loaded_state_dict_brings_the_weights_inside_a_parent():
    parent = nn.Module()
    parent.frozen, reader, deferred = _deferred()
    saved = {f"frozen.{k}": v.clone() * 2 for k, v in WANT.items()}
    parent.load_state_dict(saved)
    assert not deferred.pending
    assert torch.equal(parent.state_dict()["frozen.weight"], saved["frozen.weight"])
    parent.frozen(torch.ones(1, 2))
    assert reader.calls == 0


def test_a_state_dict_without_the_nets_weights_leaves_them_pending():
    parent = nn.Module()
    parent.other = nn.Linear(1, 1)
    parent.frozen, reader, deferred = _deferred()
    parent.load_state_dict(
        {"other.weight": torch.ones(1, 1), "other.bias": torch.ones(1)}, strict=False
    )
    assert deferred.pending
    parent.state_dict()
    assert reader.calls == 1


def test_a_failed_read_raises_at_each_use_and_stays_pending():
    net, reader, deferred = _deferred(fail=True)
    for use in (deferred.ensure, net.state_dict, lambda: net(torch.ones(1, 2))):
        with pytest.raises(FileNotFoundError, match="model.weights='gone.ckpt'"):
            use()
    assert deferred.pending and reader.calls == 3
