"""Quality over iterations on the built-in shapes data, for several settings side by side.

This is how the built-in quick experiment (``conf/experiment/quick.yaml``) was tuned. Each setting
is a run of the library's training command, ``starganv2-train experiment=quick`` (``--experiment``)
with the setting's overrides, in its own process, with the shapes evaluation callback
(``callbacks=shapes_eval``: target-shape accuracy, position error, reference colour error...)
every ``--eval-every`` iterations, a sample grid at each evaluation, and the timing callback; the
driver reads what they write. Settings run as parallel processes (``--jobs``), so on a GPU one
call covers a whole grid of settings.

A setting is ``name:key=value,key=value`` where a key without a dot is a model argument
(``model.<key>``), ``data.<key>`` a data argument, and any other dotted key a Hydra override of
``conf/train.yaml``; values are Hydra values (``1e-4``, ``[solid,stripes]``)::

    # this CPU, two settings at once (an empty setting is the quick experiment itself)
    python benchmarks/quick_tuning.py --iters 450 --eval-every 150 --jobs 2 --threads 1 \\
        --setting quick: --setting paper_lr:lr=1e-4,f_lr=1e-6,lambda_cyc=1 \\
        --setting rich_data:data.textures=[solid,stripes,dots,checker],data.background_gray=[0.25,0.75],data.background_tint=0.06
    # a GPU, eight settings at once
    python benchmarks/quick_tuning.py --device cuda --iters 3000 --eval-every 250 --jobs 8 ...

Output: ``--out/<name>/`` (the run folder: ``eval/eval_<iteration>.json``, ``timing.jsonl``,
``samples/``), ``--out/<name>.log``, and a table of every evaluation of every setting
(``train_s``: seconds of training steps, evaluations left out).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs module
from _args import positive_float, positive_int, setting_name  # noqa: E402
from _jobs import (  # noqa: E402
    exit_if_failed,
    make_out_folder,
    measurement_overrides,
    prepare_shapes,
    read_run,
    results_folder,
    run_side_by_side,
    thread_env,
    train_command,
)

SHORT = ("acc_lat", "acc_ref", "pos_lat", "pos_ref", "col_ref", "col_chance")
FIGURES = (
    "shapes/target_accuracy_latent",
    "shapes/target_accuracy_reference",
    "shapes/position_error_px_latent",
    "shapes/position_error_px_reference",
    "shapes/ref_color_error",
    "shapes/ref_color_error_chance",
)


def parse_setting(text: str) -> tuple[str, list[str]]:
    """``name:k=v,...`` -> (name, Hydra overrides): ``k`` without a dot is ``model.k``. A value
    without the colon is refused (it was a setting named so, without overrides): ``name:`` is the
    experiment as it is."""
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise SystemExit(
            f"--setting {text!r}: expected name:key=value,... (name: alone for the experiment "
            "as it is)"
        )
    setting_name(name, text, "lr1e-3:lr=1e-3")
    items, depth, cur = [], 0, ""
    for ch in rest + ",":  # split on commas outside brackets: data.domains=[circle,square]
        depth += (ch in "[(") - (ch in "])")
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    overrides = []
    for item in filter(None, (i.strip() for i in items)):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--setting {text!r}: {item!r} is not key=value")
        overrides.append(f"{key if '.' in key.lstrip('+~') else 'model.' + key}={value}")
    return name, overrides


def run_overrides(args: argparse.Namespace, setting: str) -> list[str]:
    """The ``starganv2-train`` overrides of one setting (its run folder aside)."""
    overrides = [
        f"experiment={args.experiment}",
        f"seed={args.seed}",
        "callbacks=shapes_eval",
        f"callbacks.samples.every_n_iters={args.eval_every}",
    ]
    overrides += measurement_overrides(args)
    return overrides + parse_setting(setting)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setting", action="append", default=[], help="name:key=value,... (repeat)")
    p.add_argument("--experiment", default="quick", help="base experiment (conf/experiment)")
    p.add_argument(
        "--iters",
        type=positive_int,
        default=None,
        help="model.total_iters and ds_iter (default: the experiment's)",
    )
    p.add_argument("--eval-every", type=positive_int, default=150)
    p.add_argument(
        "--eval-images",
        type=positive_int,
        default=None,
        help="validation images per domain (default: callbacks/shapes_eval.yaml's)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=positive_int, default=1, help="settings trained at once")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help="shapes dataset cache (default: the usual)")
    p.add_argument("--out", default="outputs/quick_tuning")
    p.add_argument(
        "--deadline-s", type=positive_float, default=None, help="stop all settings after this"
    )
    p.add_argument("--summary-only", action="store_true", help="print the table of --out")
    args = p.parse_args()
    if args.summary_only:
        out = results_folder(Path(args.out))
        names = sorted(d.name for d in out.iterdir() if (d / "eval").is_dir())
        summarize(Path(args.out), names)
        return
    settings = args.setting or ["base:"]
    names = [parse_setting(s)[0] for s in settings]
    if len(set(names)) != len(names):
        raise SystemExit(f"setting names must be unique, got {names}")
    out = make_out_folder(Path(args.out))
    prepare_shapes([run_overrides(args, s) for s in settings])
    jobs = []
    for setting, name in zip(settings, names):
        shutil.rmtree(out / name / "eval", ignore_errors=True)  # no rows of an earlier run
        # a run anew: starganv2-train refuses a folder that holds an earlier run's checkpoints
        shutil.rmtree(out / name / "checkpoints", ignore_errors=True)
        cmd = train_command(run_overrides(args, setting), out / name)
        jobs.append((repr(setting), cmd, out / f"{name}.log"))
    failed = run_side_by_side(
        jobs, args.jobs, thread_env(args.threads), args.deadline_s, 1, "setting"
    )

    summarize(Path(args.out), names)
    exit_if_failed(failed, len(jobs), "setting")


def summarize(out: Path, names: list[str]) -> None:
    """Print every evaluation of every setting."""
    print(f"\n{'setting':<20}{'iter':>6}{'train_s':>8}" + "".join(f"{k:>11}" for k in SHORT))
    for name in names:
        for row in read_run(out / name):
            print(
                f"{name:<20}{row['iteration']:>6}{row.get('train_s', float('nan')):>8.1f}"
                + "".join(f"{row.get(k, float('nan')):>11.3f}" for k in FIGURES)
            )


if __name__ == "__main__":
    main()
