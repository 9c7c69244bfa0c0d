"""The top-level process options ``keep_freed_memory`` and ``matmul_precision`` are checked
before training: a quoted ``keep_freed_memory='false'`` is a truthy string that turned the option
on, and torch only warns about an unknown matmul precision and keeps its own."""

from __future__ import annotations

import pytest

from starganv2.cli.config_check import ConfigError
from starganv2.cli.train import check_process_options
from tests.integration.conftest import compose_train


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "keep_freed_memory='false'",
            "keep_freed_memory='false' is invalid: expected true or false",
        ),
        ("keep_freed_memory=maybe", "keep_freed_memory='maybe' is invalid: expected true or false"),
        ("keep_freed_memory=0", "keep_freed_memory=0 is invalid: expected true or false"),
        (
            "matmul_precision=foo",
            "matmul_precision='foo' is invalid: expected highest, high, medium",
        ),
    ],
)
def test_a_process_option_of_the_wrong_kind_is_refused(tmp_path, override, message):
    cfg = compose_train([override], tmp_path / "run")
    with pytest.raises(ConfigError) as err:
        check_process_options(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [[], ["keep_freed_memory=false"], ["matmul_precision=high"], ["matmul_precision=null"]],
)
def test_the_documented_process_options_pass(tmp_path, overrides):
    check_process_options(compose_train(overrides, tmp_path / "run"))


def test_a_sweep_checks_them_for_each_job_before_any_starts(tmp_path):
    """check_settings (run for every job of a sweep before the first) holds the check too."""
    from starganv2.cli.train import check_settings

    with pytest.raises(ConfigError, match=r"matmul_precision='foo' is invalid"):
        check_settings(compose_train(["matmul_precision=foo"], tmp_path / "run"))
