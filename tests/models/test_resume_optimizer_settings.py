"""A resumed run trains with the optimizer settings it is configured with (``lr``, ``f_lr``,
betas, weight decay), not those restored from the checkpoint; the Adam moments stay restored."""

from __future__ import annotations

import logging

import pytest
import torch
from lightning import Callback

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.models.stargan_v1.test_module import TINY_V1

NEW = {"lr": 3e-4, "f_lr": 5e-6, "beta1": 0.5, "beta2": 0.9, "weight_decay": 0.0}


class RecordSteps(Callback):
    """Each optimizer's ``(lr, betas, weight_decay)`` as its step reads them, and the Adam
    moments when training starts (after the checkpoint is restored)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float, tuple[float, float], float]] = []
        self.moments: list[dict] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.moments = [
            {i: s["exp_avg"].clone() for i, s in opt.state_dict()["state"].items()}
            for opt in trainer.optimizers
        ]

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        (group,) = optimizer.param_groups
        index = trainer.optimizers.index(optimizer)
        self.steps.append((index, group["lr"], tuple(group["betas"]), group["weight_decay"]))


@pytest.mark.parametrize("fused_adam", [False, True], ids=["foreach", "fused"])
def test_a_resumed_stargan_v2_steps_with_the_configured_settings(tmp_path, caplog, fused_adam):
    first = StarGANv2Module(**TINY, total_iters=1, fused_adam=fused_adam)
    trainer = quiet_trainer()
    trainer.fit(first, random_loader(n=4))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, map_location="cpu", weights_only=True)["optimizer_states"]

    resumed = StarGANv2Module(**TINY, **NEW, total_iters=2, fused_adam=fused_adam)
    record = RecordSteps()
    with caplog.at_level(logging.INFO, logger="starganv2.models.base"):
        quiet_trainer(callbacks=[record]).fit(resumed, random_loader(n=4), ckpt_path=path)

    assert resumed.iteration == 2
    betas, wd = (NEW["beta1"], NEW["beta2"]), NEW["weight_decay"]
    lrs = [NEW["f_lr"] if n == "mapping_network" else NEW["lr"] for n in resumed.OPTIMIZER_ORDER]
    assert {i for i, *_ in record.steps} == {0, 1, 2, 3}  # every optimizer stepped
    for index, lr, step_betas, step_wd in record.steps:
        assert (lr, step_betas, step_wd) == (lrs[index], betas, wd)
    for opt, want in zip(resumed.trainer.optimizers, lrs):
        (group,) = opt.param_groups
        assert (group["lr"], tuple(group["betas"]), group["weight_decay"]) == (want, betas, wd)
        assert group["fused"] is (True if fused_adam else None)
    for got, want in zip(record.moments, saved):  # the moments are the checkpoint's
        for i, state in want["state"].items():
            torch.testing.assert_close(got[i], state["exp_avg"])
    lines = [r.getMessage() for r in caplog.records if "optimizer settings" in r.getMessage()]
    assert len(lines) == 1
    assert "lr 0.0001 -> 0.0003 (generator, style_encoder, discriminator)" in lines[0]
    assert "lr 1e-06 -> 5e-06 (mapping_network)" in lines[0]
    assert "betas (0.0, 0.99) -> (0.5, 0.9)" in lines[0]
    assert "weight_decay 0.0001 -> 0.0" in lines[0]


def test_a_resumed_stargan_v1_steps_with_the_configured_betas(tmp_path):
    first = StarGANv1Module(**TINY_V1, total_iters=1, n_critic=1)
    trainer = quiet_trainer()
    trainer.fit(first, random_loader(n=4))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)

    resumed = StarGANv1Module(**TINY_V1, total_iters=2, n_critic=1, beta1=0.1, beta2=0.9)
    record = RecordSteps()
    quiet_trainer(callbacks=[record]).fit(resumed, random_loader(n=4), ckpt_path=path)
    assert {i for i, *_ in record.steps} == {0, 1}
    assert {step_betas for _, _, step_betas, _ in record.steps} == {(0.1, 0.9)}


def test_a_checkpoint_with_the_configured_settings_is_left_as_it_is(caplog):
    module = StarGANv2Module(**TINY)
    states = [opt.state_dict() for opt in module.build_optimizers()]
    want = [[dict(g) for g in state["param_groups"]] for state in states]
    with caplog.at_level(logging.INFO, logger="starganv2.models.base"):
        module.on_load_checkpoint({"state_dict": {}, "optimizer_states": states})
    assert [state["param_groups"] for state in states] == want
    assert not [r for r in caplog.records if "optimizer settings" in r.getMessage()]


@pytest.mark.parametrize("before, after", [(True, False), (False, True)], ids=["off", "on"])
def test_model_fused_adam_changed_on_resume_takes_effect(tmp_path, caplog, before, after):
    """``model.fused_adam`` switched on resume: the optimizers step with the configured
    implementation (Lightning's state load would put the checkpoint's back), with the same
    restored moments, and one info line says so."""
    first = StarGANv2Module(**TINY, total_iters=1, fused_adam=before)
    trainer = quiet_trainer()
    trainer.fit(first, random_loader(n=4))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)

    resumed = StarGANv2Module(**TINY, total_iters=2, fused_adam=after)
    record = RecordSteps()
    with caplog.at_level(logging.INFO, logger="starganv2.models.base"):
        quiet_trainer(callbacks=[record]).fit(resumed, random_loader(n=4), ckpt_path=path)
    assert resumed.iteration == 2 and {i for i, *_ in record.steps} == {0, 1, 2, 3}
    for opt in resumed.trainer.optimizers:
        (group,) = opt.param_groups
        assert group["fused"] is (True if after else None)
        assert group["foreach"] is (None if after else True)
    lines = [r.getMessage() for r in caplog.records if "implementation" in r.getMessage()]
    assert len(lines) == 1 and "fused" in lines[0] and "discriminator" in lines[0]
    caplog.clear()
    # resuming with the implementation it was written with says nothing
    again = StarGANv2Module(**TINY, total_iters=2, fused_adam=before)
    with caplog.at_level(logging.INFO, logger="starganv2.models.base"):
        quiet_trainer().fit(again, random_loader(n=4), ckpt_path=path)
    assert not [r for r in caplog.records if "implementation" in r.getMessage()]
