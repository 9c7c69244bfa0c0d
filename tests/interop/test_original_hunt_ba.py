"""starganv2-convert given the wrong original file: the error names the file and what to give."""

from __future__ import annotations

import pytest
import torch

from starganv2.cli.convert import main as convert_main
from starganv2.interop.original import ConversionError, convert_checkpoint
from starganv2.models.stargan_v2.module import EMA_NETS, StarGANv2Module
from tests.helpers import TINY


def _ema(module: StarGANv2Module) -> dict:
    return {n: dict(module.nets_ema[n].state_dict()) for n in EMA_NETS}


@pytest.mark.parametrize("drop", ["style_encoder", "mapping_network.shared.0.weight", "all"])
def test_a_nets_ema_file_without_a_net_or_key_is_named(tmp_path, drop):
    """infer_config's "the checkpoint lacks ['style_encoder']" (or "mapping_network: key
    'shared.0.weight' is missing") named no file."""
    ema = _ema(StarGANv2Module(**TINY))
    if drop == "all":
        ema = {}
    elif "." in drop:
        net, key = drop.split(".", 1)
        del ema[net][key]
    else:
        del ema[drop]
    src = tmp_path / "7_nets_ema.ckpt"
    torch.save(ema, src)
    with pytest.raises(ConversionError, match=r"7_nets_ema\.ckpt: .*<iter>_nets_ema\.ckpt"):
        convert_checkpoint(src, tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()


def test_the_online_nets_file_given_as_nets_ema_says_which_file_to_give(tmp_path, caplog):
    """It said "unexpected entry 'discriminator'" and no more."""
    module = StarGANv2Module(**TINY)
    torch.save({n: module.nets[n].state_dict() for n in module.nets}, tmp_path / "7_nets.ckpt")
    assert convert_main([str(tmp_path / "7_nets.ckpt"), str(tmp_path / "out.ckpt")]) == 1
    err = caplog.text
    assert "7_nets.ckpt has an unexpected entry 'discriminator'" in err
    assert "give the <iter>_nets_ema.ckpt" in err


def test_an_original_v1_file_given_as_ckpt_path_says_how_to_convert_it(tmp_path):
    """sample, eval and export told a v1 <iter>-G.ckpt to run
    ``starganv2-convert <iter>_nets_ema.ckpt``, the StarGAN v2 command."""
    from starganv2.models.registry import CheckpointError, load_model
    from starganv2.models.stargan_v1.module import StarGANv1Module

    v1 = StarGANv1Module(num_domains=2, img_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1)
    for name, net in (("1-G.ckpt", "generator"), ("1-D.ckpt", "discriminator")):
        torch.save(v1.nets[net].state_dict(), tmp_path / name)
        with pytest.raises(CheckpointError, match=r"original StarGAN \(v1\) file.*<iter>-G\.ckpt"):
            load_model(tmp_path / name)
