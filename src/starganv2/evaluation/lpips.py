"""``LPIPSDiversity``: the paper's LPIPS diversity as a ``torchmetrics.Metric``.

For each source image the model makes ``K`` outputs (``K`` latent codes or references); the
image's diversity is the mean LPIPS distance over its ``K (K - 1) / 2`` output pairs, and the
metric is the mean over images. Usable on its own, in a ``MetricCollection`` and with
``self.log`` in a LightningModule::

    lpips = LPIPSDiversity()                 # AlexNet from the torch hub cache, or weights_path=
    lpips.update(outputs)                    # (B, K, 3, H, W) in [-1, 1]
    lpips.compute()                          # scalar tensor, the same on every DDP rank

The states are the sum of the per-image values and the number of images (``add_state`` with
``dist_reduce_fx="sum"``), so images split over DDP ranks in any way give the one-process mean.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from starganv2.evaluation.backbones import AlexNetLPIPS

__all__ = ["LPIPSDiversity", "pairwise_lpips"]


@torch.no_grad()
def pairwise_lpips(net: nn.Module, outputs: torch.Tensor) -> torch.Tensor:
    """Per-image mean LPIPS over all pairs of its outputs: ``(B, K, 3, H, W)`` -> ``(B,)``.

    ``net(x0, x1)`` maps two ``(B, 3, H, W)`` batches in [-1, 1] to ``(B,)`` distances; the
    outputs are clamped to [-1, 1] first. Pairs are taken in the order ``(0, 1), (0, 2), ...``
    and the ``B`` images of a pair go through the net as one batch.
    """
    if outputs.dim() != 5 or outputs.size(2) != 3 or outputs.size(1) < 2:
        raise ValueError(
            f"LPIPS diversity: outputs of shape {tuple(outputs.shape)}; expected (B, K, 3, H, W) "
            "with K >= 2 outputs per image"
        )
    b, k = outputs.shape[:2]
    x = outputs.clamp(-1, 1)
    scores = [
        net(x[:, i], x[:, j]).reshape(b)  # (B,)
        for i in range(k - 1)
        for j in range(i + 1, k)
    ]
    return torch.stack(scores).mean(0)  # (K*(K-1)/2, B) -> (B,)


class LPIPSDiversity(Metric):
    """Mean over images of the mean pairwise LPIPS of each image's outputs (higher: more diverse).

    ``update(outputs)``: ``(B, K, 3, H, W)`` in [-1, 1] (clamped), ``K >= 2`` outputs of each of
    ``B`` source images. ``compute()``: a scalar tensor (NaN before any image, with torchmetrics'
    warning).

    Args:
        weights_path: torchvision's ImageNet AlexNet file
            (:data:`~starganv2.evaluation.backbones.ALEXNET_FILE`); ``None``: the torch hub
            cache. Missing weights raise
            :class:`~starganv2.evaluation.backbones.MissingWeightsError` here. Ignored with
            ``net``.
        net: the LPIPS network, ``net(x0, x1)`` -> ``(N,)`` for ``(N, 3, H, W)`` images in [-1, 1];
            ``None``: :class:`~starganv2.evaluation.backbones.AlexNetLPIPS` from ``weights_path``.
        **kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    feature_network = "net"  # the attribute torchmetrics' FeatureShare shares

    sum: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        net: nn.Module | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.net = net if net is not None else AlexNetLPIPS(weights_path)
        self.add_state("sum", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def per_image(self, outputs: torch.Tensor) -> torch.Tensor:
        """The per-image diversity ``(B,)`` of ``outputs`` ``(B, K, 3, H, W)``, without updating."""
        return pairwise_lpips(self.net, outputs)

    def update(self, outputs: torch.Tensor) -> None:
        """Add the diversity of each of the ``B`` images of ``outputs`` ``(B, K, 3, H, W)``."""
        values = self.per_image(outputs)  # (B,)
        self.sum += values.sum()
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        """The mean per-image diversity over all images seen (all ranks)."""
        return self.sum / self.count
