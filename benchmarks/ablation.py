"""The architecture study (docs/ablations.md): arms x seeds side by side, the shapes figures over
iterations, a summary table (mean and spread over seeds) and plots.

An arm is a config delta, ``conf/ablation_arm/<arm>.yaml``; the base is an experiment
(``conf/experiment/ablation.yaml``: richest shapes data at 64 px, long, for a GPU;
``ablation_cpu.yaml``: the quick data at 32 px, 400 iterations). Each run is the library's
training command, ``starganv2-train experiment=<base> +ablation_arm=<arm> seed=<seed>`` (plus any
``--override``), in its own process, with the evaluation callback the experiment configures
(``callbacks.evaluation``: the shapes figures, i.e. target accuracy, position, size and box IoU,
reference colour, pixel diversity, shift consistency; add ``fid_lpips`` to its metrics for LPIPS
diversity) every ``--eval-every`` iterations, and the timing callback
(:class:`starganv2.callbacks.timing.TimingCallback`: seconds per training step, evaluations left
out, wall clock and the process's CPU seconds, which count the work rather than the waiting on a
shared machine; peak resident memory, and on an accelerator its peak allocated memory). The
driver reads what they write.

::

    # this CPU: 2 runs at a time, 1 thread each, stop everything after 2.5 h
    python benchmarks/ablation.py --experiment ablation_cpu --seeds 0,1,2 --jobs 2 --threads 1 \\
        --eval-every 200 --deadline-s 9000 --out outputs/ablation/cpu
    # a GPU: every arm, 3 seeds, the full length (one command; see docs/ablations.md)
    python benchmarks/ablation.py --experiment ablation --device cuda --seeds 0,1,2 --jobs 11 \\
        --threads 1 --eval-every 1000 --out $OUT/ablation
    # a learning curve of one setting (no arm), e.g. the richest data with the quick settings
    python benchmarks/ablation.py --experiment ablation --arms avgpool --seeds 0 --iters 3000 \\
        --override trainer.accelerator=cpu --eval-every 250 --out outputs/ablation/curve
    # table and plots of a finished (or interrupted) study
    python benchmarks/ablation.py --summary-only --out outputs/ablation/cpu --plots docs/images

Output under ``--out``: ``<arm>/seed<k>/`` (the run folder: ``eval/eval_<iteration>.json``, one
per evaluation, ``timing.jsonl``, ``samples/``, ``checkpoints/``, ``config_resolved.yaml``),
``<arm>_seed<k>.log``, ``summary.json`` and ``summary.md`` (the last evaluation of each arm: mean,
std and n over seeds), and with ``--plots`` PNG charts of figures over iterations (one line per
arm, mean over seeds). Folders of the earlier driver (``<arm>/seed<k>/quality.jsonl``) are read
too.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from starganv2.utils.files import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs module
from _args import distinct, int_list, positive_float, positive_int  # noqa: E402
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

ARMS = (
    "avgpool",
    "strided_g",
    "strided_ed",
    "strided_all",
    "blur_g",
    "blur_ed",
    "blur_all",
    "highpass",
    "hpf_layout",
    "attention",
    "cross_attention",
)
"""Every arm of the study, in table order (``conf/ablation_arm/``)."""

# Figures of the table and the plots: key -> (short name, higher is better).
FIGURES: dict[str, tuple[str, bool]] = {
    "shapes/target_accuracy_latent": ("acc_lat", True),
    "shapes/target_accuracy_reference": ("acc_ref", True),
    "shapes/position_error_px_reference": ("pos_ref", False),
    "shapes/size_error_px_reference": ("size_ref", False),
    "shapes/box_iou_reference": ("iou_ref", True),
    "shapes/ref_color_error": ("col_ref", False),
    "shapes/diversity_l1_latent": ("div_l1", True),
    "LPIPS_latent/mean": ("lpips", True),
    "shapes/shift_error_px": ("shift_err", False),
    "shapes/shift_error_px_1px": ("shift1_err", False),
    "shapes/shift_gain": ("shift_gain", True),
    "s_per_iter": ("s/it", False),
    "cpu_s_per_iter": ("cpu_s/it", False),
    "peak_rss_gb": ("rss_GB", False),
    "peak_device_gb": ("dev_GB", False),
}
PLOTTED = (
    "shapes/target_accuracy_reference",
    "shapes/position_error_px_reference",
    "shapes/box_iou_reference",
    "shapes/ref_color_error",
    "shapes/shift_error_px",
)


# ------------------------------------------------------------------------------------- one run
def run_overrides(args: argparse.Namespace, arm: str, seed: int) -> list[str]:
    """The ``starganv2-train`` overrides of one run (its run folder aside)."""
    overrides = [f"experiment={args.experiment}", f"seed={seed}"]
    if arm != "none":
        overrides.append(f"+ablation_arm={arm}")
    overrides += measurement_overrides(args)
    return overrides + list(args.override)


# ----------------------------------------------------------------------------------- the study
def launch(args: argparse.Namespace, arms: list[str], seeds: list[int]) -> tuple[list[str], int]:
    """Run every (arm, seed) as its own ``starganv2-train`` process, ``--jobs`` at a time, seeds
    round-robin so an interrupted study has every arm at the same number of seeds; the runs that
    failed and the number started."""
    out = Path(args.out)
    jobs = []
    for seed in seeds:
        for arm in arms:
            run_dir = out / arm / f"seed{seed}"
            if args.skip_done and _finished(run_dir, args.iters):
                continue
            shutil.rmtree(run_dir / "eval", ignore_errors=True)  # no rows of an earlier run
            # nor its timing rows: they made a failed rerun look finished to --skip-done
            (run_dir / "timing.jsonl").unlink(missing_ok=True)
            # a run anew: starganv2-train refuses a folder that holds an earlier run's checkpoints
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            cmd = train_command(run_overrides(args, arm, seed), run_dir)
            jobs.append((f"({arm!r}, {seed})", cmd, out / f"{arm}_seed{seed}.log"))
    failed = run_side_by_side(jobs, args.jobs, thread_env(args.threads), args.deadline_s, 2, "run")
    return failed, len(jobs)


def _finished(run_dir: Path, iters: int | None = None) -> bool:
    """Whether the run reached its ``model.total_iters`` (its last timing row is there), and
    that is ``iters`` when given (``--iters``): a study run again longer took its shorter runs
    for finished, and its table stayed at their length."""
    from omegaconf import OmegaConf

    from starganv2.callbacks.timing import read_timing

    config = run_dir / "config_resolved.yaml"
    timing = read_timing(run_dir)
    if not config.is_file() or not timing:
        return False
    total = int(OmegaConf.load(config).model.total_iters)
    return timing[-1]["iteration"] >= total and (iters is None or total == iters)


# ------------------------------------------------------------------------------------ summary
def _rows(run_dir: Path) -> list[dict[str, Any]]:
    """The evaluations of a run folder (or the ``quality.jsonl`` of the earlier driver)."""
    old = run_dir / "quality.jsonl"
    if old.is_file():
        return [json.loads(line) for line in old.read_text().splitlines() if line.strip()]
    return read_run(run_dir)


def collect(out: Path) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """``{arm: {seed: rows}}`` of every run under ``out``, arms in :data:`ARMS` order."""
    found: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for run_dir in sorted(p for p in out.glob("*/seed*") if p.is_dir()):
        rows = _rows(run_dir)
        if rows:
            found.setdefault(run_dir.parent.name, {})[int(run_dir.name[4:])] = rows
    order = {a: i for i, a in enumerate(ARMS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN for one value) and count of the finite values."""
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return float("nan"), float("nan"), 0
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else math.nan
    return m, sd, len(vals)


def summarize(out: Path, plots: Path | None = None) -> dict[str, Any]:
    """Table of the last evaluation of every arm (mean, std, n over the seeds that reached it;
    runs stopped earlier are listed as incomplete), written to ``summary.json`` and
    ``summary.md``; charts and a montage of the final grids to ``plots`` if given."""
    data = collect(out)
    summary: dict[str, Any] = {}
    for arm, seeds in data.items():
        last = max(rows[-1]["iteration"] for rows in seeds.values())
        done = {k: rows for k, rows in seeds.items() if rows[-1]["iteration"] == last}
        finals = [rows[-1] for rows in done.values()]
        summary[arm] = {"iteration": last, "seeds": sorted(done)}
        summary[arm]["incomplete_seeds"] = sorted(set(seeds) - set(done))
        for key in FIGURES:
            summary[arm][key] = mean_std([r.get(key, float("nan")) for r in finals])
    shown = [k for k in FIGURES if any(s[k][2] for s in summary.values())]
    lines = [
        "| arm | iter | seeds | " + " | ".join(FIGURES[k][0] for k in shown) + " |",
        "|---|---|---|" + "---|" * len(shown),
    ]
    for arm, s in summary.items():
        cells = []
        for k in shown:
            m, sd, n = s[k]
            digits = 3 if abs(m) < 10 else 1
            cells.append(
                ""
                if n == 0
                else f"{m:.{digits}f} ± {sd:.{digits}f}"
                if n > 1
                else f"{m:.{digits}f}"
            )
        lines.append(
            f"| {arm} | {s['iteration']} | {len(s['seeds'])} | " + " | ".join(cells) + " |"
        )
    table = "\n".join(lines)
    atomic_write_text(out / "summary.md", table + "\n")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    print(table)
    print(f"written: {out / 'summary.md'} and {out / 'summary.json'}")
    if plots is not None:
        plot_curves(data, plots, prefix=out.name)
        grid_montage(out, plots / f"ablation_{out.name}_grids.png", list(data))
        print(f"charts: {plots}")
    return summary


# -------------------------------------------------------------------------------------- plots
_COLOURS = [
    (0, 0, 0), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


def plot_curves(
    data: dict[str, dict[int, list[dict[str, Any]]]], folder: Path, prefix: str
) -> None:
    """One PNG per figure of :data:`PLOTTED`: the mean over seeds against the iteration, one line
    per arm (drawn with PIL, so no plotting library is needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key in PLOTTED:
        curves: dict[str, list[tuple[int, float]]] = {}
        for arm, seeds in data.items():
            by_it: dict[int, list[float]] = {}
            for rows in seeds.values():
                for r in rows:
                    by_it.setdefault(r["iteration"], []).append(r.get(key, float("nan")))
            pts = [(it, mean_std(v)[0]) for it, v in sorted(by_it.items())]
            pts = [(it, v) for it, v in pts if math.isfinite(v)]
            if pts:
                curves[arm] = pts
        if not curves:
            continue
        name = key.split("/")[-1]
        _draw_chart(curves, key, folder / f"ablation_{prefix}_{name}.png")


def _draw_chart(curves: dict[str, list[tuple[int, float]]], title: str, path: Path) -> None:
    """A line chart (PIL) of ``curves``: arm -> [(iteration, value)], with a legend."""
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 760, 420, 60, 170, 30, 40
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    xs = [it for pts in curves.values() for it, _ in pts]
    ys = [v for pts in curves.values() for _, v in pts]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def px(it: float, v: float) -> tuple[float, float]:
        return (
            left + (it - x0) / (x1 - x0) * (w - left - right),
            top + (y1 - v) / (y1 - y0) * (h - top - bottom),
        )

    draw.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for frac in (0, 0.25, 0.5, 0.75, 1):
        v = y0 + frac * (y1 - y0)
        _, yy = px(x0, v)
        draw.line([left - 4, yy, left, yy], fill=(0, 0, 0))
        draw.text((4, yy - 6), f"{v:.3g}", fill=(0, 0, 0))
        it = x0 + frac * (x1 - x0)
        xx, _ = px(it, y0)
        draw.line([xx, h - bottom, xx, h - bottom + 4], fill=(0, 0, 0))
        draw.text((xx - 12, h - bottom + 8), f"{it:.0f}", fill=(0, 0, 0))
    draw.text((left, 8), f"{title} (mean over seeds) vs iteration", fill=(0, 0, 0))
    for i, (arm, pts) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        draw.line([px(*p) for p in pts], fill=colour, width=2) if len(pts) > 1 else None
        for p in pts:
            cx, cy = px(*p)
            draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colour)
        ly = top + 14 * i
        draw.line([w - right + 10, ly + 6, w - right + 30, ly + 6], fill=colour, width=3)
        draw.text((w - right + 36, ly), arm, fill=(0, 0, 0))
    img.save(path)


def grid_montage(
    out: Path, dest: Path, arms: list[str], seed: int = 0, mode: str = "reference", columns: int = 4
) -> None:
    """The final ``mode`` grid of ``seed`` of each arm (shown 2x), ``columns`` to a row, with the
    arm's name above each."""
    from PIL import Image, ImageDraw

    tiles = []
    for arm in arms:
        grids = sorted((out / arm / f"seed{seed}" / "samples").glob(f"*_{mode}.png"))
        if grids:
            tile = Image.open(grids[-1]).convert("RGB")
            tiles.append((arm, tile.resize((tile.width * 2, tile.height * 2), Image.NEAREST)))
    if not tiles:
        return
    tw = max(t.width for _, t in tiles) + 8
    th = max(t.height for _, t in tiles) + 20
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("RGB", (tw * min(columns, len(tiles)), th * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (arm, tile) in enumerate(tiles):
        x, y = (i % columns) * tw, (i // columns) * th
        draw.text((x + 4, y + 4), arm, fill=(0, 0, 0))
        sheet.paste(tile, (x, y + 18))
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dest)


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: a comma list of integers >= 0, at least one (a one-line error otherwise)."""
    return int_list(text, "--seeds", 0, "0,1,2")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--experiment", default="ablation_cpu", help="base experiment (conf/experiment)")
    p.add_argument("--arms", default="all", help=f"comma list of {list(ARMS)}, or all")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument(
        "--iters", type=positive_int, default=None, help="override model.total_iters (and ds_iter)"
    )
    p.add_argument("--eval-every", type=positive_int, default=200)
    p.add_argument(
        "--eval-images",
        type=positive_int,
        default=None,
        help="validation images per domain (default: "
        "the experiment's callbacks.evaluation.evaluator.max_images_per_domain)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=positive_int, default=2, help="runs at once")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per run")
    p.add_argument("--cache-dir", default=None, help="shapes dataset cache (default: the usual)")
    p.add_argument("--override", action="append", default=[], help="extra Hydra override (repeat)")
    p.add_argument("--out", default="outputs/ablation")
    p.add_argument(
        "--deadline-s", type=positive_float, default=None, help="stop every run after this"
    )
    p.add_argument("--skip-done", action="store_true", help="skip runs that finished before")
    p.add_argument("--summary-only", action="store_true", help="table (and plots) of --out")
    p.add_argument("--plots", default=None, help="folder for the PNG charts")
    args = p.parse_args()
    plots = Path(args.plots) if args.plots else None
    failed: list[str] = []
    started = 0
    if not args.summary_only:
        arms = list(ARMS) if args.arms == "all" else [a for a in args.arms.split(",") if a]
        unknown = [a for a in arms if a not in ARMS and a != "none"]
        if unknown:
            raise SystemExit(f"--arms: unknown {unknown}; expected names from {list(ARMS)}")
        arms = distinct(arms, "--arms")  # one listed twice ran twice into one folder
        seeds = parse_seeds(args.seeds)
        if not arms:
            raise SystemExit(
                f"--arms {args.arms!r}: no arm named; expected names from {list(ARMS)}"
            )
        make_out_folder(Path(args.out))
        prepare_shapes([run_overrides(args, arm, 0) for arm in arms])
        failed, started = launch(args, arms, seeds)
    elif not collect(results_folder(Path(args.out))):
        # a mistyped or unrelated folder: no empty summary.md and summary.json written into it
        raise SystemExit(
            f"--out {args.out}: no runs with evaluations (<arm>/seed<k>/eval/) in it; run the "
            "driver without --summary-only first"
        )
    summarize(results_folder(Path(args.out)), plots)
    exit_if_failed(failed, started, "run")


if __name__ == "__main__":
    main()
