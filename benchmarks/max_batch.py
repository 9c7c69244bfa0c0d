"""The largest training batch per GPU memory size: one full StarGAN v2 iteration (the library's
``train_iteration``, fp32 or bf16 autocast) must fit under each memory cap.

Each cap is emulated on the one GPU at hand with ``torch.cuda.set_per_process_memory_fraction``
(a 24 GB, 40 GB or 80 GB card; GB of 10^9 bytes, as cards are sold); the batch is found by
doubling, then bisection. Run by hand:

    python benchmarks/max_batch.py --img-size 256 --caps-gb 24,40,80
    python benchmarks/max_batch.py --img-size 256 --caps-gb 24,40,80 --bf16 --channels-last
    python benchmarks/max_batch.py --device cpu --img-size 32 --dim-in 16 --max-conv-dim 32 \\
        --caps-gb 0.5 --max-batch 8        # a CPU smoke run (the cap is then not enforced)

Prints a table, a row per cap as it is found: cap, largest batch that ran, peak memory at that batch.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import device_name, image_side, positive_float, positive_int  # noqa: E402


def caps_list(text: str) -> list[float]:
    """``--caps-gb``'s comma list of memory caps, each > 0 (``argparse`` type): ``abc`` used to
    end in a traceback after the table's header was printed."""
    return [positive_float(c) for c in text.split(",")]


GB = 10**9
"""A gigabyte as cards are sold: an "80 GB" H100 has 85.5e9 bytes (79.6 GiB)."""


def cap_fraction(cap_gb: float, total_bytes: int) -> float | None:
    """The share of a GPU of ``total_bytes`` that a cap of ``cap_gb`` GB is, for
    ``set_per_process_memory_fraction``; ``None`` when the cap is larger than the GPU. The cap
    was taken in GiB, so on an 80 GB H100 the 80 cap was "larger than this GPU"."""
    share = cap_gb * GB / total_bytes
    return share if share <= 1 else None


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=256)
    p.add_argument("--num-domains", type=int, default=2)
    p.add_argument("--dim-in", type=int, default=None, help="None: the paper's 2**14 // img_size")
    p.add_argument("--max-conv-dim", type=int, default=512)
    p.add_argument("--caps-gb", type=caps_list, default="24,40,80")
    p.add_argument("--max-batch", type=positive_int, default=1024)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", type=device_name, default=None)
    return p.parse_args()


def fits(args: argparse.Namespace, batch: int, device: torch.device) -> tuple[bool, float]:
    """Whether one iteration at ``batch`` runs; and its peak memory in GiB (CUDA only)."""
    from starganv2.models.stargan_v2.module import OPTIMIZER_ORDER, StarGANv2Module
    from starganv2.models.stargan_v2.step import train_iteration

    model = None
    try:
        model = StarGANv2Module(
            img_size=args.img_size,
            num_domains=args.num_domains,
            dim_in=args.dim_in,
            max_conv_dim=args.max_conv_dim,
            channels_last=args.channels_last,
        ).to(device)
        opts = dict(zip(OPTIMIZER_ORDER, model.build_optimizers()))
        shape = (batch, 3, args.img_size, args.img_size)
        fmt = torch.channels_last if args.channels_last else torch.contiguous_format
        data = {
            k: (torch.rand(shape, device=device) * 2 - 1).contiguous(memory_format=fmt)
            for k in ("x_real", "x_ref", "x_ref2")
        }
        data["y_org"] = torch.randint(0, args.num_domains, (batch,), device=device)
        data["y_trg"] = torch.randint(0, args.num_domains, (batch,), device=device)
        z = (torch.randn(batch, 16, device=device), torch.randn(batch, 16, device=device))

        def update(loss: torch.Tensor, names: tuple[str, ...]) -> None:
            for o in opts.values():
                o.zero_grad(set_to_none=True)
            loss.backward()
            for n in names:
                opts[n].step()

        autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if args.bf16
            else contextlib.nullcontext()
        )
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with autocast:
            for _ in range(2):  # the second iteration has the Adam states too
                train_iteration(
                    model.online_nets(), data, z, model.loss_weights(), update, ema=model.nets_ema
                )
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
        return True, peak
    except torch.OutOfMemoryError:
        return False, 0.0
    finally:
        del model
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def largest(args: argparse.Namespace, device: torch.device) -> tuple[int, float]:
    """Doubling, then bisection between the last batch that ran and the first that did not."""
    good, peak, bad = 0, 0.0, None
    batch = 1
    while batch <= args.max_batch:
        ok, p = fits(args, batch, device)
        if not ok:
            bad = batch
            break
        good, peak = batch, p
        batch *= 2
    if bad is None:
        return good, peak
    while bad - good > 1:
        mid = (good + bad) // 2
        ok, p = fits(args, mid, device)
        if ok:
            good, peak = mid, p
        else:
            bad = mid
    return good, peak


def main() -> None:
    args = parse_args()
    if args.device is None and not torch.cuda.is_available():
        # the default 256 px sweep on the CPU doubles its batch up to --max-batch with no cap
        sys.exit(
            "max_batch.py: no CUDA device here; the caps emulate GPU memory, so give --device cpu "
            "for a CPU smoke run (small sizes, see --help)"
        )
    device = torch.device(args.device or "cuda")
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    mode = ("bf16" if args.bf16 else "fp32") + (" channels_last" if args.channels_last else "")
    print(
        f"device: {name}; img {args.img_size}, dim_in {args.dim_in}, max_conv_dim "
        f"{args.max_conv_dim}, {mode}, torch {torch.__version__}"
    )
    print("| memory cap (GB) | largest batch | peak GiB at that batch |")
    print("|---|---|---|", flush=True)
    for cap in args.caps_gb:  # a row as each is found
        if device.type == "cuda":
            share = cap_fraction(cap, total)
            if share is None:
                print(f"| {cap:g} | larger than this GPU | |", flush=True)
                continue
            torch.cuda.set_per_process_memory_fraction(share, device)
        batch, peak = largest(args, device)
        shown = f"{peak:.1f}" if device.type == "cuda" else "-"
        print(f"| {cap:g} | {batch} | {shown} |", flush=True)


if __name__ == "__main__":
    main()
