"""The LightningModule: update schedule, EMA, NaN guard, checkpoint round trip, inference API."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from starganv2.models.stargan_v2.module import NonFiniteLossError, StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader


def snapshot(module):
    return {
        name: [p.detach().clone() for p in net.parameters()] for name, net in module.nets.items()
    }


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_update_schedule_touches_the_right_nets(monkeypatch):
    module = StarGANv2Module(**TINY, total_iters=1)
    snaps = [snapshot(module)]
    original = StarGANv2Module._update

    def recording_update(self, loss, opts):
        original(self, loss, opts)
        snaps.append(snapshot(self))

    monkeypatch.setattr(StarGANv2Module, "_update", recording_update)
    quiet_trainer().fit(module, random_loader())
    assert len(snaps) == 5  # initial + four updates in one iteration
    init, d_lat, d_ref, g_lat, g_ref = snaps
    for step in (d_lat, d_ref):  # D steps leave G, F, E unchanged and move D
        for name in ("generator", "mapping_network", "style_encoder"):
            assert same(step[name], init[name])
    assert not same(d_lat["discriminator"], init["discriminator"])
    assert not same(d_ref["discriminator"], d_lat["discriminator"])
    for name in ("generator", "mapping_network", "style_encoder"):  # G-latent moves all three
        assert not same(g_lat[name], d_ref[name])
    assert same(g_lat["discriminator"], d_ref["discriminator"])
    for name in ("mapping_network", "style_encoder", "discriminator"):  # G-ref moves G only
        assert same(g_ref[name], g_lat[name])
    assert not same(g_ref["generator"], g_lat["generator"])


def test_few_iterations_finite_and_ema_moves():
    module = StarGANv2Module(**TINY, total_iters=3, ema_beta=0.9)
    ema0 = [p.clone() for p in module.nets_ema["generator"].parameters()]
    trainer = quiet_trainer()
    trainer.fit(module, random_loader(n=4))
    assert module.iteration == 3
    metrics = trainer.logged_metrics
    for key in ("train/d_latent/real", "train/d_ref/reg", "train/g_latent/ds", "train/g_ref/cyc"):
        assert math.isfinite(float(metrics[key])), key
    assert float(metrics["train/iteration"]) == 3
    moved = [not torch.equal(a, b) for a, b in zip(ema0, module.nets_ema["generator"].parameters())]
    assert any(moved)
    # EMA lags the online net: it is neither the initial nor the current weights
    online = list(module.nets["generator"].parameters())
    assert not all(
        torch.equal(a, b) for a, b in zip(online, module.nets_ema["generator"].parameters())
    )


def test_stops_at_total_iters_across_epochs():
    module = StarGANv2Module(**TINY, total_iters=5)
    quiet_trainer().fit(module, random_loader(n=4, batch_size=2))  # 2 batches per epoch
    assert module.iteration == 5


def test_lambda_ds_follows_iteration():
    module = StarGANv2Module(**TINY, lambda_ds=2.0, ds_iter=4, total_iters=2)
    assert module.lambda_ds_now() == 2.0
    trainer = quiet_trainer()
    trainer.fit(module, random_loader(n=4))
    assert module.lambda_ds_now() == pytest.approx(1.0)
    # logged value is the weight used at the last iteration (iteration 1 -> 1.5)
    assert float(trainer.logged_metrics["train/lambda_ds"]) == pytest.approx(1.5)


def test_checkpoint_round_trip(tmp_path):
    module = StarGANv2Module(**TINY, total_iters=2)
    trainer = quiet_trainer()
    trainer.fit(module, random_loader(n=4))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)

    loaded = StarGANv2Module.load_from_checkpoint(path, map_location="cpu")
    assert loaded.iteration == 2
    assert loaded.hparams.dim_in == 16
    for a, b in zip(module.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)

    saved = torch.load(path, weights_only=False, map_location="cpu")
    captured = {}

    class Capture(__import__("lightning").Callback):
        def on_train_start(self, trainer, pl_module):
            captured["iteration"] = pl_module.iteration
            captured["opt"] = [copy.deepcopy(o.state_dict()) for o in trainer.optimizers]
            captured["ema"] = [p.clone() for p in pl_module.nets_ema["generator"].parameters()]

    resumed = StarGANv2Module(**TINY, total_iters=3)
    quiet_trainer(callbacks=[Capture()]).fit(resumed, random_loader(n=4), ckpt_path=path)
    assert captured["iteration"] == 2 and resumed.iteration == 3
    assert len(captured["opt"]) == 4
    steps_per_iter = (2, 1, 1, 2)  # G and D twice per iteration (latent + reference), F and E once
    for got, want, k in zip(captured["opt"], saved["optimizer_states"], steps_per_iter):
        for pid, st in want["state"].items():
            torch.testing.assert_close(got["state"][pid]["exp_avg_sq"], st["exp_avg_sq"])
            assert float(got["state"][pid]["step"]) == float(st["step"]) == 2 * k
    for a, b in zip(captured["ema"], module.nets_ema["generator"].parameters()):
        assert torch.equal(a, b)


def test_nonfinite_loss_stops_with_named_iteration_and_term(monkeypatch):
    import starganv2.models.stargan_v2.step as mod

    real_g_loss = mod.g_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss, stats = real_g_loss(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # iteration 1, latent G step
            stats["cyc"] = torch.tensor(float("nan"))
        return loss, stats

    monkeypatch.setattr(mod, "g_loss", poisoned)
    module = StarGANv2Module(**TINY, total_iters=5)
    with pytest.raises(NonFiniteLossError, match=r"iteration 1 .*g_latent/cyc"):
        quiet_trainer().fit(module, random_loader(n=8))


def test_translate_api():
    module = StarGANv2Module(**TINY)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = torch.randn(3, 4)
    out_z = module.translate(x, 1, z=z)
    assert out_z.shape == x.shape
    torch.testing.assert_close(out_z, module.translate(x, torch.ones(3, dtype=torch.long), z=z))
    out_ref = module.translate(x, torch.tensor([0, 1, 0]), x_ref=x.flip(0))
    assert out_ref.shape == x.shape and not torch.allclose(out_ref, out_z)
    with pytest.raises(ValueError, match="at most one"):
        module.translate(x, 1, z=z, x_ref=x)
    with pytest.raises(ValueError, match="y_trg"):
        module.translate(x, 2, z=z)


@pytest.mark.parametrize(
    ("key", "value"), [("img_size", 48), ("total_iters", 0), ("lr", 0.0), ("ema_beta", 2.0)]
)
def test_invalid_hparams_name_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        StarGANv2Module(**{**TINY, key: value})


def test_train_mode_leaves_the_ema_nets_and_the_fan_in_eval_mode():
    """``model.train()`` (a user's own loop) put the EMA copies and the FAN in train mode: the
    FAN's batch norms would then update their statistics from training images."""
    module = StarGANv2Module(**{**TINY, "img_size": 64, "w_hpf": 1.0})
    assert module.fan is not None
    assert module.train() is module
    assert module.nets.training and all(m.training for m in module.nets.modules())
    for frozen in (module.nets_ema, module.fan):
        assert not any(m.training for m in frozen.modules())
    module.eval()
    assert not module.nets.training


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ddp_ranks_draw_their_own_rows_of_the_global_batchs_latent_codes(world):
    """Every rank is seeded alike; each used to draw the same n codes, so N processes trained
    on n distinct codes per step. Now rank r keeps rows r*n..(r+1)*n of the global batch's codes,
    and one process (world 1) draws exactly what it drew before."""
    from types import SimpleNamespace

    module = StarGANv2Module(**TINY)
    n, d = 2, module.hparams.latent_dim
    batch = {"x_real": torch.zeros(n, 3, 8, 8)}
    seen = []
    for rank in range(world):
        module._trainer = SimpleNamespace(world_size=world, global_rank=rank)
        torch.manual_seed(7)
        z1, z2 = module._latents(batch, n)
        assert z1.shape == z2.shape == (n, d)
        seen.append((z1, z2, torch.get_rng_state()))
    torch.manual_seed(7)
    whole1, whole2 = torch.randn(world * n, d), torch.randn(world * n, d)
    assert torch.equal(torch.cat([z1 for z1, _, _ in seen]), whole1)
    assert torch.equal(torch.cat([z2 for _, z2, _ in seen]), whole2)
    states = [state for _, _, state in seen]
    assert all(torch.equal(states[0], state) for state in states)  # the streams stay equal
    if world == 1:
        torch.manual_seed(7)
        assert torch.equal(seen[0][0], torch.randn(n, d))  # as before
