"""``starganv2-augment ... devices=2``: two CPU processes (gloo) through the console script.

Lightning runs the command again for rank 1; each rank translates its share of the outputs
(rank ``r`` of 2 takes planned outputs ``r, r + 2, ...``), skipping those an interrupted run
finished; rank 0 alone, once both have finished, copies the sources, runs the label check over
every output, writes the COCO file and the report, and prints the counts. A rerun after one lost
output has rank 1 idle. The outputs match a one-process run of the Python API pixel for pixel.
Bad input is one error line before any rank starts; so are a strategy that spawns its ranks and
device settings Lightning refuses (quick tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.registry import load_model
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.detection.augment import augment_dataset
from starganv2.synthesis.detection.translate import Devices, prediction_device
from tests.helpers import TINY, quiet_trainer
from tests.synthesis.detection.datasets import make_coco
from tests.synthesis.detection.detectors import FixedBoxes

# make_coco's images a.jpg, sub/über bild.png, empty.jpg; one target, two styles: the planned
# outputs in order, rank 0 taking 0, 2, 4 and rank 1 taking 1, 3, 5
OUTPUTS = [
    f"{stem}_night_{k}{suffix}"
    for stem, suffix in (("a", ".jpg"), ("sub/über bild", ".png"), ("empty", ".jpg"))
    for k in (0, 1)
]
FINISHED = OUTPUTS[1]  # written by an interrupted run (rank 1's share)
# the detector finds a.jpg's one required box (category 5) everywhere, so the check passes a.jpg's
# and empty.jpg's outputs and fails über bild's (its box is category 9 elsewhere): dropped
DROPPED = {OUTPUTS[2], OUTPUTS[3]}
OPTIONS = {
    "targets": [1],
    "styles": 2,
    "seed": 3,
    "include_source": True,
    "check": "detector",
    "drop_failed": True,
    "batch_size": 1,  # a batch's make-up may change the last bit of a convolution's output
}


def _pixels(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def _console_script(name: str) -> str:
    script = Path(sys.executable).parent / name
    assert script.is_file(), f"{script} is missing: reinstall the package (pip install -e .)"
    return str(script)


def _augment_cli(
    tmp_path: Path, out: Path, run_name: str, input: Path | None = None
) -> subprocess.CompletedProcess:
    """``starganv2-augment ... devices=2`` on ``input`` (default: the COCO file) into ``out``."""
    args = [
        _console_script("starganv2-augment"),
        f"ckpt_path={tmp_path / 'tiny.ckpt'}",
        f"input={input or tmp_path / 'in' / 'annotations.json'}",
        f"output={out}",
        "domain_names=[day,night]",
        "targets=[night]",
        f"styles={OPTIONS['styles']}",
        f"seed={OPTIONS['seed']}",
        "include_source=true",
        "check=detector",
        f"detector={tmp_path / 'detector.pt'}",
        "drop_failed=true",
        f"batch_size={OPTIONS['batch_size']}",
        "device=cpu",
        "devices=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"run_name={run_name}",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _rank_logs(tmp_path: Path, run_name: str) -> tuple[str, str]:
    """Rank 0's log (augment.log) and rank 1's (the other one), of the run ``run_name``."""
    folder = tmp_path / "logs" / "augment" / run_name
    logs = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.log")}
    assert len(logs) == 2 and "augment.log" in logs, sorted(logs)
    rank0 = logs.pop("augment.log")
    return rank0, logs.popitem()[1]


@pytest.mark.slow
def test_two_processes_from_the_command_line_write_each_output_once_as_one_does(tmp_path):
    make_coco(tmp_path / "in")  # with 3 input problems, one line each, the run goes on
    torch.manual_seed(0)
    trainer = quiet_trainer()
    trainer.strategy.connect(StarGANv2Module(**TINY))
    trainer.save_checkpoint(tmp_path / "tiny.ckpt")
    torch.jit.script(FixedBoxes([[4, 4, 14, 12]], [5])).save(str(tmp_path / "detector.pt"))
    out = tmp_path / "ddp"
    (out / FINISHED).parent.mkdir(parents=True)
    Image.new("RGB", (48, 32), (7, 7, 7)).save(out / FINISHED)
    # an interrupted run had recorded its settings before its first output (none compared here)
    (out / "augment_settings.json").write_text("{}", encoding="utf-8")

    res = _augment_cli(tmp_path, out, "first")
    console = res.stdout + res.stderr
    assert res.returncode == 0, console[-3000:]
    summary = [line for line in res.stdout.splitlines() if re.match(r"\d+ written, ", line)]
    assert summary == [
        f"3 written, 1 skipped, 0 failed; 7 kept, 2 dropped (3 input problem(s)); report: "
        f"{out / 'augment_report.json'}"
    ]  # printed once, by rank 0, counting every rank's outputs
    assert "litlogger" not in console and "deprecated" not in console  # no third-party noise
    assert console.count("lies outside the 32x40 image") == 1  # input problems: rank 0's lines
    rank0, rank1 = _rank_logs(tmp_path, "first")
    assert "rank 0 wrote 3 output(s)" in rank0 and "rank 1 wrote 2 output(s)" in rank1
    assert "kept" not in rank1 and "checking the labels" not in rank1  # rank 0's work alone

    report = json.loads((out / "augment_report.json").read_text(encoding="utf-8"))
    outputs = {o["image"]: o for o in report["outputs"]}
    assert sorted(outputs) == sorted([*OUTPUTS, "a.jpg", "sub/über bild.png", "empty.jpg"])
    for rel in OUTPUTS:  # the check saw every translation, whichever rank wrote it
        assert outputs[rel]["check"]["passed"] == (rel not in DROPPED), rel
        expected = "dropped" if rel in DROPPED else "skipped" if rel == FINISHED else "written"
        assert outputs[rel]["status"] == expected, rel
    assert _pixels(out / FINISHED).max() == 7  # the finished output was left alone
    coco = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    kept = sorted(rel for rel in OUTPUTS if rel not in DROPPED)
    assert sorted(im["file_name"] for im in coco["images"]) == sorted(
        [*kept, "a.jpg", "sub/über bild.png", "empty.jpg"]
    )
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [
            *kept,
            "a.jpg",
            "sub/über bild.png",
            "empty.jpg",
            "annotations.json",
            "augment_report.json",
            "augment_settings.json",
        ]
    )  # no temporary files, dropped outputs gone

    # one process, the Python API, the same options, the same threads as each rank
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = augment_dataset(
            load_model(tmp_path / "tiny.ckpt").eval(),
            tmp_path / "in" / "annotations.json",
            tmp_path / "one",
            domain_names=["day", "night"],
            detector=str(tmp_path / "detector.pt"),
            accelerator="cpu",
            **OPTIONS,
        )
    finally:
        torch.set_num_threads(threads)
    assert (one.written, one.dropped) == (4, 2)
    for rel in kept:
        if rel != FINISHED:
            assert np.array_equal(_pixels(out / rel), _pixels(tmp_path / "one" / rel)), rel
    assert json.loads((tmp_path / "one" / "annotations.json").read_text(encoding="utf-8")) == coco

    # one output of rank 0's share lost: the rerun writes it alone, rank 1 idle
    lost = OUTPUTS[4]
    before = _pixels(out / lost)
    (out / lost).unlink()
    res = _augment_cli(tmp_path, out, "rerun")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    rank0, rank1 = _rank_logs(tmp_path, "rerun")
    assert "rank 0 wrote 1 output(s)" in rank0 and "GLOBAL_RANK: 1, MEMBER: 2/2" in rank1
    assert not re.search(r"rank 1 wrote [1-9]", rank1)  # idle (Lightning runs no loop there)
    assert np.array_equal(_pixels(out / lost), before)
    report = json.loads((out / "augment_report.json").read_text(encoding="utf-8"))
    assert report["counts"] == {"written": 1, "skipped": 3, "failed": 0, "copied": 3, "dropped": 2}

    # bad input: one error line, status 1, before any rank is started
    bad = _augment_cli(tmp_path, tmp_path / "o2", "bad", input=tmp_path / "nowhere")
    errors = [line for line in (bad.stdout + bad.stderr).splitlines() if "ERROR" in line]
    assert bad.returncode == 1 and len(errors) == 1 and "nowhere" in errors[0]
    assert "Traceback" not in bad.stdout + bad.stderr and not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    "where, message",
    [
        (
            Devices("cpu", 2, 1, "ddp_spawn"),
            r"strategy='ddp_spawn' starts its ranks inside the run",
        ),
        (Devices("cpu", 0), r"accelerator='cpu' devices=0 num_nodes=1 strategy='auto' cannot run"),
    ],
)
def test_a_strategy_that_spawns_its_ranks_and_bad_devices_are_one_line(where, message):
    with pytest.raises(ValueError, match=message):
        prediction_device(where)
