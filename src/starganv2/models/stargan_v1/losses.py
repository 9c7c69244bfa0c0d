"""StarGAN (v1) objectives as pure functions of nets and tensors.

WGAN-GP adversarial terms (Gulrajani et al., 2017), domain classification by the
discriminator's auxiliary head, and L1 reconstruction through the source's own label. Every
function returns a scalar tensor; :func:`d_loss` and :func:`g_loss` return ``(loss, stats)``
where ``stats`` maps a term name to its detached scalar tensor (no host sync).

Labels come in two kinds, told apart by their shape (:func:`label_vectors`):

- domains ``y (N,)`` int64 (single-label data): the generator gets one-hot vectors
  (:func:`~.nets.one_hot`), the classification is a cross-entropy over the domains;
- attribute vectors ``y (N, A)`` float of 1.0 / 0.0 (multi-label data such as CelebA): the
  generator gets the vectors themselves, the classification is a binary cross-entropy summed over
  the attributes and averaged over the batch, as the original code's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.models.stargan_v1.nets import one_hot
from starganv2.utils.autograd import frozen

__all__ = [
    "label_vectors",
    "interpolate",
    "gradient_penalty",
    "classification_loss",
    "reconstruction_loss",
    "d_loss",
    "g_loss",
]


def interpolate(
    x_real: torch.Tensor, x_fake: torch.Tensor, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """Points on the straight lines between real and fake images, one random point per sample.

    ``x_real, x_fake (N, 3, H, W)``; ``alpha (N,)`` in ``[0, 1]`` (``None``: uniform draws) is the
    weight of the real image. Returns a fresh leaf ``(N, 3, H, W)`` that requires grad.
    """
    if alpha is None:
        alpha = torch.rand(x_real.size(0), device=x_real.device)
    alpha = alpha.to(x_real.dtype).view(-1, 1, 1, 1)  # (N, 1, 1, 1)
    x_hat = alpha * x_real.detach() + (1 - alpha) * x_fake.detach()
    return x_hat.requires_grad_(True)


def gradient_penalty(d_out: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: ``mean_i (||d sum(D(x_hat_i)) / d x_hat_i||_2 - 1)^2``.

    ``d_out`` is D's real/fake map ``(N, 1, h, w)`` (its patches are summed per sample, as a
    gradient of ones does) computed from the leaf ``x_hat (N, 3, H, W)``. The graph is kept so
    the penalty itself can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(d_out.sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)  # (N,)
    return torch.mean((norm - 1) ** 2)


def label_vectors(y: torch.Tensor, num_domains: int, dtype: torch.dtype) -> torch.Tensor:
    """The generator's label vectors ``(N, num_domains)``: one-hot for domains ``y (N,)``, the
    attribute vectors themselves for ``y (N, num_domains)``."""
    if y.dim() == 1:
        return one_hot(y, num_domains, dtype)
    if y.dim() != 2 or y.size(1) != num_domains:
        raise ValueError(
            f"labels have shape {tuple(y.shape)}: expected domains (N,) or attribute vectors "
            f"(N, {num_domains})"
        )
    return y.to(dtype)


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Classification of the logits ``(N, num_domains)``.

    Domains ``y (N,)``: cross-entropy, averaged over the batch. Attribute vectors ``y (N, A)``
    of 1.0 / 0.0: binary cross-entropy with logits summed over the attributes and averaged over
    the batch (the original's ``BCEWithLogits(size_average=False) / N``).
    """
    if y.dim() == 1:
        return F.cross_entropy(logits.float(), y)
    bce = F.binary_cross_entropy_with_logits(logits.float(), y.float(), reduction="sum")
    return bce / logits.size(0)


def reconstruction_loss(x_rec: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the source and its round trip ``(N, 3, H, W)``."""
    return torch.mean(torch.abs(x_rec.float() - x_real.float()))


def d_loss(
    generator: nn.Module,
    discriminator: nn.Module,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    num_domains: int,
    lambda_cls: float = 1.0,
    lambda_gp: float = 10.0,
    alpha: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Discriminator loss: ``-mean D_src(x_real) + mean D_src(G(x_real, y_trg))
    + lambda_cls * CE(D_cls(x_real), y_org) + lambda_gp * GP``.

    The fake is made without gradient, so only D receives gradients.

    Args:
        x_real: ``(N, 3, H, W)`` sources; y_org, y_trg: their labels and the targets, domains
            ``(N,)`` or attribute vectors ``(N, num_domains)`` (see the module docstring).
        num_domains: length of the generator's label vectors.
        lambda_cls, lambda_gp: weights of the classification term and the gradient penalty.
        alpha: ``(N,)`` interpolation weights of the gradient penalty (``None``: uniform draws).

    Returns: ``(loss, {"real", "fake", "cls", "gp"})``, ``real`` and ``fake`` being the two
    Wasserstein terms as they enter the loss (``-mean`` and ``+mean``).
    """
    out_src, out_cls = discriminator(x_real)
    loss_real = -out_src.float().mean()
    loss_cls = classification_loss(out_cls, y_org)

    with torch.no_grad():
        x_fake = generator(x_real, label_vectors(y_trg, num_domains, x_real.dtype))
    out_src, _ = discriminator(x_fake)
    loss_fake = out_src.float().mean()

    x_hat = interpolate(x_real, x_fake, alpha)
    out_src, _ = discriminator(x_hat)
    loss_gp = gradient_penalty(out_src, x_hat)

    loss = loss_real + loss_fake + lambda_cls * loss_cls + lambda_gp * loss_gp
    stats = {
        "real": loss_real.detach(),
        "fake": loss_fake.detach(),
        "cls": loss_cls.detach(),
        "gp": loss_gp.detach(),
    }
    return loss, stats


def g_loss(
    generator: nn.Module,
    discriminator: nn.Module,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    num_domains: int,
    lambda_cls: float = 1.0,
    lambda_rec: float = 10.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Generator loss: ``-mean D_src(x_fake) + lambda_cls * CE(D_cls(x_fake), y_trg)
    + lambda_rec * |x_real - G(x_fake, y_org)|_1`` with ``x_fake = G(x_real, y_trg)``.

    D's weights get no gradient (its forward still carries the gradient to the fake). Labels as
    for :func:`d_loss`; the classification is :func:`classification_loss`.

    Returns: ``(loss, {"fake", "cls", "rec"})``.
    """
    with frozen(discriminator):
        x_fake = generator(x_real, label_vectors(y_trg, num_domains, x_real.dtype))
        out_src, out_cls = discriminator(x_fake)
        loss_fake = -out_src.float().mean()
        loss_cls = classification_loss(out_cls, y_trg)
        x_rec = generator(x_fake, label_vectors(y_org, num_domains, x_real.dtype))
        loss_rec = reconstruction_loss(x_rec, x_real)

    loss = loss_fake + lambda_cls * loss_cls + lambda_rec * loss_rec
    stats = {"fake": loss_fake.detach(), "cls": loss_cls.detach(), "rec": loss_rec.detach()}
    return loss, stats
