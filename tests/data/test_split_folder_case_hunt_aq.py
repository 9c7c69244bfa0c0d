"""``Train/`` and ``Val/`` (named on macOS or Windows, which ignore case) under ``data.root``:
the error said to move them into ``train/`` as if they were domains (found by hunt AQ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.images import make_root, small_datamodule


def test_capitalised_split_folders_are_named_for_renaming(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", {"cat": 2, "dog": 2})
    (root / "train").rename(root / "Train")
    (root / "val").rename(root / "Val")
    with pytest.raises(FileNotFoundError) as err:
        small_datamodule(root, num_domains=2).setup()
    message = str(err.value)
    assert "rename Train to train and Val to val" in message
    assert "if they are the domains" not in message
