"""The progress bar is Lightning's TQDMProgressBar, over the run's iterations."""

from __future__ import annotations

from lightning.pytorch.callbacks import TQDMProgressBar

from starganv2.callbacks.progress import IterationProgressBar
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader


def test_one_bar_over_the_iterations_replaces_lightnings(capsys):
    bar = IterationProgressBar(refresh_every=1)
    trainer = quiet_trainer(callbacks=[bar])
    assert isinstance(bar, TQDMProgressBar) and trainer.progress_bar_callback is bar
    model = StarGANv2Module(**TINY, total_iters=6)
    trainer.fit(model, random_loader(n=4))  # 2 batches per epoch: 3 epochs
    assert bar.train_progress_bar.total == 6 and bar.train_progress_bar.n == 6
    out = capsys.readouterr().out
    assert "6/6" in out and "Epoch" not in out and "d=" in out


def test_a_resumed_run_starts_where_it_stopped():
    bar = IterationProgressBar()
    model = StarGANv2Module(**TINY, total_iters=5)
    model.iteration = 3
    quiet_trainer(callbacks=[bar]).fit(model, random_loader(n=4))
    assert bar.train_progress_bar.initial == 3 and bar.train_progress_bar.n == 5
