"""SIGTERM under DDP: the handler sets the flag and makes no collective call (Lightning's own
broadcasts from inside the handler, which deadlocks when the signal lands in a backward pass)."""

from __future__ import annotations

import signal

import lightning as L
import torch.distributed as dist

from starganv2.utils.sigterm import notify_sigterm_without_collectives


def test_the_sigterm_handler_sets_the_flag_without_a_collective_call(monkeypatch):
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)  # as in a 2-process DDP run
    monkeypatch.setattr(dist, "broadcast", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(L.Trainer, "world_size", property(lambda self: 2))
    notify_sigterm_without_collectives(trainer)
    connector = trainer._signal_connector
    connector.register_signal_handlers()  # what fit() and predict() do
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        connector.teardown()
    assert trainer.received_sigterm
    assert calls == []  # the loop broadcasts rank 0's flag at the next batch, from no handler
    assert signal.getsignal(signal.SIGTERM) is not connector._sigterm_notifier_fn
