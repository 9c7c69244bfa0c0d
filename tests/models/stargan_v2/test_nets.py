"""Networks: shapes, exact parameter counts, checkpoint key names, per-domain heads, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from starganv2.models.stargan_v2.nets import (
    AdaIN,
    AdainResBlk,
    Discriminator,
    Generator,
    HighPass,
    MappingNetwork,
    ResBlk,
    SourceFeatures,
    StyleEncoder,
    he_init,
)
from tests.helpers.nets import NetTesterMixin, n_params


class TestGenerator(NetTesterMixin):
    def make(self):
        return Generator(self.img_size, style_dim=8, max_conv_dim=64, w_hpf=0, dim_in=16)

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.randn(n, 8)

    def expected_shape(self, n):
        return (n, 3, self.img_size, self.img_size)

    def test_style_changes_output(self):
        g = self.make()
        g.apply(he_init)
        x, s = self.inputs()
        assert not torch.allclose(g(x, s), g(x, torch.randn_like(s)))

    def test_hpf_skip_uses_masks(self):
        g = Generator(64, style_dim=8, max_conv_dim=64, w_hpf=1, dim_in=16)
        g.apply(he_init)
        x, s = torch.randn(2, 3, 64, 64), torch.randn(2, 8)
        masks = (torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
        with_masks = g(x, s, masks=masks)
        assert with_masks.shape == (2, 3, 64, 64)
        assert not torch.allclose(with_masks, g(x, s))


class TestMappingNetwork(NetTesterMixin):
    def make(self):
        return MappingNetwork(latent_dim=4, style_dim=8, num_domains=3, hidden_dim=32)

    def inputs(self, n=2):
        return torch.randn(n, 4), torch.arange(n) % 3

    def expected_shape(self, n):
        return (n, 8)

    def test_row_takes_head_of_its_domain(self):
        f = self.make()
        z = torch.randn(3, 4)
        y = torch.tensor([2, 0, 1])
        out = f(z, y)
        h = f.shared(z)
        for i in range(3):
            torch.testing.assert_close(out[i], f.unshared[int(y[i])](h[i : i + 1])[0])


class TestStyleEncoder(NetTesterMixin):
    def make(self):
        return StyleEncoder(self.img_size, style_dim=8, num_domains=3, max_conv_dim=64, dim_in=16)

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.arange(n) % 3

    def expected_shape(self, n):
        return (n, 8)

    def test_row_takes_head_of_its_domain(self):
        e = self.make()
        x = torch.randn(3, 3, 32, 32)
        y = torch.tensor([1, 2, 0])
        out = e(x, y)
        h = e.shared(x).flatten(1)
        for i in range(3):
            torch.testing.assert_close(out[i], e.unshared[int(y[i])](h[i]))


class TestDiscriminator(NetTesterMixin):
    def make(self):
        return Discriminator(self.img_size, num_domains=3, max_conv_dim=64, dim_in=16)

    def inputs(self, n=2):
        return torch.randn(n, 3, self.img_size, self.img_size), torch.arange(n) % 3

    def expected_shape(self, n):
        return (n,)

    def test_row_reads_its_domain_logit(self):
        d = self.make()
        x = torch.randn(3, 3, 32, 32)
        all_logits = d.main(x).flatten(1)  # (N, num_domains)
        y = torch.tensor([2, 2, 1])
        torch.testing.assert_close(d(x, y), all_logits[torch.arange(3), y])


@pytest.mark.parametrize(
    ("num_domains", "w_hpf", "expected"),
    [
        (3, 0, (33_892_995, 3_259_072, 20_949_760, 20_852_803)),
        (2, 1, (43_467_395, 2_438_272, 20_916_928, 20_852_290)),
    ],
)
def test_paper_parameter_counts(num_domains, w_hpf, expected):
    with torch.device("meta"):
        counts = (
            n_params(Generator(256, 64, 512, w_hpf)),
            n_params(MappingNetwork(16, 64, num_domains)),
            n_params(StyleEncoder(256, 64, num_domains)),
            n_params(Discriminator(256, num_domains)),
        )
    assert counts == expected


def test_generator_256_state_dict_keys():
    with torch.device("meta"):
        keys = set(Generator(256, 64, 512, w_hpf=1).state_dict())
    assert "hpf.filter" in keys
    assert {"from_rgb.weight", "to_rgb.0.weight", "to_rgb.2.weight"} <= keys
    for i in (4, 5, 6):  # the upsampling blocks whose widths change
        assert f"decode.{i}.conv1x1.weight" in keys
        assert f"decode.{i}.conv1x1.bias" not in keys
    assert "encode.0.norm1.weight" in keys and "decode.0.norm1.fc.weight" in keys
    assert len([k for k in keys if k.startswith("encode.")]) > 0
    with torch.device("meta"):
        keys0 = set(Generator(256, 64, 512, w_hpf=0).state_dict())
    assert "hpf.filter" not in keys0


def test_mapping_and_encoder_key_names():
    with torch.device("meta"):
        f_keys = set(MappingNetwork(16, 64, 2).state_dict())
        e_keys = set(StyleEncoder(256, 64, 2).state_dict())
        d_keys = set(Discriminator(256, 2).state_dict())
    assert {"shared.0.weight", "shared.6.weight", "unshared.1.6.weight"} <= f_keys
    assert {"shared.0.weight", "shared.1.conv1x1.weight", "unshared.1.weight"} <= e_keys
    assert {"main.0.weight", "main.1.conv1.weight"} <= d_keys


def test_resblk_scaling_and_shortcut():
    blk = ResBlk(4, 8, normalize=False, downsample=True)
    assert blk.conv1x1.bias is None
    x = torch.randn(2, 4, 8, 8)
    expected = (blk._shortcut(x) + blk._residual(x)) / 2**0.5
    torch.testing.assert_close(blk(x), expected)
    assert blk(x).shape == (2, 8, 4, 4)
    same = ResBlk(4, 4)
    assert not hasattr(same, "conv1x1")


def test_adain_identity_with_zero_fc():
    adain = AdaIN(style_dim=3, num_features=4)
    nn.init.zeros_(adain.fc.weight)
    nn.init.zeros_(adain.fc.bias)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(adain(x, torch.randn(2, 3)), nn.InstanceNorm2d(4)(x))


def test_adain_resblk_shortcut_only_without_hpf():
    torch.manual_seed(0)
    blk0 = AdainResBlk(8, 4, style_dim=3, w_hpf=0, upsample=True)
    blk1 = AdainResBlk(8, 4, style_dim=3, w_hpf=1, upsample=True)
    blk1.load_state_dict(blk0.state_dict())
    x, s = torch.randn(2, 8, 4, 4), torch.randn(2, 3)
    torch.testing.assert_close(blk1(x, s), blk1._residual(x, s))
    torch.testing.assert_close(blk0(x, s), (blk0._residual(x, s) + blk0._shortcut(x)) / 2**0.5)
    assert blk0(x, s).shape == (2, 4, 8, 8)


def test_highpass_kernel():
    hp = HighPass(w_hpf=2.0)
    x = torch.ones(1, 2, 5, 5)
    out = hp(x)
    assert out[0, :, 2, 2].abs().max() == 0  # constant image has no edges inside
    assert hp.filter[1, 1] == 4.0 and hp.filter[0, 0] == -0.5


def test_he_init_zero_bias_and_fan_in_scale():
    torch.manual_seed(0)
    lin = nn.Linear(512, 512)
    he_init(lin)
    assert lin.bias.abs().max() == 0
    assert abs(lin.weight.std().item() - (2 / 512) ** 0.5) < 0.003


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"img_size": 100}, "img_size"),
        ({"img_size": 8}, "img_size"),
        ({"img_size": 64, "num_domains": 0}, "num_domains"),
        ({"img_size": 64, "dim_in": 0}, "dim_in"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Discriminator(**kwargs)


def test_generator_rejects_negative_w_hpf():
    with pytest.raises(ValueError, match="w_hpf"):
        Generator(64, w_hpf=-1)
    with pytest.raises(ValueError, match="num_domains"):
        MappingNetwork(num_domains=0)


@pytest.mark.parametrize(
    ("block", "resample"),
    [
        (lambda: ResBlk(8, 16, normalize=True, downsample=True), "down"),
        (lambda: AdainResBlk(16, 8, style_dim=4, upsample=True), "up"),
    ],
)
def test_cheaper_shortcut_order_is_the_papers_math(block, resample):
    """Pooling (or upsampling) and the 1x1 conv commute: the library runs the conv on the smaller
    grid; outputs and every gradient equal the paper's order to float rounding."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = block()
    net.apply(he_init)
    x = torch.randn(2, net.conv1.in_channels, 16, 16, requires_grad=True)
    args = (x, torch.randn(2, 4)) if resample == "up" else (x,)

    def papers_shortcut(t):
        if resample == "up":
            return net.conv1x1(F.interpolate(t, scale_factor=2, mode="nearest"))
        return F.avg_pool2d(net.conv1x1(t), 2)

    def rel(a, b):  # norm of the difference over the norm: rounding, not elementwise cancellation
        return float(((a - b).norm() / b.norm()).detach())

    assert rel(net._shortcut(x), papers_shortcut(x)) < 1e-6
    grads = []
    for shortcut in (net._shortcut, papers_shortcut):
        net.zero_grad()
        x.grad = None
        shortcut(x).square().sum().backward()
        grads.append((x.grad.clone(), net.conv1x1.weight.grad.clone()))
    for a, b in zip(*grads):
        assert rel(a, b) < 1e-6
    assert net(*args).shape[-1] == (32 if resample == "up" else 8)


@pytest.mark.parametrize(
    "kw",
    [
        {"w_hpf": 0},
        {"w_hpf": 1},
        {"w_hpf": 0, "skip": "attention"},
        {"w_hpf": 0, "skip": "cross_attention"},
    ],
    ids=["none", "highpass", "attention", "cross_attention"],
)
def test_one_encoding_decodes_with_any_style(kw):
    """``generator(features, s)`` from ``encode_source`` or ``return_features`` is the full
    forward pass exactly, for every skip kind; the features carry their graph."""
    torch.manual_seed(0)
    g = Generator(64, style_dim=8, max_conv_dim=32, dim_in=16, **kw)
    g.apply(he_init)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    m = torch.sigmoid(4 * x.mean(1, keepdim=True))
    masks = (m, m.square()) if kw["w_hpf"] else None
    s1, s2 = torch.randn(2, 8), torch.randn(2, 8)
    out, features = g(x, s1, masks=masks, return_features=True)
    assert isinstance(features, SourceFeatures) and features.h.requires_grad
    assert torch.equal(out, g(x, s1, masks=masks))
    with torch.no_grad():
        assert torch.equal(g(features, s2, masks=masks), g(x, s2, masks=masks))
        assert torch.equal(g(g.encode_source(x), s2, masks=masks), g(x, s2, masks=masks))
        assert torch.equal(g(features.detach(), s1, masks=masks), out)


def test_features_without_skips_are_refused_where_the_skip_needs_them():
    g = Generator(64, style_dim=8, max_conv_dim=32, dim_in=16, w_hpf=0, skip="cross_attention")
    plain = SourceFeatures(g.encode_source(torch.zeros(1, 3, 64, 64)).h, {})
    with pytest.raises(ValueError, match="no skip features"):
        g(plain, torch.zeros(1, 8))
