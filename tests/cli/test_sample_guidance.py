"""starganv2-sample refuses outputs and psi the model cannot make in one line that names the
setting and what to ask for instead (StarGAN v1: label grids only; StarGAN v2: no label grid)."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.helpers import write_module_checkpoint, write_tiny_checkpoint
from tests.models.stargan_v1.test_module import TINY_V1


@pytest.fixture(scope="module")
def v1_ckpt(tmp_path_factory):
    """An untrained tiny StarGAN v1 checkpoint (2 domains, 32 px) in starganv2-train's layout."""
    torch.manual_seed(0)
    module = StarGANv1Module(**TINY_V1)
    return write_module_checkpoint(module, tmp_path_factory.mktemp("ckpt") / "v1.ckpt")


def _sample(ckpt, tmp_path, *extra):
    from starganv2.cli.sample import run
    from tests.integration.conftest import compose_train, make_folder_dataset

    val = make_folder_dataset(tmp_path / "data", ["a", "b"], n=1, size=32) / "val"
    overrides = [f"ckpt_path={ckpt}", f"src_dir={val}", f"ref_dir={val}", *extra]
    return run(compose_train(overrides, tmp_path / "run", config_name="sample"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "outputs=[latent_grid]",
            r"outputs=\[latent_grid\] needs 'latent'.*outputs=\[label_grid\]",
        ),
        ("outputs=[reference_grid]", r"outputs=\[reference_grid\] .*outputs=\[label_grid\]"),
        ("psi=0.7", r"psi=0.7 truncates style codes.*leave psi at 1.0"),
    ],
)
def test_v1_refusals_name_the_setting_and_the_alternative(v1_ckpt, tmp_path, setting, message):
    with pytest.raises(ValueError, match=message):
        _sample(v1_ckpt, tmp_path, setting)
    assert _sample(v1_ckpt, tmp_path, "outputs=auto").keys() == {"label_grid"}


def test_v2_label_grid_names_the_grids_it_makes(tmp_path):
    ckpt = write_tiny_checkpoint(tmp_path / "v2.ckpt", num_domains=2)
    with pytest.raises(ValueError, match=r"outputs=\[latent_grid,reference_grid\]"):
        _sample(ckpt, tmp_path, "outputs=[label_grid]")


def test_psi_without_a_latent_output_is_refused(tmp_path):
    """psi=0.5 with outputs=[reference_grid] wrote the psi=1 grid without a word: reference
    styles are never truncated."""
    ckpt = write_tiny_checkpoint(tmp_path / "v2.ckpt", num_domains=2)
    with pytest.raises(ValueError, match=r"psi=0.5 truncates latent styles only, but outputs="):
        _sample(ckpt, tmp_path, "outputs=[reference_grid]", "psi=0.5")
    assert not list((tmp_path / "run").rglob("*.png"))


def test_psi_truncates_the_same_latent_codes(tmp_path):
    """The latent grid with psi < 1 truncates the codes that psi=1 shows: the style means were
    drawn from the latent codes' generator, so any psi != 1 gave other codes (another grid)."""
    import numpy as np
    from PIL import Image

    ckpt = write_tiny_checkpoint(tmp_path / "v2.ckpt", num_domains=2)
    grids = []
    for psi in (1.0, 0.9999):
        written = _sample(ckpt, tmp_path / str(psi), "outputs=[latent_grid]", f"psi={psi}")
        grids.append(np.asarray(Image.open(written["latent_grid/a"])).astype(int))
    assert np.abs(grids[0] - grids[1]).max() <= 2
