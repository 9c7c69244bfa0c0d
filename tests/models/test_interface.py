"""The Translator protocol: StarGAN v2 satisfies it; a deterministic model gets the tools that
make sense for it and a clear error from the others."""

from __future__ import annotations

import pytest
import torch

from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.protocol import translate_task
from starganv2.models.interface import (
    GuidanceModeError,
    StyleTranslator,
    Translator,
    require_mode,
)
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.grids import label_grid, latent_grid, reference_grid
from starganv2.synthesis.styles import style_means
from starganv2.synthesis.translate_folder import translate_folder
from starganv2.synthesis.video import video_latent_frames, video_ref_frames
from tests.evaluation.conftest import TinyFeatures, write_domain_data
from tests.helpers import TINY
from tests.helpers.translators import DeterministicIdentity, IdentityTranslator


def test_stargan_v2_is_a_style_translator():
    model = StarGANv2Module(**TINY)
    assert isinstance(model, Translator) and isinstance(model, StyleTranslator)
    assert model.has_styles and model.guidance_modes == ("latent", "reference")
    assert (model.img_size, model.num_domains, model.latent_dim, model.style_dim) == (32, 2, 4, 8)
    assert model.device == torch.device("cpu")


def test_deterministic_model_gets_clear_errors_for_style_tools(tmp_path):
    model = DeterministicIdentity(num_domains=2)
    assert isinstance(model, Translator)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = torch.tensor([0, 1])
    for call, what in [
        (lambda: latent_grid(model, x, torch.randn(2, 3)), "latent-guided grid"),
        (lambda: reference_grid(model, x, x, y), "reference-guided grid"),
        (lambda: video_ref_frames(model, x, x, y), "reference-guided video"),
        (lambda: video_latent_frames(model, x), "latent-guided video"),
        (lambda: style_means(model), "truncation"),
    ]:
        with pytest.raises(GuidanceModeError, match=rf"{what}.*deterministic.*\['label'\]"):
            call()
    grid = label_grid(model, x)  # what it can do: the source, then one column per domain
    assert grid.shape == (3, 2 * 34 + 2, 3 * 34 + 2)
    with pytest.raises(GuidanceModeError, match="label-guided grid"):
        label_grid(IdentityTranslator(), x)
    (tmp_path / "in").mkdir()
    with pytest.raises(ValueError, match="num_styles=2.*deterministic"):
        translate_folder(model, tmp_path / "in", tmp_path / "out", num_styles=2)
    with pytest.raises(GuidanceModeError, match="ref_dir"):
        translate_folder(model, tmp_path / "in", tmp_path / "out", ref_dir=tmp_path)


def test_require_mode_message_says_what_the_model_can_do():
    with pytest.raises(GuidanceModeError, match=r"supports only \['latent', 'reference'\]"):
        require_mode(IdentityTranslator(), "label", "a label grid")


def test_deterministic_model_is_evaluated_in_label_mode(tmp_path, offline_hub):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=3, n_val=2)
    model = DeterministicIdentity(num_domains=2)
    outs = list(translate_task(model, sorted((root / "val" / "a").iterdir()), 0, 1, "label"))
    assert outs[0].outputs.shape == (2, 1, 3, 32, 32)  # one output per image
    results = Evaluator(metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}}).evaluate(
        model, root
    )
    # one output per image: no pair, so no LPIPS (LABEL_LPIPS_NOTE), FID only
    assert list(results) == [f"FID_label/{t}" for t in ("b2a", "a2b", "mean")]
    assert results["FID_label/mean"] > 0
    with pytest.raises(GuidanceModeError, match="modes=\\['latent'\\]"):
        Evaluator(
            metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}}, modes=["latent"]
        ).evaluate(model, root)


def test_the_protocol_says_what_translate_returns():
    """The protocol used to say "(not clamped)" while every model clamps (README too)."""
    doc = " ".join(Translator.translate.__doc__.split())
    assert "not clamped" not in doc and "clamped to ``[-1, 1]``" in doc
