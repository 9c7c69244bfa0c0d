"""StarGAN v1 against StarGAN v2 on the built-in shapes data at equal training time.

Each setting is composed from the library's own configs (``conf/train.yaml`` with the given
overrides, as ``starganv2-train`` would), trained by Lightning for the same wall-clock budget in
its own process, all settings at the same time with the same number of torch threads each, so
they share the machine equally. Training stops at the budget (evaluation time excluded) or at the
setting's ``model.total_iters``, whichever comes first. Every setting is then measured with
:func:`starganv2.evaluation.shapes_quality.shapes_quality` (target-shape accuracy, position
error and, for StarGAN v2's reference mode, reference colour error) on the whole validation set,
and optionally every ``--eval-every`` iterations on its first ``--eval-images`` images per domain.

A setting is ``name:override override ...`` (Hydra overrides of ``conf/train.yaml``)::

    # the documented comparison (docs/baselines.md): 8 minutes each, one thread each
    python benchmarks/compare_baseline.py --budget-s 480 --threads 1 \\
        --setting "v2_quick:experiment=quick" \\
        --setting "v1_quick:experiment=stargan_v1_quick"

Output under ``--out``: ``<name>/quality.jsonl`` (one line per evaluation), ``<name>/last.ckpt``,
``<name>/samples/<iteration>_<mode>.png`` (one grid per guidance mode), ``side_by_side.png`` (the same sources
translated by every setting: per setting one column per target domain; StarGAN v2 with one fixed
latent code), ``summary.json`` and a printed table. The machine's load average before and after
is printed and saved: other jobs on the machine slow every setting alike but shift the budget's
worth of iterations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs module
from _jobs import quiet_trainer, run_side_by_side  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "src" / "starganv2" / "conf"
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
    return name, shlex.split(rest)


def compose(overrides: list[str], out: Path) -> Any:
    """``conf/train.yaml`` with ``overrides``, its run folder at ``out`` (no Hydra run)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=[*overrides, f"paths.output_dir={out}"])


def build(cfg: Any) -> tuple[Any, Any]:
    """The data module and the model of a composed config, checked as ``starganv2-train`` does."""
    from starganv2.cli.config_check import check_config, instantiate

    check_config(cfg, ["data", "model"])
    return instantiate(cfg.data), instantiate(cfg.model)


def evaluate(model: Any, root: Path, images: int | None, seed: int) -> dict[str, float]:
    from starganv2.evaluation.shapes_quality import shapes_quality

    return shapes_quality(model, root, max_images_per_domain=images, seed=seed)


def run_one(args: argparse.Namespace, setting: str) -> None:
    """Train and evaluate one setting in this process."""
    import lightning as L
    import torch

    from starganv2.callbacks.samples import SampleGrids
    from starganv2.utils.files import atomic_path, save_json

    name, overrides = parse_setting(setting)
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    cfg = compose(overrides, out)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm, model = build(cfg)
    dm.prepare_data()
    log_file = out / "quality.jsonl"
    log_file.write_text("")
    clock = {"start": 0.0, "train_s": 0.0}

    def record(it: int, images: int | None) -> dict[str, Any]:
        eval_start = time.perf_counter()
        clock["train_s"] = eval_start - clock["start"]
        res = evaluate(model, Path(dm.root), images, args.seed)
        row = {
            "name": name,
            "iteration": it,
            "train_s": round(clock["train_s"], 1),
            "eval_images_per_domain": images,
            **res,
        }
        with log_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        shown = " ".join(f"{k.split('/')[1]}={v:.3g}" for k, v in res.items() if "real" not in k)
        print(f"[{name}] it {it} ({clock['train_s']:.0f} s) {shown}", flush=True)
        clock["start"] += time.perf_counter() - eval_start  # train_s leaves evaluations out
        return row

    class Budget(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            clock["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            it = pl_module.iteration
            if args.eval_every and it % args.eval_every == 0:
                record(it, args.eval_images)
            if time.perf_counter() - clock["start"] >= args.budget_s:
                trainer.should_stop = True

    trainer = quiet_trainer(
        "cpu", [Budget(), SampleGrids(out / "samples", every_n_iters=10**9, num_sources=6)]
    )
    trainer.fit(model, datamodule=dm)
    final = record(model.iteration, None)
    with atomic_path(out / "last.ckpt") as tmp:
        trainer.save_checkpoint(tmp)
    save_json(
        {
            **final,
            "overrides": overrides,
            "params": sum(p.numel() for p in model.nets.parameters()),
            "modes": list(model.guidance_modes),
            "root": str(dm.root),
        },
        out / "final.json",
    )


def side_by_side(out: Path, names: list[str], seed: int) -> Path:
    """The same validation sources (rows) translated by every setting into every domain."""
    import torch
    from torchvision.utils import make_grid

    from starganv2.data.folders import eval_transform, list_domain_files, load_image
    from starganv2.models.registry import load_model
    from starganv2.synthesis.grids import save_grid
    from starganv2.utils.images import to_unit

    models = [load_model(out / n / "last.ckpt") for n in names]
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
            print(f"{name:<18}(no result; see {out / name}.log)")
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
    first = json.loads((out / names[0] / "final.json").read_text())
    print(
        f"floors: classifier val accuracy {first.get('shapes/classifier_val_accuracy', 'n/a')}, "
        f"position error on real images {first['shapes/position_error_px_real']:.2f} px"
    )


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setting", action="append", default=[], help="name:overrides (repeat)")
    p.add_argument("--budget-s", type=float, default=480.0, help="training seconds per setting")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per setting")
    p.add_argument("--eval-every", type=int, default=0, help="iterations; 0: at the end only")
    p.add_argument("--eval-images", type=int, default=20, help="val images per domain (interim)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation draws")
    p.add_argument("--out", default="outputs/compare_baseline")
    p.add_argument("--summary-only", action="store_true", help="print the table of --out")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        run_one(args, args.worker)
        return
    out = Path(args.out)
    settings = args.setting or [
        "v2_quick:experiment=quick",
        "v1_quick:experiment=stargan_v1_quick",
    ]
    names = [parse_setting(s)[0] for s in settings]
    if args.summary_only:
        summarize(out, names)
        return
    if len(set(names)) != len(names):
        raise SystemExit(f"setting names must be unique, got {names}")
    out.mkdir(parents=True, exist_ok=True)
    # Make the datasets (and the quality classifiers) once, before the workers race for them.
    from starganv2.evaluation.shapes_quality import load_or_train_classifier

    for s in settings:
        name, overrides = parse_setting(s)
        dm, _ = build(compose(overrides, out / name))
        dm.prepare_data()
        load_or_train_classifier(dm.root, seed=args.seed)
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = loadavg()
    print(f"{started}: load average before: {load_before}", flush=True)
    cmd = [sys.executable, __file__, "--out", str(out), "--threads", str(args.threads)]
    for key in ("budget_s", "eval_every", "eval_images", "seed"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    jobs = [(repr(n), [*cmd, "--worker", s], out / f"{n}.log") for s, n in zip(settings, names)]
    run_side_by_side(jobs, len(jobs), env, what="setting")  # all at once: equal time for each
    load_after = loadavg()
    finished = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{finished}: load average after: {load_after}", flush=True)
    done = [n for n in names if (out / n / "final.json").exists()]
    if done:
        print(f"side by side: {side_by_side(out, done, args.seed)}")
    (out / "summary.json").write_text(
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
        )
    )
    summarize(out, names)


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
