"""Sample grids: layout and content of latent- and reference-guided grids."""

from __future__ import annotations

import torch

from starganv2.module import StarGANv2Module
from starganv2.synthesis import denormalize, latent_grid, reference_grid
from tests.helpers import TINY


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
