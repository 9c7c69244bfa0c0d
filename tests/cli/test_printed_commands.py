"""Printed next-step commands: each value reaches Hydra unchanged through bash and the override
grammar (spaces, quotes, commas that would make a sweep, brackets, equals signs)."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from starganv2.cli.common import hydra_arg

VALUES = [
    "/data/run_1/last.ckpt",
    "2026-12-04_17-30-00",
    "/data/my runs/last.ckpt",
    "/data/a,b/last.ckpt",
    "/data/x=1/last.ckpt",
    "/data/v(2)/[3]/{4}/last.ckpt",
    "/data/it's/last.ckpt",
    '/data/say "hi"/last.ckpt',
    "/data/$HOME/*/last.ckpt",
    "/data/run~1/last.ckpt",  # Hydra's grammar takes no ~ in an unquoted value
]


@pytest.mark.parametrize("value", VALUES)
def test_a_value_survives_the_shell_and_hydra(value):
    line = shlex.join(["starganv2-eval", hydra_arg("ckpt_path", value), "data=folder"])
    words = shlex.split(line)
    assert words[0] == "starganv2-eval" and words[2] == "data=folder" and len(words) == 3
    override = OverridesParser.create().parse_override(words[1])
    assert override.key_or_group == "ckpt_path"
    assert override.value() == value


def test_bash_passes_the_words_as_printed(tmp_path):
    line = shlex.join(["printf", "%s\\n", *(hydra_arg("k", v) for v in VALUES)])
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [hydra_arg("k", v) for v in VALUES]


def test_plain_values_stay_unquoted():
    assert hydra_arg("run_name", "afhq_2x4") == "run_name=afhq_2x4"
    assert hydra_arg("ckpt_path", "/data/run_1/last.ckpt") == "ckpt_path=/data/run_1/last.ckpt"
