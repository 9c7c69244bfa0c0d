"""``starganv2-eval output_file=...`` that cannot be written (a folder, or a path under a file) is
refused before the checkpoint or any data is read, naming the key, not after the whole
evaluation with ``IsADirectoryError`` / ``FileExistsError`` from the atomic write."""

from __future__ import annotations

import pytest

from starganv2.cli.eval import run
from tests.integration.test_eval_cli import _two_domains_no_data


def test_output_file_that_is_a_folder_is_refused_at_once(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    cfg = _two_domains_no_data(tmp_path, f"output_file={folder}")
    with pytest.raises(ValueError, match=r"^output_file=.*results is a folder: give the JSON"):
        run(cfg)


def test_output_file_under_a_file_is_refused_at_once(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    cfg = _two_domains_no_data(tmp_path, f"output_file={tmp_path}/notes.txt/metrics.json")
    with pytest.raises(ValueError, match=r"^output_file=.*: .*notes\.txt is a file, not a folder"):
        run(cfg)


@pytest.mark.parametrize("sub", ["", "/imgs"])
def test_save_images_that_is_a_file_is_refused_at_once(tmp_path, sub):
    """``save_images=notes.txt`` (or a folder under it) failed only at the first image, after
    the checkpoint, the weights and the real images were read, in a message without the key."""
    (tmp_path / "notes.txt").write_text("x")
    cfg = _two_domains_no_data(
        tmp_path, "metrics=[fid_lpips]", f"save_images={tmp_path}/notes.txt{sub}"
    )
    with pytest.raises(ValueError, match=r"^save_images=.*: .*notes\.txt is a file, not a folder"):
        run(cfg)


@pytest.mark.parametrize("logger", ["csv", "tensorboard"])
def test_a_file_where_the_loggers_folder_goes_is_refused_at_once(tmp_path, logger):
    """The loggers are made after the evaluation: a file in place of their folder was a
    ``FileExistsError`` traceback once the whole evaluation had run (found by hunt AZ)."""
    (tmp_path / "logs").write_text("x")
    cfg = _two_domains_no_data(
        tmp_path, f"logger={logger}", f"logger.{logger}.save_dir={tmp_path}/logs"
    )
    with pytest.raises(ValueError, match=rf"^logger\.{logger}: .*logs is a file, not a folder"):
        run(cfg)
