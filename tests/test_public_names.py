"""Every public name of ``starganv2`` resolves: the lazy table in ``starganv2/__init__.py`` names
a module that exists and defines the name (a typo or a moved function fails here, not in a
user's ``from starganv2 import ...``)."""

from __future__ import annotations

import pytest

import starganv2


@pytest.mark.parametrize("name", [n for n in starganv2.__all__ if n != "__version__"])
def test_public_name_resolves(name: str) -> None:
    value = getattr(starganv2, name)
    assert getattr(value, "__name__", name) == name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        starganv2.nonexistent  # noqa: B018
