"""Architecture variants of the StarGAN v2 nets: downsampling (avgpool / strided / blur) and the
generator's skip path (none / highpass / attention / cross_attention, extra stage, decoder
shortcut). The defaults must stay the paper's nets, name for name and value for value."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from starganv2.models.registry import check_checkpoint_fits
from starganv2.models.stargan_v2.downsample import (
    DOWNSAMPLING_NETS,
    Downsample,
    per_net_downsample,
    subsample,
)
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.nets import (
    Discriminator,
    Generator,
    ResBlk,
    StyleEncoder,
    he_init,
)
from tests.helpers import TINY
from tests.helpers.nets import NetTesterMixin, n_params

# sha256 (first 16 hex digits) of the "name shape" lines of the state dicts at 256 px with the
# paper's widths, and their lengths, computed from the nets before the variants existed (the
# layout of the released checkpoints, which load with strict=True).
RELEASED_LAYOUT = {
    "generator_w0": ("c79989a73b4973d9", 108),
    "generator_w1": ("ec824c42d6fac804", 125),
    "style_encoder": ("d30c9590a368b690", 37),
    "discriminator": ("8aabbebef49bc4b8", 33),
}


def _fingerprint(net: torch.nn.Module) -> tuple[str, int]:
    state = net.state_dict()
    lines = "\n".join(f"{k} {tuple(v.shape)}" for k, v in state.items())
    return hashlib.sha256(lines.encode()).hexdigest()[:16], len(state)


def _paper_nets(**kw) -> dict[str, torch.nn.Module]:
    down = kw.pop("downsample", "avgpool")
    with torch.device("meta"):
        return {
            "generator_w0": Generator(256, 64, 512, 0, downsample=down, **kw),
            "generator_w1": Generator(256, 64, 512, 1, downsample=down),
            "style_encoder": StyleEncoder(256, 64, 3, downsample=down),
            "discriminator": Discriminator(256, 3, downsample=down),
        }


@pytest.mark.parametrize("downsample", ["avgpool", "strided", "blur"])
def test_state_dict_names_and_shapes_are_the_released_layout(downsample):
    """Every downsampling keeps the released checkpoints' names and shapes (the blur filter is a
    non-persistent buffer), so a released checkpoint loads into any of them with strict=True."""
    got = {name: _fingerprint(net) for name, net in _paper_nets(downsample=downsample).items()}
    assert got == RELEASED_LAYOUT


def test_explicit_defaults_equal_the_w_hpf_presets():
    for w_hpf, explicit in (
        (0.0, {"extra_stage": False, "decoder_shortcut": True, "skip": "none"}),
        (1.0, {"extra_stage": True, "decoder_shortcut": False, "skip": "highpass"}),
    ):
        torch.manual_seed(0)
        preset = Generator(64, 8, 64, w_hpf, 16)
        preset.apply(he_init)
        other = Generator(64, 8, 64, w_hpf, 16, **explicit)
        other.load_state_dict(preset.state_dict(), strict=True)
        x, s = torch.randn(2, 3, 64, 64), torch.randn(2, 8)
        masks = (torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
        assert torch.equal(preset(x, s, masks=masks), other(x, s, masks=masks))


def test_avgpool_block_is_the_papers_math():
    """The default ResBlk: conv, 2x2 average pooling; shortcut pooled then 1x1 conv. The block
    runs conv1 and the pooling as one stride-2 conv (float rounding apart, checked in float64
    too); with ``fuse_resample = False`` it runs them apart, bit for bit."""
    torch.manual_seed(0)
    blk = ResBlk(8, 16, normalize=True, downsample=True)
    blk.apply(he_init)
    for dtype in (torch.float32, torch.float64):
        blk = blk.to(dtype)
        blk.fuse_resample = True
        x = torch.randn(2, 8, 16, 16, dtype=dtype)
        h = F.leaky_relu(blk.norm1(x), 0.2)
        h = F.avg_pool2d(blk.conv1(h), 2)
        h = blk.conv2(F.leaky_relu(blk.norm2(h), 0.2))
        expected = (blk.conv1x1(F.avg_pool2d(x, 2)) + h) / 2**0.5
        torch.testing.assert_close(blk(x), expected)  # dtype's default tolerances
        blk.fuse_resample = False
        assert torch.equal(blk(x), expected)


def test_strided_block_is_conv_at_stride_two_and_subsampled_shortcut():
    torch.manual_seed(0)
    ref = ResBlk(8, 16, downsample=True)
    blk = ResBlk(8, 16, downsample=True, downsample_kind="strided")
    blk.load_state_dict(ref.state_dict(), strict=True)
    assert blk.conv1.stride == (2, 2) and ref.conv1.stride == (1, 1)
    x = torch.randn(2, 8, 16, 16)
    h = F.conv2d(F.leaky_relu(x, 0.2), blk.conv1.weight, blk.conv1.bias, padding=1)
    h = blk.conv2(F.leaky_relu(h[:, :, ::2, ::2], 0.2))  # a stride-2 conv is conv + subsample
    expected = (blk.conv1x1(x[:, :, ::2, ::2]) + h) / 2**0.5
    torch.testing.assert_close(blk(x), expected)
    same = ResBlk(8, 8, downsample=True, downsample_kind="strided")  # parameterless shortcut
    assert torch.equal(same._shortcut(x), subsample(x))


def test_blur_is_a_normalised_binomial_filter_centred_like_pooling():
    down = Downsample("blur")
    assert "filter" not in down.state_dict()  # non-persistent: state dicts unchanged
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    torch.testing.assert_close(down.filter[0, 0], torch.outer(taps, taps))
    torch.testing.assert_close(down(torch.full((1, 2, 8, 8), 0.3)), torch.full((1, 2, 4, 4), 0.3))
    # an impulse at (5, 5) spreads over the outputs whose window covers input rows/cols 4..7
    # (output i sees inputs 2i-1 .. 2i+2): centred at 2i + 0.5 like 2x2 average pooling
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 5, 5] = 1.0
    out = down(x)[0, 0]
    nz = out.nonzero()
    assert nz[:, 0].tolist() == [2, 2, 3, 3] and nz[:, 1].tolist() == [2, 3, 2, 3]
    # a checkerboard (the highest frequency) is removed; strided subsampling aliases it to a
    # constant, average pooling also removes it: blur differs from pooling at lower frequencies
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2.0 - 1
    inner = down(checker[None, None])[0, 0, 1:-1, 1:-1]
    assert inner.abs().max() < 1e-6
    assert torch.equal(subsample(checker[None, None]), -torch.ones(1, 1, 8, 8))


@pytest.mark.parametrize("downsample", ["strided", "blur"])
def test_variant_nets_take_the_default_nets_weights_and_differ(downsample):
    torch.manual_seed(0)
    d0 = Discriminator(32, 3, 64, 16)
    d0.apply(he_init)
    d1 = Discriminator(32, 3, 64, 16, downsample=downsample)
    d1.load_state_dict(d0.state_dict(), strict=True)
    assert n_params(d0) == n_params(d1)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    assert d1(x, y).shape == (4,) and not torch.allclose(d0(x, y), d1(x, y))


class TestStridedGenerator(NetTesterMixin):
    def make(self):
        return Generator(self.img_size, 8, 64, 0, 16, downsample="strided")

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.randn(n, 8)

    def expected_shape(self, n):
        return (n, 3, self.img_size, self.img_size)


class TestBlurStyleEncoder(NetTesterMixin):
    def make(self):
        return StyleEncoder(self.img_size, 8, 3, 64, 16, downsample="blur")

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.arange(n) % 3

    def expected_shape(self, n):
        return (n, 8)


class TestCrossAttentionGenerator(NetTesterMixin):
    def make(self):
        g = Generator(self.img_size, 8, 64, 0, 16, skip="cross_attention")
        with torch.no_grad():  # a trained gamma: the attention is in the output
            for attn in g.attn.values():
                attn.gamma.fill_(0.5)
        return g

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.randn(n, 8)

    def expected_shape(self, n):
        return (n, 3, self.img_size, self.img_size)


def test_skip_layout_arguments_each_do_one_thing():
    base = Generator(64, 8, 64, 0, 16)
    extra = Generator(64, 8, 64, 0, 16, extra_stage=True)
    assert len(extra.encode) == len(base.encode) + 1 and not hasattr(extra, "hpf")
    no_sc = Generator(64, 8, 64, 0, 16, decoder_shortcut=False)
    assert len(no_sc.encode) == len(base.encode)
    assert all(not b.shortcut for b in no_sc.decode) and all(b.shortcut for b in base.decode)
    assert set(no_sc.state_dict()) == set(base.state_dict())  # conv1x1 kept for the names
    hpf_no_stage = Generator(64, 8, 64, 1.0, 16, extra_stage=False)
    assert len(hpf_no_stage.encode) == len(base.encode) and hasattr(hpf_no_stage, "hpf")
    attn = Generator(64, 8, 64, 0, 16, skip="attention")
    assert sorted(attn.attn) == ["32", "64"] and attn.skip_resolutions == (32, 64)
    new = set(attn.state_dict()) - set(base.state_dict())
    assert new and all(k.startswith("attn.") for k in new)
    assert Generator(256, 8, 64, 1.0, 16).skip_resolutions == (32, 64, 128)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"w_hpf": 0.0, "skip": "highpass"}, "skip='highpass' contradicts w_hpf=0.0"),
        ({"w_hpf": 1.0, "skip": "attention"}, "skip='attention' contradicts w_hpf=1.0"),
        ({"w_hpf": 0.0, "skip": "cnn"}, "skip='cnn' is invalid: expected one of"),
        ({"w_hpf": 0.0, "skip": "attention", "skip_resolutions": [16]}, "skip_resolutions=.16."),
        ({"w_hpf": 0.0, "skip": "attention", "skip_resolutions": [48]}, r"\[32, 64\]"),
        ({"w_hpf": 0.0, "downsample": "maxpool"}, "downsample='maxpool' is invalid"),
    ],
)
def test_bad_skip_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Generator(64, 8, 64, dim_in=16, **kwargs)


def test_attention_default_resolutions_missing_is_an_error():
    with pytest.raises(ValueError, match="set skip_resolutions"):
        Generator(16, 8, 64, 0, 16, skip="attention")  # decoder sizes: [16]
    assert Generator(32, 8, 64, 0, 16, skip="attention").skip_resolutions == (32,)


def test_per_net_downsample():
    assert per_net_downsample("blur") == dict.fromkeys(
        ("generator", "style_encoder", "discriminator"), "blur"
    )
    assert per_net_downsample({"generator": "strided"}) == {
        "generator": "strided",
        "style_encoder": "avgpool",
        "discriminator": "avgpool",
    }
    with pytest.raises(ValueError, match="mapping_network.*not nets that downsample"):
        per_net_downsample({"mapping_network": "strided"})
    with pytest.raises(ValueError, match="downsample.discriminator='pool'"):
        per_net_downsample({"discriminator": "pool"})


def test_module_builds_each_net_with_its_downsampling_and_the_skip():
    module = StarGANv2Module(
        **TINY,
        downsample={"style_encoder": "blur", "discriminator": "strided"},
        skip="cross_attention",
        skip_resolutions=[32],
    )
    kinds = {
        name: {m.kind for m in module.nets[name].modules() if isinstance(m, Downsample)}
        for name in ("generator", "style_encoder", "discriminator")
    }
    assert kinds == {
        "generator": {"avgpool"},
        "style_encoder": {"blur"},
        "discriminator": {"strided"},
    }
    assert module.nets_ema["generator"].skip == "cross_attention"
    assert module.mask_source is None
    default = StarGANv2Module(**TINY)
    assert set(default.state_dict()) < set(module.state_dict())
    extra = {k for k in module.state_dict() if k not in default.state_dict()}
    assert all(".attn.32." in k for k in extra)
    assert module.translate(torch.rand(2, 3, 32, 32) * 2 - 1, 1).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    ("saved", "run", "message"),
    [
        (
            {"downsample": "strided"},
            {},
            r"model.downsample='strided'.*set model.downsample=strided,",
        ),
        (
            {"downsample": {"generator": "blur"}},
            {},
            r"set 'model.downsample=\{generator: blur\}'",
        ),
        ({"skip": "attention"}, {"skip": "cross_attention"}, r"set model.skip=attention,"),
        ({"decoder_shortcut": False}, {}, r"set model.decoder_shortcut=false,"),
        (
            {"w_hpf": 1.0, "mask_provider": "shape_oracle"},
            {"extra_stage": True, "decoder_shortcut": False, "mask_provider": "shape_oracle"},
            r"set model.w_hpf=1.0,",
        ),
        (
            {"w_hpf": 1.0, "skip_resolutions": [16]},
            {"w_hpf": 1.0},
            r"set 'model.skip_resolutions=\[16\]'",
        ),
    ],
)
def test_a_checkpoint_of_another_variant_is_refused_naming_the_setting(saved, run, message):
    """The variants of one size have the same state-dict shapes (the downsampling, the attention
    and cross-attention skips, the high-pass layout with or without its skip, the decoder
    shortcut at equal widths): a run configured as another variant resumed from such a
    checkpoint silently, training the weights as another net."""
    theirs = StarGANv2Module(**{**TINY, **saved})
    ours = StarGANv2Module(**{**TINY, **run})
    checkpoint = {"hyper_parameters": dict(theirs.hparams), "starganv2": {"model": "stargan_v2"}}
    with pytest.raises(ValueError, match=message):
        ours._check_fixed_settings(checkpoint)


def test_two_spellings_of_one_variant_resume_each_other():
    """``None`` resolves as the nets resolve it, one name is every net's downsampling."""
    pairs = [
        ({"downsample": "strided"}, {"downsample": dict.fromkeys(DOWNSAMPLING_NETS, "strided")}),
        (
            {"w_hpf": 1.0, "mask_provider": "shape_oracle"},
            {
                "w_hpf": 1.0,
                "skip": "highpass",
                "extra_stage": True,
                "decoder_shortcut": False,
                "skip_resolutions": [32],
                "mask_provider": "shape_oracle",
            },
        ),
        ({"skip": "attention"}, {"skip": "attention", "skip_resolutions": [32]}),
    ]
    for a, b in pairs:
        theirs, ours = StarGANv2Module(**{**TINY, **a}), StarGANv2Module(**{**TINY, **b})
        ours._check_fixed_settings({"hyper_parameters": dict(theirs.hparams)})  # no error
        resolved, generator = theirs.resolved_settings(theirs.hparams), theirs.nets.generator
        assert resolved["skip"] == generator.skip
        assert resolved["skip_resolutions"] == list(generator.skip_resolutions)


def test_a_run_with_the_high_pass_skip_from_a_checkpoint_without_it_names_w_hpf(tmp_path):
    """The checkpoint fit check brought the checkpoint up to date first, which asked for FAN
    weights "this checkpoint has w_hpf=1" when the checkpoint had ``w_hpf=0`` (the run had 1)."""
    theirs = StarGANv2Module(**TINY)
    ours = StarGANv2Module(**{**TINY, "w_hpf": 1.0})  # the FAN's masks, no fan_weights
    checkpoint = {
        "hyper_parameters": dict(theirs.hparams),
        "state_dict": theirs.state_dict(),
        "starganv2": {"model": "stargan_v2"},
    }
    with pytest.raises(ValueError, match=r"trained with model.w_hpf=0.0 but this run has"):
        check_checkpoint_fits(checkpoint, ours, tmp_path / "last.ckpt")
