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
