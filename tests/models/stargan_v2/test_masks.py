"""The FAN wired into StarGANv2Module (``w_hpf > 0``): required weights, frozen and outside the
optimizers and the EMA, masks in training and inference, checkpoints that carry the FAN."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.models.registry import load_model
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.grids import reference_grid
from starganv2.synthesis.translate_folder import translate_folder
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.fan import random_fan, write_wing_ckpt

HPF = {**TINY, "img_size": 64, "w_hpf": 1.0}


@pytest.fixture(scope="module")
def wing(tmp_path_factory):
    return write_wing_ckpt(tmp_path_factory.mktemp("fan") / "wing.ckpt", seed=5)


@pytest.fixture
def module(wing):
    torch.manual_seed(0)
    return StarGANv2Module(**HPF, fan_weights=str(wing))


class CountingMasks:
    """Stands in for ``fan.masks``: records the images it was asked for, then calls it."""

    def __init__(self, fan):
        self.masks, self.fan, self.calls, self.training = fan.masks, fan, [], []

    def __call__(self, x):
        self.calls.append(x)
        self.training.append(self.fan.training)
        return self.masks(x)


def _images(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_w_hpf_without_fan_weights_fails_naming_the_key_and_the_file():
    """The weights are read when first needed: before training (``setup``), at the first mask,
    at the first ``state_dict()``; each fails naming the key."""
    module = StarGANv2Module(**HPF)
    with pytest.raises(ValueError, match="model.fan_weights is not set") as err:
        module.setup("fit")
    assert "wing.ckpt" in str(err.value) and "download.sh wing" in str(err.value)
    assert "shapes data use model.mask_provider=shape_oracle" in str(err.value)  # no FAN needed
    with pytest.raises(ValueError, match="model.fan_weights is not set"):
        module.translate(_images(), 0)
    with pytest.raises(ValueError, match="model.fan_weights is not set"):
        module.state_dict()
    with pytest.raises(FileNotFoundError, match=r"model.fan_weights='nope/wing.ckpt'"):
        StarGANv2Module(**HPF, fan_weights="nope/wing.ckpt").setup("fit")
    with pytest.raises(ValueError, match="model.fan_weights is not set"):
        quiet_trainer().fit(StarGANv2Module(**HPF), random_loader(n=2, img_size=64))


def test_the_fan_weights_are_read_once_when_first_needed(wing, monkeypatch):
    from starganv2.faces.fan import FAN

    reads = []
    real = FAN.load_weights
    monkeypatch.setattr(FAN, "load_weights", lambda *a, **k: reads.append(1) or real(*a, **k))
    module = StarGANv2Module(**HPF, fan_weights=str(wing))
    assert reads == []  # building reads nothing
    module.eval().translate(_images(), 0)
    module.setup("fit")
    module.state_dict()
    assert reads == [1]


def test_without_the_skip_there_is_no_fan(wing, caplog):
    with caplog.at_level(logging.WARNING):
        module = StarGANv2Module(**TINY, fan_weights=str(wing))
    assert module.fan is None and "is not used: w_hpf=0.0" in caplog.text
    assert not any(k.startswith("fan.") for k in module.state_dict())


def test_fan_is_frozen_loaded_and_outside_optimizers_and_ema(module, wing):
    want = torch.load(wing, weights_only=True)["state_dict"]
    got = module.fan.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # no He init over it
    assert not any(p.requires_grad for p in module.fan.parameters())
    fan_ids = {id(p) for p in module.fan.parameters()}
    for opt in module.build_optimizers():
        assert not fan_ids & {id(p) for g in opt.param_groups for p in g["params"]}
    assert set(module.nets_ema) == {"generator", "mapping_network", "style_encoder"}
    assert "fan" not in module.nets and set(module.param_counts()) == set(module.nets)
    assert sum(k.startswith("fan.") for k in module.state_dict()) == 336
    module.train()
    assert not module.fan.training and module.nets["generator"].training


def test_training_computes_masks_of_the_source_once_and_of_each_cycle_fake(module):
    counting = CountingMasks(module.fan)
    module.fan.masks = counting  # the instance attribute shadows the method
    stats = {k: v.clone() for k, v in module.fan.state_dict().items() if "running" in k}
    module.hparams.total_iters = 1
    quiet_trainer(max_epochs=1).fit(module, random_loader(n=2, img_size=64))
    assert module.iteration == 1
    x_real = counting.calls[0]
    assert len(counting.calls) == 3, "x_real once (D and G updates) + one fake per G update"
    assert all(c.data_ptr() != x_real.data_ptr() for c in counting.calls[1:])
    assert not any(counting.training)
    for k, v in module.fan.state_dict().items():
        if "running" in k:
            assert torch.equal(v, stats[k]), k  # BatchNorm statistics never moved


def test_translate_and_export_graphs_use_the_masks(module):
    module.eval()
    x, x_ref, z = _images(), _images(seed=1), torch.randn(2, HPF["latent_dim"])
    y = torch.tensor([0, 1])
    s = module.style_from_latent(z, y)
    g = module.nets_ema["generator"]
    with torch.no_grad():
        want = g(x, s, masks=module.fan.masks(x))
        assert not torch.allclose(want, g(x, s), atol=1e-3)  # the skip changes the output
        # translate and the export graphs both clamp the generator's output to [-1, 1]
        torch.testing.assert_close(module.translate(x, y, z=z), want.clamp(-1, 1), rtol=0, atol=0)
        torch.testing.assert_close(module.inference_graph("latent")(x, y, z), want.clamp(-1, 1))
        torch.testing.assert_close(
            module.inference_graph("reference")(x, y, x_ref),
            module.translate(x, y, x_ref=x_ref),
        )


def test_sampling_and_folder_translation_use_the_masks(module, tmp_path):
    from PIL import Image

    module.eval()
    counting = CountingMasks(module.fan)
    module.fan.masks = counting
    reference_grid(module, _images(2), _images(2, seed=3), torch.tensor([0, 1]))
    assert len(counting.calls) == 1  # the sources' masks, once for every reference row
    (tmp_path / "in").mkdir()
    Image.new("RGB", (50, 40), (120, 80, 60)).save(tmp_path / "in" / "face.png")
    report = translate_folder(module, tmp_path / "in", tmp_path / "out", progress=False)
    assert report.written == 2 and len(counting.calls) == 2  # once for both domains


def _save(module, path):
    trainer = quiet_trainer()
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def test_checkpoints_carry_the_fan_so_the_weights_file_may_go(module, wing, tmp_path):
    local = write_wing_ckpt(tmp_path / "wing.ckpt", seed=5)
    module = StarGANv2Module(**HPF, fan_weights=str(local)).eval()
    ckpt = _save(module, tmp_path / "m.ckpt")
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    assert sum(k.startswith("fan.") for k in state) == 336
    assert not any("coords" in k for k in state)
    local.unlink()
    loaded = load_model(ckpt)
    x, z = _images(), torch.randn(2, HPF["latent_dim"])
    with torch.no_grad():
        torch.testing.assert_close(loaded.translate(x, 1, z=z), module.translate(x, 1, z=z))
    assert not loaded.fan.training


def test_a_checkpoint_without_fan_weights_takes_them_from_fan_weights(module, wing, tmp_path):
    ckpt = _save(module.eval(), tmp_path / "m.ckpt")
    raw = torch.load(ckpt, weights_only=False)
    raw["state_dict"] = {k: v for k, v in raw["state_dict"].items() if not k.startswith("fan.")}
    raw["hyper_parameters"]["fan_weights"] = None
    torch.save(raw, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match="holds no FAN weights: pass them"):
        StarGANv2Module.load_from_checkpoint(tmp_path / "old.ckpt")
    other = write_wing_ckpt(tmp_path / "other.ckpt", seed=6)
    loaded = StarGANv2Module.load_from_checkpoint(tmp_path / "old.ckpt", fan_weights=str(other))
    want = random_fan(6).state_dict()
    assert all(torch.equal(loaded.fan.state_dict()[k], want[k]) for k in want)


def test_the_export_graph_gets_a_fan_with_its_weights_read(wing):
    """ONNX export traces the graph: the file must be read before, not inside the trace."""
    module = StarGANv2Module(**HPF, fan_weights=str(wing))
    module.inference_graph("latent")
    want = torch.load(wing, weights_only=True)["state_dict"]
    got = dict(module.fan.named_parameters())
    assert torch.equal(got["conv1.conv.weight"], want["conv1.conv.weight"])
