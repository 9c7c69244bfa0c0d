"""Does StarGAN v2 augmentation make a detector better on a domain it has no labels for?

The built-in day/night scenes (:mod:`starganv2.data.detection_scenes`) give labelled day images,
unlabelled day and night images, and labelled night images for testing. A small FCOS
(``_detector.py``) is trained from scratch on day images with and without translated ones, and
tested on night (the shift) and day (no regression). Stages, each skipped where its outputs
exist (an interrupted run is finished by the same command):

1. **scenes**: ``write_detection_scenes(DIR/scenes, n, seed=0, size=SIZE)``.
2. **translators**: StarGAN v2 (``experiment=quick``) and StarGAN v1 (``experiment=
   stargan_v1_quick``) trained side by side with the library's own ``starganv2-train`` on
   ``DIR/scenes/translation`` (``data=folder``, two domains), run folders
   ``DIR/translators/{v2,v1}``.
3. **translations**: the day train set translated into night with the library's tool
   (``augment_dataset``, ``fit=stretch``: ``data=folder`` trained on stretched squares), one
   output per image: v2 latent (``--psi``), v2 reference-guided (night references from
   ``DIR/scenes/translation/train/night``), v1; ``DIR/translations/<name>/``. Every output is
   checked object by object by the tool's ``check="scene"`` (the scenes' exact check), the
   results in its ``augment_report.json``.
4. **detectors**: every arm x seed (``DIR/detectors/<arm>_seed<k>.json``), same steps and batch:
   ``day_only``; ``photometric`` (day, each sample photometrically augmented with p = 0.5);
   ``stargan_v2`` (half day, half v2 translations, latent and reference); ``stargan_v2_checked``
   (the same with only translations whose every object passed the check); ``stargan_v1``;
   ``oracle`` (half day, half labelled night train).
5. **results**: ``DIR/results.json`` (one record per run: ``arm, seed, night_map50, night_map,
   day_map50, day_map, train_s``), ``DIR/summary.json`` and ``DIR/summary.md`` (mean +- sd per
   arm, the share of the day-to-oracle gap each arm closes, whether StarGAN v2 beats the
   photometric baseline beyond seed noise, the translations' geometry against the real images'
   floor, the check's drop share, every stage's time), ``DIR/grids/*.png``, a printed table.

Usage::

    python benchmarks/detection_augmentation.py --out outputs/det_aug --setting quick --threads 2
    python benchmarks/detection_augmentation.py --out /tmp/det_smoke --setting smoke   # minutes
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _jobs and _detector
from _args import distinct, image_side, non_negative_int, positive_int  # noqa: E402
from _detector import (  # noqa: E402
    DetectionSet,
    build_detector,
    evaluate,
    load_coco,
    photometric,
    predict,
    train_detector,
)

ARMS = ("day_only", "photometric", "stargan_v2", "stargan_v2_checked", "stargan_v1", "oracle")
"""The arms, in the order of the tables (what each trains on: :data:`ARM_POOLS`)."""
TRANSLATIONS = ("v2_latent", "v2_reference", "v1")
"""The translated sets: StarGAN v2 with latent and with reference styles, StarGAN v1."""
FIGURES = ("night_map50", "night_map", "day_map50", "day_map")


@dataclass(frozen=True)
class Setting:
    """One size of the benchmark.

    Attributes:
        size: ``(width, height)`` of the scenes.
        n: scenes per domain and split.
        img_size: the translators' square resolution.
        v2_iters, v1_iters: training iterations of the translators.
        det_steps, det_batch: detector optimizer steps and batch size (every arm the same).
        det_lr: the detector's AdamW learning rate.
    """

    size: tuple[int, int]
    n: int
    img_size: int
    v2_iters: int
    v1_iters: int
    det_steps: int
    det_batch: int = 16
    det_lr: float = 4e-3


SETTINGS = {
    # end to end in minutes: checks that every stage runs, figures mean nothing
    "smoke": Setting(size=(48, 32), n=8, img_size=32, v2_iters=4, v1_iters=4, det_steps=10),
    # about 30 minutes on a 2-core CPU (translators about 15 minutes side by side)
    "quick": Setting(
        size=(48, 32), n=400, img_size=32, v2_iters=2000, v1_iters=2000, det_steps=300
    ),
    # for a GPU: the scenes' default size at 64 px (not run on the CPU)
    "long": Setting(
        size=(96, 64), n=2000, img_size=64, v2_iters=20000, v1_iters=20000, det_steps=2000
    ),
}


# ---------------------------------------------------------------------------------------------
# stage bookkeeping


class Stages:
    """Seconds of every stage, kept in ``DIR/stage_times.json`` across resumed runs: a stage
    that did its work records its time; one skipped (outputs there) keeps the time recorded
    when it ran."""

    def __init__(self, out: Path) -> None:
        self.path = out / "stage_times.json"
        self.times: dict[str, float] = (
            json.loads(self.path.read_text()) if self.path.exists() else {}
        )

    def record(self, name: str, seconds: float, skipped: bool) -> None:
        if skipped and name in self.times:
            print(f"[{name}] skipped (done: {self.times[name]:.0f} s when it ran)", flush=True)
            return
        self.times[name] = round(seconds, 1)
        _write_json(self.times, self.path)
        print(f"[{name}] {seconds:.0f} s", flush=True)


def _write_json(obj: Any, path: Path) -> None:
    """``obj`` as indented JSON, written whole (temporary name, then rename)."""
    from starganv2.utils.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _stamp(folder: Path, settings: dict[str, Any]) -> bool:
    """Whether ``folder`` was made with ``settings`` (``folder/settings.json``); a folder made
    with other settings is refused (a new ``--out`` or deleting the folder starts it anew).
    Returns ``False`` for a folder not stamped yet (and stamps it)."""
    path = folder / "settings.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(settings)):
            raise SystemExit(
                f"{folder} was made with {old}, this run asks for {settings}: "
                f"use another --out or delete {folder}"
            )
        return True
    _write_json(settings, path)
    return False


# ---------------------------------------------------------------------------------------------
# stage 1 and 2: scenes and translators


def scenes_stage(out: Path, setting: Setting) -> Path:
    from starganv2.data.detection_scenes import write_detection_scenes

    return write_detection_scenes(out / "scenes", setting.n, seed=0, size=setting.size)


def translator_overrides(
    out: Path, img_size: int, iters: int, experiment: str, extra: Sequence[str]
) -> list[str]:
    """The ``starganv2-train`` overrides of one translator on the scenes' domain folders."""
    overrides = [
        f"experiment={experiment}",
        "data=folder",
        f"data.root={out / 'scenes' / 'translation'}",
        "data.num_domains=2",
        f"data.img_size={img_size}",
        f"model.total_iters={iters}",
        "seed=0",
        "+callbacks@_global_=timing",
        f"callbacks.timing.every_n_iters={max(1, iters)}",
    ]
    if experiment != "stargan_v1_quick":
        overrides.append(f"model.ds_iter={iters}")
    return overrides + list(extra)


def trained_iterations(run_dir: Path) -> int:
    """The iteration of ``run_dir``'s ``checkpoints/last.ckpt`` (-1: none)."""
    from starganv2.models.registry import load_model

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    return int(load_model(ckpt).iteration) if ckpt.is_file() else -1


def translators_stage(
    out: Path, jobs_spec: dict[str, list[str]], iters: dict[str, int], threads: int
) -> bool:
    """Train the translators not trained to ``iters[name]`` yet, side by side (an interrupted
    one continues from its last checkpoint: ``resume=auto``); ``True`` if all were done."""
    from _jobs import run_side_by_side, thread_env, train_command

    jobs = []
    for name, overrides in jobs_spec.items():
        run_dir = out / "translators" / name
        _stamp(run_dir, {"overrides": overrides})
        if trained_iterations(run_dir) >= iters[name]:
            continue
        command = train_command([*overrides, "resume=auto"], run_dir)
        jobs.append((name, command, out / "translators" / f"{name}.log"))
        print(f"[translators] {name}: starganv2-train {shlex.join(overrides)}", flush=True)
    if jobs:
        each = max(1, threads // len(jobs))
        run_side_by_side(jobs, len(jobs), thread_env(each), what="translator")
    short = {n: trained_iterations(out / "translators" / n) for n in jobs_spec}
    short = {n: it for n, it in short.items() if it < iters[n]}
    if short:
        raise SystemExit(
            f"translators {sorted(short)} stopped at iterations {short} (of {iters}): "
            f"see {out / 'translators'}/*.log; rerun to continue them"
        )
    return not jobs


def translator_seconds(out: Path) -> dict[str, float | None]:
    """Each translator's training seconds (its timing callback's last line; ``None``: none)."""
    from starganv2.callbacks.timing import read_timing

    seconds = {}
    for name in ("v2", "v1"):
        rows = read_timing(out / "translators" / name)
        seconds[name] = round(rows[-1]["train_s"], 1) if rows else None
    return seconds


# ---------------------------------------------------------------------------------------------
# stage 3: translations and their check


def translate(out: Path, name: str, ckpt: Path, psi: float, seed: int = 0) -> Path:
    """One translated set of the day train split (``DIR/translations/<name>/instances.json``),
    every output checked by the tool's ``check="scene"`` (the scenes' exact per-object check)
    and kept: the report (``augment_report.json``) says which passed; the checked arm takes only
    those, the selection ``drop_failed=True`` would leave in the dataset."""
    from starganv2.models.registry import load_model
    from starganv2.synthesis.detection.augment import augment_dataset

    folder = out / "translations" / name
    settings = {"ckpt": str(ckpt), "psi": psi if name == "v2_latent" else None, "seed": seed}
    if (folder / "settings.json").exists():  # what made the images: other settings are refused
        _stamp(folder, settings)
    result = folder / "instances.json"
    if result.exists() and (folder / "augment_report.json").exists():
        return result
    augment_dataset(
        load_model(ckpt),
        day_coco(out, "train"),
        folder,
        domain_names=["day", "night"],
        source_domain=0,
        targets=[1],
        styles=1,
        ref_dir=out / "scenes" / "translation" / "train" if name == "v2_reference" else None,
        psi=psi if name == "v2_latent" else 1.0,
        seed=seed,
        fit="stretch",
        check="scene",
        accelerator="cpu",
    )
    _stamp(folder, settings)  # after the tool, which refuses a folder holding other files
    return result


def day_coco(out: Path, split: str) -> Path:
    return out / "scenes" / "coco" / "day" / split / "instances.json"


def night_coco(out: Path, split: str) -> Path:
    return out / "scenes" / "coco" / "night" / split / "instances.json"


def box_figures(data: DetectionSet) -> list[dict[str, Any]]:
    """The scenes' exact check on every image of ``data``: per image its objects' box IoU and
    pass (:func:`~starganv2.evaluation.scene_check.scene_box_figures`, the criterion of
    ``scene_box_check``) and whether all passed."""
    from starganv2.evaluation.scene_check import scene_box_check, scene_box_figures

    rows = []
    for i in range(len(data)):
        image = data.images[i].float() / 127.5 - 1  # (3, H, W) in [-1, 1]
        ious, _ = scene_box_figures(image, data.boxes[i])
        # the library's criterion at the tool's defaults (check_iou 0.5, fill within 0.25);
        # COCO category_id - 1 is the class index
        passed = [bool(v) for v in scene_box_check(image, data.boxes[i], data.labels[i] - 1)]
        rows.append(
            {
                "image": data.names[i],
                "iou": [round(v, 4) for v in ious.tolist()],
                "passed": passed,
                "all_passed": all(passed),
            }
        )
    return rows


def box_figures_cached(coco: Path) -> list[dict[str, Any]]:
    """:func:`box_figures` of the images of ``coco``, kept in ``scene_check.json`` beside it."""
    path = coco.parent / "scene_check.json"
    if path.exists():
        return json.loads(path.read_text())
    rows = box_figures(load_coco(coco))
    _write_json(rows, path)
    return rows


def label_check(coco: Path) -> list[dict[str, Any]]:
    """The tool's check of a translated set, one row per image of ``coco`` in its order (the
    rows of :func:`box_figures`), read from ``augment_report.json`` beside it. An image the
    report has no check for fails; a set translated without ``check=scene`` is checked here
    with the same criterion (:func:`box_figures_cached`)."""
    report = json.loads((coco.parent / "augment_report.json").read_text())
    if (report.get("check_settings") or {}).get("name") != "scene":
        return box_figures_cached(coco)  # translated without the check: the same criterion here
    checks = {o["image"]: o.get("check") for o in report["outputs"]}
    rows = []
    for record in json.loads(coco.read_text())["images"]:
        check = checks.get(record["file_name"]) or {"passed": False, "boxes": []}
        boxes = [b for b in check["boxes"] if b.get("required", True)]
        rows.append(
            {
                "image": record["file_name"],
                "iou": [float(b["iou"]) for b in boxes],
                "passed": [bool(b["matched"]) for b in boxes],
                "all_passed": bool(check["passed"]),
            }
        )
    return rows


def geometry(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean per-object box IoU, share of objects passing, share of images all passing."""
    ious = [v for r in rows for v in r["iou"]]
    passed = [v for r in rows for v in r["passed"]]
    return {
        "mean_box_iou": sum(ious) / max(1, len(ious)),
        "object_pass_share": sum(passed) / max(1, len(passed)),
        "image_pass_share": sum(r["all_passed"] for r in rows) / max(1, len(rows)),
        "images": len(rows),
    }


# ---------------------------------------------------------------------------------------------
# stage 4: detectors


Pools = tuple[list[DetectionSet], list[float], Callable | None]
"""What an arm trains on: ``(pools, shares, augment)`` (see :func:`train_detector`)."""


def _day_only(data: dict[str, DetectionSet], checked: dict[str, Sequence[bool]]) -> Pools:
    return [data["day"]], [1.0], None


def _photometric(data: dict[str, DetectionSet], checked: dict[str, Sequence[bool]]) -> Pools:
    return [data["day"]], [1.0], photometric


def _half(name: str) -> Callable[[dict[str, DetectionSet], dict[str, Sequence[bool]]], Pools]:
    """Half day, half the set ``name``."""

    def pools(data: dict[str, DetectionSet], checked: dict[str, Sequence[bool]]) -> Pools:
        return [data["day"], data[name]], [0.5, 0.5], None

    return pools


def _stargan_v2(only_passing: bool) -> Callable[..., Pools]:
    """Half day, half the v2 translations (latent and reference; ``only_passing``: those whose
    every object passed the check; none passing: day only)."""

    def pools(data: dict[str, DetectionSet], checked: dict[str, Sequence[bool]]) -> Pools:
        sets = []
        for name in ("v2_latent", "v2_reference"):
            s = data[name]
            if only_passing:
                s = s.subset([i for i, ok in enumerate(checked[name]) if ok])
            sets.append(s)
        translated = concat(sets)
        if not len(translated):
            return [data["day"]], [1.0], None
        return [data["day"], translated], [0.5, 0.5], None

    return pools


ARM_POOLS = {
    "day_only": _day_only,
    "photometric": _photometric,
    "stargan_v2": _stargan_v2(only_passing=False),
    "stargan_v2_checked": _stargan_v2(only_passing=True),
    "stargan_v1": _half("v1"),
    "oracle": _half("night"),
}
"""Each arm's training data, by name (the keys are :data:`ARMS`)."""


def arm_pools(arm: str, data: dict[str, DetectionSet], checked: dict[str, Sequence[bool]]) -> Pools:
    """What ``arm`` trains on: ``(pools, shares, augment)``.

    ``data`` holds ``day`` (labelled day train), ``night`` (labelled night train, the oracle's)
    and the translated sets of :data:`TRANSLATIONS`; ``checked[name]`` says per image of a
    translated set whether every object passed the check. A checked arm whose translations all
    failed trains on day images only (its record's ``pool_sizes`` shows it)."""
    if arm not in ARM_POOLS:
        raise ValueError(f"arm {arm!r}: expected one of {list(ARMS)}")
    return ARM_POOLS[arm](data, checked)


def concat(sets: Sequence[DetectionSet]) -> DetectionSet:
    """The images of ``sets`` one after another."""
    import torch

    non_empty = [s for s in sets if len(s)]
    images = torch.cat([s.images for s in non_empty]) if non_empty else sets[0].images[:0]
    return DetectionSet(
        images,
        [b for s in sets for b in s.boxes],
        [lab for s in sets for lab in s.labels],
        [n for s in sets for n in s.names],
    )


def load_data(out: Path) -> dict[str, DetectionSet]:
    """Every labelled set the arms and the tests use, read whole."""
    data = {
        "day": load_coco(day_coco(out, "train")),
        "night": load_coco(night_coco(out, "train")),
        "day_test": load_coco(day_coco(out, "test")),
        "night_test": load_coco(night_coco(out, "test")),
    }
    for name in TRANSLATIONS:
        data[name] = load_coco(out / "translations" / name / "instances.json")
    return data


def checked_images(out: Path) -> dict[str, list[bool]]:
    """Per translated set, per image (in the order of its COCO file): all objects passed."""
    return {
        name: [r["all_passed"] for r in label_check(out / "translations" / name / "instances.json")]
        for name in TRANSLATIONS
    }


def detector_run(
    out: Path, arm: str, seed: int, setting: Setting, threads: int = 1
) -> dict[str, Any]:
    """Train and test one detector; its record is written to ``DIR/detectors/<arm>_seed<k>.json``
    (and read back instead of training when it is there)."""
    import torch

    path = out / "detectors" / f"{arm}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    torch.set_num_threads(threads)
    data = load_data(out)
    pools, shares, augment = arm_pools(arm, data, checked_images(out))
    torch.manual_seed(seed)
    model = build_detector(setting.size)
    start = time.perf_counter()
    losses = train_detector(
        model, pools, shares, setting.det_steps, setting.det_batch, setting.det_lr, seed, augment
    )
    train_s = time.perf_counter() - start
    night = evaluate(predict(model, data["night_test"]), data["night_test"])
    day = evaluate(predict(model, data["day_test"]), data["day_test"])
    record = {
        "arm": arm,
        "seed": seed,
        "night_map50": night["map50"],
        "night_map": night["map"],
        "day_map50": day["map50"],
        "day_map": day["map"],
        "train_s": round(train_s, 1),
        "test_s": round(time.perf_counter() - start - train_s, 1),
        "final_loss": sum(losses[-20:]) / max(1, len(losses[-20:])),
        "pool_sizes": [len(p) for p in pools],
        "shares": list(shares),
    }
    _write_json(record, path)
    print(
        f"[detector] {arm} seed {seed}: night mAP@0.5 {record['night_map50']:.3f}, "
        f"day mAP@0.5 {record['day_map50']:.3f} ({train_s:.0f} s)",
        flush=True,
    )
    return record


def detectors_stage(
    out: Path,
    arms: Sequence[str],
    seeds: Sequence[int],
    setting: Setting,
    jobs: int,
    settings: dict[str, Any],
) -> tuple[list[dict[str, Any]], bool]:
    """Every (arm, seed) run, ``jobs`` processes at a time with one torch thread each.

    ``DIR/detectors`` is stamped with ``settings`` (every setting the records depend on: the
    detector's steps, batch and rate, the scenes and translators behind them): a record is read
    back instead of trained, so records of other settings (another ``--det-steps``) are refused
    rather than summarized under the new ones."""
    _stamp(out / "detectors", settings)
    todo = [(a, s) for a in arms for s in seeds]
    skipped = all((out / "detectors" / f"{a}_seed{s}.json").exists() for a, s in todo)
    if jobs <= 1:
        records = [detector_run(out, a, s, setting) for a, s in todo]
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            futures = [pool.submit(detector_run, out, a, s, setting) for a, s in todo]
            records = [f.result() for f in futures]
    return records, skipped


# ---------------------------------------------------------------------------------------------
# stage 5: results


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per arm mean and sd of every figure over its seeds, the share of the day-only-to-oracle
    gap (night mAP@0.5) each arm closes, and whether StarGAN v2 beats the photometric arm beyond
    seed noise: its mean night mAP@0.5 exceeds the photometric one by more than twice the
    standard error of the difference, ``2 * sqrt(sd_a^2 / n_a + sd_b^2 / n_b)``."""
    arms: dict[str, dict[str, Any]] = {}
    for arm in [a for a in ARMS if any(r["arm"] == a for r in records)]:
        rows = [r for r in records if r["arm"] == arm]
        entry: dict[str, Any] = {"seeds": sorted(r["seed"] for r in rows)}
        for fig in FIGURES:
            values = [r[fig] for r in rows if fig in r]
            if values:
                m, sd = mean_sd(values)
                entry[fig] = {"mean": m, "sd": sd, "n": len(values)}
        arms[arm] = entry
    summary: dict[str, Any] = {"arms": arms}

    def night(arm: str) -> float | None:
        return arms[arm]["night_map50"]["mean"] if arm in arms else None

    low, high = night("day_only"), night("oracle")
    if low is not None and high is not None and high > low:
        summary["gap_closed"] = {a: (night(a) - low) / (high - low) for a in arms}
    if "stargan_v2" in arms and "photometric" in arms:
        a, b = arms["stargan_v2"]["night_map50"], arms["photometric"]["night_map50"]
        diff = a["mean"] - b["mean"]
        se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
        summary["v2_vs_photometric"] = {
            "difference": diff,
            "standard_error": se,
            # one seed on either side: no noise estimate, no verdict
            "beats_beyond_noise": bool(diff > 2 * se) if min(a["n"], b["n"]) > 1 else None,
            "rule": "mean difference of night mAP@0.5 > 2 x its standard error over seeds",
        }
    return summary


def _fmt(entry: dict[str, Any] | None) -> str:
    return f"{entry['mean']:.3f} ± {entry['sd']:.3f}" if entry else "n/a"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables (``DIR/summary.md``, printed at the end)."""
    lines = [
        "| arm | night mAP@0.5 | night mAP | day mAP@0.5 | day mAP | gap closed | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    gap = summary.get("gap_closed", {})
    for arm, e in summary["arms"].items():
        closed = f"{gap[arm]:.2f}" if arm in gap else "n/a"
        lines.append(
            f"| {arm} | {_fmt(e.get('night_map50'))} | {_fmt(e.get('night_map'))} | "
            f"{_fmt(e.get('day_map50'))} | {_fmt(e.get('day_map'))} | {closed} | "
            f"{len(e['seeds'])} |"
        )
    cmp = summary.get("v2_vs_photometric")
    if cmp:
        verdict = {True: "yes", False: "no", None: "n/a (one seed)"}[cmp["beats_beyond_noise"]]
        lines += [
            "",
            f"StarGAN v2 beats photometric beyond seed noise: **{verdict}** (difference "
            f"{cmp['difference']:+.3f}, standard error {cmp['standard_error']:.3f}; rule: "
            f"{cmp['rule']}).",
        ]
    geo = summary.get("geometry")
    if geo:
        lines += [
            "",
            "| images | mean box IoU | objects passing | images passing |",
            "|---|---|---|---|",
        ]
        for name, g in geo.items():
            lines.append(
                f"| {name} | {g['mean_box_iou']:.3f} | {g['object_pass_share']:.3f} | "
                f"{g['image_pass_share']:.3f} |"
            )
    if "check_drop_share" in summary:
        lines += [
            "",
            f"Share of v2 translations dropped by the check: {summary['check_drop_share']:.3f}",
        ]
    times = summary.get("stage_s")
    if times:
        lines += ["", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in times.items()]
    return "\n".join(lines) + "\n"


def grids(out: Path, data: dict[str, DetectionSet], n: int = 8, scale: int = 3) -> list[Path]:
    """``DIR/grids/translations.png``: rows of ``n`` day sources, their v2 latent, v2 reference
    and v1 translations (the sources' boxes drawn), and real night scenes (their own boxes),
    enlarged ``scale`` times."""
    import torch
    import torch.nn.functional as F
    from torchvision.utils import draw_bounding_boxes, make_grid

    from starganv2.synthesis.grids import save_grid

    def tiles(s: DetectionSet, idx: Sequence[int]) -> list[torch.Tensor]:
        shown = []
        for i in idx:
            big = F.interpolate(s.images[i][None].float(), scale_factor=scale, mode="nearest")
            shown.append(
                draw_bounding_boxes(big[0].to(torch.uint8), s.boxes[i] * scale, colors="red")
            )
        return shown

    source = data["day"]
    by_name = {name: {nm: i for i, nm in enumerate(data[name].names)} for name in TRANSLATIONS}
    idx = list(range(min(n, len(source))))
    rows = tiles(source, idx)
    for name in TRANSLATIONS:
        found = []
        for i in idx:
            stem, suffix = source.names[i].rsplit(".", 1)
            j = by_name[name].get(f"{stem}_night_0.{suffix}")
            if j is not None:
                found.append(j)
        rows += tiles(data[name], found)
        rows += [torch.zeros_like(rows[0])] * (len(idx) - len(found))
    rows += tiles(data["night_test"], list(range(min(n, len(data["night_test"])))))
    grid = make_grid(torch.stack(rows).float() / 255, nrow=len(idx), padding=2)
    (out / "grids").mkdir(parents=True, exist_ok=True)
    return [save_grid(grid, out / "grids" / "translations.png")]


def write_results(out: Path, records: Sequence[dict[str, Any]], extra: dict[str, Any]) -> dict:
    """``results.json`` (the records, in arm and seed order), ``summary.json``, ``summary.md``."""
    order = {a: k for k, a in enumerate(ARMS)}
    records = sorted(records, key=lambda r: (order.get(r["arm"], len(order)), r["seed"]))
    _write_json(list(records), out / "results.json")
    summary = {**summarize(records), **extra}
    _write_json(summary, out / "summary.json")
    from starganv2.utils.files import atomic_write

    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(summary_markdown(summary)))
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (a rerun resumes it)")
    p.add_argument("--setting", choices=sorted(SETTINGS), default="quick")
    p.add_argument(
        "--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2], help="detector seeds"
    )
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument(
        "--threads",
        type=positive_int,
        default=2,
        help="CPU threads: split between the two translators; detector runs in parallel",
    )
    p.add_argument("--img-size", type=image_side, default=None, help="translators' resolution")
    p.add_argument("--v2-iters", type=positive_int, default=None, help="StarGAN v2 iterations")
    p.add_argument("--v1-iters", type=positive_int, default=None, help="StarGAN v1 iterations")
    p.add_argument(
        "--v2-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra starganv2-train override of the v2 translator (repeat), "
        "e.g. model.lambda_cyc=8",
    )
    p.add_argument(
        "--v1-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra starganv2-train override of the v1 translator (repeat)",
    )
    p.add_argument("--psi", type=float, default=1.0, help="truncation of v2 latent styles")
    p.add_argument(
        "--det-steps", type=positive_int, default=None, help="detector steps (every arm)"
    )
    p.add_argument(
        "--det-batch", type=positive_int, default=None, help="detector batch (every arm)"
    )
    args = p.parse_args(argv)
    args.seeds = distinct(args.seeds, "--seeds")  # a seed twice: one result counted twice
    args.arms = distinct(args.arms, "--arms")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    setting = SETTINGS[args.setting]
    for key in ("img_size", "v2_iters", "v1_iters", "det_steps", "det_batch"):
        if getattr(args, key) is not None:
            setting = replace(setting, **{key: getattr(args, key)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"setting {args.setting}: {asdict(setting)}", flush=True)
    stages = Stages(out)

    start = time.perf_counter()
    done = (out / "scenes" / "detection_scenes.json").exists()
    scenes_stage(out, setting)
    stages.record("scenes", time.perf_counter() - start, done)

    start = time.perf_counter()
    spec = {
        "v2": translator_overrides(
            out, setting.img_size, setting.v2_iters, "quick", args.v2_override
        ),
        "v1": translator_overrides(
            out, setting.img_size, setting.v1_iters, "stargan_v1_quick", args.v1_override
        ),
    }
    iters = {"v2": setting.v2_iters, "v1": setting.v1_iters}
    done = translators_stage(out, spec, iters, args.threads)
    stages.record("translators", time.perf_counter() - start, done)

    start = time.perf_counter()
    done = all((out / "translations" / n / "augment_report.json").exists() for n in TRANSLATIONS)
    ckpts = {n: out / "translators" / n / "checkpoints" / "last.ckpt" for n in ("v2", "v1")}
    for name in TRANSLATIONS:
        translate(out, name, ckpts[name.split("_")[0]], args.psi)
    stages.record("translations", time.perf_counter() - start, done)

    start = time.perf_counter()
    run_settings = {
        **asdict(setting),
        "psi": args.psi,
        "v2_overrides": args.v2_override,
        "v1_overrides": args.v1_override,
    }
    records, done = detectors_stage(out, args.arms, args.seeds, setting, args.threads, run_settings)
    stages.record("detectors", time.perf_counter() - start, done)

    start = time.perf_counter()
    data = load_data(out)
    geometry_rows = {
        name: label_check(out / "translations" / name / "instances.json") for name in TRANSLATIONS
    }
    for name, split in (("real_night_test", "night_test"), ("real_day_test", "day_test")):
        geometry_rows[name] = box_figures(data[split])
    checked = checked_images(out)
    v2 = checked["v2_latent"] + checked["v2_reference"]
    extra = {
        "setting": {"name": args.setting, **run_settings},
        "geometry": {name: geometry(rows) for name, rows in geometry_rows.items()},
        "check_drop_share": 1 - sum(v2) / max(1, len(v2)),
        "translator_train_s": translator_seconds(out),
        "detector_runs_s": round(sum(r.get("train_s", 0) + r.get("test_s", 0) for r in records)),
        "stage_s": stages.times,
    }
    shown = grids(out, data)
    summary = write_results(out, records, extra)
    stages.record("results", time.perf_counter() - start, False)
    summary["stage_s"] = stages.times
    write_results(out, records, extra | {"stage_s": stages.times})
    print(f"grids: {', '.join(str(p) for p in shown)}")
    print(summary_markdown(summary))
    return summary


if __name__ == "__main__":
    main()
