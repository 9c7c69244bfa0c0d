"""``starganv2-eval -m ckpt_path=a.ckpt,b.ckpt output_file=cmp/metrics.json``: every job wrote the
same file, each over the one before, and the comparison kept the last checkpoint's figures alone
without a word (``save_images`` the same: each job deleted the images the one before saved). A
multirun of several jobs with a fixed path there is now one error line, before any job runs."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from starganv2.cli.job_names import SharedOutputCheck, has_several_jobs, shared_output_key

KEYS = ["output_file", "save_images"]


def config(task: list[str], **values: object) -> object:
    base = {"output_file": "${paths.output_dir}/metrics.json", "save_images": None}
    return OmegaConf.create({**base, **values, "hydra": {"overrides": {"task": task}}})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["ckpt_path=a.ckpt,b.ckpt"], True),
        (["seed=range(0,3)", "ckpt_path=a.ckpt"], True),
        (["ckpt_path=a.ckpt", "metrics=[shapes_quality]"], False),
    ],
)
def test_a_sweep_is_several_jobs(overrides: list[str], expected: bool) -> None:
    assert has_several_jobs(overrides) is expected


def test_a_fixed_path_is_found_and_a_per_job_one_is_not() -> None:
    assert shared_output_key(config([]), KEYS) is None  # the defaults: each job's folder
    assert shared_output_key(config([], output_file="cmp/m.json"), KEYS) == "output_file"
    assert shared_output_key(config([], save_images="imgs"), KEYS) == "save_images"
    per_job = config([], output_file="cmp/${hydra:job.num}.json")
    assert shared_output_key(per_job, KEYS) is None


def test_the_callback_exits_before_the_sweep(caplog: pytest.LogCaptureFixture) -> None:
    sweep = ["ckpt_path=a.ckpt,b.ckpt"]
    with pytest.raises(SystemExit) as info:
        SharedOutputCheck(KEYS).on_multirun_start(config(sweep, output_file="cmp/metrics.json"))
    assert info.value.code == 1
    assert "output_file=cmp/metrics.json is one path for every job" in caplog.text
    assert "'output_file=${paths.output_dir}/metrics.json'" in caplog.text
    SharedOutputCheck(KEYS).on_multirun_start(config(sweep))  # the default: goes on
    one_job = config(["ckpt_path=a.ckpt"], output_file="cmp/metrics.json")
    SharedOutputCheck(KEYS).on_multirun_start(one_job)  # one job: its file is its own


def test_starganv2_eval_has_the_check() -> None:
    from hydra import compose, initialize_config_module

    with initialize_config_module("starganv2.conf", version_base="1.3"):
        cfg = compose("eval", overrides=["ckpt_path=a.ckpt"], return_hydra_config=True)
    node = cfg.hydra.callbacks.shared_outputs
    assert node._target_ == "starganv2.cli.job_names.SharedOutputCheck"
    assert list(node["keys"]) == KEYS
