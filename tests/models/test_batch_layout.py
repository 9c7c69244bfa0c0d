"""The batch layout saved in checkpoints and the warning when a resume changes it."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from starganv2.models.batch_layout import batch_layout, warn_batch_change


def test_the_layout_is_the_world_size_and_the_data_modules_batch_size():
    trainer = SimpleNamespace(world_size=2, datamodule=SimpleNamespace(batch_size=4))
    assert batch_layout(trainer) == {"processes": 2, "batch_size": 4}
    assert batch_layout(SimpleNamespace(world_size=1, datamodule=None)) == {"processes": 1}
    assert batch_layout(None) == {}


def test_a_changed_batch_size_is_named_with_the_way_back(caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        assert warn_batch_change(
            {"processes": 1, "batch_size": 8}, {"processes": 1, "batch_size": 4}, 3
        )
    (record,) = caplog.records
    msg = record.getMessage()
    assert "with batch 4 per step (1 process x data.batch_size=4)" in msg
    assert "trained with batch 8 per step (1 process x data.batch_size=8)" in msg
    assert "another number of images" in msg
    assert msg.endswith("set data.batch_size=8")


def test_more_processes_with_the_same_global_batch_say_only_the_draws_change(caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        assert warn_batch_change(
            {"processes": 2, "batch_size": 4}, {"processes": 1, "batch_size": 8}, 5
        )
    msg = caplog.records[0].getMessage()
    assert "each step averages as many images, but the rest" in msg
    assert msg.endswith(
        "set data.batch_size=4 and 2 processes (trainer.devices x trainer.num_nodes)"
    )


def test_the_same_layout_or_an_older_checkpoint_is_not_warned_about(caplog):
    now = {"processes": 1, "batch_size": 8}
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        assert not warn_batch_change(dict(now), now, 3)
        assert not warn_batch_change({"iteration": 3}, now, 3)  # saved before layouts were
        assert not warn_batch_change(dict(now, batch_size=4), {"processes": 1}, 3)  # unknown now
    assert not caplog.records
