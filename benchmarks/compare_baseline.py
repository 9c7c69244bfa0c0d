"""StarGAN v1 against StarGAN v2 on the built-in shapes data at equal training time.

Each setting is a run of the library's training command, ``starganv2-train`` with the setting's
overrides, in its own process, all settings at the same time with the same number of torch
threads each, so they share the machine equally. The timing callback
(:class:`starganv2.callbacks.timing.TimingCallback`, ``budget_s``) stops each run when its
training steps have taken the budget (evaluations and other callbacks' work excluded), or at the
setting's ``model.total_iters``, whichever comes first. With ``--eval-every`` the evaluation
callback (``callbacks=shapes_eval``) measures the run on the first ``--eval-images`` validation
images per domain as it goes. At the end the driver evaluates every setting's last checkpoint on
the whole validation set with the same evaluator (:class:`starganv2.evaluation.evaluator.Evaluator`:
target-shape accuracy, position error and, for StarGAN v2's reference mode, reference colour
error).

A setting is ``name:override override ...`` (Hydra overrides of ``conf/train.yaml``)::

    # the documented comparison (docs/baselines.md): 8 minutes each, one thread each
    python benchmarks/compare_baseline.py --budget-s 480 --threads 1 \\
        --setting "v2_quick:experiment=quick" \\
        --setting "v1_quick:experiment=stargan_v1_quick"

Output under ``--out``: ``<name>/`` (the run folder: ``checkpoints/last.ckpt``, ``timing.jsonl``,
``eval/`` with the interim evaluations, ``samples/<iteration>_<mode>.png``, ``final.json``: the
whole-validation-set figures), ``<name>.log``, ``side_by_side.png`` (the same sources translated
by every setting: per setting one column per target domain; StarGAN v2 with one fixed latent
code), ``summary.json`` and a printed table. The machine's load average before and after is
printed and saved: other jobs on the machine slow every setting alike but shift the budget's
worth of iterations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from starganv2.utils.files import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs module
from _args import non_negative_int, positive_float, positive_int, setting_name  # noqa: E402
from _jobs import (  # noqa: E402
    exit_if_failed,
    make_out_folder,
    prepare_shapes,
    results_folder,
    run_side_by_side,
    thread_env,
    train_command,
)

FIGURES = {
    "target_accuracy": "shapes/target_accuracy_{mode}",
    "position_error_px": "shapes/position_error_px_{mode}",
    "empty_shape_rate": "shapes/empty_shape_rate_{mode}",
}


def parse_setting(text: str) -> tuple[str, list[str]]:
    """``name:a=1 b=2`` -> (name, overrides)."""
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise SystemExit(f"--setting {text!r}: expected name:override override ...")
    return setting_name(name, text, "v2_quick:experiment=quick"), shlex.split(rest)


def run_overrides(args: argparse.Namespace, overrides: list[str]) -> list[str]:
    """The ``starganv2-train`` overrides of one setting (its run folder aside): the CPU, the
    shapes evaluation (interim only: the final one is the driver's), the timing budget."""
    every = args.eval_every or 10**9
    base = [
        "trainer.accelerator=cpu",
        "callbacks=shapes_eval",
        "+callbacks@_global_=timing",
        f"callbacks.timing.budget_s={args.budget_s}",
        f"callbacks.timing.every_n_iters={every}",
        f"callbacks.evaluation.every_n_iters={every}",
        "callbacks.evaluation.at_end=false",
        f"callbacks.evaluation.evaluator.seed={args.seed}",
        f"callbacks.evaluation.evaluator.max_images_per_domain={args.eval_images}",
    ]
    return base + overrides


def final_evaluation(run_dir: Path, name: str, overrides: list[str]) -> dict[str, Any] | None:
    """The run's last checkpoint on the whole validation set, with the run's own evaluator and
    data settings (``config_resolved.yaml``); written to ``run_dir/final.json``."""
    from omegaconf import OmegaConf

    from starganv2.callbacks.timing import read_timing
    from starganv2.cli.config_check import instantiate
    from starganv2.models.registry import load_model
    from starganv2.utils.files import save_json

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    config = run_dir / "config_resolved.yaml"
    if not ckpt.is_file() or not config.is_file():
        return None
    cfg = OmegaConf.load(config)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("validate")
    model = load_model(ckpt)
    evaluator = instantiate(cfg.callbacks.evaluation.evaluator, max_images_per_domain=None)
    results = evaluator.evaluate(model, dm)
    timing = read_timing(run_dir)
    row = {
        "name": name,
        "iteration": int(model.iteration),
        "train_s": timing[-1]["train_s"] if timing else float("nan"),
        **results,
        "overrides": overrides,
        "params": sum(p.numel() for p in model.nets.parameters()),
        "modes": list(model.guidance_modes),
        "root": str(dm.root),
    }
    save_json(row, run_dir / "final.json")
    shown = " ".join(f"{k.split('/')[1]}={v:.3g}" for k, v in results.items() if "real" not in k)
    print(f"[{name}] it {row['iteration']} ({row['train_s']:.0f} s) {shown}", flush=True)
    return row


def side_by_side(out: Path, names: list[str], seed: int) -> Path:
    """The same validation sources (rows) translated by every setting into every domain."""
    import torch
    from torchvision.utils import make_grid

    from starganv2.data.folders import eval_transform, list_domain_files, load_image
    from starganv2.models.registry import load_model
    from starganv2.synthesis.grids import save_grid
    from starganv2.utils.images import to_unit

    models = [load_model(out / n / "checkpoints" / "last.ckpt") for n in names]
    root = Path(json.loads((out / names[0] / "final.json").read_text())["root"])
    files = list_domain_files(root / "val")
    transform = eval_transform(models[0].img_size)
    x = torch.stack([transform(load_image(ps[k])) for ps in files.values() for k in (0, 1)])
    columns = [x]
    gen = torch.Generator().manual_seed(seed)
    for model in models:
        z = torch.randn(1, model.latent_dim, generator=gen) if model.has_styles else None
        for y in range(model.num_domains):
            style = {"z": z.expand(x.size(0), -1)} if z is not None else {}
            columns.append(model.translate(x, y, **style))
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # (N * cols, 3, S, S), row-major
    return save_grid(
        make_grid(to_unit(tiles), nrow=len(columns), padding=2), out / "side_by_side.png"
    )


def summarize(out: Path, names: list[str]) -> None:
    """Print the final figures of every setting."""
    header = (
        f"{'setting':<18}{'mode':<10}{'iters':>6}{'train_s':>8}{'s/it':>6}"
        f"{'target_acc':>11}{'pos_err_px':>11}{'empty':>7}{'ref_col':>8}{'chance':>7}"
    )
    print("\n" + header)
    for name in names:
        path = out / name / "final.json"
        if not path.exists():
            log = out / f"{name}.log"
            why = f"see {log}" if log.exists() else f"no run of it in {out}"
            print(f"{name:<18}(no result; {why})")
            continue
        row = json.loads(path.read_text())
        for mode in row["modes"]:
            get = {k: row.get(f.format(mode=mode), float("nan")) for k, f in FIGURES.items()}
            ref = mode == "reference"
            col = f"{row['shapes/ref_color_error']:>8.1f}" if ref else f"{'n/a':>8}"
            chance = f"{row['shapes/ref_color_error_chance']:>7.1f}" if ref else f"{'':>7}"
            per_it = row["train_s"] / max(1, row["iteration"])
            print(
                f"{name:<18}{mode:<10}{row['iteration']:>6}{row['train_s']:>8.0f}{per_it:>6.2f}"
                f"{get['target_accuracy']:>11.3f}{get['position_error_px']:>11.2f}"
                f"{get['empty_shape_rate']:>7.2f}{col}{chance}"
            )
    done = [n for n in names if (out / n / "final.json").exists()]
    if not done:  # every setting failed: the floors come with a result
        return
    first = json.loads((out / done[0] / "final.json").read_text())
    print(
        f"floors: classifier val accuracy {first.get('shapes/classifier_val_accuracy', 'n/a')}, "
        f"position error on real images {first['shapes/position_error_px_real']:.2f} px"
    )


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setting", action="append", default=[], help="name:overrides (repeat)")
    p.add_argument(
        "--budget-s", type=positive_float, default=480.0, help="training seconds per setting"
    )
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per setting")
    p.add_argument(
        "--eval-every", type=non_negative_int, default=0, help="iterations; 0: at the end only"
    )
    p.add_argument(
        "--eval-images", type=positive_int, default=20, help="val images per domain (interim)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation draws")
    p.add_argument("--out", default="outputs/compare_baseline")
    p.add_argument("--summary-only", action="store_true", help="print the table of --out")
    args = p.parse_args()
    out = Path(args.out)
    settings = args.setting or [
        "v2_quick:experiment=quick",
        "v1_quick:experiment=stargan_v1_quick",
    ]
    names = [parse_setting(s)[0] for s in settings]
    if args.summary_only:
        summarize(results_folder(out), names)
        return
    if len(set(names)) != len(names):
        raise SystemExit(f"setting names must be unique, got {names}")
    make_out_folder(out)
    runs = [(n, run_overrides(args, parse_setting(s)[1])) for s, n in zip(settings, names)]
    prepare_shapes([o for _, o in runs])
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = loadavg()
    print(f"{started}: load average before: {load_before}", flush=True)
    jobs = []
    for name, overrides in runs:
        shutil.rmtree(out / name / "eval", ignore_errors=True)  # no rows of an earlier run
        # a run anew: starganv2-train refuses a folder that holds an earlier run's checkpoints
        shutil.rmtree(out / name / "checkpoints", ignore_errors=True)
        (out / name / "final.json").unlink(missing_ok=True)
        jobs.append((repr(name), train_command(overrides, out / name), out / f"{name}.log"))
    # all at once: each setting trains for the same time
    failed = run_side_by_side(jobs, len(jobs), thread_env(args.threads), what="setting")
    load_after = loadavg()
    finished = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{finished}: load average after: {load_after}", flush=True)
    for setting, name in zip(settings, names):
        final_evaluation(out / name, name, parse_setting(setting)[1])
    done = [n for n in names if (out / n / "final.json").exists()]
    if done:
        print(f"side by side: {side_by_side(out, done, args.seed)}")
    atomic_write_text(
        out / "summary.json",
        json.dumps(
            {
                "started": started,
                "finished": finished,
                "load_before": load_before,
                "load_after": load_after,
                "budget_s": args.budget_s,
                "threads": args.threads,
                "settings": settings,
                "cpu": _cpu_name(),
            },
            indent=2,
        ),
    )
    print(f"settings and load average: {out / 'summary.json'}")
    summarize(out, names)
    exit_if_failed(failed, len(jobs), "setting")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "n/a"


if __name__ == "__main__":
    main()
