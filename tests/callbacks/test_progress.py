"""The progress bar is Lightning's TQDMProgressBar, over the run's iterations; log lines printed
while it is shown land on lines of their own."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

from starganv2.callbacks.progress import IterationProgressBar
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.console import screen_lines


def test_one_bar_over_the_iterations_replaces_lightnings(capsys):
    bar = IterationProgressBar(refresh_every=1)
    trainer = quiet_trainer(callbacks=[bar])
    assert isinstance(bar, TQDMProgressBar) and trainer.progress_bar_callback is bar
    model = StarGANv2Module(**TINY, total_iters=6)
    trainer.fit(model, random_loader(n=4))  # 2 batches per epoch: 3 epochs
    assert bar.train_progress_bar.total == 6 and bar.train_progress_bar.n == 6
    out = capsys.readouterr().out
    assert "6/6" in out and "Epoch" not in out and "d=" in out


def test_validation_during_fit_draws_no_bar_of_its_own(capsys):
    """One validation batch only marks that a validation is due: no "Validation" bar."""
    bar = IterationProgressBar()
    trainer = quiet_trainer(
        callbacks=[bar], limit_val_batches=1, val_check_interval=1, check_val_every_n_epoch=None
    )
    model = StarGANv2Module(**TINY, total_iters=3)
    trainer.fit(model, random_loader(n=4), val_dataloaders=random_loader(n=2))
    captured = capsys.readouterr()
    assert trainer.fit_loop.epoch_loop.val_loop.batch_progress.total.completed >= 1
    assert "Validation" not in captured.out + captured.err
    assert bar.train_progress_bar.n == 3


def test_fast_dev_run_counts_its_own_iterations():
    bar = IterationProgressBar()
    model = StarGANv2Module(**TINY, total_iters=800)
    quiet_trainer(callbacks=[bar], fast_dev_run=2).fit(model, random_loader(n=8))
    assert bar.train_progress_bar.total == 2 and bar.train_progress_bar.n == 2


def test_a_resumed_run_starts_where_it_stopped():
    bar = IterationProgressBar()
    model = StarGANv2Module(**TINY, total_iters=5)
    model.iteration = 3
    quiet_trainer(callbacks=[bar]).fit(model, random_loader(n=4))
    assert bar.train_progress_bar.initial == 3 and bar.train_progress_bar.n == 5


def test_screen_lines_overwrites_after_a_carriage_return():
    assert screen_lines("abc\rx\ndef") == ["xbc", "def"]
    assert screen_lines("bar 1/3\r       \rmessage\n\rbar 2/3") == ["message", "bar 2/3"]


class LogEachIteration(Callback):
    """Logs one line per iteration, as the checkpoint and sample callbacks do on their
    iterations."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        logging.getLogger("tests.console").info("logged at iteration %d", pl_module.iteration)


@contextmanager
def console_handler() -> Iterator[logging.StreamHandler]:
    """A console handler on the root logger writing to ``sys.stdout``, as Hydra's job logging
    sets up (``ext://sys.stdout``). Entered in a test's body, ``sys.stdout`` is the stream that
    ``capsys`` captures."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_log_lines_of_a_three_iteration_run_never_share_a_line_with_the_bar(capsys):
    bar = IterationProgressBar()
    model = StarGANv2Module(**TINY, total_iters=3)
    with console_handler() as handler:
        quiet_trainer(callbacks=[bar, LogEachIteration()]).fit(model, random_loader(n=6))
        # the handler writes to its own stream again once the bar is gone
        assert handler.stream is sys.stdout
    lines = screen_lines(capsys.readouterr().out)
    logged = [line for line in lines if "logged at iteration" in line]
    assert len(logged) == 3, lines
    for line in logged:  # on a line of its own: no bar text before or after it
        assert line.startswith("[tests.console] logged at iteration"), lines
        assert "it/s" not in line and "train:" not in line, lines
    assert any(line.startswith("train: 100%") and "3/3" in line for line in lines), lines


class Fail(Callback):
    def on_train_batch_end(self, *args) -> None:
        raise RuntimeError("boom")


def test_a_failed_run_gives_the_console_handlers_their_streams_back(capsys):
    bar = IterationProgressBar()
    with console_handler() as handler, pytest.raises(RuntimeError, match="boom"):
        quiet_trainer(callbacks=[bar, Fail()]).fit(
            StarGANv2Module(**TINY, total_iters=3), random_loader(n=6)
        )
    assert handler.stream is sys.stdout
