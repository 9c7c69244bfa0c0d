"""A domain of two images, one of which stopped decoding: the error said "no readable image
left" (one is) and to check the storage and resume, which fails again the same way, without
saying which files to replace (found by hunt AQ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from starganv2.data.sampling import SourceReferenceDataset, UnreadableDataError
from tests.helpers.images import make_root, small_datamodule


def test_a_reference_pair_without_a_readable_partner_says_what_to_replace(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"cat": 2, "dog": 2}))
    dm.setup()
    victim = dm.train_set.files[0]  # cat 000; cat 001 is its only partner
    victim.write_bytes(victim.read_bytes()[:30])
    data = SourceReferenceDataset(dm.train_set)
    with pytest.raises(UnreadableDataError) as err:
        data[(2, 0, 1)]
    message = str(err.value)
    assert f"the domain of {victim} (2 files, the reference pair's other image aside" in message
    assert "replace or remove them" in message
