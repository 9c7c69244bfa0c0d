"""Training-loader throughput in images/s, to compare with training speed. Run by hand.

    python benchmarks/data_speed.py --root data/afhq --img-size 256 --batch-size 8 --workers 4
    python benchmarks/data_speed.py            # generates / reuses the synthetic shapes dataset

A training sample holds three images (x_real, x_ref, x_ref2); "images/s" counts samples, i.e.
training examples per second, and "decoded/s" counts the three images of each.
"""

from __future__ import annotations

import argparse
import logging
import time

from starganv2.data.datamodule import ImageDomainDataModule, ShapesDataModule


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--root", default=None, help="dataset root (root/train/<domain>/...); default: shapes"
    )
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batches", type=int, default=50, help="timed batches (K)")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches first (worker start-up)")
    p.add_argument("--pin-memory", action="store_true")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="shapes cache folder (default $STARGANV2_CACHE or ~/.cache)",
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
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
