"""``starganv2-augment`` as a user runs it: one domain given alone, and SIGTERM (``kill``,
``timeout``, a scheduler) stopping it as Ctrl-C does, so that the same command finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.integration.conftest import compose_train, default_sigint
from tests.synthesis.detection.datasets import make_coco, save_image


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A checkpoint of the tiny untrained model (2 domains: domain0, domain1)."""
    torch.manual_seed(0)
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.strategy.connect(StarGANv2Module(**TINY))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize("target", ["domain1", "1"])
def test_one_target_alone_is_a_list_of_one(ckpt, tmp_path, target):
    from starganv2.cli.augment import run

    src = make_coco(tmp_path / "in", broken=False)
    overrides = [f"ckpt_path={ckpt}", f"input={src}", f"output={tmp_path / 'out'}"]
    report = run(compose_train([*overrides, f"targets={target}"], tmp_path / "run", "augment"))
    assert report.written == 3 and {o["domain"] for o in report.outputs} == {"domain1"}


@pytest.mark.parametrize(
    ("sig", "cause", "status"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "Ctrl-C", 130)]
)
def test_a_signal_stops_it_cleanly_and_the_same_command_finishes(
    ckpt, tmp_path, sig, cause, status
):
    """SIGTERM, and Ctrl-C (which Lightning turns into exit status 1, that of bad input)."""
    images = []
    for i in range(30):
        save_image(tmp_path / f"in/{i:02d}.jpg", 96, 96, i)
        images.append({"id": i, "file_name": f"{i:02d}.jpg", "width": 96, "height": 96})
    doc = {"images": images, "annotations": [], "categories": []}
    (tmp_path / "in/t.json").write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "starganv2.cli.augment", f"ckpt_path={ckpt}"]
    command += ["input=in/t.json", "output=out", "targets=[1]", "styles=2", "fit=tile"]
    command += ["batch_size=1", f"hydra.run.dir={tmp_path / 'hydra'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,  # Python's Ctrl-C handler even where the tests ignore SIGINT
    )

    def finished(pattern: str) -> list[str]:  # pathlib's glob also matches hidden temporaries
        return sorted(p.name for p in out.glob(pattern) if not p.name.startswith("."))

    deadline = time.monotonic() + 120
    while not finished("*_domain1_*.jpg") and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(sig)
    text, _ = run.communicate(timeout=120)
    assert run.returncode == status, text
    made = finished("*.jpg")
    assert 0 < len(made) < 60 and not list(out.glob(".*")), made
    (line,) = [x for x in text.splitlines() if f"stopped by {cause}" in x]
    assert "run the same command again to finish" in line and "starganv2-augment" in line
    assert f"cd {tmp_path} && " in line  # its relative paths work from any folder
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    report = json.loads((out / "augment_report.json").read_text(encoding="utf-8"))
    assert report["counts"]["written"] + report["counts"]["skipped"] == 60
