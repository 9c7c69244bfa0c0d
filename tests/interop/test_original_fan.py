"""Converting original CelebA-HQ checkpoints keeps the face-landmark net (``fan`` entry), or takes
``--fan wing.ckpt``; AFHQ files (``w_hpf=0``) drop it."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.cli.convert import main as convert_main
from starganv2.interop.original import ConversionError, convert_checkpoint
from starganv2.models.registry import load_model
from starganv2.models.stargan_v2.module import EMA_NETS, StarGANv2Module
from tests.helpers import TINY
from tests.helpers.fan import fan_state, random_fan, write_wing_ckpt

HPF = {**TINY, "img_size": 64, "w_hpf": 1.0}


def _release(tmp_path, module, fan_seed=None, prefix="module."):
    """An original ``100000_nets_ema.ckpt`` of ``module`` (optionally with a ``fan`` entry)."""
    ema = {
        n: {prefix + k: v.clone() for k, v in module.nets_ema[n].state_dict().items()}
        for n in EMA_NETS
    }
    ema["generator"].pop(prefix + "hpf.filter", None)  # as in the 2020 CelebA-HQ release
    if fan_seed is not None:
        ema["fan"] = fan_state(fan_seed, prefix)
    path = tmp_path / "release" / "100000_nets_ema.ckpt"
    path.parent.mkdir(exist_ok=True)
    torch.save(ema, path)
    return path


def _same_fan(fan, seed):
    want = random_fan(seed).state_dict()
    return all(torch.equal(fan.state_dict()[k], want[k]) for k in want)


@pytest.fixture
def hpf_module(tmp_path):
    torch.manual_seed(0)
    return StarGANv2Module(**HPF, fan_weights=str(write_wing_ckpt(tmp_path / "w0.ckpt", 0)))


def test_the_fan_entry_is_kept_and_the_result_needs_no_other_file(hpf_module, tmp_path):
    src = _release(tmp_path, hpf_module, fan_seed=7)
    out = tmp_path / "celeba_hq.ckpt"
    module = convert_checkpoint(src, out)
    assert module.hparams.w_hpf == 1.0 and module.hparams.fan_weights == str(src)
    assert _same_fan(module.fan, 7)
    src.unlink()
    loaded = load_model(out)
    assert _same_fan(loaded.fan, 7)
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, HPF["latent_dim"])
    with torch.no_grad():
        want = hpf_module.nets_ema["generator"](
            x, loaded.style_from_latent(z, torch.tensor([1, 1])), masks=loaded.fan.masks(x)
        )
        torch.testing.assert_close(loaded.translate(x, 1, z=z), want.clamp(-1, 1))  # clamped


def test_fan_option_replaces_the_entry(hpf_module, tmp_path):
    src = _release(tmp_path, hpf_module, fan_seed=7)
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=8)
    rc = convert_main([str(src), str(tmp_path / "out.ckpt"), "--fan", str(wing)])
    assert rc == 0
    assert _same_fan(load_model(tmp_path / "out.ckpt").fan, 8)


def test_no_fan_anywhere_is_an_error_naming_the_option(hpf_module, tmp_path, caplog):
    src = _release(tmp_path, hpf_module, fan_seed=None)
    with pytest.raises(ConversionError, match=r"no 'fan' entry: pass .* --fan wing.ckpt"):
        convert_checkpoint(src, tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()
    with caplog.at_level(logging.ERROR):
        assert convert_main([str(src), str(tmp_path / "out.ckpt")]) == 1
    assert "--fan wing.ckpt" in caplog.text


def test_a_broken_fan_entry_is_reported(hpf_module, tmp_path, caplog):
    src = _release(tmp_path, hpf_module, fan_seed=None)
    raw = torch.load(src, weights_only=True)
    raw["fan"] = {"conv1.conv.weight": torch.zeros(64, 6, 7, 7)}
    torch.save(raw, src)
    with caplog.at_level(logging.INFO):
        assert convert_main([str(src), str(tmp_path / "out.ckpt")]) == 1
    assert "280 of the 336 FAN weights are missing" in caplog.text  # counters not counted
    assert "num_batches_tracked" not in caplog.text  # a wrong file gets the error alone


def test_afhq_files_drop_the_fan(tmp_path, caplog):
    torch.manual_seed(0)
    src = _release(tmp_path, StarGANv2Module(**TINY), fan_seed=7, prefix="")
    with caplog.at_level(logging.INFO, logger="starganv2.interop.original"):
        module = convert_checkpoint(src, tmp_path / "afhq.ckpt")
    assert module.fan is None and "ignoring 'fan' (w_hpf=0" in caplog.text
    assert not any(k.startswith("fan.") for k in module.state_dict())


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"junk", "could not be read"), ({}, "FAN weights are missing")],
)
def test_errors_about_the_fan_file_name_the_option(hpf_module, tmp_path, caplog, content, expected):
    """They named model.fan_weights, a training setting this command has no option for."""
    src = _release(tmp_path, hpf_module, fan_seed=7)
    wing = tmp_path / "wing.ckpt"
    if isinstance(content, bytes):
        wing.write_bytes(content)
    elif content is not None:
        torch.save({"x": torch.zeros(2)}, wing)
    with caplog.at_level(logging.ERROR):
        rc = convert_main([str(src), str(tmp_path / "out.ckpt"), "--fan", str(wing)])
    assert rc == 1
    assert f"--fan={str(wing)!r}" in caplog.text and expected in caplog.text
    assert "model.fan_weights" not in caplog.text
    assert not (tmp_path / "out.ckpt").exists()
