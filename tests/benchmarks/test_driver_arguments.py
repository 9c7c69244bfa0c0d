"""The benchmark drivers (``quick_tuning.py``, ``ablation.py``, ``compare_baseline.py``) and
``train_speed.py`` refuse a bad argument with a one-line error before anything runs or any earlier
result is cleared: a zero ``--jobs`` used to hang the driver forever, a zero ``--eval-every`` or
``--iters`` cleared the earlier results and then every run failed at once, an ``--out`` that is a
file or missing ended in a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from tests.helpers.benchmarks import load_benchmark

_args = load_benchmark("_args")
_jobs = load_benchmark("_jobs")


@pytest.mark.parametrize("text", ["0", "-3", "x", "1.5"])
def test_positive_int_refuses_what_is_not_a_count(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer >= 1"):
        _args.positive_int(text)


def test_counts_and_durations_in_range_are_kept() -> None:
    assert _args.positive_int("3") == 3
    assert _args.non_negative_int("0") == 0
    assert _args.positive_float("2.5") == 2.5
    for text in ("0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            _args.positive_float(text)


@pytest.mark.parametrize(
    ("script", "flag"),
    [
        ("quick_tuning", "--jobs"),
        ("quick_tuning", "--eval-every"),
        ("quick_tuning", "--iters"),
        ("ablation", "--jobs"),
        ("ablation", "--eval-every"),
        ("compare_baseline", "--budget-s"),
        ("compare_baseline", "--threads"),
        ("train_speed", "--rounds"),
        ("train_speed", "--iters"),
        ("infer_speed", "--iters"),
        ("layer_speed", "--rounds"),
        ("mask_cost", "--iters"),
    ],
)
def test_zero_is_refused_before_earlier_results_are_cleared(
    script: str, flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    earlier = tmp_path / "base" / "eval" / "eval_0000100.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("{}")
    module = load_benchmark(script)
    argv = [f"{script}.py", flag, "0"] + (
        [] if script.endswith(("_speed", "_cost")) else ["--out", str(tmp_path)]
    )
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        module.main()
    assert e.value.code == 2
    assert f"argument {flag}: '0' is invalid" in capsys.readouterr().err
    assert earlier.exists()


def test_out_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    file = tmp_path / "results"
    file.write_text("kept")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        _jobs.make_out_folder(file)
    assert file.read_text() == "kept"
    assert _jobs.make_out_folder(tmp_path / "a" / "b").is_dir()


def test_summary_of_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such folder"):
        _jobs.results_folder(tmp_path / "typo")


@pytest.mark.parametrize("text", ["a", "0,x", "", "-1"])
def test_ablation_refuses_bad_seeds(text: str) -> None:
    with pytest.raises(SystemExit, match="--seeds"):
        load_benchmark("ablation").parse_seeds(text)


def test_ablation_summary_files_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ablation = load_benchmark("ablation")
    written: list[str] = []
    monkeypatch.setattr(ablation, "atomic_write_text", lambda p, text: written.append(p.name))
    ablation.summarize(tmp_path)
    assert sorted(written) == ["summary.json", "summary.md"]


def test_ablation_summary_says_where_it_is_written(tmp_path: Path, capsys) -> None:
    load_benchmark("ablation").summarize(tmp_path)
    assert f"written: {tmp_path / 'summary.md'} and {tmp_path / 'summary.json'}" in (
        capsys.readouterr().out
    )
    assert (tmp_path / "summary.json").is_file()


def test_compare_baseline_table_with_a_failed_first_setting(tmp_path: Path, capsys) -> None:
    """The floors line is read from a setting that has a result, not from the first one."""
    row = {
        "modes": ["latent"],
        "iteration": 10,
        "train_s": 5.0,
        "shapes/target_accuracy_latent": 0.5,
        "shapes/position_error_px_latent": 1.0,
        "shapes/empty_shape_rate_latent": 0.0,
        "shapes/position_error_px_real": 0.4,
    }
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "final.json").write_text(json.dumps(row))
    load_benchmark("compare_baseline").summarize(tmp_path, ["v1", "v2"])
    out = capsys.readouterr().out
    assert "v1" in out and "(no result" in out
    assert "position error on real images 0.40 px" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch", "0"], "--batch '0'"),
        (["--batch", "8", "--options", "none,typo"], "unknown 'typo'"),
        (["--json", "."], "is a folder"),
    ],
)
def test_arch_memory_checks_its_arguments_before_measuring(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arch_memory = load_benchmark("arch_memory")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["arch_memory.py", "--options", "none", *argv])
    monkeypatch.setattr(arch_memory.subprocess, "run", pytest.fail)  # no measurement starts
    with pytest.raises(SystemExit, match=message):
        arch_memory.main()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "96"], "expected WIDTHxHEIGHT"),
        (["--size", "96x0"], "expected WIDTHxHEIGHT"),
        (["--tile-sizes", "32,0"], "expected tile sides >= 1"),
        (["--n", "0"], "expected an integer >= 1"),
    ],
)
def test_fit_detail_refuses_bad_sizes_in_one_line(argv, message, tmp_path, monkeypatch, capsys):
    """``--size 96`` was a ``ValueError: not enough values to unpack`` traceback."""
    module = load_benchmark("fit_detail")
    monkeypatch.setattr(sys, "argv", ["fit_detail.py", "--out", str(tmp_path / "o"), *argv])
    with pytest.raises(SystemExit) as stop:
        module.parse_args()
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_fit_detail_reads_its_sizes(tmp_path, monkeypatch):
    module = load_benchmark("fit_detail")
    monkeypatch.setattr(
        sys,
        "argv",
        ["fit_detail.py", "--out", str(tmp_path), "--size", "96x64", "--tile-sizes", "32,64"],
    )
    args = module.parse_args()
    assert args.size == (96, 64) and args.tile_sizes == [32, 64]


def test_a_failed_run_is_reported_with_its_log_and_why(tmp_path: Path, capsys) -> None:
    """A run that fails at once (e.g. ``--device cuda`` on a machine without one) is reported
    with its log's path and the log's error line, not only "see its log"."""
    log = tmp_path / "a.log"
    code = "print('[x][starganv2.train][ERROR] - trainer.accelerator=cuda but no CUDA'); exit(1)"
    _jobs.run_side_by_side(
        [("'a:'", [sys.executable, "-c", code], log)], 1, {}, poll_s=0.05, what="setting"
    )
    out = capsys.readouterr().out
    assert f"setting 'a:' failed (rc 1), see its log {log}: " in out
    assert "trainer.accelerator=cuda but no CUDA" in out


def test_failed_runs_are_returned_and_deadline_stops_are_not(tmp_path: Path, capsys) -> None:
    """``run_side_by_side`` returns the jobs that failed, for the driver's exit status; a job the
    deadline stopped is reported as stopped, not as failed (the deadline is the limit asked for)."""
    jobs = [
        ("'ok:'", [sys.executable, "-c", "pass"], tmp_path / "ok.log"),
        ("'bad:'", [sys.executable, "-c", "exit(1)"], tmp_path / "bad.log"),
    ]
    assert _jobs.run_side_by_side(jobs, 2, {}, poll_s=0.05, what="setting") == ["'bad:'"]
    slow = [("'slow:'", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log")]
    assert _jobs.run_side_by_side(slow, 1, {}, deadline_s=0.2, poll_s=0.05) == []
    out = capsys.readouterr().out
    assert "run 'slow:' stopped at the deadline (rc " in out
    assert "'slow:' failed" not in out
    _jobs.exit_if_failed([], 3)
    with pytest.raises(SystemExit, match=r"^1 of 2 setting\(s\) failed: 'bad:' "):
        _jobs.exit_if_failed(["'bad:'"], 2, "setting")


@pytest.mark.parametrize(
    ("script", "argv", "message", "summary"),
    [
        ("quick_tuning", ["--setting", "ok:", "--setting", "bad:"], "setting(s)", "setting  "),
        ("ablation", ["--arms", "none", "--seeds", "0,1"], "run(s)", "written: "),
        ("compare_baseline", ["--setting", "ok:", "--setting", "bad:"], "setting(s)", "mode  "),
    ],
)
def test_a_driver_with_a_failed_run_finishes_then_exits_1(
    script: str, argv: list[str], message: str, summary: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A driver whose runs partly failed still runs the others and prints its summary, then exits
    1 with a one-line count (it exited 0: a script or CI could not tell)."""
    module = load_benchmark(script)
    ran = []

    def command(overrides, run_dir: Path) -> list[str]:
        ran.append(run_dir.name)
        fails = run_dir.name in ("bad", "seed1")
        return [sys.executable, "-c", f"exit({int(fails)})"]

    monkeypatch.setattr(module, "prepare_shapes", lambda overrides: None)
    monkeypatch.setattr(module, "train_command", command)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--out", str(tmp_path), *argv])
    with pytest.raises(SystemExit) as e:
        module.main()
    assert str(e.value.code).startswith(f"1 of 2 {message} failed: "), e.value.code
    assert len(ran) == 2
    out = capsys.readouterr().out
    assert "failed (rc 1)" in out
    assert summary in out  # the summary came before the exit


@pytest.mark.parametrize("setting", ["bad", ":lr=1e-4", "lr=1e-4"])
def test_quick_tuning_refuses_a_setting_without_name_and_colon(
    setting: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``--setting bad`` (no colon) was a setting of that name with no overrides; a one-line error
    naming the value and the form expected now comes before anything runs or is made."""
    module = load_benchmark("quick_tuning")
    out = tmp_path / "out"
    argv = ["quick_tuning.py", "--out", str(out), "--setting", "ok:", "--setting", setting]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(module, "prepare_shapes", lambda overrides: pytest.fail("it went on"))
    with pytest.raises(SystemExit) as e:
        module.main()
    assert str(e.value.code).startswith(f"--setting {setting!r}: expected name:key=value,..."), (
        e.value.code
    )
    assert not out.exists()
    assert module.parse_setting("quick:") == ("quick", [])


@pytest.mark.parametrize("script", ["quick_tuning", "compare_baseline"])
@pytest.mark.parametrize("name", ["a/b", "..", "../up", ".hidden", "with space"])
def test_a_setting_name_that_cannot_name_a_folder_is_refused(
    script: str, name: str, tmp_path: Path, monkeypatch
) -> None:
    """A setting's name names its run folder: ``a/b`` made nested folders that the summary never
    listed, ``..`` a folder outside --out. One line before anything runs or is made."""
    module = load_benchmark(script)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--out", str(out), "--setting", f"{name}:"])
    monkeypatch.setattr(module, "prepare_shapes", lambda overrides: pytest.fail("it went on"))
    with pytest.raises(SystemExit) as e:
        module.main()
    assert str(e.value.code).startswith(f"--setting '{name}:': the name {name!r} names"), (
        e.value.code
    )
    assert "(no / or ..)" in str(e.value.code)
    assert not out.exists()
    assert module.parse_setting("a-1.b_2+c:")[0] == "a-1.b_2+c"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.nokey=1", "Could not override 'data.nokey'"),
        ("data.batch_size=-1", "data.batch_size=-1: expected an int >= 1"),
        ("experiment=nosuch", "experiment/nosuch"),
    ],
)
def test_settings_that_do_not_compose_are_one_line(override: str, message: str) -> None:
    """A wrong key, value or experiment in a driver's settings was a Hydra or ValueError
    traceback from ``prepare_shapes``, before any run; now one line naming it."""
    with pytest.raises(SystemExit) as e:
        _jobs.prepare_shapes([["experiment=quick", override]])
    text = str(e.value.code)
    assert text.startswith("a run's settings are invalid: ") and message in text, text
    assert "\n" not in text and "check --setting" in text


def test_ablation_summary_of_a_folder_without_runs_is_one_line(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """``ablation.py --summary-only --out`` a folder with no runs wrote an empty (malformed) table
    as summary.md and summary.json into it and exited 0; now one line, nothing written."""
    module = load_benchmark("ablation")
    monkeypatch.setattr(sys, "argv", ["ablation.py", "--summary-only", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no runs with evaluations .* without --summary-only"):
        module.main()
    assert list(tmp_path.iterdir()) == []


def test_compare_baseline_summary_names_a_log_only_when_there_is_one(
    tmp_path: Path, capsys
) -> None:
    """--summary-only on a folder without the setting's run pointed at a log that did not exist."""
    module = load_benchmark("compare_baseline")
    (tmp_path / "ran.log").write_text("Traceback ...\n")
    module.summarize(tmp_path, ["ran", "never"])
    out = capsys.readouterr().out
    assert f"(no result; see {tmp_path / 'ran.log'})" in out
    assert f"(no result; no run of it in {tmp_path})" in out
    assert "never.log" not in out


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("train_speed", ["--img-size", "33"], "argument --img-size: '33' is invalid"),
        ("infer_speed", ["--img-size", "30"], "argument --img-size: '30' is invalid"),
        ("arch_memory", ["--img-size", "30"], "argument --img-size: '30' is invalid"),
        ("max_batch", ["--caps-gb", "abc"], "argument --caps-gb: 'abc' is invalid"),
        ("max_batch", ["--max-batch", "0"], "argument --max-batch: '0' is invalid"),
        ("data_speed", ["--batches", "0"], "argument --batches: '0' is invalid"),
        ("demo_latency", ["--source", "640"], "argument --source: '640' is invalid"),
    ],
)
def test_measuring_scripts_refuse_bad_sizes_in_one_line(
    script: str, argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    module = load_benchmark(script)
    with pytest.raises(SystemExit) as e:
        getattr(module, "parse_args", module.main)()  # arch_memory parses in main
    assert e.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("script", ["train_speed", "infer_speed", "mask_cost", "max_batch"])
def test_cuda_without_a_cuda_device_is_one_line(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--device", "cuda"])
    with pytest.raises(SystemExit) as e:
        load_benchmark(script).parse_args()
    assert e.value.code == 2
    assert "torch has no CUDA device here" in capsys.readouterr().err


def test_max_batch_caps_are_gigabytes_as_cards_are_sold() -> None:
    """The caps were taken in GiB: on an 80 GB H100 (85.5e9 bytes, 79.6 GiB) the 80 cap was
    "larger than this GPU" and its row was never measured."""
    cap_fraction = load_benchmark("max_batch").cap_fraction
    h100 = 85_520_809_984
    assert cap_fraction(80, h100) == pytest.approx(80e9 / h100)
    assert cap_fraction(24, h100) == pytest.approx(24e9 / h100)
    assert cap_fraction(86, h100) is None


def test_max_batch_without_a_gpu_or_device_stops_before_measuring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --device on a machine without CUDA it ran the default 256 px sweep on the CPU,
    doubling the batch up to 1024 with no memory cap."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["max_batch.py"])
    module = load_benchmark("max_batch")
    monkeypatch.setattr(module, "largest", lambda *a: pytest.fail("it measured"))
    with pytest.raises(SystemExit) as e:
        module.main()
    assert "no CUDA device here" in str(e.value.code) and "--device cpu" in str(e.value.code)
    monkeypatch.setattr(sys, "argv", ["train_speed.py", "--profile", "-1"])
    with pytest.raises(SystemExit) as e:
        load_benchmark("train_speed").parse_args()
    assert e.value.code == 2


def test_ablation_rerun_that_fails_is_not_skipped_as_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished run started anew and failing kept its earlier timing.jsonl (its eval/ removed),
    so --skip-done took it for finished: the seed left the summary for good, with exit 0."""
    ablation = load_benchmark("ablation")
    run_dir = tmp_path / "avgpool" / "seed0"
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "config_resolved.yaml").write_text("model:\n  total_iters: 2\n")
    (run_dir / "timing.jsonl").write_text(json.dumps({"iteration": 2, "train_s": 1.0}) + "\n")
    assert ablation._finished(run_dir)
    monkeypatch.setattr(ablation, "run_side_by_side", lambda jobs, *a: [j[0] for j in jobs])
    args = argparse.Namespace(
        out=str(tmp_path), skip_done=False, experiment="ablation_cpu", eval_every=1, device="cpu",
        eval_images=None, iters=2, cache_dir=None, override=[], jobs=1, threads=1, deadline_s=None,
    )  # fmt: skip
    failed, started = ablation.launch(args, ["avgpool"], [0])  # the rerun fails at once
    assert started == 1 and failed
    assert not ablation._finished(run_dir)  # the next --skip-done runs it again


def test_ablation_skip_done_reruns_runs_shorter_than_the_new_iters(tmp_path: Path) -> None:
    """--skip-done compared a run with its own length: after a 2-iteration study, a 3-iteration
    one skipped every run and its table stayed at iteration 2."""
    ablation = load_benchmark("ablation")
    run_dir = tmp_path / "avgpool" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "config_resolved.yaml").write_text("model:\n  total_iters: 2\n")
    (run_dir / "timing.jsonl").write_text(json.dumps({"iteration": 2, "train_s": 1.0}) + "\n")
    assert ablation._finished(run_dir) and ablation._finished(run_dir, 2)
    assert not ablation._finished(run_dir, 3)


@pytest.mark.parametrize(
    ("script", "argv", "said"),
    [
        ("detection_augmentation", ["--out", "x", "--seeds", "0", "0"], "--seeds: 0 listed more"),
        ("detection_augmentation", ["--out", "x", "--arms", "oracle", "oracle"], "--arms: oracle"),
        ("ablation", ["--seeds", "1,2,1"], "--seeds '1,2,1': [1] listed more than once"),
        ("ablation", ["--arms", "avgpool,blur_g,avgpool"], "--arms: avgpool listed more than"),
    ],
)
def test_a_seed_or_arm_listed_twice_is_refused(
    script: str, argv: list[str], said: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--seeds 0 0` counted one detector result twice (a spread of 0, and a verdict "beyond
    noise" on no standard error); an ablation seed or arm listed twice ran twice into one
    folder."""
    out = ["--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv, *out])
    module = load_benchmark(script)
    monkeypatch.setattr(module, "launch", lambda *a: pytest.fail("it ran"), raising=False)
    with pytest.raises(SystemExit) as e:
        module.parse_args(argv) if script == "detection_augmentation" else module.main()
    assert said in str(e.value.code)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--threads", "--v2-iters", "--det-steps", "--det-batch"])
def test_detection_augmentation_refuses_zero_counts(flag: str, capsys) -> None:
    module = load_benchmark("detection_augmentation")
    with pytest.raises(SystemExit) as e:
        module.parse_args(["--out", "x", flag, "0"])
    assert e.value.code == 2
    assert f"argument {flag}: '0' is invalid" in capsys.readouterr().err
