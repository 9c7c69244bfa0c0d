"""The import direction of docs/architecture.md: no module imports from a layer above its own.

Layers, lowest first: ``utils`` < ``faces`` < ``models`` < ``data`` < ``evaluation``, ``synthesis``
< ``interop`` < ``callbacks`` < ``cli``. Every import counts, at module level or inside a function
(a lazy import still ties the lower layer to the higher one), and so do ``TYPE_CHECKING`` imports.
Only ``starganv2/__init__.py`` (the public names, resolved lazily from strings) is exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "starganv2"

LAYERS: dict[str, int] = {
    "utils": 0,
    "faces": 1,
    "models": 2,
    "data": 3,
    "evaluation": 4,
    "synthesis": 4,
    "interop": 5,
    "callbacks": 6,
    "cli": 7,
    "conf": 7,
}
"""Each subpackage of ``starganv2`` and its layer; equal numbers may import each other."""


def _package_of(module: str) -> str | None:
    """``"models"`` for ``"starganv2.models.fan"``; ``None`` outside the library or for the root."""
    parts = module.split(".")
    if parts[0] != "starganv2" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p != SRC / "__init__.py")


def test_every_subpackage_has_a_layer() -> None:
    """A new subpackage must be placed in the layer order (here and in docs/architecture.md)."""
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"subpackages without a layer: {sorted(packages - set(LAYERS))}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_run_down(path: Path) -> None:
    own = _package_of(_module_name(path))
    assert own in LAYERS, f"{path} is outside every layer"
    upward = [
        f"line {line}: {name} (layer {LAYERS[pkg]}: {pkg})"
        for line, name in _imports(path)
        if (pkg := _package_of(name)) is not None and pkg in LAYERS and LAYERS[pkg] > LAYERS[own]
    ]
    assert not upward, (
        f"{path.relative_to(SRC)} (layer {LAYERS[own]}: {own}) imports upward: {upward}"
    )


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The scanner itself: an import inside a function and a relative import are both found."""
    package = tmp_path / "starganv2" / "models"
    package.mkdir(parents=True)
    source = package / "thing.py"
    source.write_text(
        "def f():\n    from starganv2.data import shapes\n\nfrom ..evaluation import registry\n",
        encoding="utf-8",
    )
    global SRC
    saved, SRC = SRC, tmp_path / "starganv2"
    try:
        names = sorted(name for _, name in _imports(source))
    finally:
        SRC = saved
    assert names == ["starganv2.data", "starganv2.evaluation"]
