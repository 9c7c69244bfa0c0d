"""The timing callback: step seconds without other callbacks' work, a budget, rows on disk."""

from __future__ import annotations

import json
import time

import lightning as L
import pytest

from starganv2.callbacks.timing import TIMING_FILE, TimingCallback, read_timing
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader

COLUMNS = {
    "iteration",
    "train_s",
    "cpu_s",
    "s_per_iter",
    "cpu_s_per_iter",
    "wall_s",
    "peak_rss_gb",
    "peak_device_gb",
}


class Sleeper(L.Callback):
    """Stands for an evaluation: slow work at the end of some batches."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(self.seconds)


def test_rows_every_n_iterations_and_at_the_end(tmp_path):
    timing = TimingCallback(dirpath=tmp_path, every_n_iters=2)
    quiet_trainer(callbacks=[timing]).fit(
        StarGANv2Module(**TINY, total_iters=3), random_loader(n=4)
    )
    rows = read_timing(tmp_path / TIMING_FILE)
    assert rows == timing.rows == read_timing(tmp_path)
    assert [r["iteration"] for r in rows] == [2, 3]
    assert all(set(r) == COLUMNS for r in rows)
    assert rows[0]["train_s"] < rows[1]["train_s"] <= rows[1]["wall_s"]
    assert rows[-1]["train_s"] == pytest.approx(
        sum(r["s_per_iter"] * n for r, n in zip(rows, (2, 1))), abs=1e-3
    )
    assert all(r["s_per_iter"] > 0 and r["peak_rss_gb"] > 0 for r in rows)
    assert rows[-1]["peak_device_gb"] is None  # the CPU


def test_other_callbacks_work_is_left_out(tmp_path):
    """Listed after the slow callback, it still reads the clock before it (it moves first)."""
    sleep, n = 0.3, 3
    timing = TimingCallback(dirpath=tmp_path, every_n_iters=n)
    trainer = quiet_trainer(callbacks=[Sleeper(sleep), timing])
    trainer.fit(StarGANv2Module(**TINY, total_iters=n), random_loader(n=4))
    assert trainer.callbacks[0] is timing
    (row,) = timing.rows  # written before the last batch's sleep: n - 1 sleeps in wall_s
    assert row["wall_s"] - row["train_s"] >= 0.9 * (n - 1) * sleep


def test_budget_stops_training_on_step_seconds(tmp_path):
    timing = TimingCallback(dirpath=tmp_path, every_n_iters=100, budget_s=1e-9)
    model = StarGANv2Module(**TINY, total_iters=10)
    quiet_trainer(callbacks=[timing]).fit(model, random_loader(n=4))
    assert model.iteration == 1
    assert [r["iteration"] for r in read_timing(tmp_path)] == [1]


def test_a_resumed_run_keeps_its_earlier_rows_and_sums(tmp_path):
    first = TimingCallback(dirpath=tmp_path, every_n_iters=2)
    model = StarGANv2Module(**TINY, total_iters=2)
    quiet_trainer(callbacks=[first]).fit(model, random_loader(n=4))
    stale = {"iteration": 9, "train_s": 0.0}  # a later row of an abandoned run: dropped
    (tmp_path / TIMING_FILE).write_text("".join(json.dumps(r) + "\n" for r in [*first.rows, stale]))
    second = TimingCallback(dirpath=tmp_path, every_n_iters=2)
    second.load_state_dict(first.state_dict())
    model.hparams.total_iters = 3
    quiet_trainer(callbacks=[second]).fit(model, random_loader(n=4))
    rows = read_timing(tmp_path)
    assert [r["iteration"] for r in rows] == [2, 3]
    assert rows[-1]["train_s"] > first.rows[-1]["train_s"]


@pytest.mark.parametrize(
    ("kw", "key"), [({"every_n_iters": 0}, "every_n_iters"), ({"budget_s": 0}, "budget_s")]
)
def test_invalid_arguments_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        TimingCallback(**kw)


def test_the_config_entry_adds_to_an_experiments_callbacks():
    """``+callbacks@_global_=timing`` keeps the callbacks an experiment chose and adds timing."""
    from hydra import compose, initialize_config_dir

    from tests.integration.conftest import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        plain = compose("train", overrides=["experiment=ablation_cpu"])
        timed = compose(
            "train", overrides=["experiment=ablation_cpu", "+callbacks@_global_=timing"]
        )
    assert set(timed.callbacks) == {*plain.callbacks, "timing"}
    assert timed.callbacks.evaluation == plain.callbacks.evaluation
    assert timed.callbacks.timing._target_ == "starganv2.callbacks.timing.TimingCallback"


def test_the_config_entry_adds_it_to_a_training_run(tmp_path):
    """``callbacks=[default,timing]`` composes, and ``starganv2-train``'s ``run`` writes the rows
    into the run folder (what the benchmarks read)."""
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train

    overrides = [
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={tmp_path / 'cache'}",
        "callbacks=[default,timing]",
        "callbacks.timing.every_n_iters=1",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "trainer.enable_checkpointing=false",
    ]
    cfg = compose_train(overrides, tmp_path / "run")
    run(cfg)
    rows = read_timing(tmp_path / "run")
    assert [r["iteration"] for r in rows] == [1, 2]
