"""Mixed precision and speed options of the module: bf16 on the CPU, one GradScaler update per
backward with several optimizers, channels_last, fused/foreach Adam, compile_nets, and logging only
on logging steps."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader

SMALL = {**TINY, "max_conv_dim": 32}


class LogCalls(StarGANv2Module):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.logged_at: list[int] = []

    def _log_iteration(self, stats, batch_size, scalars):
        self.logged_at.append(self.iteration)
        super()._log_iteration(stats, batch_size, scalars)


def test_bf16_mixed_on_cpu_gives_finite_losses_and_logs_only_on_logging_steps():
    module = LogCalls(**SMALL, total_iters=3)
    trainer = quiet_trainer(precision="bf16-mixed", log_every_n_steps=2)
    trainer.fit(module, random_loader(n=6))
    assert module.iteration == 3
    module.check_finite()
    for key in ("train/d_latent/real", "train/d_ref/reg", "train/g_latent/ds", "train/g_ref/cyc"):
        assert math.isfinite(float(trainer.callback_metrics[key])), key
    assert module.logged_at == [2, 3]  # logging step 2 and the last iteration, not 1


def test_fp16_scaler_is_updated_once_per_backward():
    """Lightning's 16-mixed plugin calls scaler.update() after each optimizer step; with G, F
    and E stepping after one backward the scale must not change between their steps."""
    scaler = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=1)
    module = StarGANv2Module(**SMALL, total_iters=1)
    trainer = quiet_trainer(plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    trainer.fit(module, random_loader(n=2))
    module.check_finite()
    # four backward passes, each growing the scale once (six optimizer steps would give 2**6)
    assert scaler.get_scale() == 2.0**4


def test_channels_last_weights_and_same_state_dict():
    module = StarGANv2Module(**SMALL, total_iters=1, channels_last=True)
    conv = module.nets["generator"].from_rgb.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    quiet_trainer().fit(module, random_loader(n=2))
    module.check_finite()
    plain = StarGANv2Module(**SMALL)
    plain.load_state_dict(module.state_dict())  # same keys and shapes


@pytest.mark.parametrize(("fused", "expect"), [(None, True), (True, True), (False, False)])
def test_adam_fused_or_foreach(fused, expect):
    opts = StarGANv2Module(**SMALL, fused_adam=fused).build_optimizers()
    for opt in opts:
        assert bool(opt.defaults["fused"]) is expect
        assert bool(opt.defaults["foreach"]) is (not expect)


def test_compile_nets_rejects_the_discriminator():
    with pytest.raises(ValueError, match=r"compile_nets=.*discriminator.*double backward"):
        StarGANv2Module(**SMALL, compile_nets=["generator", "discriminator"])


@pytest.mark.slow
def test_compiled_mapping_network_trains_with_unchanged_state_dict_keys():
    module = StarGANv2Module(**SMALL, total_iters=1, compile_nets=["mapping_network"])
    keys = list(module.state_dict())
    quiet_trainer().fit(module, random_loader(n=2))
    module.check_finite()
    assert list(module.state_dict()) == keys
