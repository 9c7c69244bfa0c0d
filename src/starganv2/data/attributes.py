"""Attribute tables: images with several binary attributes each (StarGAN v1's CelebA setting).

Two table formats are read, detected from the first line:

- **CelebA** ``list_attr_celeba.txt`` as downloaded: a line with the row count, a line with the
  attribute names (no column for the file name), then one row per image: the file name and one
  ``1`` / ``-1`` per attribute, separated by runs of spaces (``000001.jpg -1  1  1 -1 ...``).
  Windows line endings, a trailing space after the names and blank lines at the end are fine.
- **CSV**: a header ``filename,attr1,attr2,...`` (the first column's name is free), then one row
  per image with ``1`` and ``0`` or ``1`` and ``-1``.

File names are relative to the image folder. Values become 1 (on) and 0 (off); anything else,
a row with the wrong number of fields, a repeated file name or a wrong row count is one line of
the :class:`AttributeTableError`, which lists them all.

Exclusive groups (``[["Black_Hair", "Blond_Hair", "Brown_Hair"]]``) declare attributes of
which at most one is on; :func:`exclusive_indices` checks them against the selected attributes.
The data are not required to obey them (CelebA has a few hundred faces with two hair colours);
the models use them to pick target labels (:func:`~starganv2.models.stargan_v1.step.flip_labels`).

The original StarGAN code's split (:func:`original_split`): the table's rows shuffled with
Python's ``random`` seeded 1234, the first 1,999 of them the test split, the rest training.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import transforms

from starganv2.data.folders import load_image

__all__ = [
    "AttributeTable",
    "AttributeTableError",
    "AttributeDataset",
    "read_attribute_table",
    "select_attributes",
    "exclusive_indices",
    "exclusive_violations",
    "original_split",
    "SPLITS",
    "ORIGINAL_SPLIT_SEED",
    "ORIGINAL_TEST_SIZE",
]

log = logging.getLogger(__name__)

ORIGINAL_SPLIT_SEED = 1234
"""Seed of Python's ``random`` before the original code shuffles the CelebA rows."""
ORIGINAL_TEST_SIZE = 1999
"""Rows of the original's CelebA test split (its ``(i + 1) < 2000`` test)."""
SPLITS = ("original", "none")
"""``original``: :func:`original_split`; ``none``: every row trains, no test split."""
_VALUES = {"1": 1, "0": 0, "-1": 0}
_MAX_LISTED = 20
_COUNT = re.compile(r"[0-9]+")


class AttributeTableError(ValueError):
    """A table that cannot be read as asked: every problem on a line of its own."""


def _raise_problems(path: Path, problems: list[str], expected: str) -> None:
    shown = problems[:_MAX_LISTED]
    if len(problems) > _MAX_LISTED:
        shown.append(f"... and {len(problems) - _MAX_LISTED} more")
    raise AttributeTableError(
        f"{path}: {len(problems)} problem(s); expected {expected}:\n  " + "\n  ".join(shown)
    )


@dataclass(frozen=True)
class AttributeTable:
    """An attribute table as read from disk.

    Attributes:
        path: the file.
        names: every attribute name of the file, in its order.
        files: ``(rows,)`` file names relative to the image folder, in file order.
        values: ``(rows, len(names))`` uint8 array of 1 (on) and 0 (off).
        lines: ``(rows,)`` the 1-based line of each row in the file (for messages).
    """

    path: Path
    names: tuple[str, ...]
    files: tuple[str, ...]
    values: np.ndarray
    lines: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)


def _parse_rows(
    path: Path,
    rows: list[tuple[int, list[str]]],
    names: Sequence[str],
    value_desc: str,
) -> AttributeTable:
    """Rows ``(line, [file, v1, v2, ...])`` to a table; collects every problem before raising."""
    problems: list[str] = []
    files: list[str] = []
    lines: list[int] = []
    values = np.zeros((len(rows), len(names)), dtype=np.uint8)
    seen: dict[str, int] = {}
    for r, (line, fields) in enumerate(rows):
        if len(fields) != len(names) + 1:
            problems.append(
                f"line {line}: {len(fields)} fields, expected {len(names) + 1} (the file name "
                f"and {len(names)} values)"
            )
            continue
        name = fields[0]
        if name in seen:
            problems.append(
                f"line {line}: file {name!r} is listed again (first on line {seen[name]})"
            )
        seen.setdefault(name, line)
        for a, v in enumerate(fields[1:]):
            if v not in _VALUES:
                problems.append(f"line {line}: {names[a]}={v!r} for {name}, expected {value_desc}")
            else:
                values[r, a] = _VALUES[v]
        files.append(name)
        lines.append(line)
    if problems:
        _raise_problems(path, problems, f"rows of a file name and {value_desc} values")
    return AttributeTable(path, tuple(names), tuple(files), values, tuple(lines))


def _read_celeba(path: Path, lines: list[str]) -> AttributeTable:
    count = int(lines[0].strip())  # ASCII digits (read_attribute_table checked)
    if len(lines) < 2 or not lines[1].split():
        raise AttributeTableError(
            f"{path}: line 2 is missing or empty; expected the attribute names (CelebA format)"
        )
    names = lines[1].split()
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise AttributeTableError(f"{path}: line 2 names {dup} more than once")
    rows = [(i + 3, ln.split()) for i, ln in enumerate(lines[2:]) if ln.strip()]
    if len(names) > 1 and rows and all(len(fields) == len(names) for _, fields in rows):
        raise AttributeTableError(
            f"{path}: line 2 has {len(names)} names but every row has {len(names) - 1} values "
            f"after its file name: line 2 has one name too many (a name for the file column, "
            f"{names[0]!r}?); expected only the attribute names on line 2 (CelebA format)"
        )
    if len(rows) != count:
        raise AttributeTableError(
            f"{path}: line 1 says {count} rows but the file has {len(rows)}; expected the "
            "count to match (a truncated or edited list_attr_celeba.txt?)"
        )
    return _parse_rows(path, rows, names, "1 or -1 (or 0)")


def _read_csv(path: Path, text: str) -> AttributeTable:
    reader = csv.reader(io.StringIO(text))
    records = [(i + 1, [f.strip() for f in rec]) for i, rec in enumerate(reader)]
    records = [(line, rec) for line, rec in records if any(rec)]
    if not records or len(records[0][1]) < 2:
        raise AttributeTableError(
            f"{path}: expected a CSV header 'filename,attr1,attr2,...' on line 1"
        )
    header = records[0][1]
    names = header[1:]
    if all(n in _VALUES for n in names):
        raise AttributeTableError(
            f"{path}: line 1 {header} looks like a data row; expected the first line to name "
            "the attributes: a CSV header 'filename,attr1,attr2,...'"
        )
    if len(set(names)) != len(names) or not all(names):
        raise AttributeTableError(
            f"{path}: the header {header} has empty or repeated attribute names"
        )
    return _parse_rows(path, records[1:], names, "1 and 0, or 1 and -1")


def read_attribute_table(path: str | Path) -> AttributeTable:
    """Read a CelebA-format or CSV attribute table (see the module docstring).

    Raises ``FileNotFoundError`` for a missing file and :class:`AttributeTableError` listing
    every bad row.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"data.attr_file={path}: file not found; expected an attribute table "
            "(list_attr_celeba.txt or a CSV)"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise AttributeTableError(
            f"{path}: line {line} is not UTF-8 ({err.reason} at byte {err.start}); expected a "
            "UTF-8 text file: save the table as UTF-8"
        ) from None
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    if _COUNT.fullmatch(first):
        return _read_celeba(path, lines)
    if "," in first:
        return _read_csv(path, text)
    raise AttributeTableError(
        f"{path}: line 1 is {first[:60]!r}; expected a row count (CelebA's list_attr_celeba.txt) "
        "or a CSV header 'filename,attr1,attr2,...'"
    )


def select_attributes(table: AttributeTable, attributes: Sequence[str] | None) -> np.ndarray:
    """The ``(rows, len(attributes))`` 0/1 values of ``attributes``, in that order (``None``:
    all of the file's, in its order). Unknown names raise, listing the file's names."""
    if attributes is None:
        return table.values
    attributes = list(attributes)
    unknown = [a for a in attributes if a not in table.names]
    if unknown:
        raise AttributeTableError(
            f"data.attributes={attributes}: {unknown} not in {table.path}; expected names "
            f"from {list(table.names)}"
        )
    if len(set(attributes)) != len(attributes):
        raise AttributeTableError(f"data.attributes={attributes}: expected no repeated names")
    if not attributes:
        raise AttributeTableError("data.attributes=[]: expected at least one attribute name")
    index = [table.names.index(a) for a in attributes]
    return table.values[:, index]


def exclusive_indices(
    attributes: Sequence[str], exclusive: Sequence[Sequence[str]]
) -> list[tuple[int, ...]]:
    """Exclusive groups of attribute names as index tuples into ``attributes``.

    Every name must be one of ``attributes``, belong to one group only, and a group needs at
    least two names.
    """
    attributes = list(attributes)
    out: list[tuple[int, ...]] = []
    seen: set[str] = set()
    for group in exclusive:
        group = list(group)
        unknown = [a for a in group if a not in attributes]
        if unknown:
            raise ValueError(
                f"data.exclusive group {group}: {unknown} not among data.attributes={attributes}; "
                "expected groups of data.attributes: set data.exclusive to such groups, or "
                "'data.exclusive=[]' for none"
            )
        if len(group) < 2 or len(set(group)) != len(group):
            raise ValueError(
                f"data.exclusive group {group}: expected at least two different attribute names"
            )
        twice = [a for a in group if a in seen]
        if twice:
            raise ValueError(
                f"data.exclusive={[list(g) for g in exclusive]}: {twice} in more than one group"
            )
        seen.update(group)
        out.append(tuple(attributes.index(a) for a in group))
    return out


def exclusive_violations(values: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Row indices of ``values (rows, A)`` that have more than one attribute of a group on."""
    bad = np.zeros(len(values), dtype=bool)
    for group in groups:
        bad |= values[:, list(group)].sum(axis=1) > 1
    return np.flatnonzero(bad)


def original_split(
    num_rows: int, test_size: int = ORIGINAL_TEST_SIZE, seed: int = ORIGINAL_SPLIT_SEED
) -> tuple[list[int], list[int]]:
    """The original code's split of a table's rows: ``(train rows, test rows)``.

    The rows (all of the table's, before any is dropped) are shuffled with ``random.seed(seed);
    random.shuffle(rows)`` (a fresh ``random.Random(seed)`` draws the same), and the first
    ``test_size`` become the test split, in shuffled order.
    """
    order = list(range(num_rows))
    random.Random(seed).shuffle(order)
    return order[test_size:], order[:test_size]


class AttributeDataset(Dataset):
    """Images with multi-hot labels.

    Item ``i``: ``{"x_real": (3, H, W), "y_org": (A,) float32}`` (training) or
    ``{"x": (3, H, W), "y": (A,) float32}`` (``eval_items=True``, validation and test), images
    in [-1, 1] after ``transform``, labels 1.0 (on) and 0.0 (off).

    Args:
        files: image paths.
        labels: ``(len(files), A)`` 0/1 values.
        transform: PIL RGB image -> tensor.
        eval_items: the validation item keys.
    """

    def __init__(
        self,
        files: Sequence[Path],
        labels: np.ndarray,
        transform: transforms.Compose | None = None,
        eval_items: bool = False,
    ):
        labels = np.asarray(labels)
        if labels.ndim != 2 or len(labels) != len(files):
            raise ValueError(
                f"labels has shape {labels.shape} for {len(files)} files: expected "
                f"({len(files)}, num_attributes)"
            )
        self.files = [Path(f) for f in files]
        self.labels = torch.as_tensor(labels, dtype=torch.float32)  # (N, A)
        self.transform = transform
        self.eval_items = eval_items

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> torch.Tensor:
        """Image ``index`` loaded and transformed."""
        img = load_image(self.files[index])
        return self.transform(img) if self.transform is not None else img

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.load(index)
        y = self.labels[index]
        return {"x": x, "y": y} if self.eval_items else {"x_real": x, "y_org": y}
