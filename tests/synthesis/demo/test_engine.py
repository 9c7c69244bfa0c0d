"""The demo's computations without the page: styles from seeds, truncation, references and their
predicted domains, label models, masks, blends, videos, zips."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.interface import GuidanceModeError
from starganv2.models.registry import load_model
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.demo.engine import AUTO, DemoEngine, predict_domains, write_zip
from tests.helpers import TINY
from tests.synthesis.demo.conftest import TINY_V1, write_picture


@pytest.fixture(scope="module")
def v2(v2_ckpt):
    return DemoEngine(load_model(v2_ckpt), ["cat", "dog"], mean_codes=200)


@pytest.fixture(scope="module")
def v1(v1_ckpt):
    return DemoEngine(load_model(v1_ckpt))


@pytest.fixture
def source(tmp_path):
    return Image.open(write_picture(tmp_path / "src.png", 60, 40))


def arrays(images):
    return [np.asarray(img, dtype=np.int16) for img in images]


def same(a: Image.Image, b: Image.Image) -> bool:
    """Equal up to one 8-bit step (a batch of 4 and a batch of 1 round differently)."""
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max() <= 1


def test_latent_outputs_have_the_source_size_and_differ_from_it(v2, source):
    result = v2.translate(v2.prepare(source), y_trg=1, num_styles=3, seed=5)
    assert [img.size for img in result.images] == [(60, 40)] * 3
    assert result.y_trg == 1 and result.styles.shape == (3, 8) and result.seconds > 0
    src = np.asarray(source, dtype=np.int16)
    assert all(np.abs(a - src).mean() > 5 for a in arrays(result.images))
    a, b, _ = arrays(result.images)
    assert np.abs(a - b).mean() > 0.5  # different styles, different outputs


def test_a_seed_fixes_the_styles_and_style_k_does_not_depend_on_k(v2, source):
    src = v2.prepare(source)
    one = v2.translate(src, y_trg=0, num_styles=1, seed=3)
    four = v2.translate(src, y_trg=0, num_styles=4, seed=3)
    torch.testing.assert_close(four.styles[:1], one.styles)
    assert same(four.images[0], one.images[0])
    other = v2.translate(src, y_trg=0, num_styles=1, seed=4)
    assert not torch.allclose(other.styles, one.styles)


def test_psi_zero_gives_every_style_the_domains_mean(v2, source):
    result = v2.translate(v2.prepare(source), y_trg=1, num_styles=3, seed=0, psi=0.0)
    for s in result.styles:
        torch.testing.assert_close(s, v2.style_means()[1])
    half = v2.translate(v2.prepare(source), y_trg=1, num_styles=3, seed=0, psi=0.5).styles
    full = v2.translate(v2.prepare(source), y_trg=1, num_styles=3, seed=0).styles
    torch.testing.assert_close(half, (full + v2.style_means()[1]) / 2)


def test_auto_target_is_a_domain_other_than_the_predicted_source_domain(v2, source):
    src = v2.prepare(source)
    y_src = int(predict_domains(v2.model, src.x.unsqueeze(0))[0])
    result = v2.translate(src)  # every default: latent, auto target, one style
    assert result.y_trg != y_src and len(result.images) == 1
    assert "source looks like" in result.notes[0]


def test_predicted_domains_are_the_argmax_of_the_discriminator(v2, v1):
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    disc = v2.model.nets["discriminator"]
    scores = torch.stack([disc(x, torch.full((4,), d)) for d in range(2)], dim=1)
    assert torch.equal(predict_domains(v2.model, x), scores.argmax(1))
    _, cls = v1.model.nets["discriminator"](x)
    assert torch.equal(predict_domains(v1.model, x), cls.argmax(1))


def test_reference_guided_uses_the_reference_style_and_its_domain(v2, source, tmp_path):
    src = v2.prepare(source)
    ref = v2.prepare(Image.open(write_picture(tmp_path / "ref.png", 32, 32, seed=9)))
    chosen = v2.translate(src, mode="reference", ref=ref, y_ref=0)
    want = v2.model.style_from_reference(ref.x.unsqueeze(0), torch.tensor([0]))
    assert chosen.y_trg == 0
    torch.testing.assert_close(chosen.styles, want)
    auto = v2.translate(src, mode="reference", ref=ref, y_ref=AUTO)
    assert auto.y_trg == int(predict_domains(v2.model, ref.x.unsqueeze(0))[0])
    assert "reference domain predicted" in auto.notes[0]
    with pytest.raises(ValueError, match="needs a reference picture"):
        v2.translate(src, mode="reference")


def test_blend_and_video_styles_start_at_the_result_shown(v2, source, tmp_path):
    """A reference-guided result's video moved through the seed's latent styles alone: the
    reference's style, the one on the page, was in none of its frames."""
    src = v2.prepare(source)
    ref = v2.prepare(Image.open(write_picture(tmp_path / "ref.png", 32, 32, seed=9)))
    result = v2.translate(src, mode="reference", ref=ref, y_ref=1, seed=4)
    moved = v2.styles_to_move_through(result.styles, 1, 4, seed=4)
    latent = v2.latent_styles(1, 4, seed=4)
    assert moved.shape == (4, result.styles.size(1))
    torch.testing.assert_close(moved[0], result.styles[0])
    torch.testing.assert_close(moved[1:], latent[1:])
    assert not torch.allclose(moved[0], latent[0])
    one = v2.translate(src, mode="latent", y_trg=1, num_styles=1, seed=4, psi=0.5)
    torch.testing.assert_close(  # a latent result of one style: the seed's first four, as before
        v2.styles_to_move_through(one.styles, 1, 4, seed=4, psi=0.5), v2.latent_styles(1, 4, 4, 0.5)
    )
    three = v2.translate(src, mode="latent", y_trg=0, num_styles=3, seed=4)
    assert v2.styles_to_move_through(three.styles, 0, 4, seed=4) is three.styles  # its own


def test_a_label_model_translates_by_domain_and_has_no_styles(v1, source):
    src = v1.prepare(source)
    result = v1.translate(src, mode="label", y_trg=2)
    assert not v1.has_styles and result.styles is None and result.images[0].size == (60, 40)
    want = v1.model.translate(src.x.unsqueeze(0), 2)
    got = v1.translate(src, mode="label", y_trg=2).images[0]
    assert np.array_equal(np.asarray(got), np.asarray(v1._pictures(want, src.fit)[0]))
    with pytest.raises(GuidanceModeError):
        v1.translate(src, mode="latent")


def test_attribute_check_boxes_give_multi_hot_labels(v1_ckpt, source):
    model = load_model(v1_ckpt)
    engine = DemoEngine(model, attributes=["black", "blond", "male"])
    src = engine.prepare(source)
    result = engine.translate(src, mode="label", labels=[1, 2])
    want = model.translate_labels(src.x.unsqueeze(0), torch.tensor([[0.0, 1.0, 1.0]]))
    assert np.array_equal(
        np.asarray(result.images[0]), np.asarray(engine._pictures(want, src.fit)[0])
    )
    with pytest.raises(ValueError, match=r"attributes=\['a'\] has 1 names"):
        DemoEngine(model, attributes=["a"])


class AttributeModel(StarGANv1Module):
    """A StarGAN v1 model driven by attribute vectors only (``label_mode="multi"``)."""

    guidance_modes = ("attribute",)
    attribute_names = ["warm", "large", "outline"]


def test_a_multi_label_model_takes_its_attribute_names_and_vectors(source):
    torch.manual_seed(0)
    model = AttributeModel(**TINY_V1).eval()
    engine = DemoEngine(model)
    assert engine.attributes == ["warm", "large", "outline"]
    src = engine.prepare(source)
    result = engine.translate(src, mode="attribute", labels=[0, 2])
    want = model.translate_labels(src.x.unsqueeze(0), torch.tensor([[1.0, 0.0, 1.0]]))
    assert same(result.images[0], engine._pictures(want, src.fit)[0])
    none_on = engine.translate(src, mode="attribute").images[0]
    zeros = model.translate_labels(src.x.unsqueeze(0), torch.zeros(1, 3))
    assert same(none_on, engine._pictures(zeros, src.fit)[0])


def test_attributes_need_a_label_model(v2):
    with pytest.raises(ValueError, match="needs a label model"):
        DemoEngine(v2.model, attributes=["a", "b"])


def test_domain_names_must_match_the_model(v2):
    with pytest.raises(ValueError, match=r"has 3 names but the model has num_domains=2"):
        DemoEngine(v2.model, ["a", "b", "c"])


def test_masks_are_shown_for_models_with_a_mask_provider(source):
    torch.manual_seed(0)
    model = StarGANv2Module(**{**TINY, "w_hpf": 1.0, "mask_provider": "shape_oracle"}).eval()
    engine = DemoEngine(model)
    result = engine.translate(engine.prepare(source), y_trg=0, masks=True)
    assert engine.has_masks and [m.size for m in result.masks] == [(32, 32), (32, 32)]


def test_no_masks_without_a_provider(v2, source):
    assert not v2.has_masks and v2.translate(v2.prepare(source), masks=True).masks == []


def test_blend_ends_are_the_two_styles(v2, source):
    src = v2.prepare(source)
    result = v2.translate(src, y_trg=1, num_styles=2, seed=1)
    a, b = result.styles
    assert same(v2.blend(src, 1, a, b, 0.0), result.images[0])
    assert same(v2.blend(src, 1, a, b, 1.0), result.images[1])


def test_the_video_loops_through_the_styles_at_the_source_size(v2, source, tmp_path):
    pytest.importorskip("av")
    from starganv2.synthesis.video import count_video_frames

    src = v2.prepare(source)
    styles = v2.latent_styles(1, 3, seed=0)
    frames = list(v2.video_frames(src, 1, styles, frames_per_transition=4))
    assert len(frames) == 3 * 4 and frames[0].shape == (3, 40, 60)
    first = v2.translate(src, y_trg=1, num_styles=1, seed=0).images[0]
    assert (
        np.abs(np.asarray(first, dtype=float) / 255 - frames[0].permute(1, 2, 0).numpy()).max()
        < 1 / 255 + 1e-6
    )
    n = v2.video(src, 1, styles, tmp_path / "v.mp4", frames_per_transition=2)
    assert n == 6 and count_video_frames(tmp_path / "v.mp4") == 6


def test_zip_holds_one_png_per_output(tmp_path):
    images = [Image.new("RGB", (5, 4), (i * 50, 0, 0)) for i in range(3)]
    path = write_zip(images, ["a_1.png", "a_2.png", "a_3.png"], tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["a_1.png", "a_2.png", "a_3.png"]
        with archive.open("a_3.png") as f:
            assert Image.open(f).getpixel((0, 0)) == (100, 0, 0)
