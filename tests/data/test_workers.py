"""Loader workers are capped at the usable CPUs: ``data.num_workers: 4`` (the default) on a
2-core machine made PyTorch warn at every loader ("This DataLoader will create 4 worker
processes in total. Our suggested max number of worker ... is 2") without naming the setting."""

from __future__ import annotations

import logging
import warnings

import pytest

from starganv2.data import workers
from starganv2.data.workers import capped_workers, usable_cpus
from tests.helpers.images import make_root, small_datamodule


def test_more_workers_than_cpus_are_capped_and_said_once_naming_the_key(monkeypatch, caplog):
    monkeypatch.setattr(workers, "usable_cpus", lambda: 2)
    monkeypatch.setattr(workers, "_told", set())
    with caplog.at_level(logging.INFO, logger="starganv2.data.workers"):
        assert capped_workers(4) == 2
        assert capped_workers(4) == 2
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "data.num_workers=4 but this machine has 2 usable CPUs: starting 2 loader workers"
    ]


@pytest.mark.parametrize("requested", [0, 1, 2])
def test_requests_within_the_cpus_are_kept(monkeypatch, requested):
    monkeypatch.setattr(workers, "usable_cpus", lambda: 2)
    assert capped_workers(requested) == requested


def test_a_folder_loader_with_too_many_workers_starts_no_more_than_the_cpus_without_warning(
    tmp_path,
):
    too_many = usable_cpus() + 3
    dm = small_datamodule(make_root(tmp_path, {"a": 2, "b": 2}), num_workers=too_many)
    dm.setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch's worker-count warning would fail here
        loader = dm.train_dataloader()
        assert loader.num_workers == usable_cpus()
        next(iter(loader))


def test_loader_workers_outlive_a_sigterm_sent_to_the_whole_job(tmp_path):
    """``timeout`` and schedulers signal every process of the job; the main process holds the
    signal to finish its iteration and checkpoint, so a worker must not die of it (the main
    process then failed with "DataLoader worker ... is killed by signal: Terminated")."""
    import subprocess

    dm = small_datamodule(make_root(tmp_path, {"a": 8, "b": 8}), num_workers=1)
    dm.setup("fit")
    batches = iter(dm.train_dataloader())  # 4 batches
    next(batches)
    (worker,) = batches._workers
    subprocess.run(["kill", "-TERM", str(worker.pid)], check=True)  # not sent by its parent
    worker.join(timeout=2)
    assert worker.is_alive()
    for _ in range(3):
        next(batches)
    batches._shutdown_workers()  # the loader's own stop still ends the worker
    assert not worker.is_alive()


def test_worker_init_keeps_torchs_handling_where_sigwaitinfo_is_missing(monkeypatch):
    """macOS and Windows Pythons have no ``signal.sigwaitinfo`` (Windows no ``pthread_sigmask``
    either): the hook must not fail there, and it leaves SIGTERM unblocked."""
    import signal
    import threading

    monkeypatch.delattr(signal, "sigwaitinfo")
    before = threading.active_count()
    workers.worker_init(0)
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert threading.active_count() == before
