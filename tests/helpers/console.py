"""What a terminal shows for captured console output, and the overrides a message asks to paste."""

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


def pasted(message: str) -> list[str]:
    """The overrides a weight error asks to paste (its first ``pass its path with ...``)."""
    import shlex

    hint = message.split("pass its path with ", 1)[1]
    return shlex.split(hint[: hint.index("'.") + 1])


def _weight_placeholders() -> dict[str, str]:
    from starganv2.evaluation import backbones

    return {
        "fid_weights": f"/path/to/{backbones.STANDARD_INCEPTION_FILE}",
        "lpips_weights": f"/path/to/{backbones.ALEXNET_FILE}",
    }


WEIGHT_PLACEHOLDERS = _weight_placeholders()
"""The placeholder paths the weight errors print, by setting."""


def the_one_error_line(proc) -> str:
    """The one non-blank line a console script refused its input with (exit status 1), after
    checking that it printed nothing else."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]
