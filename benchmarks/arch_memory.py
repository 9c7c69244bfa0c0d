"""Peak memory of one generator forward + backward for each skip option (docs/ablations.md).

Each (option, batch) runs in a fresh subprocess, so every figure starts from the same empty
process: the paper's generator at ``--img-size`` (widths ``2**14 // img_size`` up to 512,
style 64), random images, styles and (for ``highpass``) masks, one forward, ``out.square().mean()``
backward. ``saved`` is the size of every tensor autograd keeps for the backward pass (unique
storages, counted with ``saved_tensors_hooks``): the activation memory, the same on every device.
``peak``: on the CPU the growth of the process's peak resident set over what it
held once the net and inputs were built (activations kept for the backward, gradients,
temporaries); on CUDA the peak allocated device memory minus the allocation before the forward.

Options: ``none`` (AFHQ generator), ``highpass`` (CelebA-HQ generator with masks), ``hpf_layout``
(its layout without the skip), ``attention``, ``cross_attention`` (at 32 and 64 px). (Version
0.2 also measured the attention blocks with the map stored by the math kernel, by replacing the
library's attention function from here; the library has no such option, and a benchmark does
not patch the library, so those rows in docs/ablations.md are that version's.)

::

    python benchmarks/arch_memory.py --img-size 256 --batch 1,2 --threads 1   # CPU, this machine
    python benchmarks/arch_memory.py --img-size 256 --batch 8 --device cuda     # a GPU

Prints a table and, with ``--json``, writes the rows there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import device_name, image_side, int_list  # noqa: E402

from starganv2.utils.files import atomic_write_text  # noqa: E402

OPTIONS = (
    "none",
    "highpass",
    "hpf_layout",
    "attention",
    "cross_attention",
)


def _rss_now_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def measure(option: str, img_size: int, batch: int, device: str) -> dict[str, float]:
    """One forward + backward of the generator of ``option``; memory figures in GiB."""
    import torch

    from starganv2.models.stargan_v2.nets import Generator, he_init

    skip = option
    kw: dict = {"w_hpf": 1.0 if skip == "highpass" else 0.0}
    if skip in ("attention", "cross_attention"):
        kw["skip"] = skip
    if skip == "hpf_layout":
        kw.update(extra_stage=True, decoder_shortcut=False)
    dev = torch.device(device)
    torch.manual_seed(0)
    g = Generator(img_size=img_size, style_dim=64, max_conv_dim=512, **kw).to(dev)
    g.apply(he_init)
    for block in getattr(g, "attn", {}).values():  # a trained block: the attention is in use
        torch.nn.init.constant_(block.gamma, 0.5)
    x = torch.randn(batch, 3, img_size, img_size, device=dev)
    s = torch.randn(batch, 64, device=dev)
    masks = None
    if skip == "highpass":
        masks = tuple(torch.rand(batch, 1, img_size, img_size, device=dev) for _ in range(2))
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_now_gb()
    start = time.perf_counter()
    saved: dict[int, int] = {}  # storage -> bytes of every tensor autograd keeps for backward

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = g(x, s, masks=masks)
    out.square().mean().backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 - base
    return {
        "option": option,
        "img_size": img_size,
        "batch": batch,
        "device": device,
        "params_m": round(sum(p.numel() for p in g.parameters()) / 1e6, 3),
        "peak_gb": round(peak, 3),
        "saved_gb": round(sum(saved.values()) / 2**30, 3),
        "seconds": round(time.perf_counter() - start, 2),
    }


def parse_batches(text: str) -> list[int]:
    """``--batch``: a comma list of integers >= 1 (a one-line error otherwise)."""
    return int_list(text, "--batch", 1, "4,8")


def check_arguments(args: argparse.Namespace) -> list[int]:
    """The batch sizes; every option and the ``--json`` file checked before the first (slow)
    measurement, so a typo is not found after minutes of work."""
    batches = parse_batches(args.batch)
    for option in args.options.split(","):
        if option not in OPTIONS:
            raise SystemExit(f"--options: unknown {option!r}; expected names from {OPTIONS}")
    if args.json and Path(args.json).is_dir():
        raise SystemExit(f"--json {args.json} is a folder: pass a file name for the rows")
    return batches


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=256)
    p.add_argument("--batch", default="8", help="comma list of batch sizes")
    p.add_argument("--options", default=",".join(OPTIONS))
    p.add_argument("--device", type=device_name, default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the rows to this file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        import torch

        torch.set_num_threads(args.threads)
        option, batch = args.worker.split(":")
        print(json.dumps(measure(option, args.img_size, int(batch), args.device)))
        return
    batches = check_arguments(args)
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for batch in batches:
        for option in args.options.split(","):
            cmd = [sys.executable, __file__, "--img-size", str(args.img_size), "--device"]
            cmd += [args.device, "--threads", str(args.threads), "--worker", f"{option}:{batch}"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    head = ("option", "batch", "params (M)", "peak (GiB)", "saved (GiB)", "seconds")
    print("\n" + "".join(f"{h:>13}" for h in head))
    for r in rows:
        cells = ("option", "batch", "params_m", "peak_gb", "saved_gb", "seconds")
        print("".join(f"{r[c]:>13}" for c in cells))
    if args.json:
        print(f"rows: {atomic_write_text(args.json, json.dumps(rows, indent=1))}")


if __name__ == "__main__":
    main()
