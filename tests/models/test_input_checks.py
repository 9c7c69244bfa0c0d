"""Nonsense that used to train or translate silently is refused with the key, the value and what
was expected: negative loss weights, fewer than 2 domains, 8-bit or wrongly sized images and
Python lists of labels given to ``translate``; ``translate`` returns values in [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests import helpers
from tests.helpers import TINY

TINY_V1 = {**helpers.TINY_V1, "num_domains": 3}


@pytest.fixture(scope="module")
def v2() -> StarGANv2Module:
    return StarGANv2Module(**TINY).eval()


@pytest.fixture(scope="module")
def v1() -> StarGANv1Module:
    return StarGANv1Module(**TINY_V1).eval()


def images(n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size) * 2 - 1  # (n, 3, size, size) in [-1, 1]


# ------------------------------------------------------------------ constructor checks
@pytest.mark.parametrize("key", ["lambda_reg", "lambda_sty", "lambda_ds", "lambda_cyc"])
def test_v2_refuses_a_negative_loss_weight(key):
    with pytest.raises(ValueError, match=rf"model\.{key}=-5.0 is invalid: expected a weight >= 0"):
        StarGANv2Module(**{**TINY, key: -5.0})


def test_v2_refuses_a_nan_loss_weight():
    with pytest.raises(ValueError, match=r"model\.lambda_cyc=nan is invalid"):
        StarGANv2Module(**{**TINY, "lambda_cyc": float("nan")})


def test_a_zero_weight_is_allowed():
    """0 switches a term off (an ablation), so it is not an error."""
    StarGANv2Module(**{**TINY, "lambda_sty": 0.0, "lambda_ds": 0})


@pytest.mark.parametrize("key", ["lambda_cls", "lambda_rec", "lambda_gp"])
def test_v1_refuses_a_negative_loss_weight(key):
    with pytest.raises(ValueError, match=rf"model\.{key}=-1.0 is invalid: expected a weight >= 0"):
        StarGANv1Module(**{**TINY_V1, key: -1.0})


def test_v2_refuses_one_domain():
    with pytest.raises(
        ValueError, match=r"model\.num_domains=1 is invalid: expected an integer >= 2"
    ):
        StarGANv2Module(**{**TINY, "num_domains": 1})


def test_v1_refuses_one_domain():
    with pytest.raises(ValueError, match=r"model\.num_domains=1 is invalid: expected at least 2"):
        StarGANv1Module(**{**TINY_V1, "num_domains": 1})


# ------------------------------------------------------------------ translate's inputs
def test_translate_refuses_8bit_values(v2, v1):
    x = torch.randint(0, 256, (2, 3, 32, 32)).float()
    for model in (v2, v1):
        with pytest.raises(ValueError, match=r"x has values in \[0, 255\]: expected .*\[-1, 1\]"):
            model.translate(x, 1)


def test_translate_refuses_uint8_images(v2):
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"x has dtype torch.uint8: expected a float tensor"):
        v2.translate(x, 1)


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (3, 32, 32), (2, 32, 32, 3)])
def test_translate_refuses_a_wrong_shape(v2, v1, shape):
    x = torch.rand(shape) * 2 - 1
    for model in (v2, v1):
        with pytest.raises(ValueError, match=r"x has shape .*: expected \(N, 3, 32, 32\)"):
            model.translate(x, 1)


def test_translate_refuses_a_list_of_labels(v2, v1):
    for model in (v2, v1):
        with pytest.raises(TypeError, match=r"y_trg=\[0, 1\] is a list: expected an int"):
            model.translate(images(), [0, 1])


def test_translate_refuses_float_or_misshaped_labels(v2):
    with pytest.raises(TypeError, match=r"y_trg has dtype torch.float32"):
        v2.translate(images(), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"y_trg has shape \(3,\): expected \(2,\)"):
        v2.translate(images(), torch.tensor([0, 1, 1]))


def test_translate_checks_the_reference_images(v2):
    with pytest.raises(ValueError, match=r"x_ref has values in"):
        v2.translate(images(), 1, x_ref=images() * 255)


def test_translate_accepts_a_small_overshoot_and_integer_labels(v2):
    """Resampling overshoots [-1, 1] a little: that is not another range."""
    x = images().clamp(-1, 1) * 1.05
    out = v2.translate(x, torch.tensor([0, 1], dtype=torch.int32))
    assert out.shape == (2, 3, 32, 32)


def test_translate_clamps_its_output(v2, v1):
    """A net whose raw output leaves [-1, 1] (the last conv scaled up) is clamped."""
    for model in (v2, v1):
        net = model.inference_net("generator")
        last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        saved = last.weight.detach().clone()
        try:
            with torch.no_grad():
                last.weight.mul_(1000)
            out = model.translate(images(), 1)
        finally:
            with torch.no_grad():
                last.weight.copy_(saved)
        assert out.min() >= -1 and out.max() <= 1
        assert out.abs().max() == 1  # it did reach past the range


# ------------------------------------------------------------------ truncation psi
@pytest.mark.parametrize("psi", [-0.5, 1.5, float("nan")])
def test_latent_styles_refuse_psi_outside_0_1(v2, psi):
    from starganv2.synthesis.styles import latent_styles, truncate

    z = torch.randn(2, TINY["latent_dim"])
    s_mean = torch.zeros(TINY["num_domains"], v2.style_dim)
    with pytest.raises(ValueError, match=r"psi=.* is invalid: expected a truncation in \[0, 1\]"):
        latent_styles(v2, z, 1, psi=psi, s_mean=s_mean)
    with pytest.raises(ValueError, match=r"psi=.* is invalid"):
        truncate(torch.randn(2, v2.style_dim), s_mean, psi, torch.tensor([0, 1]))


def test_translate_refuses_another_dtype_naming_the_argument(v2, v1):
    x = images()
    for model in (v2, v1):
        with pytest.raises(TypeError, match=r"x has dtype torch.float64: expected torch.float32"):
            model.translate(x.double(), 1)
    with pytest.raises(TypeError, match=r"z has dtype torch.float64: expected torch.float32"):
        v2.translate(x, 1, z=torch.randn(2, TINY["latent_dim"], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x_ref has dtype torch.float64"):
        v2.translate(x, 1, x_ref=x.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts: any float is fine
        assert v2.translate(x.bfloat16(), 1).shape == x.shape


def test_float64_under_autocast_is_refused_naming_the_argument(v2):
    """Autocast casts float32 and float16 but leaves float64 alone, which then met the
    lower-precision weights deep inside a conv ("Input type (double) and bias type ...")."""
    x = images(2)
    z = torch.randn(2, TINY["latent_dim"])
    s = v2.style_from_latent(z, torch.tensor([1, 1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for key, kw, given in (
            ("x", {}, x.double()),
            ("z", {"z": z.double()}, x),
            ("x_ref", {"x_ref": x.double()}, x),
            ("s", {"s": s.double()}, x),
        ):
            with pytest.raises(TypeError, match=rf"^{key} has dtype torch.float64, which autocast"):
                v2.translate(given, 1, **kw)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            assert v2.translate(x.to(dtype), 1, z=z.to(dtype)).shape == x.shape


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"z": torch.randn(4, 3)}, r"z has shape \(4, 3\): expected \(4, 4\).*latent_dim=4"),
        ({"z": torch.randn(2, 4)}, r"z has shape \(2, 4\): expected \(4, 4\)"),
        ({"s": torch.randn(4, 3)}, r"s has shape \(4, 3\): expected \(4, \d+\).*style_dim"),
        ({"x_ref": images(2)}, "x_ref has 2 images but x has 4"),
    ],
)
def test_translate_checks_codes_and_reference_batch_against_x(v2, kw, message):
    with pytest.raises(ValueError, match=message):
        v2.translate(images(4), torch.tensor([0, 1, 0, 1]), **kw)


# ------------------------------------------------------------------ style-code functions
def test_style_from_reference_refuses_what_translate_refuses(v2):
    """8-bit references used to give huge style codes silently, uint8 ones torch's dtype error."""
    y = torch.tensor([0, 1])
    with pytest.raises(
        ValueError, match=r"x_ref has values in \[.*\]: expected images in \[-1, 1\]"
    ):
        v2.style_from_reference((images() + 1) * 127.5, y)
    with pytest.raises(TypeError, match=r"x_ref has dtype torch.uint8: expected a float tensor"):
        v2.style_from_reference(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), y)
    with pytest.raises(ValueError, match=r"y has shape \(3,\): expected \(2,\)"):
        v2.style_from_reference(images(), torch.tensor([0, 1, 1]))


def test_style_from_latent_checks_its_codes_and_labels(v2):
    z = torch.randn(4, TINY["latent_dim"])
    with pytest.raises(ValueError, match=r"y values must be in \[0, 2\), got \[0, 1, 5\]"):
        v2.style_from_latent(z, torch.tensor([0, 1, 1, 5]))
    with pytest.raises(ValueError, match=r"z has shape \(16,\): expected \(N, 4\)"):
        v2.style_from_latent(torch.randn(16), 1)
    with pytest.raises(TypeError, match=r"y=\[0, 1, 0, 1\] is a list: expected an int"):
        v2.style_from_latent(z, [0, 1, 0, 1])


def test_style_functions_take_one_int_for_every_row_as_translate_does(v2):
    z, x = torch.randn(2, TINY["latent_dim"]), images()
    ones = torch.ones(2, dtype=torch.long)
    torch.testing.assert_close(v2.style_from_latent(z, 1), v2.style_from_latent(z, ones))
    torch.testing.assert_close(v2.style_from_reference(x, 1), v2.style_from_reference(x, ones))


def test_numpy_integer_domains_count_as_ints(v2, v1):
    x, z = images(), torch.randn(2, TINY["latent_dim"])
    torch.testing.assert_close(v2.translate(x, np.int64(1), z=z), v2.translate(x, 1, z=z))
    assert v1.translate(x, np.int32(1)).shape == x.shape
    torch.testing.assert_close(v2.style_from_latent(z, np.int64(1)), v2.style_from_latent(z, 1))
    with pytest.raises(TypeError, match=r"y_trg=.*True.* is a bool_?: expected an int"):
        v2.translate(x, np.True_)


def test_an_empty_batch_translates_to_an_empty_batch(v2):
    for kw in ({}, {"z": torch.randn(0, TINY["latent_dim"])}, {"x_ref": images(0)}):
        out = v2.translate(images(0), 1, **kw)
        assert out.shape == (0, 3, 32, 32)


def test_an_empty_batch_translates_to_an_empty_batch_in_stargan_v1_too(v1):
    """StarGAN v1 failed in torch's instance norm ('select(): index 0 out of range')."""
    assert v1.translate(images(0), 1).shape == (0, 3, 32, 32)
    assert v1.translate_labels(images(0), torch.zeros(0, TINY_V1["num_domains"])).shape == (
        0,
        3,
        32,
        32,
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_converted_model_draws_its_latent_codes_in_its_dtype(dtype):
    """README allows converted models; fresh codes used to be float32 (a dtype mismatch)."""
    from starganv2.synthesis.styles import latent_styles, style_means

    model = StarGANv2Module(**TINY).eval().to(dtype)
    x = images().to(dtype)
    assert model.translate(x, 1).dtype == dtype
    means = style_means(model, num=10)
    assert means.shape == (TINY["num_domains"], TINY["style_dim"])
    z = torch.randn(2, TINY["latent_dim"], dtype=dtype)
    assert latent_styles(model, z, 1, psi=0.7, s_mean=means).dtype == dtype


@pytest.mark.parametrize("key", ["x", "x_ref", "z", "s"])
def test_translate_names_an_input_on_another_device_than_the_model(v2, key):
    """An input on another device than the model (CPU model, CUDA images) used to fail deep in a
    conv or in the value-range check with torch's words, naming no argument; the "meta" device
    stands in for the other device (no GPU needed)."""
    shapes = {"x": (2, 3, 32, 32), "x_ref": (2, 3, 32, 32), "z": (2, 4), "s": (2, 8)}
    x = torch.zeros(2, 3, 32, 32)
    elsewhere = torch.empty(shapes[key], device="meta")
    args = {"x": elsewhere} if key == "x" else {"x": x, key: elsewhere}
    with pytest.raises(
        ValueError, match=rf"^{key} is on meta but the model is on cpu: .*{key}\.to"
    ):
        v2.translate(y_trg=1, **args)


def test_style_functions_and_v1_name_an_input_on_another_device(v2, v1):
    """``style_from_latent``, ``style_from_reference`` and StarGAN v1's ``translate`` check the
    device as ``translate`` does."""
    with pytest.raises(ValueError, match=r"^z is on meta but the model is on cpu"):
        v2.style_from_latent(torch.empty(2, 4, device="meta"), 1)
    with pytest.raises(ValueError, match=r"^x_ref is on meta but the model is on cpu"):
        v2.style_from_reference(torch.empty(2, 3, 32, 32, device="meta"), 1)
    with pytest.raises(ValueError, match=r"^x is on meta but the model is on cpu"):
        v1.translate(torch.empty(2, 3, 32, 32, device="meta"), 1)
