"""Attribute tables (CelebA's list_attr_celeba.txt as downloaded, CSV), the original's split,
exclusive groups, and the data module of images with multi-hot labels."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from starganv2.data.attribute_datamodule import AttributeDataModule
from starganv2.data.attributes import (
    AttributeTableError,
    exclusive_indices,
    exclusive_violations,
    original_split,
    read_attribute_table,
    select_attributes,
)
from tests.helpers.images import save_image

NAMES = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young", "Smiling"]


def _celeba_text(rows: list[tuple[str, list[int]]], names=NAMES, count=None) -> str:
    """CelebA's quirks: count line, names with a trailing space, values right-aligned two wide
    (so runs of spaces), CRLF line endings, a blank line at the end."""
    out = [str(len(rows) if count is None else count), " ".join(names) + " "]
    out += [f + " " + " ".join(f"{v:>2d}" for v in vals) for f, vals in rows]
    return "\r\n".join(out) + "\r\n\r\n"


ROWS = [
    ("000001.jpg", [-1, 1, -1, -1, 1, 1]),
    ("000002.jpg", [1, -1, -1, 1, 1, -1]),
    ("000003.jpg", [-1, -1, 1, 1, -1, -1]),
    ("000004.jpg", [-1, -1, -1, -1, 1, 1]),
]


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_celeba_format_as_downloaded(tmp_path):
    table = read_attribute_table(_write(tmp_path / "list_attr_celeba.txt", _celeba_text(ROWS)))
    assert table.names == tuple(NAMES)
    assert table.files == ("000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg")
    assert table.values.tolist()[1] == [1, 0, 0, 1, 1, 0]
    assert table.lines == (3, 4, 5, 6)
    picked = select_attributes(table, ["Male", "Black_Hair"])  # order as asked
    assert picked.tolist() == [[0, 0], [1, 1], [1, 0], [0, 0]]


@pytest.mark.parametrize("off", ["0", "-1"])
def test_csv_table(tmp_path, off):
    text = "image_id,Male,Young\n" + f"a.png,1,{off}\n" + f"sub/b.png,{off},1\n"
    table = read_attribute_table(_write(tmp_path / "attrs.csv", text))
    assert table.names == ("Male", "Young")
    assert table.files == ("a.png", "sub/b.png")
    assert table.values.tolist() == [[1, 0], [0, 1]]


def test_every_bad_row_is_one_line(tmp_path):
    rows = [*ROWS[:2], ("000003.jpg", [-1, 2, 1, 1, -1, -1]), ("000004.jpg", [1, 1])]
    text = _celeba_text(rows).replace(" 2 ", " yes ")
    with pytest.raises(AttributeTableError) as err:
        read_attribute_table(_write(tmp_path / "t.txt", text))
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert "line 5: Blond_Hair='yes' for 000003.jpg, expected 1 or -1" in msg
    assert "line 6: 3 fields, expected 7" in msg


def test_table_level_errors(tmp_path):
    with pytest.raises(AttributeTableError, match="line 1 says 5 rows but the file has 4"):
        read_attribute_table(_write(tmp_path / "a.txt", _celeba_text(ROWS, count=5)))
    dup = _celeba_text([ROWS[0], ROWS[0]])
    with pytest.raises(AttributeTableError, match="line 4: file '000001.jpg' is listed again"):
        read_attribute_table(_write(tmp_path / "b.txt", dup))
    with pytest.raises(AttributeTableError, match="expected a row count .* or a CSV header"):
        read_attribute_table(_write(tmp_path / "c.txt", "name Male\na.png 1\n"))
    with pytest.raises(FileNotFoundError, match="data.attr_file="):
        read_attribute_table(tmp_path / "missing.txt")
    table = read_attribute_table(_write(tmp_path / "d.txt", _celeba_text(ROWS)))
    with pytest.raises(AttributeTableError, match=r"\['Gray_Hair'\] not in .*expected names"):
        select_attributes(table, ["Male", "Gray_Hair"])


def test_exclusive_groups():
    attrs = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    assert exclusive_indices(attrs, [["Black_Hair", "Blond_Hair", "Brown_Hair"]]) == [(0, 1, 2)]
    with pytest.raises(ValueError, match=r"\['Gray_Hair'\] not among data.attributes"):
        exclusive_indices(attrs, [["Black_Hair", "Gray_Hair"]])
    with pytest.raises(ValueError, match="at least two different"):
        exclusive_indices(attrs, [["Male"]])
    with pytest.raises(ValueError, match="in more than one group"):
        exclusive_indices(attrs, [["Black_Hair", "Male"], ["Male", "Young"]])
    values = np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]])
    assert exclusive_violations(values, [(0, 1, 2)]).tolist() == [1]


def test_original_split_is_the_original_codes():
    """The original: ``random.seed(1234); random.shuffle(lines)``, rows ``i`` with ``i + 1 <
    2000`` test, the rest train."""
    lines = [f"{i:06d}.jpg" for i in range(2300)]
    random.seed(1234)
    random.shuffle(lines)
    test = [int(f[:6]) for i, f in enumerate(lines) if (i + 1) < 2000]
    train = [int(f[:6]) for i, f in enumerate(lines) if (i + 1) >= 2000]
    assert original_split(2300) == (train, test)
    assert len(test) == 1999


def _attribute_root(tmp_path: Path, n: int = 8) -> tuple[Path, Path]:
    """n images and a CelebA-format table with Black/Blond/Brown hair, Male, Young, Smiling."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        name = f"{i:06d}.png"
        save_image(tmp_path / "img" / name, (i * 20, 0, 0))
        hair = [-1, -1, -1]
        hair[i % 3] = 1
        rows.append((name, hair + [int(v) for v in rng.choice([-1, 1], size=3)]))
    return tmp_path / "img", _write(tmp_path / "list_attr_celeba.txt", _celeba_text(rows))


def _dm(root, table, **kw) -> AttributeDataModule:
    kw = {
        "attributes": ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"],
        "exclusive": [["Black_Hair", "Blond_Hair", "Brown_Hair"]],
        "img_size": 8,
        "batch_size": 3,
        "num_workers": 0,
        "pin_memory": False,
        "scan_workers": 1,
        "test_size": 2,
        **kw,
    }
    return AttributeDataModule(root, table, **kw)


def test_datamodule_batches_hold_multi_hot_labels(tmp_path):
    root, table = _attribute_root(tmp_path)
    dm = _dm(root, table)
    dm.setup()
    assert dm.num_domains == 5 and len(dm.train_set) == 6 and len(dm.val_set) == 2
    train_rows, test_rows = original_split(8, 2)
    assert [p.name for p in dm.val_set.files] == [f"{r:06d}.png" for r in test_rows]
    batches = list(dm.train_dataloader())
    assert [b["x_real"].shape[0] for b in batches] == [3, 3]  # the last partial batch is kept
    labels = torch.cat([b["y_org"] for b in batches])
    assert labels.dtype == torch.float32 and labels.shape == (6, 5)
    assert labels[:, :3].sum(1).eq(1).all()  # one hair colour each
    expected = {tuple(dm.train_set.labels[i].tolist()) for i in range(6)}
    assert {tuple(r.tolist()) for r in labels} == expected  # each training image once
    val = next(iter(dm.val_dataloader()))
    assert set(val) == {"x", "y"} and val["y"].shape == (2, 5)


def test_datamodule_lists_missing_images_or_skips_them(tmp_path, caplog):
    root, table = _attribute_root(tmp_path)
    (root / "000005.png").unlink()
    (root / "000006.png").write_bytes(b"not a png")
    with pytest.raises(ValueError) as err:
        _dm(root, table).setup()
    msg = str(err.value)
    assert "2 image(s) listed in" in msg and "000005.png: file not found" in msg
    assert "000006.png" in msg and "data.on_bad_image='skip'" not in msg.split("\n")[1]
    with caplog.at_level(logging.WARNING):
        dm = _dm(root, table, on_bad_image="skip", split="none")
        dm.setup()
    assert len(dm.train_set) == 6 and dm.val_dataloader() == []
    assert "skipping 2 missing or unreadable" in caplog.text


def test_datamodule_argument_errors(tmp_path):
    root, table = _attribute_root(tmp_path)
    with pytest.raises(ValueError, match="data.num_domains=4 but data.attributes has 5 names"):
        _dm(root, table, num_domains=4)
    with pytest.raises(ValueError, match="data.sampler='balanced': attribute data has no domains"):
        _dm(root, table, sampler="balanced")
    with pytest.raises(ValueError, match=r"data.exclusive group .*\['Gray_Hair'\]"):
        _dm(root, table, exclusive=[["Black_Hair", "Gray_Hair"]])
    dm = _dm(root, table, attributes=None, num_domains=5)
    with pytest.raises(ValueError, match="data.num_domains=5 but .* has 6 attributes"):
        dm.setup()


def test_a_num_domains_that_disagrees_names_the_value_to_pass(tmp_path):
    """data.attributes=[Male,Young] alone leaves the config's num_domains=5: the error says what
    to add, not only that the two disagree."""
    root, table = _attribute_root(tmp_path)
    with pytest.raises(ValueError, match=r"add data.num_domains=2$"):
        _dm(root, table, attributes=["Male", "Young"], exclusive=[], num_domains=5)


def test_a_data_root_that_holds_none_of_the_images_is_one_line(tmp_path):
    """data.root one folder too high (celeba/ instead of celeba/img_align_celeba/): every row
    is missing, and the error listed all of them (202,599 lines for CelebA) and advised 'skip'."""
    root, table = _attribute_root(tmp_path)
    for mode in ("error", "skip"):
        dm = _dm(root.parent, table, on_bad_image=mode)
        with pytest.raises(FileNotFoundError, match=r"none of the 8 images .* data.root=") as err:
            dm.setup()
        assert "\n" not in str(err.value) and ".png', would be " in str(err.value)


def test_many_missing_images_are_counted_not_all_listed(tmp_path):
    root, table = _attribute_root(tmp_path, n=30)
    for path in sorted(root.iterdir())[:25]:
        path.unlink()
    with pytest.raises(ValueError, match=r"25 image\(s\) listed") as err:
        _dm(root, table).setup()
    assert str(err.value).count("file not found") == 20 and "... and 5 more" in str(err.value)


def test_datamodule_refuses_an_epoch_without_a_full_batch(tmp_path):
    """drop_last with fewer training images than a batch would train 0 iterations."""
    root, table = _attribute_root(tmp_path)
    dm = _dm(root, table, batch_size=8, drop_last=True)
    dm.setup()
    with pytest.raises(
        ValueError, match="6 training samples per epoch, fewer than data.batch_size=8"
    ):
        dm.train_dataloader()
    with pytest.raises(ValueError, match="data.val_batch_size=0"):
        _dm(root, table, val_batch_size=0)
