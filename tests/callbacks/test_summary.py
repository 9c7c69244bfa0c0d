"""The nets summary: one block at fit start in place of Lightning's model summary table."""

from __future__ import annotations

import logging

from lightning.pytorch.callbacks import ModelSummary
from omegaconf import OmegaConf

from starganv2.callbacks.progress import IterationProgressBar
from starganv2.callbacks.summary import NetSummary, format_summary, net_rows
from starganv2.cli.train import _honour_trainer_switches
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader

NETS = ("generator", "mapping_network", "style_encoder", "discriminator")


def test_rows_mark_the_ema_copies_and_the_frozen_fan():
    module = StarGANv2Module(**{**TINY, "w_hpf": 1.0})  # the FAN is built, its weights not read
    rows = {row.name: row for row in net_rows(module)}
    ema = ("generator", "mapping_network", "style_encoder")
    assert list(rows) == [*(f"nets.{n}" for n in NETS), *(f"nets_ema.{n}" for n in ema), "fan"]
    counts = module.param_counts()
    for name in NETS:
        row = rows[f"nets.{name}"]
        assert row.params == row.trainable == counts[name] > 0
        assert row.training and row.note == ""
    for name in ema:
        row = rows[f"nets_ema.{name}"]
        assert row.params == counts[name] and row.trainable == 0 and not row.training
        assert row.note == f"EMA copy of nets.{name}"
    fan = rows["fan"]
    assert fan.kind == "FAN" and fan.params > 0 and fan.trainable == 0 and not fan.training
    assert fan.note == "frozen"


def test_block_totals_count_every_parameter_once():
    module = StarGANv2Module(**TINY)
    text = format_summary("nets of StarGANv2Module:", net_rows(module))
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert 0 < trainable < total
    assert text.splitlines()[-1] == (
        f"  total: {total:,} parameters ({total * 4 / 2**20:.1f} MB), {trainable:,} trainable"
    )
    ema_line = next(line for line in text.splitlines() if "nets_ema.generator" in line)
    assert ema_line.split()[1:] == [
        "Generator",
        f"{module.param_counts()['generator']:,}",
        "none",
        "eval",
        "EMA",
        "copy",
        "of",
        "nets.generator",
    ]


def test_stargan_v1_has_two_trained_nets_and_no_copies():
    rows = net_rows(StarGANv1Module(img_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1))
    assert [(r.name, r.trainable == r.params, r.note) for r in rows] == [
        ("nets.generator", True, ""),
        ("nets.discriminator", True, ""),
    ]


def test_fit_logs_one_block_and_lightning_adds_no_table(caplog):
    summary = NetSummary()
    trainer = quiet_trainer(callbacks=[summary], enable_model_summary=True)
    with caplog.at_level(logging.INFO, logger="starganv2.callbacks.summary"):
        trainer.fit(StarGANv2Module(**TINY, total_iters=1), random_loader(n=2))
    assert [cb for cb in trainer.callbacks if isinstance(cb, ModelSummary)] == [summary]
    blocks = [r.getMessage() for r in caplog.records if r.name == "starganv2.callbacks.summary"]
    assert len(blocks) == 1
    assert blocks[0].startswith("nets of StarGANv2Module:\n")
    assert "nets_ema.style_encoder" in blocks[0] and "FLOPs" not in blocks[0]


def test_enable_model_summary_false_leaves_it_out_of_a_training_run():
    callbacks = [NetSummary(), IterationProgressBar()]
    off = OmegaConf.create({"trainer": {"enable_model_summary": False}})
    on = OmegaConf.create({"trainer": {"enable_model_summary": True}})
    assert _honour_trainer_switches(off, callbacks) == callbacks[1:]
    assert _honour_trainer_switches(on, callbacks) == callbacks
