"""A domain folder linked from elsewhere whose target is gone (a drive not mounted) vanished
from the domains without a word: with ``data.num_domains`` one less the run trained without it,
and with the right count the error listed the folders without naming the link (found by
hunt AQ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starganv2.data.folders import list_domain_files
from tests.helpers.images import make_root, small_datamodule


def test_a_domain_link_to_nothing_is_named(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", {"cat": 2, "dog": 2})
    (root / "train" / "fox").symlink_to(tmp_path / "unmounted" / "fox")
    with pytest.raises(FileNotFoundError, match=r"train/fox: a link to .*unmounted/fox, which"):
        list_domain_files(root / "train")
    with pytest.raises(FileNotFoundError, match=r"restore its target or remove the link"):
        small_datamodule(root, num_domains=2).setup()
