"""Hyperparameters are saved as plain Python values, so checkpoints load with
``torch.load(weights_only=True)``; checkpoints written before that (OmegaConf containers in
``hyper_parameters``) still load through ``load_model`` and ``read_checkpoint``."""

from __future__ import annotations

import pickle
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from starganv2.models.registry import load_model, read_checkpoint
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY

PLAIN = (type(None), bool, int, float, str)

V2_CONTAINERS = {
    "downsample": {"generator": "strided", "style_encoder": "blur"},
    "skip": "attention",
    "skip_resolutions": [32],
    "compile_nets": [],
}
V1_CONTAINERS = {
    "label_mode": "multi",
    "num_domains": 3,
    "attributes": ["a", "b", "c"],
    "exclusive": [["a", "b"]],
}


def _assert_plain(value, where):
    """``value`` holds only None, bools, numbers, strings, and lists/tuples/dicts of them."""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _assert_plain(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str, where
            _assert_plain(v, f"{where}.{k}")
    else:
        assert type(value) in PLAIN, f"{where} is a {type(value).__name__}"


def _from_config(target: type, **kw):
    """The module as Hydra builds it from a config: containers arrive as OmegaConf ones."""
    cfg = OmegaConf.create({"_target_": f"{target.__module__}.{target.__qualname__}", **kw})
    return hydra.utils.instantiate(cfg)


def _save(model, path: Path) -> Path:
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (StarGANv2Module, {**TINY, **V2_CONTAINERS, "fan_weights": Path("wing.ckpt")}),
        (StarGANv1Module, {"img_size": 32, "g_conv_dim": 8, "d_conv_dim": 8, **V1_CONTAINERS}),
    ],
    ids=["stargan_v2", "stargan_v1"],
)
def test_every_hyperparameter_of_a_module_built_from_a_config_is_plain(cls, kw):
    fan_weights = kw.pop("fan_weights", None)
    model = _from_config(cls, **kw)
    if fan_weights is not None:  # a Path from Python would pickle as pathlib.PosixPath
        model = cls(**{**kw, "fan_weights": fan_weights})
    for key, value in model.hparams.items():
        _assert_plain(value, key)


def test_a_checkpoint_of_a_per_net_downsample_and_skip_resolutions_loads(tmp_path):
    model = _from_config(StarGANv2Module, **TINY, **V2_CONTAINERS)
    path = _save(model, tmp_path / "m.ckpt")
    saved = torch.load(path, map_location="cpu", weights_only=True)  # no OmegaConf allowed
    assert saved["hyper_parameters"]["downsample"] == V2_CONTAINERS["downsample"]
    assert read_checkpoint(path)["hyper_parameters"]["skip_resolutions"] == [32]
    loaded = load_model(path)
    assert loaded.hparams.downsample == V2_CONTAINERS["downsample"]
    assert loaded.hparams.skip_resolutions == [32]
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_holding_omegaconf_containers_still_loads(tmp_path):
    """What the library wrote before: ``downsample`` a DictConfig, ``skip_resolutions`` a
    ListConfig, as Hydra passed them to the module."""
    model = StarGANv2Module(**TINY, **V2_CONTAINERS)
    path = _save(model, tmp_path / "old.ckpt")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = OmegaConf.create(V2_CONTAINERS)
    hparams = checkpoint["hyper_parameters"]
    hparams["downsample"], hparams["skip_resolutions"] = config.downsample, config.skip_resolutions
    assert isinstance(hparams["downsample"], DictConfig)
    assert isinstance(hparams["skip_resolutions"], ListConfig)
    torch.save(checkpoint, path)
    with pytest.raises(pickle.UnpicklingError):  # what made such files unloadable
        torch.load(path, map_location="cpu", weights_only=True)

    read = read_checkpoint(path)["hyper_parameters"]
    assert type(read["downsample"]) is dict and read["downsample"] == V2_CONTAINERS["downsample"]
    assert type(read["skip_resolutions"]) is list and read["skip_resolutions"] == [32]
    loaded = load_model(path)
    assert type(loaded.hparams.downsample) is dict
    assert type(loaded.hparams.skip_resolutions) is list
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
