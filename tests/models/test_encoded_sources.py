"""Sources encoded once and translated with many styles (``models/encoded_sources.py``): the
same outputs as translating the images, one encoder pass per batch in every tool that translates
a batch several times, and a refusal of encodings made with older weights."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from starganv2.evaluation.protocol import MODE_LATENT, MODE_REFERENCE, translate_task
from starganv2.models.ema import update_ema
from starganv2.models.encoded_sources import EncodedSources, encode_once
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.grids import latent_grid, reference_grid
from starganv2.synthesis.translate_folder import translate_folder
from starganv2.synthesis.video import video_latent_frames, video_ref_frames
from tests.helpers import TINY

HPF = {"w_hpf": 1.0, "mask_provider": "shape_oracle"}


def _images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, TINY["img_size"], TINY["img_size"], generator=g) * 2 - 1


def _module(**hp) -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**{**TINY, **hp}).eval()


class EncoderPasses:
    """Counts the EMA generator's encoder passes (forwards of its first layer)."""

    def __init__(self, module: StarGANv2Module) -> None:
        self.count = 0
        layer = module.inference_net("generator").from_rgb
        self.handle = layer.register_forward_hook(lambda *_: self._hit())

    def _hit(self) -> None:
        self.count += 1


@pytest.mark.parametrize("hp", [{}, HPF], ids=["no_skip", "highpass_masks"])
def test_translating_an_encoding_equals_translating_the_images(hp):
    module = _module(**hp)
    x, x_ref = _images(3), _images(3, seed=1)
    y = torch.tensor([1, 0, 1])
    z = torch.randn(3, TINY["latent_dim"])
    encoded = module.encode_sources(x)
    assert isinstance(encoded, EncodedSources)
    assert (encoded.masks is None) == (not hp)
    s = module.style_from_latent(z, y)
    for style in ({"z": z}, {"x_ref": x_ref}, {"s": s}):
        assert torch.equal(module.translate(encoded, y, **style), module.translate(x, y, **style))
    torch.manual_seed(5)
    drawn = module.translate(encoded, 0)  # fresh latent codes, drawn as for the images
    torch.manual_seed(5)
    assert torch.equal(drawn, module.translate(x, 0))


def test_an_encoding_made_before_the_weights_changed_is_refused():
    module = _module()
    x = _images(2)
    encoded = module.encode_sources(x)
    module.translate(encoded, 1)
    update_ema(module.nets_ema["generator"], module.nets["generator"], 0.5)
    with pytest.raises(ValueError, match="encoded .* before this one's weights changed"):
        module.translate(encoded, 1)
    encoded = module.encode_sources(x)
    module.translate(encoded, 1)  # a fresh encoding is fine
    module.nets_ema["generator"].load_state_dict(module.nets["generator"].state_dict())
    with pytest.raises(ValueError, match="encode them again"):
        module.translate(encoded, 1)
    other = _module()
    with pytest.raises(ValueError, match="by another generator"):
        other.translate(module.encode_sources(x), 1)
    encoded = module.encode_sources(x)
    module.iteration += 1  # a training iteration (fused Adam leaves the version counters alone)
    with pytest.raises(ValueError, match="encode them again"):
        module.translate(encoded, 1)


def test_wrong_sources_are_refused_when_encoding():
    module = _module()
    with pytest.raises(ValueError, match="x"):
        module.encode_sources(torch.rand(2, 3, 16, 16))


def test_a_model_without_encode_sources_gets_its_images_back():
    v1 = StarGANv1Module(
        img_size=32, num_domains=2, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1
    ).eval()
    x = _images(2)
    assert encode_once(v1, x) is x
    assert isinstance(encode_once(_module(), x), EncodedSources)


def test_grids_encode_their_sources_once():
    module = _module()
    passes = EncoderPasses(module)
    x = _images(3)
    latent_grid(module, x, torch.randn(4, TINY["latent_dim"]))  # 2 domains x 4 codes
    assert passes.count == 1
    reference_grid(module, x, _images(3, seed=2), torch.tensor([0, 1, 1]))  # 3 rows
    assert passes.count == 2


def test_evaluation_encodes_each_batch_once_for_all_its_styles(tmp_path):
    module = _module()
    files = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (32, 32), (40 * i, 90, 200 - 30 * i)).save(path)
        files.append(path)
    passes = EncoderPasses(module)
    batches = list(translate_task(module, files, 0, 1, MODE_LATENT, num_outs=4, batch_size=2))
    assert [b.outputs.shape[:2] for b in batches] == [(2, 4), (2, 4), (1, 4)]
    assert passes.count == 3  # one per batch, not one per batch and style
    ref_styles = module.style_from_reference(_images(3), torch.ones(3, dtype=torch.long))
    list(translate_task(module, files, 0, 1, MODE_REFERENCE, num_outs=4, ref_styles=ref_styles))
    assert passes.count == 4


def test_folder_translation_encodes_each_batch_once(tmp_path):
    module = _module()
    for i in range(3):
        Image.new("RGB", (40, 24), (60 * i, 120, 30)).save(tmp_path / f"{i}.png")
    passes = EncoderPasses(module)
    report = translate_folder(
        module, tmp_path, tmp_path / "out", num_styles=3, batch_size=2, progress=False
    )
    assert report.written == 3 * 2 * 3  # images x domains x styles
    assert passes.count == 2  # two batches of sources
    translate_folder(module, tmp_path, tmp_path / "out", num_styles=3, progress=False)
    assert passes.count == 2  # every output exists: nothing to encode


def test_videos_encode_their_sources_once():
    module = _module()
    passes = EncoderPasses(module)
    frames = list(video_latent_frames(module, _images(2), num_codes=2, frames_per_transition=3))
    assert len(frames) == 2 * (3 + 1) and passes.count == 1
    refs = _images(4, seed=3)
    frames = list(video_ref_frames(module, _images(2), refs, torch.tensor([0, 0, 1, 1]), 3))
    assert len(frames) == 2 * (3 + 1) and passes.count == 2
