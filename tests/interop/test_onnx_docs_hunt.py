"""What the export's texts say about its output: the graphs clamp to [-1, 1] (as ``translate``
does, ``models/stargan_v2/graphs.py``), and the docs used to say they do not."""

from __future__ import annotations

from pathlib import Path

import starganv2.cli.export as cli_export
import starganv2.interop.onnx as onnx_export

DOCS = Path(__file__).resolve().parents[2] / "docs" / "synthesis.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_export_texts_say_the_output_is_clamped():
    section = DOCS.read_text().split("## ONNX export", 1)[1].split("\n## ", 1)[0]
    helps = cli_export.parser().format_help()
    for name, text in [("docs", section), ("docstring", onnx_export.__doc__), ("help", helps)]:
        assert "not clamped" not in _flat(text), name
        assert "clamped to [-1, 1]" in _flat(text), name
