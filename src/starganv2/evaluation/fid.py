"""``FID``: the Frechet distance of image features as a ``torchmetrics.Metric``.

Usable on its own, in a ``MetricCollection`` and with ``self.log`` in a LightningModule::

    fid = FID(features="torchvision")           # weights from the torch hub cache, or weights_path=
    fid.update(real_images, real=True)          # (N, 3, H, W) float in [0, 1]
    fid.update(starganv2.utils.images.quantize(x_fake), real=False)
    fid.compute()                                # scalar tensor, the same on every DDP rank

The states are the feature sums, the sums of outer products and the counts of the real and the
generated images (float64, registered with ``add_state`` and summed over DDP ranks at
``compute``), so a rank may see any share of the images, or none.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from starganv2.evaluation.backbones import FID_FEATURES, build_fid_feature_extractor

__all__ = ["FID", "frechet_distance"]

_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> torch.Tensor:
    """Frechet distance of two Gaussians, ``|mu1 - mu2|^2 + tr(s1 + s2 - 2 (s1 s2)^(1/2))``.

    ``mu``: ``(D,)``, ``sigma``: ``(D, D)``. The trace of the matrix square root is the sum of the
    square roots of the eigenvalues of ``s1 @ s2`` (real parts; they are real and >= 0 up to
    rounding for covariance matrices), which avoids an iterative ``sqrtm``.
    """
    mean_term = (mu1 - mu2).square().sum(dim=-1)
    trace_term = sigma1.trace() + sigma2.trace()
    sqrt_trace = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum(dim=-1)
    return mean_term + trace_term - 2 * sqrt_trace


class FID(Metric):
    """Frechet Inception distance between real and generated images.

    ``update(imgs, real)``: ``imgs`` ``(N, 3, H, W)`` float in [0, 1] (the feature network's
    input; quantise generator outputs with :func:`starganv2.utils.images.quantize` to measure
    them as saved PNGs), ``real`` says which distribution they belong to. ``compute()``: a
    float32 scalar tensor; it needs at least 2 images of each kind over all ranks.

    Args:
        feature_extractor: a feature module ``(N, 3, H, W)`` float in [0, 1] -> ``(N, D)`` (tests,
            other backbones); ``None``: built from ``features`` and ``weights_path``. It should
            have an ``int`` attribute ``num_features`` (``D``); without it, ``D`` is measured on
            one random ``(1, 3, 299, 299)`` image.
        features: ``standard`` (the usual FID Inception) or ``torchvision`` (ImageNet
            Inception-v3, as the original StarGAN v2 code); see
            :mod:`~starganv2.evaluation.backbones`. Ignored with ``feature_extractor``.
        weights_path: the feature network's weight file; ``None``: the torch hub cache. Missing
            weights raise :class:`~starganv2.evaluation.backbones.MissingWeightsError` here.
        reset_real_features: whether :meth:`reset` also clears the real statistics (``False``
            keeps them: compute them once, compare several generated sets against them).
        **kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    feature_network = "feature_extractor"  # the attribute torchmetrics' FeatureShare shares

    real_features_sum: torch.Tensor
    real_features_cov_sum: torch.Tensor
    real_features_num_samples: torch.Tensor
    fake_features_sum: torch.Tensor
    fake_features_cov_sum: torch.Tensor
    fake_features_num_samples: torch.Tensor

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        features: str = "standard",
        weights_path: str | os.PathLike | None = None,
        reset_real_features: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if feature_extractor is None:
            if features not in FID_FEATURES:
                raise ValueError(f"features={features!r}: expected one of {list(FID_FEATURES)}")
            feature_extractor = build_fid_feature_extractor(features, weights_path)
        self.feature_extractor = feature_extractor
        self.reset_real_features = bool(reset_real_features)
        dim = getattr(feature_extractor, "num_features", None)
        if not isinstance(dim, int):
            with torch.no_grad():
                dim = int(feature_extractor(torch.rand(1, 3, 299, 299)).shape[-1])
        for kind in ("real", "fake"):
            self.add_state(
                f"{kind}_features_sum", torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum"
            )
            self.add_state(
                f"{kind}_features_cov_sum",
                torch.zeros(dim, dim, dtype=torch.float64),
                dist_reduce_fx="sum",
            )
            self.add_state(
                f"{kind}_features_num_samples",
                torch.tensor(0, dtype=torch.long),
                dist_reduce_fx="sum",
            )

    def update(self, imgs: torch.Tensor, real: bool) -> None:
        """Add the features of ``imgs`` ``(N, 3, H, W)`` in [0, 1] to the real or generated set."""
        if imgs.dim() != 4 or imgs.size(1) != 3:
            raise ValueError(
                f"FID.update: imgs of shape {tuple(imgs.shape)}; expected (N, 3, H, W)"
            )
        feats = self.feature_extractor(imgs).double()
        if feats.dim() == 1:
            feats = feats.unsqueeze(0)  # (N, D) from a single image's (D,)
        if real:
            self.real_features_sum += feats.sum(dim=0)
            self.real_features_cov_sum += feats.t().mm(feats)  # (D, D)
            self.real_features_num_samples += imgs.size(0)
        else:
            self.fake_features_sum += feats.sum(dim=0)
            self.fake_features_cov_sum += feats.t().mm(feats)  # (D, D)
            self.fake_features_num_samples += imgs.size(0)

    @staticmethod
    def _gaussian(
        total: torch.Tensor, outer_total: torch.Tensor, n: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``(D,)`` and unbiased covariance ``(D, D)`` from the sums of ``n`` features."""
        mean = (total / n).unsqueeze(0)  # (1, D)
        cov = (outer_total - n * mean.t().mm(mean)) / (n - 1)
        return mean.squeeze(0), cov

    def compute(self) -> torch.Tensor:
        """The FID of the generated against the real images seen so far (all ranks)."""
        n_real = int(self.real_features_num_samples)
        n_fake = int(self.fake_features_num_samples)
        if n_real < 2 or n_fake < 2:
            raise RuntimeError(
                f"FID needs at least 2 real and 2 generated images; got {n_real} real and "
                f"{n_fake} generated"
            )
        mu_real, cov_real = self._gaussian(
            self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples
        )
        mu_fake, cov_fake = self._gaussian(
            self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples
        )
        return frechet_distance(mu_real, cov_real, mu_fake, cov_fake).float()

    def reset(self) -> None:
        """Clear the generated statistics, and the real ones unless ``reset_real_features=False``."""
        if self.reset_real_features:
            super().reset()
            return
        kept = {name: getattr(self, name).clone() for name in _REAL_STATES}
        super().reset()
        for name, value in kept.items():
            setattr(self, name, value)
