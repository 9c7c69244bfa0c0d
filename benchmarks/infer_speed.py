"""Inference speed: generator images/s with the EMA nets, latent- and reference-guided.

``latent``: style from latent codes (mapping network F) then G; ``reference``: style from
reference images (style encoder E) then G. Settings (``--variants``): ``fp32``,
``channels_last``, ``bf16`` (autocast), ``compile`` (G, F, E) and combinations joined by ``+``.
Variants are interleaved over ``--rounds``; the table gives medians.

``--styles K`` (K > 1) adds two latent-guided columns that translate each batch with K styles,
as the evaluation (10 per source), sample grids, videos and folder translation do: ``K calls``
translates the images K times, ``encoded once`` encodes them once (``encode_sources``) and
decodes K times, as those tools now do. Same outputs; the ratio is what the shared encoding saves.

    python benchmarks/infer_speed.py --img-size 64 --batch 16 --dim-in 32 --max-conv-dim 256
    # one GPU, paper widths
    python benchmarks/infer_speed.py --img-size 256 --batch 32 --variants fp32,bf16,bf16+channels_last
    # the evaluation's 10 styles per source, encoded once against 10 times
    python benchmarks/infer_speed.py --img-size 256 --batch 8 --variants fp32 --styles 10
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import device_name, image_side, positive_int  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=64)
    p.add_argument("--batch", type=positive_int, default=16)
    p.add_argument("--num-domains", type=int, default=2)
    p.add_argument("--dim-in", type=int, default=None, help="None: the paper's 2**14 // img_size")
    p.add_argument("--max-conv-dim", type=int, default=512)
    p.add_argument("--style-dim", type=int, default=64)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--variants", default="fp32,channels_last,bf16")
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--iters", type=positive_int, default=5, help="timed batches per round and mode")
    p.add_argument("--device", type=device_name, default=None)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--styles", type=positive_int, default=1, help="K > 1: add the K-styles columns")
    return p.parse_args()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    from starganv2.models.stargan_v2.module import StarGANv2Module

    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    n, size = args.batch, args.img_size
    x = torch.rand(n, 3, size, size, device=device) * 2 - 1
    x_ref = torch.rand(n, 3, size, size, device=device) * 2 - 1
    y = torch.randint(0, args.num_domains, (n,), device=device)
    z = torch.randn(n, args.latent_dim, device=device)
    if args.styles < 1:
        raise SystemExit(f"--styles={args.styles}: expected >= 1")
    zs = torch.randn(args.styles, n, args.latent_dim, device=device)

    models = {}
    for name in names:
        parts = set(name.split("+"))
        bad = parts - {"fp32", "channels_last", "bf16", "compile"}
        if bad:
            raise SystemExit(f"--variants: unknown {sorted(bad)}")
        torch.manual_seed(0)
        m = StarGANv2Module(
            img_size=size,
            num_domains=args.num_domains,
            latent_dim=args.latent_dim,
            style_dim=args.style_dim,
            hidden_dim=args.hidden_dim,
            dim_in=args.dim_in,
            max_conv_dim=args.max_conv_dim,
            channels_last="channels_last" in parts,
        ).to(device)
        m.eval()
        if "compile" in parts:
            for net in m.nets_ema.values():
                net.compile()
        models[name] = (m, parts)

    def one(name: str, mode: str) -> None:
        m, parts = models[name]
        xs, refs = x, x_ref
        if "channels_last" in parts:
            xs = x.contiguous(memory_format=torch.channels_last)
            refs = x_ref.contiguous(memory_format=torch.channels_last)
        ctx = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if "bf16" in parts
            else contextlib.nullcontext()
        )
        with ctx:
            if mode == "latent":
                m.translate(xs, y, z=z)
            elif mode == "reference":
                m.translate(xs, y, x_ref=refs)
            else:  # K styles per source: the images each time, or encoded once
                src = m.encode_sources(xs) if mode == "encoded" else xs
                for z_k in zs:
                    m.translate(src, y, z=z_k)

    modes = ("latent", "reference") + (("k_calls", "encoded") if args.styles > 1 else ())
    per_call = {"latent": 1, "reference": 1, "k_calls": args.styles, "encoded": args.styles}
    for name in names:  # warm-up (and compilation) outside the timing
        for mode in modes:
            one(name, mode)
            one(name, mode)
    rates: dict[tuple[str, str], list[float]] = {(v, m): [] for v in names for m in modes}
    for _ in range(args.rounds):
        for name in names:
            for mode in modes:
                _sync(device)
                t0 = time.perf_counter()
                for _ in range(args.iters):
                    one(name, mode)
                _sync(device)
                images = n * per_call[mode] * args.iters
                rates[(name, mode)].append(images / (time.perf_counter() - t0))

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(
        f"device: {device.type} ({dev}), torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; img {size}, batch {n}, dim_in {args.dim_in}, max_conv_dim "
        f"{args.max_conv_dim}; {args.rounds} rounds x {args.iters} batches (median)"
    )
    k = args.styles
    heads = ["latent img/s", "reference img/s"]
    if k > 1:
        heads += [f"{k} styles, {k} calls img/s", f"{k} styles, encoded once img/s", "ratio"]
    print("| variant | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 1) + "|")
    for name in names:
        cells = [statistics.median(rates[(name, mode)]) for mode in modes]
        row = [f"{c:.1f}" for c in cells]
        if k > 1:
            ratios = [e / c for c, e in zip(rates[(name, "k_calls")], rates[(name, "encoded")])]
            row.append(f"{statistics.median(ratios):.2f}x")
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
