"""benchmarks/checkpoint_save.py: one save by each checkpoint IO, each in its own process, with
the host memory and temporary-folder space it took."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_prints_a_row_per_method_and_the_files_save_stages_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--img-size", "32", "--dim-in", "16", "--max-conv-dim", "32", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "checkpoint_save.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in proc.stdout.splitlines()
            if line.startswith("| lightning") or line.startswith("| file")}  # fmt: skip
    assert set(rows) == {"lightning", "file"}
    size = float(rows["file"][0])
    assert size > 0 and float(rows["lightning"][0]) == size
    assert float(rows["file"][2]) == 0.0  # nothing in the temporary folder
    # Lightning's holds the serialized file in memory; the temporary folder's use is sampled,
    # so not asserted for it (a small file may come and go between two samples)
    assert float(rows["lightning"][1]) >= 0.9 * size
    assert float(rows["file"][1]) < 0.5 * size
