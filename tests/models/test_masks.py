"""Mask providers of the high-pass skip: the protocol, the registry (names, building, where each
provider registers), the masked generator of the graphs and the module wiring. The shapes
oracle's masks themselves: tests/data/test_shape_masks.py."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from starganv2.data.shape_masks import ShapeOracleMasks
from starganv2.faces.fan import FAN
from starganv2.models.masks import (
    MASK_PROVIDERS,
    MaskProvider,
    build_mask_provider,
    check_mask_provider,
    register_mask_provider,
)
from starganv2.models.stargan_v2.graphs import MaskedGenerator
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.nets import Generator
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.fan import random_fan, write_wing_ckpt

ORACLE = {**TINY, "w_hpf": 1.0, "mask_provider": "shape_oracle"}


def test_providers_follow_the_protocol():
    assert isinstance(ShapeOracleMasks(), MaskProvider)
    assert isinstance(FAN(), MaskProvider)
    assert check_mask_provider("shape_oracle") == "shape_oracle"
    with pytest.raises(ValueError, match=r"mask_provider='faces' is invalid: expected one of"):
        check_mask_provider("faces")


class _Halves:
    """A provider that is no ``nn.Module``: the left half of the image, for both skips."""

    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.zeros_like(x[:, :1])  # (N, 1, H, W)
        m[..., : x.size(-1) // 2] = 1
        return m, m


def _halves(*, weights, key, load_weights):
    return _Halves()


@pytest.fixture
def halves():
    register_mask_provider("halves", _halves)
    yield "halves"
    MASK_PROVIDERS.pop("halves")


def test_unknown_provider_names_the_key_and_lists_the_known_names(halves):
    with pytest.raises(ValueError) as err:
        build_mask_provider("faces", w_hpf=1.0)
    assert "mask_provider='faces' is invalid" in str(err.value)
    assert "['fan', 'halves', 'shape_oracle']" in str(err.value)
    with pytest.raises(ValueError, match="mask_provider='faces'"):
        build_mask_provider("faces", w_hpf=0.0)  # the name is checked with or without the skip


def test_build_gives_each_registered_provider_and_none_without_the_skip(tmp_path, halves, caplog):
    assert isinstance(build_mask_provider("shape_oracle", w_hpf=1.0), ShapeOracleMasks)
    assert isinstance(build_mask_provider(halves, w_hpf=1.0), _Halves)
    bare = build_mask_provider("fan", w_hpf=1.0, load_weights=False)
    assert isinstance(bare, FAN)
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=3)
    loaded = build_mask_provider("fan", w_hpf=1.0, weights=str(wing), key="model.fan_weights")
    want = random_fan(3).state_dict()
    assert all(torch.equal(v, want[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(ValueError, match=r"model.fan_weights is not set: download wing.ckpt"):
        build_mask_provider("fan", w_hpf=1.0)
    with pytest.raises(ValueError, match=r"shapes data use model.mask_provider=shape_oracle;"):
        build_mask_provider("fan", w_hpf=1.0)
    with caplog.at_level(logging.WARNING):
        assert build_mask_provider("fan", w_hpf=0.0, weights=str(wing)) is None
    assert f"model.fan_weights={str(wing)!r} is not used: w_hpf=0.0" in caplog.text


def test_a_name_belongs_to_one_provider(halves):
    register_mask_provider(halves, _halves)  # the same function again (a reloaded module): fine
    with pytest.raises(ValueError, match=r"mask provider 'fan' is already registered by"):
        register_mask_provider("fan", _halves)
    assert MASK_PROVIDERS["halves"] is _halves


def _no_masks(*, weights, key, load_weights):
    return object()


def test_a_provider_without_masks_is_refused_when_built(monkeypatch):
    """A factory that returns an object without ``masks(x)`` built a module, which then failed at
    its first translation with ``AttributeError: 'object' object has no attribute 'masks'``,
    naming neither the provider nor what it must have."""
    monkeypatch.setitem(MASK_PROVIDERS, "no_masks", _no_masks)
    with pytest.raises(TypeError) as err:
        StarGANv2Module(**{**TINY, "w_hpf": 1.0, "mask_provider": "no_masks"})
    assert str(err.value) == (
        "mask provider 'no_masks': its factory tests.models.test_masks:_no_masks returned "
        "object, which has no masks(x) method: expected masks(x) -> (mask_32, mask_64_128), "
        "each (N, 1, h, w) in [0, 1]"
    )


def test_every_provider_is_known_without_importing_its_layer_or_torch():
    """The data layer's provider is registered by the package root, not by an upward import from
    models, and registering imports no torch (``import starganv2`` stays light)."""
    code = (
        "import sys; from starganv2.models.masks import MASK_PROVIDERS; "
        "print(sorted(MASK_PROVIDERS), 'torch' in sys.modules, "
        "'starganv2.data.shape_masks' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['fan',", "'shape_oracle']", "False", "False"]


def test_masked_generator_takes_any_provider():
    torch.manual_seed(0)
    gen = Generator(32, TINY["style_dim"], 64, w_hpf=1.0, dim_in=16).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x, s = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, TINY["style_dim"])
    for provider in (_Halves(), ShapeOracleMasks()):
        graph = MaskedGenerator(gen, provider)
        assert graph.provider is provider
        with torch.no_grad():
            torch.testing.assert_close(graph(x, s), gen(x, s, masks=provider.masks(x)))
    with torch.no_grad():
        assert not torch.allclose(MaskedGenerator(gen, _Halves())(x, s), gen(x, s))
    with pytest.raises(TypeError, match="provider=Tensor: expected a mask provider"):
        MaskedGenerator(gen, x)


def test_module_with_the_oracle_needs_no_fan_and_feeds_the_masks():
    module = StarGANv2Module(**ORACLE)
    assert module.fan is None and isinstance(module.mask_source, ShapeOracleMasks)
    assert not any(k.startswith(("fan.", "shape_oracle.")) for k in module.state_dict())
    gen = module.nets_ema["generator"]
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    s = torch.randn(2, TINY["style_dim"])
    masks = module.mask_source.masks(x)
    # translate clamps to [-1, 1]; the nets and export graphs give the raw output
    torch.testing.assert_close(module.translate(x, 1, s=s), gen(x, s, masks=masks).clamp(-1, 1))
    assert not torch.allclose(gen(x, s, masks=masks), gen(x, s))
    graph = module.inference_graph("reference")
    torch.testing.assert_close(
        graph(x, torch.tensor([1, 1]), x).clamp(-1, 1), module.translate(x, 1, x_ref=x)
    )


def test_module_with_the_oracle_trains(monkeypatch):
    module = StarGANv2Module(**ORACLE, total_iters=1)
    calls = []
    original = ShapeOracleMasks.masks

    def counting(self, x):
        calls.append(x.shape)
        return original(self, x)

    monkeypatch.setattr(ShapeOracleMasks, "masks", counting)
    quiet_trainer().fit(module, random_loader(n=4, batch_size=2))
    assert module.iteration == 1
    assert len(calls) == 3  # the sources once (MasksOnce), the cycle's fake in each G update


def test_oracle_is_ignored_without_the_skip():
    module = StarGANv2Module(**{**TINY, "mask_provider": "shape_oracle"})
    assert module.mask_source is None
