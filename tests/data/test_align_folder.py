"""Folder alignment of face photos (``data/align_folder.py``) and its command, ``starganv2-align``:
mirrored paths, bad images reported and skipped, resuming, exit status."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from starganv2.cli.align import main as align_main
from starganv2.data.align_folder import FAILURES_FILE, align_folder
from starganv2.faces.align import load_mean_landmarks
from tests.helpers.fan import mean_landmarks, random_fan, write_wing_ckpt


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "in"
    g = np.random.default_rng(0)
    for rel in ("a.jpg", "sub/deep/b.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(g.integers(0, 255, (90, 70, 3), dtype=np.uint8)).save(src / rel)
    (src / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (src / "notes.txt").write_text("not an image")
    np.savez(tmp_path / "lm.npz", mean=mean_landmarks())
    return src


def test_align_folder_mirrors_paths_reports_bad_images_and_resumes(photos, tmp_path, caplog):
    fan = random_fan(1)
    ref = load_mean_landmarks(tmp_path / "lm.npz", 64)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        report = align_folder(fan, photos, out, ref, img_size=64, progress=False)
    assert report.written == 2 and [p.name for p, _ in report.failed] == ["broken.jpg"]
    assert Image.open(out / "a.jpg").size == (64, 64)
    assert Image.open(out / "sub" / "deep" / "b.png").size == (64, 64)
    assert "broken.jpg" in (out / FAILURES_FILE).read_text()
    again = align_folder(fan, photos, out, ref, img_size=64, progress=False)
    assert again.written == 0 and again.skipped_existing == 2


def test_align_command_exit_status(photos, tmp_path):
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=1)
    args = [str(photos), str(tmp_path / "out"), "--fan", str(wing), "--img-size", "64"]
    assert align_main([*args, "--mean-landmarks", str(tmp_path / "lm.npz"), "--no-progress"]) == 2
    (photos / "sub" / "broken.jpg").unlink()
    assert align_main([*args, "--mean-landmarks", str(tmp_path / "lm.npz"), "--overwrite"]) == 0
    assert not (tmp_path / "out" / FAILURES_FILE).exists()
    assert align_main([*args, "--mean-landmarks", str(tmp_path / "nope.npz")]) == 1
    bad = [str(photos), str(tmp_path / "o2"), "--fan", str(tmp_path / "nope.ckpt")]
    assert align_main([*bad, "--mean-landmarks", str(tmp_path / "lm.npz")]) == 1


def test_an_output_folder_that_is_a_file_or_holds_the_input_is_refused_first(photos, tmp_path):
    """An output_dir that is a file ended in NotADirectoryError's traceback after the FAN had run;
    one that is (or contains) the input folder said "no images found" (its photos were taken for
    outputs)."""
    fan = random_fan(1)
    ref = load_mean_landmarks(tmp_path / "lm.npz", 64)
    afile = tmp_path / "a.ckpt"
    afile.write_bytes(b"x")
    with pytest.raises(FileExistsError, match=r"output_dir=.*a\.ckpt is a file"):
        align_folder(fan, photos, afile, ref, img_size=64, progress=False)
    for out in (photos, tmp_path):
        with pytest.raises(ValueError, match="is or contains input_dir"):
            align_folder(fan, photos, out, ref, img_size=64, progress=False)
    assert afile.read_bytes() == b"x"
