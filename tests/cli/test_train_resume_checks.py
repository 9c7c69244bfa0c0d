"""A checkpoint already at ``model.total_iters`` would end the run at once with nothing written,
which looks like success: training says so."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from starganv2.cli.train import _warn_nothing_left


def _model(total_iters):
    return SimpleNamespace(hparams=SimpleNamespace(total_iters=total_iters))


@pytest.mark.parametrize(
    ("done", "total", "warned"), [(100000, 100000, True), (900, 100000, False)]
)
def test_a_checkpoint_at_the_last_iteration_is_named(caplog, done, total, warned):
    checkpoint = {"starganv2": {"iteration": done, "model": "stargan_v2"}}
    with caplog.at_level(logging.WARNING, logger="starganv2.train"):
        _warn_nothing_left(checkpoint, _model(total), "afhq.ckpt")
    assert ("nothing is left to train" in caplog.text) is warned
    if warned:
        assert "ckpt_path=afhq.ckpt is at iteration 100000 and model.total_iters=100000" in (
            caplog.text
        )
        assert "--iteration 0" in caplog.text
