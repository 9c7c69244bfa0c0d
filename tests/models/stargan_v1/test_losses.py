"""StarGAN v1 losses: gradient penalty on a known case, classification, reconstruction, and which
net each loss gives gradients to."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v1.losses import (
    classification_loss,
    d_loss,
    g_loss,
    gradient_penalty,
    interpolate,
    reconstruction_loss,
)
from starganv2.models.stargan_v1.nets import Discriminator, Generator


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = sum(w * x) has gradient w everywhere: GP = (||w|| - 1)^2 for every sample."""
    w = torch.full((3, 4, 4), 0.5)  # ||w|| = sqrt(48 * 0.25)
    x_hat = torch.randn(5, 3, 4, 4).requires_grad_(True)
    d_out = (x_hat * w).flatten(1).sum(1).view(5, 1, 1, 1)
    expected = (math.sqrt(48 * 0.25) - 1) ** 2
    assert float(gradient_penalty(d_out, x_hat)) == pytest.approx(expected, rel=1e-6)
    # a patch map is summed per sample: two patches each with gradient w double the norm
    d_out = torch.cat([d_out, d_out], dim=2)
    assert float(gradient_penalty(d_out, x_hat)) == pytest.approx(
        (2 * math.sqrt(12) - 1) ** 2, rel=1e-6
    )


def test_gradient_penalty_is_differentiable_into_the_critic():
    w = torch.randn(3, 4, 4, requires_grad=True)
    x_hat = torch.randn(2, 3, 4, 4).requires_grad_(True)
    gp = gradient_penalty((x_hat * w).flatten(1).sum(1), x_hat)
    (grad_w,) = torch.autograd.grad(gp, w)
    expected = 2 * (w.detach().norm() - 1) * w.detach() / w.detach().norm()  # d (|w|-1)^2 / dw
    torch.testing.assert_close(grad_w, expected)


def test_interpolate_is_per_sample_and_a_fresh_leaf():
    x_real, x_fake = torch.ones(2, 3, 2, 2), -torch.ones(2, 3, 2, 2)
    x_hat = interpolate(x_real.requires_grad_(True), x_fake, torch.tensor([1.0, 0.25]))
    assert x_hat.is_leaf and x_hat.requires_grad
    assert x_hat[0].eq(1).all() and x_hat[1].eq(-0.5).all()
    drawn = interpolate(x_real, x_fake)
    assert drawn.shape == x_real.shape and (drawn.abs() <= 1).all()


def test_classification_and_reconstruction():
    logits, y = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1])
    assert float(classification_loss(logits, y)) == pytest.approx(float(F.cross_entropy(logits, y)))
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert float(reconstruction_loss(a, b)) == pytest.approx(0.5)


def _nets():
    torch.manual_seed(0)
    return Generator(c_dim=3, conv_dim=4, repeat_num=1), Discriminator(16, c_dim=3, conv_dim=4)


def _grads(net: nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_d_loss_terms_and_gradients_reach_d_only():
    g, d = _nets()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    y_org, y_trg = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 0])
    alpha = torch.full((4,), 0.5)
    loss, stats = d_loss(g, d, x, y_org, y_trg, 3, lambda_cls=2.0, lambda_gp=10.0, alpha=alpha)
    assert set(stats) == {"real", "fake", "cls", "gp"}
    assert all(not v.requires_grad for v in stats.values())
    total = stats["real"] + stats["fake"] + 2.0 * stats["cls"] + 10.0 * stats["gp"]
    torch.testing.assert_close(loss.detach(), total)
    out_src, out_cls = d(x)
    torch.testing.assert_close(stats["real"], -out_src.mean().detach())
    torch.testing.assert_close(stats["cls"], F.cross_entropy(out_cls, y_org).detach())
    loss.backward()
    assert _grads(d) and not _grads(g)


def test_g_loss_terms_and_gradients_reach_g_only():
    g, d = _nets()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    y_org, y_trg = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 0])
    loss, stats = g_loss(g, d, x, y_org, y_trg, 3, lambda_cls=1.0, lambda_rec=10.0)
    assert set(stats) == {"fake", "cls", "rec"}
    torch.testing.assert_close(loss.detach(), stats["fake"] + stats["cls"] + 10.0 * stats["rec"])
    loss.backward()
    assert _grads(g) and not _grads(d)
    assert all(p.requires_grad for p in d.parameters())  # unfrozen afterwards


def test_multi_label_classification_is_bce_summed_over_attributes():
    """The original's ``BCEWithLogits(size_average=False)(logit, target) / N``."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    c = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    by_hand = -(c * F.logsigmoid(logits) + (1 - c) * F.logsigmoid(-logits)).sum() / 2
    torch.testing.assert_close(classification_loss(logits, c), by_hand)
    assert float(classification_loss(logits, c)) == pytest.approx(
        3 * float(F.binary_cross_entropy_with_logits(logits, c))  # sum over 3, not the mean
    )


def test_multi_label_losses_feed_the_vectors_to_g():
    g, d = _nets()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c_org = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    c_trg = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # two attributes on in row 1
    loss, stats = d_loss(g, d, x, c_org, c_trg, 3, alpha=torch.full((2,), 0.5))
    torch.testing.assert_close(stats["cls"], classification_loss(d(x)[1], c_org).detach())
    loss, stats = g_loss(g, d, x, c_org, c_trg, 3)
    with torch.no_grad():
        x_fake = g(x, c_trg)
        expected = classification_loss(d(x_fake)[1], c_trg)
        rec = reconstruction_loss(g(x_fake, c_org), x)
    torch.testing.assert_close(stats["cls"], expected)
    torch.testing.assert_close(stats["rec"], rec)
    with pytest.raises(ValueError, match=r"labels have shape \(2, 4\)"):
        g_loss(g, d, x, c_org, torch.zeros(2, 4), 3)
