from __future__ import annotations

import pytest
import torch
from torch import nn

from starganv2.models.ema import make_ema, update_ema


def two_nets():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return net, make_ema(net)


def test_make_ema_is_frozen_copy():
    net, ema = two_nets()
    assert not ema.training
    assert all(not p.requires_grad for p in ema.parameters())
    for a, b in zip(net.parameters(), ema.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_beta_zero_copies_and_beta_one_keeps():
    net, ema = two_nets()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    before = [p.clone() for p in ema.parameters()]
    update_ema(ema, net, beta=1.0)
    for a, b in zip(ema.parameters(), before):
        assert torch.equal(a, b)
    update_ema(ema, net, beta=0.0)
    for a, b in zip(ema.parameters(), net.parameters()):
        assert torch.equal(a, b)


def test_beta_interpolates():
    net, ema = two_nets()
    old = [p.clone() for p in ema.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    update_ema(ema, net, beta=0.9)
    for e, o in zip(ema.parameters(), old):
        torch.testing.assert_close(e, o + 0.1)


def test_invalid_beta():
    net, ema = two_nets()
    with pytest.raises(ValueError, match="beta"):
        update_ema(ema, net, beta=1.5)
