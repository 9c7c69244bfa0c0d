"""Loss functions: R1, diversity schedule, adversarial targets, argument checks, gradient flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from starganv2.models.stargan_v2.losses import (
    adv_loss,
    cycle_loss,
    d_loss,
    diversity_loss,
    ds_weight,
    g_loss,
    r1_reg,
    style_recon_loss,
)
from starganv2.models.stargan_v2.nets import (
    Discriminator,
    Generator,
    MappingNetwork,
    StyleEncoder,
    he_init,
)


class ConstantD(nn.Module):
    """A discriminator that ignores its input."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, y):
        return self.bias + 0 * x.flatten(1).sum(1).detach()


class LinearD(nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, y):
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_r1_zero_for_input_independent_d():
    x = torch.randn(4, 3, 8, 8).requires_grad_(True)
    d = ConstantD()
    out = d(x, None) + 0 * x.flatten(1).sum(1)  # keep x in the graph
    assert r1_reg(out, x).item() == 0.0


def test_r1_matches_hand_computed_value_for_linear_d():
    torch.manual_seed(1)
    w = torch.randn(3, 4, 4)
    x = torch.randn(5, 3, 4, 4).requires_grad_(True)
    out = LinearD(w)(x, None)
    # d out_i / d x_i = w for every row, so R1 = 0.5 * ||w||^2
    expected = 0.5 * w.pow(2).sum()
    torch.testing.assert_close(r1_reg(out, x), expected)


def test_r1_is_differentiable_wrt_d():
    w = torch.randn(3, 4, 4)
    d = LinearD(w.clone())
    x = torch.randn(2, 3, 4, 4).requires_grad_(True)
    r1_reg(d(x, None), x).backward()
    torch.testing.assert_close(d.w.grad, w)  # d/dw of 0.5*||w||^2


def test_adv_loss_targets():
    logits = torch.tensor([0.0, 0.0])
    torch.testing.assert_close(adv_loss(logits, 1.0), torch.log(torch.tensor(2.0)))
    big = torch.tensor([20.0])
    assert adv_loss(big, 1.0) < 1e-6 and adv_loss(big, 0.0) > 19


def test_l1_terms():
    a, b = torch.zeros(2, 3), torch.ones(2, 3) * 2
    assert style_recon_loss(a, b).item() == 2.0
    assert cycle_loss(a, b).item() == 2.0
    x = torch.ones(2, 3, requires_grad=True)
    x2 = torch.zeros(2, 3, requires_grad=True)
    diversity_loss(x, x2).backward()
    assert x.grad is not None and x2.grad is None  # second output detached


@pytest.mark.parametrize(
    ("iteration", "expected"), [(0, 2.0), (50, 1.0), (75, 0.5), (100, 0.0), (150, 0.0)]
)
def test_ds_weight_schedule(iteration, expected):
    assert ds_weight(iteration, lambda_ds=2.0, ds_iter=100) == pytest.approx(expected)


def test_ds_weight_without_decay():
    assert ds_weight(10**6, lambda_ds=1.5, ds_iter=0) == 1.5


def tiny_nets(img=32, domains=2):
    nets = (
        Generator(img, 8, 64, 0, 16),
        MappingNetwork(4, 8, domains, 32),
        StyleEncoder(img, 8, domains, 64, 16),
        Discriminator(img, domains, 64, 16),
    )
    for n in nets:
        n.apply(he_init)
    return nets


def batch(n=2, img=32):
    return torch.rand(n, 3, img, img) * 2 - 1, torch.tensor([0, 1])[:n], torch.tensor([1, 0])[:n]


def test_d_and_g_loss_require_exactly_one_style_source():
    nets = tiny_nets()
    x, y_org, y_trg = batch()
    z = torch.randn(2, 4)
    with pytest.raises(ValueError, match="exactly one"):
        d_loss(*nets, x, y_org, y_trg)
    with pytest.raises(ValueError, match="exactly one"):
        d_loss(*nets, x, y_org, y_trg, z_trg=z, x_ref=x)
    with pytest.raises(ValueError, match="exactly one"):
        g_loss(*nets, x, y_org, y_trg)
    with pytest.raises(ValueError, match="exactly one"):
        g_loss(*nets, x, y_org, y_trg, z_trgs=(z, z), x_refs=(x, x))


def test_d_loss_gradients_reach_only_d_and_leave_input_untouched():
    g, f, e, d = nets = tiny_nets()
    x, y_org, y_trg = batch()
    loss, stats = d_loss(*nets, x, y_org, y_trg, z_trg=torch.randn(2, 4))
    loss.backward()
    assert set(stats) == {"real", "fake", "reg"}
    assert all(not v.requires_grad for v in stats.values())
    assert x.grad is None and not x.requires_grad
    assert all(p.grad is not None for p in d.parameters())
    assert all(p.grad is None for net in (g, f, e) for p in net.parameters())
    torch.testing.assert_close(loss, stats["real"] + stats["fake"] + stats["reg"])


def test_g_loss_combination_and_ref_mode():
    g, f, e, d = nets = tiny_nets()
    x, y_org, y_trg = batch()
    loss, s = g_loss(
        *nets, x, y_org, y_trg, x_refs=(x.flip(0), x), lambda_sty=2, lambda_ds=3, lambda_cyc=4
    )
    torch.testing.assert_close(loss, s["adv"] + 2 * s["sty"] - 3 * s["ds"] + 4 * s["cyc"])
    loss.backward()
    assert all(p.grad is None for p in f.parameters())  # reference mode never touches F
    # only G steps after a reference update: E and D carry gradients to G but get none
    assert all(p.grad is None for p in [*e.parameters(), *d.parameters()])
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)


def test_r1_fp32_under_autocast_is_float32():
    nets = tiny_nets()
    x, y_org, y_trg = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, stats = d_loss(*nets, x, y_org, y_trg, z_trg=torch.randn(2, 4), r1_fp32=True)
    assert stats["reg"].dtype == torch.float32 and torch.isfinite(loss)


def test_r1_at_weight_zero_is_logged_without_a_double_backward(monkeypatch):
    """``lambda_reg=0`` built R1's graph and back-propagated ``0 * reg`` (a double backward for
    nothing); its value is still logged, and D's gradients are those of the two other terms."""
    nets = tiny_nets()
    x, y_org, y_trg = batch()
    z = torch.randn(2, 4)
    d = nets[3]
    graphs = []
    grad = torch.autograd.grad

    def recording_grad(*args, **kwargs):
        graphs.append(kwargs.get("create_graph", False))
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", recording_grad)

    def run(lambda_reg, compute_r1=True):
        d.zero_grad(set_to_none=True)
        loss, stats = d_loss(
            *nets, x, y_org, y_trg, z_trg=z, lambda_reg=lambda_reg, compute_r1=compute_r1
        )
        loss.backward()
        return loss, stats, [p.grad.clone() for p in d.parameters()]

    loss0, stats0, grads0 = run(0.0)
    assert graphs == [False]  # the input gradient for the log only
    _, stats1, _ = run(1.0)
    assert graphs == [False, True]  # trained: the double backward
    torch.testing.assert_close(stats0["reg"], stats1["reg"])  # the same value in the log
    torch.testing.assert_close(loss0, stats0["real"] + stats0["fake"])
    _, _, without = run(1.0, compute_r1=False)  # R1 skipped, as lazy R1 does
    torch.testing.assert_close(grads0, without, rtol=0, atol=0)
