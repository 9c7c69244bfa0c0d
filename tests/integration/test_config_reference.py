"""The README's "Configuration reference" group table names exactly the options conf/ holds, and
each of them composes into a config whose ``_target_`` nodes take every key they are given."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from starganv2.cli.config_check import check_config
from tests.integration.conftest import CONF_DIR, compose_train

README = Path(__file__).resolve().parents[2] / "README.md"
# options that cannot stand alone: the experiments' shared parts, and the callback added to a
# set (``+callbacks@_global_=timing``, in the README's table as that, not as an option)
NOT_OPTIONS = {"experiment": {"default"}, "callbacks": {"timing"}, "data": set()}
# mandatory values the options leave to the user (``???``), given so that they compose in full
MANDATORY = {
    "folder": ["data.root=/some/where", "data.num_domains=2"],
    "afhq": ["data.root=/some/where"],
    "celeba_hq": ["data.root=/some/where"],
    "attributes": ["data.root=/some/where", "data.attr_file=/some/list_attr.txt"],
}


def documented_options() -> dict[str, set[str]]:
    """group -> the options the README's group table lists (backticked words of its second
    column, before any ``;`` remark and without parenthesised notes)."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Configuration reference", 1)[1].split("Main keys", 1)[0]
    out: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        options = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "", cells[1].split(";")[0])
        out[cells[0].strip("`")] = {o for o in re.findall(r"`([^`]+)`", options) if "<" not in o}
    return out


def options_on_disk(group: str) -> set[str]:
    folder = CONF_DIR / group
    return {p.stem for p in folder.glob("*.yaml")} - NOT_OPTIONS.get(group, set())


DOCUMENTED = documented_options()
CASES = sorted((g, o) for g, opts in DOCUMENTED.items() for o in opts)


def test_the_table_lists_every_group_and_option_of_conf():
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")}
    groups = (groups - {"hydra", "paths"}) | {"hydra/launcher"}
    assert set(DOCUMENTED) == groups
    for group, options in DOCUMENTED.items():
        assert options == options_on_disk(group), group


@pytest.mark.parametrize(("group", "option"), CASES)
def test_every_documented_option_composes_and_fits_its_constructors(group, option, tmp_path):
    add = "+" if group == "ablation_arm" else ""
    cfg = compose_train([f"{add}{group}={option}", *MANDATORY.get(option, [])], tmp_path)
    check_config(cfg, ["data", "model", "trainer", "callbacks", "logger"])
