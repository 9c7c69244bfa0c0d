"""What a terminal shows for captured console output."""

from __future__ import annotations


def screen_lines(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: a carriage return goes back to the start of the
    line and what follows overwrites what was there (how a tqdm bar redraws itself); trailing
    spaces are dropped."""
    lines = []
    for raw in text.split("\n"):
        cells: list[str] = []
        for part in raw.split("\r"):
            for col, char in enumerate(part):
                if col < len(cells):
                    cells[col] = char
                else:
                    cells.append(char)
        lines.append("".join(cells).rstrip())
    return lines
