"""A sweep relaunched with ``run_name`` and ``resume=auto`` (README, "Sweeps"): a job that had
already finished trains and logs nothing, yet the sweeper (Optuna) needs its
``optimized_metric``. A key of the evaluation comes from ``eval/eval_<iteration>.json``; one of
training or validation (``train/...``, ``val/...``, accepted before training) was a
``KeyError`` that ended the search. It is the last value in the run folder's CSV logs."""

from __future__ import annotations

from pathlib import Path

from starganv2.cli.train import _last_csv_values


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_last_logged_value_of_each_key_over_the_runs_segments(tmp_path) -> None:
    _write(
        tmp_path / "csv" / "version_0" / "metrics.csv",
        "step,train/g_latent/adv,val/shapes/x\n10,4.0,\n10,,0.5\n20,3.0,\n",
    )
    _write(tmp_path / "csv" / "version_1" / "metrics.csv", "step,train/g_latent/adv\n30,2.5\n")
    _write(tmp_path / "csv" / "version_10" / "metrics.csv", "step,train/g_latent/adv\n40,2.0\n")
    _write(tmp_path / "csv" / "version_2" / "metrics.csv", "")  # a segment that logged nothing
    assert _last_csv_values(tmp_path, {}) == {"train/g_latent/adv": 2.0, "val/shapes/x": 0.5}


def test_keys_this_process_logged_are_kept_and_no_logs_is_nothing(tmp_path) -> None:
    _write(tmp_path / "csv" / "version_0" / "metrics.csv", "step,a,b\n1,1.0,2.0\n")
    assert _last_csv_values(tmp_path, {"a": 9.0}) == {"b": 2.0}
    assert _last_csv_values(tmp_path / "elsewhere", {}) == {}
