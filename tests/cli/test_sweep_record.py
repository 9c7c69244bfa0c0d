"""A relaunch into a sweep folder (``run_name=<sweep> resume=auto``) replaced the sweep's
``multirun.yaml`` with its own record, also when every job of it was refused: the swept values
and settings of the first launch were lost. The record there before is now kept aside."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from starganv2.cli.job_names import KeepSweepRecord, keep_sweep_record
from tests.integration.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_an_earlier_record_is_renamed_never_overwritten(tmp_path: Path) -> None:
    assert keep_sweep_record(tmp_path) is None  # a new sweep folder: nothing to keep
    (tmp_path / "multirun.yaml").write_text("first\n")
    first = keep_sweep_record(tmp_path)
    (tmp_path / "multirun.yaml").write_text("second\n")
    os.utime(tmp_path / "multirun.yaml", (first.stat().st_mtime,) * 2)  # the same second
    second = keep_sweep_record(tmp_path)
    assert not (tmp_path / "multirun.yaml").exists()
    assert first.name.startswith("multirun-") and second.name.endswith("-2.yaml")
    assert (first.read_text(), second.read_text()) == ("first\n", "second\n")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "new")}}})
    KeepSweepRecord().on_multirun_start(config)  # a folder not made yet


def test_a_relaunch_keeps_the_first_launchs_record(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    missing = tmp_path / "missing.ckpt"
    for values in ("1,2", "3"):  # each job refused when it starts (no such checkpoint): no training
        proc = run_cli(
            ["starganv2.cli.train", "-m", f"model.lambda_sty={values}", f"ckpt_path={missing}"]
            + [f"hydra.sweep.dir={sweep}", f"data.cache_dir={tmp_path / 'cache'}"],
            cwd=tmp_path,
            timeout=120,
            env={"PYTHONPATH": str(ROOT / "src")},
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr
    records = sorted(p.name for p in sweep.glob("multirun*.yaml"))
    assert len(records) == 2, records
    texts = [(sweep / name).read_text() for name in records]
    assert "model.lambda_sty=3" in (sweep / "multirun.yaml").read_text()
    assert any("model.lambda_sty=1,2" in text for text in texts)
