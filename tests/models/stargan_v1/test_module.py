"""The StarGAN v1 LightningModule: update schedule, learning rates, NaN guard, checkpoint round
trip and resume, inference API and the Translator protocol."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from starganv2.models.interface import GuidanceModeError, Translator
from starganv2.models.registry import load_model
from starganv2.models.stargan_v1.module import NonFiniteLossError, StarGANv1Module
from tests.helpers import quiet_trainer, random_loader

TINY_V1 = {
    "img_size": 32,
    "num_domains": 2,
    "g_conv_dim": 8,
    "d_conv_dim": 8,
    "g_repeat_num": 1,
}


def snapshot(module):
    return {n: [p.detach().clone() for p in net.parameters()] for n, net in module.nets.items()}


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_g_steps_every_n_critic_th_iteration_d_every_iteration(monkeypatch):
    module = StarGANv1Module(**TINY_V1, n_critic=3, total_iters=6)
    snaps = [snapshot(module)]
    original = StarGANv1Module._update

    def recording_update(self, loss, names):
        original(self, loss, names)
        snaps.append((self.iteration, names, snapshot(self)))

    monkeypatch.setattr(StarGANv1Module, "_update", recording_update)
    quiet_trainer().fit(module, random_loader(n=12))
    updates = [(it, names) for it, names, _ in snaps[1:]]
    assert updates == [
        (0, ("discriminator",)),
        (1, ("discriminator",)),
        (2, ("discriminator",)),
        (2, ("generator",)),
        (3, ("discriminator",)),
        (4, ("discriminator",)),
        (5, ("discriminator",)),
        (5, ("generator",)),
    ]
    before = snaps[0]
    for _, names, after in snaps[1:]:
        moved, kept = names[0], {"generator", "discriminator"} - {names[0]}
        assert not same(after[moved], before[moved])
        assert all(same(after[k], before[k]) for k in kept)
        before = after


def test_logged_terms_and_learning_rates():
    module = StarGANv1Module(
        **TINY_V1,
        n_critic=2,
        total_iters=4,
        lr_decay="linear",
        lr_decay_iters=4,
        g_lr=2e-4,
        d_lr=1e-4,
    )
    trainer = quiet_trainer()
    trainer.fit(module, random_loader(n=8))
    metrics = trainer.logged_metrics
    for key in (
        "train/d/real",
        "train/d/fake",
        "train/d/cls",
        "train/d/gp",
        "train/g/fake",
        "train/g/cls",
        "train/g/rec",
    ):
        assert math.isfinite(float(metrics[key])), key
    assert float(metrics["train/iteration"]) == 4
    # the rates of the last iteration (index 3): linear to 0 at 4 over 4 iterations
    assert float(metrics["train/g_lr"]) == pytest.approx(0.5e-4)
    assert float(metrics["train/d_lr"]) == pytest.approx(0.25e-4)
    assert [g["lr"] for o in trainer.optimizers for g in o.param_groups] == pytest.approx(
        [0.5e-4, 0.25e-4]
    )


def test_batch_target_labels_use_the_data_modules_y_trg(monkeypatch):
    import starganv2.models.stargan_v1.module as mod

    seen = []
    real = mod.train_iteration

    def spy(nets, x_real, y_org, y_trg, *a, **k):
        seen.append((y_org.clone(), y_trg.clone()))
        return real(nets, x_real, y_org, y_trg, *a, **k)

    monkeypatch.setattr(mod, "train_iteration", spy)
    loader = random_loader(n=4)
    module = StarGANv1Module(**TINY_V1, total_iters=2, target_labels="batch")
    quiet_trainer().fit(module, loader)
    batches = list(loader)
    for (y_org, y_trg), batch in zip(seen, batches):
        assert torch.equal(y_trg, batch["y_trg"]) and torch.equal(y_org, batch["y_org"])
    seen.clear()
    quiet_trainer().fit(StarGANv1Module(**TINY_V1, total_iters=2), loader)
    for (y_org, y_trg), _ in zip(seen, batches):
        assert sorted(y_trg.tolist()) == sorted(y_org.tolist())  # the batch's labels shuffled


def test_train_and_eval_mode_give_the_same_translation():
    module = StarGANv1Module(**TINY_V1, total_iters=2)
    quiet_trainer().fit(module, random_loader(n=4))  # running statistics are now non-trivial
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    module.train()
    out_train = module.translate(x, 1)
    out_eval = module.eval().translate(x, 1)
    torch.testing.assert_close(out_eval, out_train, rtol=0, atol=0)


def test_checkpoint_round_trip_and_resume(tmp_path):
    module = StarGANv1Module(**TINY_V1, n_critic=2, total_iters=3)
    trainer = quiet_trainer()
    trainer.fit(module, random_loader(n=6))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=False, map_location="cpu")
    assert saved["starganv2"] == {"iteration": 3, "model": "stargan_v1", "processes": 1}

    loaded = load_model(path)
    assert type(loaded) is StarGANv1Module and loaded.iteration == 3 and not loaded.training
    for (k, a), b in zip(module.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k

    captured = {}

    class Capture(__import__("lightning").Callback):
        def on_train_start(self, trainer, pl_module):
            captured["iteration"] = pl_module.iteration
            captured["opt"] = [copy.deepcopy(o.state_dict()) for o in trainer.optimizers]

    resumed = StarGANv1Module(**TINY_V1, n_critic=2, total_iters=4)
    quiet_trainer(callbacks=[Capture()]).fit(resumed, random_loader(n=8), ckpt_path=path)
    assert captured["iteration"] == 3 and resumed.iteration == 4
    for got, want, steps in zip(captured["opt"], saved["optimizer_states"], (1, 3)):  # G, D
        for pid, st in want["state"].items():
            torch.testing.assert_close(got["state"][pid]["exp_avg"], st["exp_avg"])
            assert float(got["state"][pid]["step"]) == float(st["step"]) == steps
    # iteration index 3 updates G again (n_critic 2): the schedule continued from the counter
    assert not torch.equal(
        resumed.nets["generator"].main[0].weight, loaded.nets["generator"].main[0].weight
    )


def test_nonfinite_loss_stops_with_named_iteration_and_term(monkeypatch):
    import starganv2.models.stargan_v1.step as mod

    real_g_loss = mod.g_loss

    def poisoned(*args, **kwargs):
        loss, stats = real_g_loss(*args, **kwargs)
        stats["rec"] = torch.tensor(float("nan"))
        return loss, stats

    monkeypatch.setattr(mod, "g_loss", poisoned)
    module = StarGANv1Module(**TINY_V1, n_critic=2, total_iters=5)
    with pytest.raises(NonFiniteLossError, match=r"iteration 1 .*g/rec"):
        quiet_trainer().fit(module, random_loader(n=8))


def test_translator_protocol_and_translate_api():
    module = StarGANv1Module(**TINY_V1)
    assert isinstance(module, Translator)
    assert not module.has_styles and module.guidance_modes == ("label",)
    assert (module.img_size, module.num_domains, module.device.type) == (32, 2, "cpu")
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    out = module.translate(x, 1)
    assert out.shape == x.shape
    torch.testing.assert_close(out, module.translate(x, torch.ones(3, dtype=torch.long)))
    c = torch.tensor([[0.0, 1.0]] * 3)
    torch.testing.assert_close(out, module.translate_labels(x, c))
    assert not torch.allclose(out, module.translate(x, 0))
    for style in ({"z": torch.randn(3, 4)}, {"x_ref": x}, {"s": torch.randn(3, 8)}):
        with pytest.raises(GuidanceModeError, match="deterministic"):
            module.translate(x, 1, **style)
    with pytest.raises(ValueError, match="y_trg"):
        module.translate(x, 2)
    graph = module.inference_graph("label")
    inputs = module.graph_inputs("label", 2, torch.Generator().manual_seed(0))
    assert module.graph_input_names("label") == ["x", "y"]
    torch.testing.assert_close(graph(*inputs), module.translate(*inputs))
    with pytest.raises(ValueError, match="mode='latent'"):
        module.inference_graph("latent")


def test_paper_defaults_and_parameter_counts():
    module = StarGANv1Module(img_size=128, num_domains=5)
    assert module.param_counts() == {"generator": 8_430_528, "discriminator": 44_762_048}
    hp = module.hparams
    assert (hp.n_critic, hp.g_lr, hp.d_lr, hp.beta1, hp.beta2) == (5, 1e-4, 1e-4, 0.5, 0.999)
    assert (hp.lambda_cls, hp.lambda_rec, hp.lambda_gp, hp.total_iters) == (1, 10, 10, 200_000)
    assert (hp.lr_decay, hp.lr_decay_iters, hp.lr_update_step) == ("original", 100_000, 1000)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("img_size", 48),
        ("total_iters", 0),
        ("g_lr", 0.0),
        ("n_critic", 0),
        ("lr_decay", "cosine"),
        ("target_labels", "random"),
    ],
)
def test_invalid_hparams_name_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        StarGANv1Module(**{**TINY_V1, key: value})
