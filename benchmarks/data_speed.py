"""Training-loader throughput in images/s, to compare with training speed. Run by hand.

    python benchmarks/data_speed.py --root data/afhq --img-size 256 --batch-size 8 --workers 4
    python benchmarks/data_speed.py            # generates / reuses the synthetic shapes dataset
    python benchmarks/data_speed.py --make-jpeg /tmp/photos --img-size 256 --workers 8
                                               # JPEG photos like AFHQ's (512 x 512, quality 95)

A training sample holds three images (x_real, x_ref, x_ref2); "images/s" counts samples, i.e.
training examples per second, and "decoded/s" counts the three images of each.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import non_negative_int, positive_int  # noqa: E402

from starganv2.data.datamodule import ImageDomainDataModule, ShapesDataModule


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--root", default=None, help="dataset root (root/train/<domain>/...); default: shapes"
    )
    p.add_argument("--img-size", type=positive_int, default=64)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--workers", type=non_negative_int, default=2)
    p.add_argument("--batches", type=positive_int, default=50, help="timed batches (K)")
    p.add_argument(
        "--warmup", type=non_negative_int, default=5, help="untimed batches first (worker start-up)"
    )
    p.add_argument("--pin-memory", action="store_true")
    p.add_argument(
        "--make-jpeg",
        default=None,
        metavar="DIR",
        help="write a photo-like JPEG dataset there first (2 domains) and measure it",
    )
    p.add_argument("--jpeg-count", type=positive_int, default=200, help="JPEG files per domain")
    p.add_argument("--jpeg-size", type=int, default=512, help="side of the JPEG files")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="shapes cache folder (default $STARGANV2_CACHE or ~/.cache)",
    )
    return p.parse_args()


def make_jpeg_dataset(root: Path, count: int, size: int) -> Path:
    """``root/train/{a,b}/NNNN.jpg``: smooth random colour fields with noise (JPEG decoding cost
    like a photo's), quality 95; a file already there is reused only if it has this size."""
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        folder = root / "train" / domain
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / f"{i:04d}.jpg"
            if path.exists():
                with Image.open(path) as im:
                    if im.size == (size, size):
                        continue
            low = rng.uniform(0, 255, (size // 32, size // 32, 3)).astype(np.uint8)
            img = Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC)
            arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 13, (size, size, 3))
            Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path, quality=95)
    return root


def main() -> None:
    args = parse_args()
    if args.make_jpeg is not None:
        args.root = str(make_jpeg_dataset(Path(args.make_jpeg), args.jpeg_count, args.jpeg_size))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    common = {
        "img_size": args.img_size,
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "pin_memory": args.pin_memory,
        "persistent_workers": False,
        "samples_per_epoch": (args.batches + args.warmup) * args.batch_size,
    }
    if args.root is None:
        dm: ImageDomainDataModule = ShapesDataModule(cache_dir=args.cache_dir, **common)
        dm.prepare_data()
    else:
        dm = ImageDomainDataModule(args.root, **common)
    t0 = time.perf_counter()
    dm.setup("fit")
    scan_s = time.perf_counter() - t0
    it = iter(dm.train_dataloader())
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        next(it)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = 0
    for _ in range(args.batches):
        n += next(it)["x_real"].shape[0]
    dt = time.perf_counter() - t0
    print(f"root={dm.root} domains={dm.domains} train_images={len(dm.train_set)}")
    print(f"setup (scan) {scan_s:.2f} s, first {args.warmup} batches {warm_s:.2f} s")
    print(
        f"img_size={args.img_size} batch={args.batch_size} workers={args.workers}: "
        f"{n / dt:.1f} images/s ({3 * n / dt:.1f} decoded/s, {dt / args.batches * 1000:.1f} ms/batch over "
        f"{args.batches} batches)"
    )


if __name__ == "__main__":
    main()
