"""Import of checkpoints saved in the original code's layout (written here by the tests)."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.interop.original import (
    ConversionError,
    convert_checkpoint,
    infer_config,
    load_original,
)
from starganv2.models.stargan_v2.module import EMA_NETS, StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.fan import fan_state, write_wing_ckpt

NETS = ("generator", "mapping_network", "style_encoder", "discriminator")


def _original_layout(module, prefix="", drop_hpf=False, fan=False):
    """The three files of the original code: dicts of per-net state dicts."""

    def pack(nets, names):
        out = {}
        for name in names:
            state = {prefix + k: v.clone() for k, v in nets[name].state_dict().items()}
            if drop_hpf:
                state.pop(prefix + "hpf.filter", None)
            out[name] = state
        return out

    ema = pack(module.nets_ema, EMA_NETS)
    if fan:
        ema["fan"] = fan_state(0, prefix)
    return ema, pack(module.nets, NETS)


def _perturbed(**kw):
    """A module whose EMA and online nets differ (so the test can tell them apart)."""
    torch.manual_seed(1)
    module = StarGANv2Module(**{**TINY, **kw})
    with torch.no_grad():
        for p in module.nets_ema.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return module


def _assert_same(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_convert_round_trip_with_and_without_module_prefix(tmp_path, prefix):
    src = _perturbed()
    ema, nets = _original_layout(src, prefix=prefix)
    torch.save(ema, tmp_path / "100_nets_ema.ckpt")
    torch.save(nets, tmp_path / "100_nets.ckpt")
    out = tmp_path / "converted.ckpt"
    convert_checkpoint(tmp_path / "100_nets_ema.ckpt", out)

    loaded = StarGANv2Module.load_from_checkpoint(out, map_location="cpu")
    for k in ("img_size", "num_domains", "latent_dim", "style_dim", "hidden_dim", "dim_in"):
        assert loaded.hparams[k] == TINY[k], k
    assert loaded.iteration == 100  # from the file name
    _assert_same(loaded.nets_ema, src.nets_ema)
    _assert_same(loaded.nets, src.nets)  # the sibling *_nets.ckpt was picked up
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4)
    torch.testing.assert_close(loaded.translate(x, 1, z=z), src.translate(x, 1, z=z))


def test_without_nets_file_online_nets_copy_ema_and_d_is_fresh(tmp_path, caplog):
    src = _perturbed()
    ema, _ = _original_layout(src)
    torch.save(ema, tmp_path / "7_nets_ema.ckpt")
    with caplog.at_level(logging.INFO, logger="starganv2.interop.original"):
        module = convert_checkpoint(
            tmp_path / "7_nets_ema.ckpt", tmp_path / "out.ckpt", iteration=0
        )
    assert "discriminator is freshly initialised" in caplog.text
    for name in EMA_NETS:
        _assert_same(module.nets[name], src.nets_ema[name])
    assert module.iteration == 0


def test_missing_hpf_filter_is_filled_and_w_hpf_inferred(tmp_path, caplog):
    src = _perturbed(w_hpf=1.0, fan_weights=str(write_wing_ckpt(tmp_path / "wing.ckpt")))
    ema, _ = _original_layout(src, drop_hpf=True, fan=True)
    assert "hpf.filter" not in ema["generator"]
    torch.save(ema, tmp_path / "nets_ema.ckpt")
    with caplog.at_level(logging.INFO, logger="starganv2.interop.original"):
        module = convert_checkpoint(tmp_path / "nets_ema.ckpt", tmp_path / "out.ckpt")
    assert "filled the missing constant buffer hpf.filter" in caplog.text
    assert module.hparams.w_hpf == 1.0
    assert module.fan is not None  # the file's face-landmark net was kept
    _assert_same(module.nets_ema, src.nets_ema)


def test_infer_config_reads_every_architecture_key(tmp_path):
    kw = {
        "img_size": 64,
        "num_domains": 3,
        "latent_dim": 5,
        "style_dim": 6,
        "hidden_dim": 24,
        "dim_in": 8,
        "max_conv_dim": 32,
        "w_hpf": 0.5,
    }
    wing = str(write_wing_ckpt(tmp_path / "wing.ckpt"))
    ema, _ = _original_layout(StarGANv2Module(**kw, fan_weights=wing))
    assert infer_config(ema) == kw
    ema, _ = _original_layout(StarGANv2Module(**TINY))
    assert infer_config(ema) == TINY


def test_wrong_num_domains_names_key_and_both_shapes(tmp_path):
    ema, nets = _original_layout(_perturbed())
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    torch.save(nets, tmp_path / "1_nets.ckpt")
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt", num_domains=3)
    msg = str(err.value)
    assert "num_domains=3 was requested but the file has num_domains=2" in msg
    assert (
        "nets.discriminator: key 'main.7.weight' has shape (2, 64, 1, 1) in the file but (3, 64, 1, 1)"
        in msg
    )
    assert "nets_ema.mapping_network: key 'unshared.2.0.weight'" in msg
    assert not (tmp_path / "out.ckpt").exists()


def test_rejects_other_files_and_keeps_existing_output(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match="bad.ckpt"):
        load_original(tmp_path / "bad.ckpt")
    ema, _ = _original_layout(_perturbed())
    torch.save(ema, tmp_path / "nets_ema.ckpt")
    (tmp_path / "out.ckpt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_checkpoint(tmp_path / "nets_ema.ckpt", tmp_path / "out.ckpt")
    assert (tmp_path / "out.ckpt").read_text() == "keep me"


def test_converted_checkpoint_resumes_with_trainer_fit(tmp_path):
    src = _perturbed(total_iters=3)
    ema, nets = _original_layout(src)
    torch.save(ema, tmp_path / "2_nets_ema.ckpt")
    torch.save(nets, tmp_path / "2_nets.ckpt")
    optimizers = src.build_optimizers()
    for name, opt in zip(NETS, optimizers):  # one step each, so Adam has moments to carry over
        sum(p.sum() for p in src.nets[name].parameters()).backward()
        opt.step()
    opt_states = {n: o.state_dict() for n, o in zip(NETS, optimizers)}
    torch.save(opt_states, tmp_path / "2_optims.ckpt")
    out = tmp_path / "converted.ckpt"
    convert_checkpoint(tmp_path / "2_nets_ema.ckpt", out, total_iters=3)
    saved = torch.load(out, map_location="cpu", weights_only=True)["optimizer_states"]
    for name, state in zip(NETS, saved):
        torch.testing.assert_close(
            state["state"][0]["exp_avg"], opt_states[name]["state"][0]["exp_avg"]
        )

    module = StarGANv2Module(**TINY, total_iters=3)
    quiet_trainer(max_steps=-1).fit(module, random_loader(n=8), ckpt_path=out)
    assert module.iteration == 3  # resumed at 2, ran one iteration
    assert not torch.equal(
        module.nets_ema["generator"].from_rgb.weight, src.nets_ema["generator"].from_rgb.weight
    )


def test_optimizer_states_of_another_architecture_are_refused(tmp_path):
    """Adam states whose moments do not have their parameters' shapes (an *_optims.ckpt of another
    run) loaded silently, and the first fine-tuning step crashed the process (segfault)."""
    src = _perturbed()
    ema, nets = _original_layout(src)
    torch.save(ema, tmp_path / "2_nets_ema.ckpt")
    torch.save(nets, tmp_path / "2_nets.ckpt")
    other = StarGANv2Module(**{**TINY, "hidden_dim": 16})  # another mapping network
    optimizers = other.build_optimizers()
    for name, opt in zip(NETS, optimizers):
        sum(p.sum() for p in other.nets[name].parameters()).backward()
        opt.step()
    torch.save({n: o.state_dict() for n, o in zip(NETS, optimizers)}, tmp_path / "2_optims.ckpt")
    out = tmp_path / "converted.ckpt"
    with pytest.raises(
        ConversionError, match=r"'mapping_network'.*'exp_avg'.*\(16, 4\).*\(32, 4\)"
    ):
        convert_checkpoint(tmp_path / "2_nets_ema.ckpt", out)
    assert not out.exists()


def test_an_optimizer_state_without_param_groups_names_the_missing_key(tmp_path):
    """A state dict without 'param_groups' was reported as "does not fit: 'param_groups'", the
    bare text of torch's KeyError."""
    ema, nets = _original_layout(_perturbed())
    torch.save(ema, tmp_path / "2_nets_ema.ckpt")
    torch.save(nets, tmp_path / "2_nets.ckpt")
    torch.save({n: {"state": {}} for n in NETS}, tmp_path / "2_optims.ckpt")
    out = tmp_path / "converted.ckpt"
    with pytest.raises(
        ConversionError,
        match=r"optimizer state 'generator' does not fit: it lacks the key "
        r"'param_groups'",
    ):
        convert_checkpoint(tmp_path / "2_nets_ema.ckpt", out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("net", "key", "value", "expected"),
    [
        ("generator", "decode.0.conv1.weight", 5, r"'decode.0.conv1.weight' is a int in the file"),
        (
            "mapping_network",
            "shared.0.weight",
            torch.zeros(5),
            r"'shared.0.weight' has shape \(5,\)",
        ),
    ],
)
def test_entries_that_are_not_weights_name_the_key(tmp_path, net, key, value, expected):
    """A non-tensor value ended in AttributeError ('int' object has no attribute 'shape'), a 1-d
    weight in 'not enough values to unpack', neither naming the file's key."""
    ema, _ = _original_layout(_perturbed())
    ema[net][key] = value
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    with pytest.raises(ConversionError, match=expected):
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()


def test_a_requested_high_pass_skip_the_file_lacks_is_named_as_the_request(tmp_path):
    """--expect w_hpf=1 on a file without the skip said the *file* "has the high-pass skip
    (w_hpf=1.0) but no 'fan' entry" and asked for --fan."""
    ema, _ = _original_layout(_perturbed())
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    with pytest.raises(ConversionError, match=r"w_hpf=1 was requested but .* has w_hpf=0.0"):
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt", w_hpf=1)


def test_an_online_nets_file_without_the_discriminator_is_named(tmp_path):
    """The error said "the online-nets file lacks ['discriminator']" without saying which file
    (it may have been picked up beside the EMA file without the user naming it)."""
    ema, nets = _original_layout(_perturbed())
    del nets["discriminator"]
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    torch.save(nets, tmp_path / "1_nets.ckpt")
    with pytest.raises(ConversionError, match=r"1_nets\.ckpt lacks \['discriminator'\]"):
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt")


def test_the_filled_hpf_filter_is_one_line_per_conversion(tmp_path, caplog):
    """It was logged twice per generator (once checking the keys, once loading them)."""
    src = _perturbed(w_hpf=1.0, fan_weights=str(write_wing_ckpt(tmp_path / "wing.ckpt")))
    ema, nets = _original_layout(src, drop_hpf=True, fan=True)
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    torch.save(nets, tmp_path / "1_nets.ckpt")
    with caplog.at_level(logging.INFO, logger="starganv2.interop.original"):
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt")
    lines = [r.getMessage() for r in caplog.records if "hpf.filter" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].endswith("(nets_ema.generator, nets.generator)")


def test_online_nets_of_another_model_are_not_blamed_on_overrides(tmp_path):
    """Nothing was requested (no --set/--expect), yet the error said "Remove those overrides"."""
    ema, _ = _original_layout(_perturbed())
    _, other = _original_layout(_perturbed(num_domains=3))
    torch.save(ema, tmp_path / "1_nets_ema.ckpt")
    torch.save(other, tmp_path / "1_nets.ckpt")
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(tmp_path / "1_nets_ema.ckpt", tmp_path / "out.ckpt")
    msg = str(err.value)
    assert "override" not in msg and "requested configuration" not in msg
    assert "the nets do not agree with each other" in msg
    assert "pass the right one with --nets, or --no-siblings" in msg
    assert "nets.discriminator: key 'main.7.weight' has shape (3, 64, 1, 1)" in msg
    assert not (tmp_path / "out.ckpt").exists()
