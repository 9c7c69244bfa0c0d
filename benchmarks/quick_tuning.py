"""Quality over iterations on the built-in shapes data, for several settings side by side.

This is how the built-in quick experiment (``conf/experiment/quick.yaml``) was tuned: each setting
trains the library's ``StarGANv2Module`` on ``ShapesDataModule`` (through Lightning, the code path
of ``starganv2-train``) and is measured every ``--eval-every`` iterations with
:func:`starganv2.shapes_quality.shapes_quality` (target-shape accuracy, position error, reference
colour error); a reference-guided grid is saved at each evaluation. Settings run as parallel
processes (``--jobs``), so on a GPU one call covers a whole grid of settings.

A setting is ``name:key=value,key=value`` where keys are ``StarGANv2Module`` arguments or
``data.<ShapesDataModule argument>``; values are parsed as Python literals::

    # this CPU, two settings at once (the quick experiment's settings are the defaults below)
    python benchmarks/quick_tuning.py --iters 450 --eval-every 150 --jobs 2 --threads 1 \\
        --setting quick: --setting paper_lr:lr=1e-4,f_lr=1e-6,lambda_cyc=1 \\
        --setting rich_data:data.textures=[solid,stripes,dots,checker],data.background_gray=[0.25,0.75],data.background_tint=0.06
    # a GPU, eight settings at once
    python benchmarks/quick_tuning.py --device cuda --iters 3000 --eval-every 250 --jobs 8 ...

Output: ``--out/<name>/quality.jsonl`` (one line per evaluation: iteration, seconds, figures),
``--out/<name>/samples/``, and a table of the last evaluation of every setting.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs module
from _jobs import quiet_trainer, run_side_by_side  # noqa: E402

# The quick experiment's model and data settings (conf/experiment/quick.yaml over model/small and
# data/shapes); a setting overrides any of them.
BASE_MODEL: dict[str, Any] = {
    "latent_dim": 16,
    "style_dim": 16,
    "hidden_dim": 64,
    "dim_in": 16,
    "max_conv_dim": 64,
    "lr": 1e-3,
    "f_lr": 1e-4,
    "lambda_cyc": 4.0,
    "ema_beta": 0.99,
}
BASE_DATA: dict[str, Any] = {
    "img_size": 32,
    "batch_size": 8,
    "num_workers": 0,
    "textures": ["solid"],
    "background_gray": [0.5, 0.5],
    "background_tint": 0.0,
}
SHORT = ("acc_lat", "acc_ref", "pos_lat", "pos_ref", "col_ref", "col_chance")
FIGURES = (
    "shapes/target_accuracy_latent",
    "shapes/target_accuracy_reference",
    "shapes/position_error_px_latent",
    "shapes/position_error_px_reference",
    "shapes/ref_color_error",
    "shapes/ref_color_error_chance",
)


def parse_setting(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``name:k=v,...`` -> (name, model overrides, data overrides)."""
    name, _, rest = text.partition(":")
    if not name:
        raise SystemExit(f"--setting {text!r}: expected name:key=value,...")
    model, data = {}, {}
    items, depth, cur = [], 0, ""
    for ch in rest + ",":  # split on commas outside brackets: data.domains=[circle,square]
        depth += (ch in "[(") - (ch in "])")
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--setting {text!r}: {item!r} is not key=value")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
            if value.startswith("[") and value.endswith("]"):  # [a,b]: a list of names
                parsed = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        if key.startswith("data."):
            data[key[5:]] = parsed
        else:
            model[key] = parsed
    return name, model, data


def run_one(args: argparse.Namespace, setting: str) -> None:
    """Train and evaluate one setting in this process."""
    import lightning as L
    import torch

    from starganv2.callbacks.samples import SampleGrids
    from starganv2.data.datamodule import ShapesDataModule
    from starganv2.evaluation.shapes_quality import shapes_quality
    from starganv2.models.stargan_v2.module import StarGANv2Module

    name, model_kw, data_kw = parse_setting(setting)
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    L.seed_everything(args.seed, verbose=False)
    data_kw = {**BASE_DATA, "pin_memory": args.device == "cuda", **data_kw, "seed": args.seed}
    if args.cache_dir:
        data_kw["cache_dir"] = args.cache_dir
    dm = ShapesDataModule(**data_kw)
    model_kw = {**BASE_MODEL, "ds_iter": args.iters, **model_kw}
    module = StarGANv2Module(
        img_size=dm.img_size, num_domains=dm.num_domains, total_iters=args.iters, **model_kw
    )
    log_file = out / "quality.jsonl"
    log_file.write_text("")
    t0 = [0.0]

    class Quality(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            t0[0] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            it = pl_module.iteration
            if it % args.eval_every and it != args.iters:
                return
            if args.device == "cuda":
                torch.cuda.synchronize()
            eval_start = time.perf_counter()
            train_s = eval_start - t0[0]
            res = shapes_quality(
                pl_module,
                dm.root,
                num_outs_per_domain=1,
                max_images_per_domain=args.eval_images,
            )
            row = {"name": name, "iteration": it, "train_s": round(train_s, 1), **res}
            with log_file.open("a") as f:
                f.write(json.dumps(row) + "\n")
            figures = " ".join(f"{k.split('/')[1]}={res.get(k, float('nan')):.3g}" for k in FIGURES)
            print(f"[{name}] it {it} ({train_s:.0f} s) {figures}", flush=True)
            t0[0] += time.perf_counter() - eval_start  # train_s leaves evaluations out

    trainer = quiet_trainer(
        args.device, [Quality(), SampleGrids(out / "samples", every_n_iters=args.eval_every)]
    )
    trainer.fit(module, datamodule=dm)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setting", action="append", default=[], help="name:key=value,... (repeat)")
    p.add_argument("--iters", type=int, default=450)
    p.add_argument("--eval-every", type=int, default=150)
    p.add_argument("--eval-images", type=int, default=20, help="validation images per domain")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1, help="settings trained at once")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help="shapes dataset cache (default: the usual)")
    p.add_argument("--out", default="outputs/quick_tuning")
    p.add_argument("--deadline-s", type=float, default=None, help="stop all settings after this")
    p.add_argument("--summary-only", action="store_true", help="print the table of --out")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        run_one(args, args.worker)
        return
    if args.summary_only:
        names = sorted(d.name for d in Path(args.out).iterdir() if (d / "quality.jsonl").exists())
        summarize(Path(args.out), names)
        return
    settings = args.setting or ["base:"]
    names = [parse_setting(s)[0] for s in settings]
    if len(set(names)) != len(names):
        raise SystemExit(f"setting names must be unique, got {names}")
    # Make the dataset (and the quality classifier) once, before the workers race for it.
    from starganv2.data.datamodule import ShapesDataModule
    from starganv2.evaluation.shapes_quality import load_or_train_classifier

    data_kw = {**BASE_DATA, **({"cache_dir": args.cache_dir} if args.cache_dir else {})}
    for s in settings:
        dm = ShapesDataModule(**{**data_kw, **parse_setting(s)[2]})
        dm.prepare_data()
        load_or_train_classifier(dm.root)

    base_cmd = [sys.executable, __file__]
    for key in (
        "iters",
        "eval_every",
        "eval_images",
        "device",
        "threads",
        "seed",
        "cache_dir",
        "out",
    ):
        value = getattr(args, key)
        if value is not None:
            base_cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    jobs = [
        (repr(s), [*base_cmd, "--worker", s], Path(args.out) / f"{parse_setting(s)[0]}.log")
        for s in settings
    ]
    run_side_by_side(jobs, args.jobs, env, args.deadline_s, poll_s=1, what="setting")

    summarize(Path(args.out), names)


def summarize(out: Path, names: list[str]) -> None:
    """Print every evaluation of every setting."""
    print(f"\n{'setting':<20}{'iter':>6}{'train_s':>8}" + "".join(f"{k:>11}" for k in SHORT))
    for name in names:
        path = out / name / "quality.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        for row in rows:
            print(
                f"{name:<20}{row['iteration']:>6}{row['train_s']:>8}"
                + "".join(f"{row.get(k, float('nan')):>11.3f}" for k in FIGURES)
            )


if __name__ == "__main__":
    main()
