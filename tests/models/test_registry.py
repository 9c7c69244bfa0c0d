"""Checkpoints load by the model name they record; older checkpoints (no name) are StarGAN v2."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from starganv2.models.registry import CheckpointError, load_model, model_class
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader


def _save(model, path):
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def test_load_model_reads_the_class_from_the_checkpoint(tmp_path):
    model = StarGANv2Module(**TINY)
    model.iteration = 7
    path = _save(model, tmp_path / "m.ckpt")
    assert torch.load(path, weights_only=False)["starganv2"]["model"] == "stargan_v2"
    loaded = load_model(path)
    assert type(loaded) is StarGANv2Module and loaded.iteration == 7 and not loaded.training
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, 4)
    torch.testing.assert_close(loaded.translate(x, 1, z=z), model.eval().translate(x, 1, z=z))


def test_checkpoints_from_before_the_layout_change_still_load_and_resume(tmp_path):
    """0.1 checkpoints: no model name, no checkpoint-callback state."""
    model = StarGANv2Module(**TINY, total_iters=3)
    model.iteration = 2
    path = _save(model, tmp_path / "old.ckpt")
    ckpt = torch.load(path, weights_only=False)
    ckpt["starganv2"] = {"iteration": 2}  # what 0.1 wrote
    ckpt["callbacks"] = {}
    torch.save(ckpt, path)
    assert type(load_model(path)) is StarGANv2Module
    resumed = StarGANv2Module(**TINY, total_iters=3)
    quiet_trainer().fit(resumed, random_loader(n=4), ckpt_path=path)
    assert resumed.iteration == 3


def test_unknown_model_name_is_a_clear_error(tmp_path):
    path = _save(StarGANv2Module(**TINY), tmp_path / "m.ckpt")
    ckpt = torch.load(path, weights_only=False)
    ckpt["starganv2"]["model"] = "stargan_v9"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="unknown model 'stargan_v9'; known: \\[.*'stargan_v2'"):
        load_model(path)
    with pytest.raises(CheckpointError) as err:  # a model of one's own not registered here
        load_model(path)
    assert str(err.value).startswith(f"ckpt_path={str(path)!r} holds an unknown model")
    assert str(err.value).endswith("register_model('stargan_v9', ...) before loading it")
    with pytest.raises(FileNotFoundError, match="ckpt_path='nope.ckpt'"):
        load_model("nope.ckpt")
    assert model_class("stargan_v2") is StarGANv2Module


@pytest.mark.parametrize(
    ("write", "what"),
    [
        (lambda p: p.write_text("hello\n"), "is a text file, not a checkpoint"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: torch.save({"a": torch.zeros(3)}, p), "no training checkpoint .*\\['a'\\]"),
        (lambda p: torch.save(torch.nn.Linear(2, 2), p), "holding Python objects"),
        (
            lambda p: torch.save({"generator": {}, "style_encoder": {}}, p),
            "original StarGAN v2 file.*starganv2-convert",
        ),
        (
            lambda p: torch.save({"state_dict": {"w": torch.zeros(1)}}, p),
            "not written by this library",
        ),
    ],
)
def test_a_file_that_is_no_checkpoint_of_ours_is_one_line_naming_it(tmp_path, write, what):
    from starganv2.models.registry import CheckpointError

    path = tmp_path / "m.ckpt"
    write(path)
    with pytest.raises(CheckpointError, match=f"^ckpt_path='{path}' .*{what}") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_a_truncated_checkpoint_and_other_nets_are_one_line(tmp_path):
    from starganv2.models.registry import CheckpointError

    good = _save(StarGANv2Module(**TINY), tmp_path / "m.ckpt")
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.ckpt' is a damaged or truncated checkpoint"):
        load_model(cut)
    ckpt = torch.load(good, weights_only=False)
    ckpt["state_dict"] = {k: v[:1] for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, good)
    with pytest.raises(CheckpointError, match="m.ckpt' does not load into StarGANv2Module"):
        load_model(good)


@pytest.mark.parametrize("map_location", ["cuda", torch.device("cuda:0"), {"cpu": "cuda:0"}])
def test_a_device_this_machine_lacks_is_no_checkpoint_error(tmp_path, monkeypatch, map_location):
    """map_location="cuda" without CUDA used to be a CheckpointError blaming the file."""
    from starganv2.models.registry import CheckpointError

    path = _save(StarGANv2Module(**TINY), tmp_path / "m.ckpt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ValueError, match=r"map_location=.*cuda.*torch\.cuda\.is_available\(\)"
    ) as err:
        load_model(path, map_location=map_location)
    assert not isinstance(err.value, CheckpointError)


class _Mine(StarGANv2Module):
    MODEL_NAME = "mine"


def test_a_wrong_model_registration_is_one_line_naming_the_class(monkeypatch):
    """``register_model`` took anything: another class under ``stargan_v2`` made every stock
    checkpoint load into it, a subclass keeping ``MODEL_NAME = "stargan_v2"`` registered as
    ``mine`` wrote checkpoints ``load_model`` then loaded as StarGANv2Module, and a target
    without ``:`` failed later in ``load_model`` with ``not enough values to unpack``."""
    from starganv2.models import registry

    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    with pytest.raises(ValueError) as err:
        registry.register_model("stargan_v2", _Mine)
    assert str(err.value) == (
        "model 'stargan_v2': tests.models.test_registry:_Mine has MODEL_NAME='mine', which its "
        "checkpoints record; set MODEL_NAME = 'stargan_v2' on the class or register it as 'mine'"
    )
    with pytest.raises(ValueError, match=r"^model 'stargan_v2' is already registered to starg"):
        registry.register_model("stargan_v2", "tests.models.test_registry:_Mine")
    with pytest.raises(ValueError, match=r"^model 'x': target='a.b.C' is invalid: expected"):
        registry.register_model("x", "a.b.C")
    with pytest.raises(ValueError, match=r"^name='' is invalid"):
        registry.register_model("", _Mine)
    registry.register_model("mine", _Mine)
    registry.register_model("mine", "tests.models.test_registry:_Mine")  # the same: fine
    assert model_class("mine") is _Mine


def test_a_checkpoint_of_an_unregistered_mask_provider_names_the_file(tmp_path, monkeypatch):
    """A model trained with a mask provider of one's own, loaded where that provider is not
    registered (another script, a console script), failed with ``mask_provider='halves' is
    invalid``, naming neither the checkpoint nor that the provider must be registered first."""
    from starganv2.models.masks import MASK_PROVIDERS
    from starganv2.models.registry import CheckpointError

    def halves(*, weights, key, load_weights):
        return MASK_PROVIDERS["shape_oracle"](weights=None, key=key, load_weights=load_weights)

    monkeypatch.setitem(MASK_PROVIDERS, "halves", halves)
    model = StarGANv2Module(**{**TINY, "w_hpf": 1.0, "mask_provider": "halves"})
    path = _save(model, tmp_path / "m.ckpt")
    assert load_model(path).hparams.mask_provider == "halves"
    monkeypatch.delitem(MASK_PROVIDERS, "halves")
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    assert str(err.value).startswith(
        f"ckpt_path={str(path)!r} was trained with mask_provider='halves', which is not "
        "registered here (known: ['fan', 'shape_oracle']): import the code that calls "
        "register_mask_provider('halves', ...) before loading it"
    )
