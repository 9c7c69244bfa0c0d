"""Where the generator's skip joins the decoder: a skip that would join nowhere is an error whose
advice works, and skip settings without a skip are reported as unused."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.models.masks import build_mask_provider
from starganv2.models.stargan_v2.nets import Generator

SMALL = {"dim_in": 8, "max_conv_dim": 16, "style_dim": 4}


def _masked_output_changes(g: Generator) -> bool:
    """Whether the high-pass skip's masks reach the output of ``g``."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, g.img_size, g.img_size) * 2 - 1
    s = torch.randn(2, SMALL["style_dim"])
    masks = (torch.rand(2, 1, g.img_size, g.img_size),) * 2
    with torch.no_grad():
        return not torch.allclose(g(x, s, masks), g(x, s))


def test_highpass_that_joins_nowhere_is_an_error_and_its_advice_works():
    # w_hpf > 0 brings extra_stage: the decoder outputs 16 px, none of the default 32, 64, 128
    with pytest.raises(ValueError, match=r"w_hpf=1.0.*img_size=16.*skip_resolutions=\[16\]"):
        Generator(img_size=16, w_hpf=1.0, **SMALL)
    with pytest.raises(ValueError, match="or use img_size >= 32"):
        Generator(img_size=16, w_hpf=1.0, **SMALL)
    fixed = Generator(img_size=16, w_hpf=1.0, skip_resolutions=[16], **SMALL)
    assert fixed.skip_resolutions == (16,) and _masked_output_changes(fixed)
    larger = Generator(img_size=32, w_hpf=1.0, **SMALL)
    assert larger.skip_resolutions == (32,) and _masked_output_changes(larger)


def test_highpass_without_extra_stage_at_16_px_says_to_add_the_stage():
    with pytest.raises(ValueError, match=r"skip_resolutions=\[16\] and extra_stage=True"):
        Generator(img_size=16, w_hpf=1.0, extra_stage=False, **SMALL)


@pytest.mark.parametrize("skip", ["attention", "cross_attention"])
def test_attention_at_16_px_advises_what_works(skip):
    # without extra_stage a 16 px decoder has no upsampling block: no size to join at all
    with pytest.raises(ValueError, match=r"skip_resolutions=\[16\] and extra_stage=True"):
        Generator(img_size=16, w_hpf=0, skip=skip, **SMALL)
    with pytest.raises(ValueError, match=r"outputs \[\]; .*set extra_stage=True"):
        Generator(img_size=16, w_hpf=0, skip=skip, skip_resolutions=[16], **SMALL)
    g = Generator(img_size=16, w_hpf=0, skip=skip, extra_stage=True, skip_resolutions=[16], **SMALL)
    assert g.skip_resolutions == (16,) and sorted(g.attn) == ["16"]
    assert Generator(img_size=32, w_hpf=0, skip=skip, **SMALL).skip_resolutions == (32,)


def test_a_wrong_size_where_the_decoder_has_sizes_is_still_an_error():
    with pytest.raises(ValueError, match=r"skip_resolutions=\[999\] is invalid.*\[16, 32\]$"):
        Generator(img_size=32, w_hpf=1.0, skip_resolutions=[999], **SMALL)


def test_skip_resolutions_without_a_skip_is_logged_as_unused(caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.models.stargan_v2.nets"):
        g = Generator(img_size=32, w_hpf=0, skip_resolutions=[999], **SMALL)
    assert g.skip_resolutions == ()
    assert "skip_resolutions=[999] is not used: skip='none'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="starganv2.models.stargan_v2.nets"):
        Generator(img_size=32, w_hpf=0, **SMALL)
    assert caplog.text == ""


def test_a_mask_provider_without_the_highpass_skip_is_logged_as_unused(caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.models.masks"):
        assert build_mask_provider("shape_oracle", w_hpf=0.0) is None
    assert "mask_provider='shape_oracle' is not used: w_hpf=0.0 has no masks" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="starganv2.models.masks"):
        assert build_mask_provider("fan", w_hpf=0.0) is None  # the default: nothing was asked
    assert caplog.text == ""
