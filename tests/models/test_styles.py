"""Style means and truncation (``models/styles.py``; re-exported by ``synthesis/styles.py``)."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.styles import NUM_MEAN_CODES, style_means, truncate
from tests.helpers import TINY


def test_style_means_average_the_mapping_network_per_domain():
    module = StarGANv2Module(**TINY)
    means = style_means(module, num=50, batch_size=20, generator=torch.Generator().manual_seed(3))
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(3))
    assert means.shape == (2, 8)
    for d in range(2):
        expected = module.style_from_latent(z, torch.full((50,), d)).mean(0)
        torch.testing.assert_close(means[d], expected)
    assert NUM_MEAN_CODES == 10_000


def test_truncation_psi_zero_gives_the_mean_and_one_is_identity():
    s = torch.randn(3, 8)
    mean = torch.randn(2, 8)
    y = torch.tensor([1, 0, 1])
    torch.testing.assert_close(truncate(s, mean, 0.0, y), mean[y])
    assert truncate(s, mean, 1.0, y) is s
    torch.testing.assert_close(truncate(s, mean, 0.5, y), (s + mean[y]) / 2)


def test_truncation_takes_one_psi_per_row():
    s = torch.randn(3, 8)
    mean = torch.randn(2, 8)
    y = torch.tensor([1, 0, 1])
    rows = truncate(s, mean, torch.tensor([0.0, 1.0, 0.5]), y)
    torch.testing.assert_close(rows[0], mean[1])
    torch.testing.assert_close(rows[1], s[1])
    torch.testing.assert_close(rows[2], truncate(s, mean, 0.5, y)[2])
    with pytest.raises(ValueError, match=r"psi holds \[-0\.5\]: expected truncations in \[0, 1\]"):
        truncate(s, mean, torch.tensor([-0.5, 1.0, 1.0]), y)
    with pytest.raises(
        ValueError, match=r"psi is torch.float32 \(2,\): expected a float tensor \(3,\)"
    ):
        truncate(s, mean, torch.tensor([0.5, 0.5]), y)


def test_the_synthesis_names_are_the_models_names():
    from starganv2.synthesis import styles as synthesis_styles

    assert synthesis_styles.style_means is style_means and synthesis_styles.truncate is truncate


def test_latent_styles_take_what_translate_takes_and_name_what_they_refuse():
    """A NumPy integer domain used to fail inside truncation ('int' object is not callable)."""
    import numpy as np

    from starganv2.models.styles import latent_styles

    module = StarGANv2Module(**TINY).eval()
    z, s_mean = torch.randn(3, 4), torch.zeros(2, 8)
    expected = latent_styles(module, z, torch.ones(3, dtype=torch.long), psi=0.7, s_mean=s_mean)
    torch.testing.assert_close(latent_styles(module, z, np.int64(1), 0.7, s_mean), expected)
    torch.testing.assert_close(latent_styles(module, z, 1, 0.7, s_mean), expected)
    with pytest.raises(ValueError, match=r"y values must be in \[0, 2\), got \[2\]"):
        latent_styles(module, z, 2, 0.7, s_mean)
    with pytest.raises(ValueError, match=r"z has shape \(4,\): expected \(N, 4\)"):
        latent_styles(module, torch.randn(4), 1)


@pytest.mark.parametrize("shape", [(1, 8), (2, 16), (8,), (3, 8)])
def test_latent_styles_refuse_style_means_of_another_shape(shape):
    """``s_mean`` of another model or one domain's mean alone used to fail deep in the indexing
    (IndexError) or, with ``(style_dim,)`` means and ``style_dim`` codes, truncate towards the
    wrong numbers silently."""
    from starganv2.models.styles import latent_styles

    module = StarGANv2Module(**TINY).eval()
    with pytest.raises(ValueError, match=r"^s_mean has shape .*: expected \(2, 8\)"):
        latent_styles(module, torch.randn(8, 4), 1, psi=0.7, s_mean=torch.zeros(shape))
