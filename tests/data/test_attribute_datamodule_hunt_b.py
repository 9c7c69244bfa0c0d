"""Attribute data: the attribute names saved in checkpoints and compared on resume, bad images of
the test split listed with the training ones, and one clear line for the table and name mistakes
people make."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from starganv2.data.attribute_datamodule import (
    ATTRIBUTES_KEY,
    AttributeDataModule,
    saved_attribute_names,
)
from starganv2.data.attributes import AttributeTableError, original_split, read_attribute_table
from starganv2.models.domain_names import saved_domain_names
from tests.data.test_attributes import _attribute_root, _dm, _write
from tests.data.test_resume import _fit

ORDER = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


# ------------------------------------------------------------------ names saved and compared


def test_the_attribute_names_are_saved_apart_from_domain_names(tmp_path):
    """Saved under ``attributes``: ``saved_domain_names`` (eval, translate) must not take them
    for domain folders."""
    root, table = _attribute_root(tmp_path)
    dm = _dm(root, table, attributes=None, exclusive=[], num_domains=None)
    dm.setup()
    state = dm.state_dict()
    assert state == {ATTRIBUTES_KEY: [*ORDER, "Smiling"]}  # all of the table's, in its order
    checkpoint = {"hyper_parameters": {"attributes": None}, "AttributeDataModule": state}
    assert saved_attribute_names(checkpoint) == [*ORDER, "Smiling"]
    assert saved_domain_names(checkpoint, 6) is None


def test_a_resume_that_moves_an_attribute_is_refused(tmp_path):
    root, table = _attribute_root(tmp_path)
    before = _dm(root, table)
    before.setup()
    now = _dm(root, table, attributes=["Young", "Male", "Brown_Hair", "Blond_Hair", "Black_Hair"])
    now.setup()
    with pytest.raises(ValueError) as err:
        now.load_state_dict(before.state_dict())
    assert str(err.value).startswith(
        "data.attributes: the checkpoint was trained with the attributes (0: Black_Hair, "
        "1: Blond_Hair, 2: Brown_Hair, 3: Male, 4: Young) and data.attributes now gives "
        "(0: Young, 1: Male, 2: Brown_Hair, 3: Blond_Hair, 4: Black_Hair): ['Black_Hair', "
        "'Blond_Hair', 'Male', 'Young'] would change label"
    )
    assert "'data.attributes=[Black_Hair,Blond_Hair,Brown_Hair,Male,Young]'" in str(err.value)


def test_a_resume_that_replaces_an_attribute_warns(tmp_path, caplog):
    root, table = _attribute_root(tmp_path)
    before = _dm(root, table)
    before.setup()
    now = _dm(root, table, attributes=[*ORDER[:4], "Smiling"])
    now.setup()
    with caplog.at_level(logging.WARNING, logger="starganv2.data.attribute_datamodule"):
        now.load_state_dict(before.state_dict())
        now.load_state_dict({})  # a checkpoint from before the names were saved: nothing to do
        before.load_state_dict(before.state_dict())  # the same names: nothing to say
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # (earlier tests may have left INFO on: setup's lines are counted)
    assert "(0: Black_Hair, 1: Blond_Hair, 2: Brown_Hair, 3: Male, 4: Young)" in caplog.text
    assert "(0: Black_Hair, 1: Blond_Hair, 2: Brown_Hair, 3: Male, 4: Smiling)" in caplog.text


def test_lightning_resume_refuses_attributes_in_another_order(tmp_path):
    """Through Lightning's restore (``trainer.fit(ckpt_path=...)``), as ``starganv2-train``."""
    root, table = _attribute_root(tmp_path, n=11)
    kw = {"img_size": 8, "batch_size": 3}
    _fit(lambda: _dm(root, table, **kw), tmp_path / "run", total=2, every=2)
    moved = [*ORDER[3:], *ORDER[:3]]
    with pytest.raises(ValueError, match=r"\['Black_Hair', .*\] would change label"):
        _fit(
            lambda: _dm(root, table, attributes=moved, **kw),
            tmp_path / "resumed",
            4,
            2,
            tmp_path / "run" / "iter_0000002.ckpt",
        )


# ------------------------------------------------------------------ bad images of either split


def test_bad_images_of_both_splits_are_listed_at_once(tmp_path, caplog):
    root, table = _attribute_root(tmp_path)
    train_rows, test_rows = original_split(8, 2)
    bad = [f"{train_rows[0]:06d}.png", f"{test_rows[0]:06d}.png"]
    for name in bad:
        (root / name).unlink()
    with pytest.raises(ValueError) as err:
        _dm(root, table).setup()
    assert str(err.value).startswith("2 image(s) listed in")
    assert all(f"{name}: file not found" in str(err.value) for name in bad)
    with caplog.at_level(logging.WARNING, logger="starganv2.data.attribute_datamodule"):
        dm = _dm(root, table, on_bad_image="skip")
        dm.setup()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "skipping 2 missing" in caplog.text
    assert len(dm.train_set) == 5 and len(dm.val_set) == 1


def test_a_test_split_left_without_images_is_an_error(tmp_path):
    root, table = _attribute_root(tmp_path)
    _, test_rows = original_split(8, 2)
    for r in test_rows:
        (root / f"{r:06d}.png").unlink()
    with pytest.raises(ValueError, match="no usable test image listed in .*data.test_size=2"):
        _dm(root, table, on_bad_image="skip").setup()


# ------------------------------------------------------------------ one clear line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a.jpg,1,-1,1\nb.jpg,0,1,0\n",
            r"line 1 \['a.jpg', '1', '-1', '1'\] looks like a data row; expected the first "
            "line to name the attributes",
        ),
        (
            "2\nimage_id Black_Hair Male\na.jpg 1 -1\nb.jpg -1 1\n",
            r"line 2 has 3 names but every row has 2 values after its file name: line 2 has "
            "one name too many",
        ),
        ("\u00b2\nBlack_Hair\na.jpg 1\n", "line 1 is '\u00b2'; expected a row count"),
    ],
)
def test_table_mistakes_are_one_line(tmp_path, text, expected):
    with pytest.raises(AttributeTableError, match=expected) as err:
        read_attribute_table(_write(tmp_path / "t.txt", text))
    assert "\n" not in str(err.value)


def test_a_table_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("2\nBlack_Hair\nb.jpg -1\n\xe9.jpg 1\n".encode("latin-1"))
    with pytest.raises(AttributeTableError) as err:
        read_attribute_table(path)
    assert str(err.value).startswith(f"{path}: line 4 is not UTF-8")


def test_attributes_outside_the_default_exclusive_group_say_how_to_drop_it(tmp_path):
    root, table = _attribute_root(tmp_path)
    with pytest.raises(ValueError, match=r"'data\.exclusive=\[\]' for none"):
        _dm(root, table, attributes=["Male", "Young"])


def test_an_attribute_the_table_lacks_is_reported_before_the_exclusive_groups(tmp_path):
    root, table = _attribute_root(tmp_path)
    with pytest.raises(AttributeTableError, match=r"\['Gray_Hair'\] not in .*list_attr_celeba"):
        _dm(root, table, attributes=["Black_Hair", "Gray_Hair", "Male"])
    with pytest.raises(ValueError, match="data.exclusive group"):  # no table to read yet
        AttributeDataModule(
            root,
            Path(tmp_path / "missing.txt"),
            attributes=["Black_Hair", "Gray_Hair"],
            exclusive=[["Black_Hair", "Blond_Hair"]],
        )
