"""StarGAN v1 networks: shapes, exact parameter counts, checkpoint key names, instance norm that
ignores the train/eval switch, D depth below 64 px."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v1.nets import (
    Discriminator,
    Generator,
    InstanceNorm,
    default_d_repeat_num,
    one_hot,
)
from tests.helpers.nets import NetTesterMixin, n_params


class TestGenerator(NetTesterMixin):
    def make(self):
        return Generator(c_dim=3, conv_dim=8, repeat_num=2)

    def inputs(self, n=2):
        x = torch.randn(n, 3, self.img_size, self.img_size)
        return x, one_hot(torch.arange(n) % 3, 3)

    def expected_shape(self, n):
        return (n, 3, self.img_size, self.img_size)

    def test_label_changes_output_and_range(self):
        g = self.make()
        x, c = self.inputs()
        out = g(x, c)
        assert out.abs().max() <= 1
        assert not torch.allclose(out, g(x, c.roll(1, dims=1)))

    def test_wrong_label_shape_names_both_shapes(self):
        x, _ = self.inputs()
        with pytest.raises(ValueError, match=r"shape \(2, 4\), expected \(2, 3\)"):
            self.make()(x, torch.zeros(2, 4))


class TestDiscriminator(NetTesterMixin):
    sizes = (16, 32, 64, 128)

    def make(self):
        return Discriminator(self.img_size, c_dim=3, conv_dim=4)

    def inputs(self, n=2):
        return (torch.randn(n, 3, self.img_size, self.img_size),)

    def expected_shape(self, n):
        return (n, 3)

    def outputs(self, net, inputs):
        return net(*inputs)[1]

    def test_patch_map_size(self):
        for size, patch in ((16, 1), (32, 1), (64, 1), (128, 2), (256, 4)):
            d = Discriminator(size, c_dim=2, conv_dim=2)
            out_src, out_cls = d(torch.randn(1, 3, size, size))
            assert out_src.shape == (1, 1, patch, patch) and out_cls.shape == (1, 2), size


def test_parameter_counts_are_the_originals():
    assert n_params(Generator(c_dim=5)) == 8_430_528
    assert n_params(Generator(c_dim=5)) == 8_430_528  # any image size: G is fully convolutional
    assert n_params(Discriminator(128, c_dim=5)) == 44_762_048
    assert n_params(Discriminator(256, c_dim=5)) == 44_884_928


def test_state_dict_keys_follow_the_original_layout():
    g = Generator(c_dim=5, conv_dim=4)
    keys = set(g.state_dict())
    assert {"main.0.weight", "main.1.weight", "main.1.bias", "main.1.running_mean"} <= keys
    assert "main.0.bias" not in keys  # convs of G have no bias
    assert {"main.9.main.0.weight", "main.14.main.4.running_var", "main.21.weight"} <= keys
    assert tuple(g.state_dict()["main.15.weight"].shape) == (16, 8, 4, 4)  # transposed conv
    d = Discriminator(128, c_dim=5, conv_dim=4).state_dict()
    assert {k for k in d if not k.startswith("main.")} == {"conv1.weight", "conv2.weight"}
    assert [k for k in d if k.startswith("main.")] == [
        f"main.{i}.{p}" for i in range(0, 12, 2) for p in ("weight", "bias")
    ]
    assert tuple(d["conv2.weight"].shape) == (5, 128, 2, 2)


def test_d_depth_is_six_from_64_px_and_ends_at_1x1_below():
    assert [default_d_repeat_num(s) for s in (16, 32, 64, 128, 256)] == [4, 5, 6, 6, 6]
    with pytest.raises(ValueError, match="d_repeat_num=6 is invalid at img_size=32"):
        Discriminator(32, repeat_num=6)
    with pytest.raises(ValueError, match="img_size=48"):
        Discriminator(48)


def test_instance_norm_uses_each_images_statistics_in_eval_mode_too():
    torch.manual_seed(0)
    g = Generator(c_dim=2, conv_dim=4, repeat_num=1)
    x, c = torch.randn(3, 3, 16, 16), one_hot(torch.tensor([0, 1, 0]), 2)
    g.train()
    out_train = g(x, c)
    stats = {k: v.clone() for k, v in g.state_dict().items() if "running" in k}
    g.eval()
    out_eval = g(x, c)
    torch.testing.assert_close(out_eval, out_train, rtol=0, atol=0)
    # eval mode leaves the running statistics alone; training mode updates them (as the original)
    assert all(torch.equal(v, g.state_dict()[k]) for k, v in stats.items())
    g.train()
    g(x, c)
    assert not all(torch.equal(v, g.state_dict()[k]) for k, v in stats.items())
    # each image on its own: batch composition does not change an image's output
    g.eval()
    torch.testing.assert_close(g(x[:1], c[:1]), out_eval[:1], rtol=1e-5, atol=1e-6)


def test_instance_norm_matches_torch_in_training_mode():
    norm, ref = InstanceNorm(4), torch.nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
    with torch.no_grad():
        norm.weight.uniform_()
        norm.bias.uniform_()
    ref.load_state_dict(norm.state_dict())
    x = torch.randn(2, 4, 5, 5) * 3 + 1
    torch.testing.assert_close(norm(x), ref(x))
    torch.testing.assert_close(norm.running_mean, ref.running_mean)


def test_one_hot():
    assert one_hot(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
