"""Required settings left unset (``???``) are one error line naming them all, before the tool
does anything, instead of OmegaConf's traceback from wherever the first was read."""

from __future__ import annotations

import logging

import pytest
from omegaconf import OmegaConf

from starganv2.cli.common import missing_settings, run_or_exit
from tests.integration.conftest import compose_train


def test_every_unset_setting_is_found_in_config_order(tmp_path):
    cfg = compose_train(["data=folder"], tmp_path / "run", config_name="translate")
    assert missing_settings(cfg) == [
        "ckpt_path",
        "input_dir",
        "output_dir",
        "data.root",
        "data.num_domains",
    ]
    done = compose_train(
        ["ckpt_path=a", "input_dir=b", "output_dir=c"], tmp_path / "run", config_name="translate"
    )
    assert missing_settings(done) == []


def test_interpolations_are_not_resolved():
    cfg = OmegaConf.create({"a": "${oc.env:NOT_SET_ANYWHERE_42}", "b": {"c": "???"}, "d": None})
    assert missing_settings(cfg) == ["b.c"]


def test_run_or_exit_names_them_all_and_runs_nothing(tmp_path, caplog):
    cfg = compose_train([], tmp_path / "run", config_name="augment")
    ran = []
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        run_or_exit(ran.append, cfg, logging.getLogger("starganv2.augment"))
    assert stop.value.code == 1 and ran == []
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line == (
        "ckpt_path, input, output are required but not set: give them on the command line, "
        "e.g. ckpt_path=... input=... output=..."
    )
