"""What each ``fit`` of ``starganv2-augment`` costs a large frame's detail, with the model taken out.

A stand-in translator that returns its input (:class:`Identity`, this benchmark's own module)
runs through the library's translation path (:func:`~starganv2.synthesis.detection.translate.
translate_requests`: the loader, ``Trainer.predict``, the writer), so what is lost on the way is
the fit's resampling alone: the floor any real translator starts from. On the built-in day/night
scenes written larger than the model (``--size``, default 192 x 128 against ``--img-size 32``)
it reports, per fit, against the sources:

- ``psnr``: dB over all pixels of all outputs (PNG, lossless; ``inf``: every pixel back);
- ``pass``: the share of objects the scenes' exact label check
  (:func:`starganv2.evaluation.scene_check.scene_box_check`) still finds in their boxes;
- ``s``: seconds of the translation run.

Fits: ``letterbox``, ``stretch`` and ``tile`` at ``--tile-sizes`` (source pixels per tile; the
model's ``img_size`` is native resolution, larger tiles are shrunk to the model's square).

    python benchmarks/fit_detail.py --out /tmp/fit_detail --n 100
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import positive_int  # noqa: E402

from starganv2.data.detection_scenes import DOMAINS, coco_path, write_detection_scenes
from starganv2.evaluation.scene_check import scene_box_check
from starganv2.models.prediction import PredictionMixin
from starganv2.synthesis.detection.coco import read_coco
from starganv2.synthesis.detection.translate import translate_requests
from starganv2.synthesis.requests import TranslationRequest
from starganv2.utils.files import atomic_write_text
from starganv2.utils.images import from_uint8


class Identity(PredictionMixin, L.LightningModule):
    """A translator that changes nothing (one label-guided "domain" per scene domain)."""

    has_styles, guidance_modes, num_domains = False, ("label",), 2

    def __init__(self, img_size: int) -> None:
        super().__init__()
        self.img_size = img_size
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the module a device

    def translate(self, x: torch.Tensor, y_trg: torch.Tensor) -> torch.Tensor:
        return x


def scene_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (``192x128``) as ``(width, height)``, both >= 1 (``argparse`` type)."""
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        return int(parts[0]), int(parts[1])
    raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected WIDTHxHEIGHT, e.g. 192x128")


def tile_sizes(text: str) -> list[int]:
    """A comma list of tile sides, each >= 1 (``argparse`` type)."""
    try:
        return [positive_int(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected tile sides >= 1, comma-separated (32,64)"
        ) from None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="scenes and outputs go here")
    parser.add_argument("--n", type=positive_int, default=100, help="scenes per domain")
    parser.add_argument("--size", type=scene_size, default="192x128", help="scene WIDTHxHEIGHT")
    parser.add_argument("--img-size", type=positive_int, default=32, help="the model's side")
    parser.add_argument(
        "--tile-sizes", type=tile_sizes, default="32,64", help="fit=tile tile sizes, comma list"
    )
    parser.add_argument("--threads", type=positive_int, default=2)
    return parser.parse_args()


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    width, height = args.size
    scenes = write_detection_scenes(
        args.out / "scenes", args.n, seed=0, size=(width, height), splits=("test",)
    )
    images = [im for d in DOMAINS for im in read_coco(coco_path(scenes, d, "test")).images]
    runs = [("letterbox", None), ("stretch", None)]
    runs += [("tile", t) for t in args.tile_sizes]
    results = []
    for fit, tile_size in runs:
        name = fit if tile_size is None else f"tile{tile_size}"
        requests = [
            TranslationRequest(im.path, 0, 0, f"{name}/{i:05d}.png") for i, im in enumerate(images)
        ]
        start = time.perf_counter()
        module = Identity(args.img_size)
        root = args.out / "fits"
        translate_requests(module, requests, root, fit, 8, 95, "cpu", tile_size=tile_size)
        seconds = time.perf_counter() - start
        sq_err, n_pixels, passed, n_objects = 0.0, 0, 0, 0
        for request, im in zip(requests, images):
            out = _pixels(args.out / "fits" / request.key)
            src = _pixels(im.path)
            sq_err += float(((out - src) ** 2).sum())
            n_pixels += src.size
            if im.boxes:
                boxes = torch.tensor([b.xyxy for b in im.boxes], dtype=torch.float32)
                labels = torch.tensor([int(b.raw["category_id"]) - 1 for b in im.boxes])
                x = from_uint8(torch.from_numpy(out.astype(np.uint8)).permute(2, 0, 1))
                ok = scene_box_check(x, boxes, labels)
                passed, n_objects = passed + int(ok.sum()), n_objects + len(ok)
        mse = sq_err / n_pixels
        psnr = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
        results.append(
            {
                "fit": fit,
                "tile_size": tile_size,
                "psnr": psnr,
                "passed": passed,
                "objects": n_objects,
                "seconds": round(seconds, 2),
            }
        )
    setting = {"n_images": len(images), "size": [width, height], "img_size": args.img_size}
    path = args.out / "results.json"
    atomic_write_text(path, json.dumps({**setting, "results": results}, indent=1))  # whole or none
    print(f"{len(images)} scenes of {width}x{height}, model side {args.img_size}, identity")
    print(f"{'fit':<10} {'tile_size':>9} {'psnr dB':>8} {'pass':>11} {'s':>6}")
    for r in results:
        share = f"{r['passed']}/{r['objects']}"
        tile = "-" if r["tile_size"] is None else str(r["tile_size"])
        print(f"{r['fit']:<10} {tile:>9} {r['psnr']:>8.2f} {share:>11} {r['seconds']:>6.1f}")
    print(f"rows: {path}")


if __name__ == "__main__":
    main()
