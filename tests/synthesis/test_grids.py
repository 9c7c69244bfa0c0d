"""Sample grids: layout and content of latent- and reference-guided grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from starganv2.models.interface import GuidanceModeError
from starganv2.models.prediction import MEAN_STYLE_SEED
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.styles import style_means
from starganv2.synthesis.grids import (
    attribute_grid,
    label_grid,
    latent_grid,
    reference_grid,
    save_grid,
)
from starganv2.utils.images import to_unit as denormalize
from tests.helpers import TINY, TINY_V1


def test_latent_grid_layout_and_first_column_is_source():
    module = StarGANv2Module(**TINY)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = torch.randn(2, 4)
    grid = latent_grid(module, x, z, padding=0)
    assert grid.shape == (3, 3 * 32, (1 + 2 * 2) * 32)
    torch.testing.assert_close(grid[:, 32:64, :32], denormalize(x[1]))
    expected = denormalize(module.translate(x, 1, z=z[1:2].expand(3, -1)))[2]
    torch.testing.assert_close(grid[:, 64:96, 4 * 32 : 5 * 32], expected)


def test_reference_grid_layout():
    module = StarGANv2Module(**TINY)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    y_ref = torch.tensor([1, 0])
    grid = reference_grid(module, x, ref, y_ref, padding=0)
    assert grid.shape == (3, 3 * 32, 5 * 32)
    torch.testing.assert_close(grid[:, :32, 32:64], denormalize(x[0]))  # sources on top
    torch.testing.assert_close(grid[:, 64:96, :32], denormalize(ref[1]))  # references at left
    assert grid[:, :32, :32].max() == 0  # blank corner
    cell = module.translate(x[2:3], torch.tensor([0]), x_ref=ref[1:2])
    torch.testing.assert_close(grid[:, 64:96, 96:128], denormalize(cell)[0])


def test_latent_grid_with_psi_uses_truncated_styles():
    module = StarGANv2Module(**TINY)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(1, 4)
    means = torch.randn(2, 8)
    grid = latent_grid(module, x, z, domains=[1], padding=0, psi=0.0, s_mean=means)
    assert grid.shape == (3, 2 * 32, 2 * 32)
    expected = denormalize(module.translate(x, 1, s=means[1].expand(2, -1)))
    torch.testing.assert_close(grid[:, 32:64, 32:64], expected[1])
    untruncated = latent_grid(module, x, z, domains=[1], padding=0)
    assert not torch.allclose(grid, untruncated)


def test_save_grid_replaces_only_with_a_complete_file(tmp_path):
    path = save_grid(torch.rand(3, 8, 8), tmp_path / "a" / "grid.png")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_attribute_grid_is_the_originals_test_grid():
    from starganv2.models.stargan_v1.module import StarGANv1Module
    from starganv2.synthesis.grids import attribute_grid

    torch.manual_seed(0)
    module = StarGANv1Module(
        img_size=16,
        num_domains=4,
        g_conv_dim=4,
        d_conv_dim=4,
        g_repeat_num=1,
        label_mode="multi",
        attributes=["black", "blond", "brown", "male"],
        exclusive=[["black", "blond", "brown"]],
    )
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    grid = attribute_grid(module, x, c, module.exclusive_groups, padding=0)
    assert grid.shape == (3, 2 * 16, 5 * 16)
    torch.testing.assert_close(grid[:, 16:32, :16], denormalize(x[1]))
    blond = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])  # column 2: blond only
    expected = denormalize(module.translate_labels(x, blond))
    torch.testing.assert_close(grid[:, :16, 32:48], expected[0])
    switched = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])  # column 4
    torch.testing.assert_close(
        grid[:, 16:32, 64:80], denormalize(module.translate_labels(x, switched))[1]
    )
    with pytest.raises(GuidanceModeError, match="needs 'attribute' guidance"):
        attribute_grid(StarGANv1Module(img_size=16, num_domains=4, g_conv_dim=4), x, c)


def test_grids_name_the_argument_they_refuse():
    """Each used to fail deep inside (no 'size' on a str, a shape mismatch, no 'expand' on a
    list) or, for one label too many, to ignore it silently."""
    module = StarGANv2Module(**TINY)
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4)
    with pytest.raises(TypeError, match=r"domains\[0\]='dog' is a str: .*names\.index\('dog'\)"):
        latent_grid(module, x, z, domains=["dog"])
    with pytest.raises(ValueError, match=r"domains\[1\]=2 is out of range: .*\[0, 2\)"):
        latent_grid(module, x, z, domains=[0, 2])
    with pytest.raises(ValueError, match=r"z has shape \(16,\): expected \(N, 4\)"):
        latent_grid(module, x, torch.randn(16))
    with pytest.raises(TypeError, match=r"y_ref=\[0, 1\] is a list: expected an int"):
        reference_grid(module, x, x, [0, 1])
    with pytest.raises(ValueError, match=r"y_ref has shape \(3,\): expected \(2,\)"):
        reference_grid(module, x, x, torch.tensor([0, 1, 1]))


def test_grids_name_the_sources_they_refuse():
    """8-bit sources failed in reference_grid inside ``full_like`` ('value cannot be converted to
    type uint8_t'), and a list of sources in latent_grid on ``.size``; both name ``x_src`` now."""
    module = StarGANv2Module(**TINY)
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4)
    x8 = ((x + 1) * 127.5).to(torch.uint8)
    with pytest.raises(TypeError, match=r"x_src has dtype torch.uint8: expected a float tensor"):
        reference_grid(module, x8, x, 1)
    with pytest.raises(TypeError, match=r"x_src is a list: expected a float tensor"):
        latent_grid(module, [x], z)
    with pytest.raises(ValueError, match=r"x_src has shape \(3, 32, 32\)"):
        reference_grid(module, x[0], x, 1)


def test_grids_refuse_an_empty_batch_of_sources_naming_x_src():
    """latent_grid failed in make_grid with 'float division by zero', the StarGAN v1 grids in
    torch's instance norm, and reference_grid drew the references without any source."""
    module = StarGANv2Module(**TINY)
    none, x, z = torch.zeros(0, 3, 32, 32), torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4)
    expected = r"x_src has shape \(0, 3, 32, 32\): a grid needs at least one source image"
    with pytest.raises(ValueError, match=expected):
        latent_grid(module, none, z)
    with pytest.raises(ValueError, match=expected):
        reference_grid(module, none, x, 1)
    v1 = StarGANv1Module(**TINY_V1)
    with pytest.raises(ValueError, match=expected):
        label_grid(v1, none)
    multi = StarGANv1Module(**TINY_V1, label_mode="multi", attributes=["a", "b"])
    with pytest.raises(ValueError, match=expected):
        attribute_grid(multi, none, torch.zeros(0, 2))


def test_grids_take_domains_as_translate_takes_them():
    module = StarGANv2Module(**TINY)
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(1, 4)
    one = latent_grid(module, x, z, domains=[1], padding=0)
    torch.testing.assert_close(latent_grid(module, x, z, domains=np.int64(1), padding=0), one)
    torch.testing.assert_close(latent_grid(module, x, z, domains=torch.tensor([1]), padding=0), one)
    grid = reference_grid(module, x, x, 1, padding=0)
    torch.testing.assert_close(grid, reference_grid(module, x, x, torch.tensor([1, 1]), padding=0))


@pytest.mark.parametrize(("name", "fmt"), [("g.tif", "TIFF"), ("g.jpg", "JPEG"), ("g", "PNG")])
def test_save_grid_writes_the_format_its_suffix_names(tmp_path, name, fmt):
    """No suffix used to fail on the temporary file's random suffix ('unknown file extension')."""
    from PIL import Image

    grid = torch.rand(3, 8, 8)
    path = save_grid(grid, tmp_path / name)
    with Image.open(path) as image:
        assert image.format == fmt
        pixels = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    if fmt != "JPEG":  # lossless: the 8-bit values torchvision's save_image would store
        assert torch.equal(pixels, grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8))


def test_save_grid_refuses_a_suffix_no_image_format_has(tmp_path):
    with pytest.raises(ValueError, match=r"path=.*g\.xyz.*cannot write RGB images as '\.xyz'"):
        save_grid(torch.rand(3, 8, 8), tmp_path / "g.xyz")
    assert list(tmp_path.iterdir()) == []


def test_latent_grid_means_without_s_mean_are_reproducible_and_leave_the_global_rng():
    """psi < 1 and no s_mean: the means were drawn from torch's global random state, so two calls
    gave different grids and the caller's next torch.rand changed."""
    torch.manual_seed(0)
    model = StarGANv2Module(**TINY).eval()
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, model.latent_dim)
    torch.manual_seed(1)
    first = latent_grid(model, x, z, psi=0.5)
    after = torch.rand(3)
    torch.manual_seed(2)
    second = latent_grid(model, x, z, psi=0.5)
    torch.manual_seed(1)
    assert torch.equal(first, second) and torch.equal(after, torch.rand(3))
    means = style_means(model, generator=torch.Generator().manual_seed(MEAN_STYLE_SEED))
    assert torch.equal(first, latent_grid(model, x, z, psi=0.5, s_mean=means))
