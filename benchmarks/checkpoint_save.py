"""Host memory, time and temporary-folder use of one checkpoint save: Lightning's
``TorchCheckpointIO`` against the library's ``FileCheckpointIO`` (what ``starganv2-train`` uses).

The checkpoint is what a StarGAN v2 run at ``--img-size`` with the paper's widths writes: the
module's state dict (online and EMA nets) and Adam's two moments for every online parameter.
Each method runs in a fresh subprocess: ``extra peak`` is the growth of the process's peak
resident set over what it held once the checkpoint was built (the copies a save makes in
memory); ``temp`` is the largest size the system's temporary folder (a folder of its own here,
through ``TMPDIR``) reached during the save, sampled every 10 ms; ``s`` the save's wall time.

::

    python benchmarks/checkpoint_save.py --img-size 256 --out /tmp/ckpt_bench   # paper size
    python benchmarks/checkpoint_save.py --img-size 32 --dim-in 16 --max-conv-dim 32 \\
        --out /tmp/ckpt_bench                                                    # a smoke run

Prints a table, a row per method.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import image_side, positive_int  # noqa: E402

METHODS = ("lightning", "file")


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:  # moved or removed while counted
                pass
    return total


def checkpoint(img_size: int, widths: dict[str, int]) -> dict:
    """The state a run at ``img_size`` saves (the module's default widths, the paper's, unless
    ``widths`` says otherwise): nets, EMA nets, Adam moments."""
    import torch

    from starganv2.models.stargan_v2.module import StarGANv2Module

    module = StarGANv2Module(img_size=img_size, num_domains=2, **widths)
    moments = {
        i: {
            "step": torch.tensor(1.0),
            "exp_avg": p.detach().clone(),
            "exp_avg_sq": p.detach().clone(),
        }
        for i, p in enumerate(module.parameters())
        if p.requires_grad
    }
    return {"state_dict": module.state_dict(), "optimizer_states": [{"state": moments}]}


def measure(method: str, img_size: int, widths: dict[str, int], out: Path) -> dict:
    """One save by ``method`` into ``out``, in this process (a fresh subprocess)."""
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    from starganv2.utils.checkpoint_io import FileCheckpointIO

    state = checkpoint(img_size, widths)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    temp = Path(os.environ["TMPDIR"])
    peak_temp, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak_temp[0] = max(peak_temp[0], _folder_bytes(temp))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    io = TorchCheckpointIO() if method == "lightning" else FileCheckpointIO()
    path = out / f"{method}.ckpt"
    start = time.perf_counter()
    io.save_checkpoint(state, path)
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "method": method,
        "file_GB": path.stat().st_size / 1e9,
        "extra_peak_GB": (peak - base) / 1e9,
        "temp_GB": peak_temp[0] / 1e9,
        "s": seconds,
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=256)
    p.add_argument("--dim-in", type=positive_int, default=None, help="default: the module's (64)")
    p.add_argument("--max-conv-dim", type=positive_int, default=None, help="default: 512")
    p.add_argument("--out", required=True, help="folder for the checkpoints (emptied first)")
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)  # the subprocess's
    return p.parse_args()


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    widths = {k: getattr(args, k) for k in ("dim_in", "max_conv_dim") if getattr(args, k)}
    if args.method:  # one measurement, printed as JSON for the parent
        print(json.dumps(measure(args.method, args.img_size, widths, out)))
        return
    shutil.rmtree(out, ignore_errors=True)
    print(f"img_size {args.img_size}, widths {widths or 'of the paper'}; a fresh process each")
    print("| method | file GB | extra peak GB (host memory) | temp folder GB | s |")
    print("|---|---|---|---|---|", flush=True)
    for method in METHODS:
        temp = out / f"tmp-{method}"
        temp.mkdir(parents=True)
        env = {**os.environ, "TMPDIR": str(temp)}
        cmd = [sys.executable, __file__, "--img-size", str(args.img_size), "--out", str(out)]
        cmd += [f"--{k.replace('_', '-')}={v}" for k, v in widths.items()]
        proc = subprocess.run(
            [*cmd, "--method", method], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            sys.exit(f"{method}: the save failed:\n{proc.stderr[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"| {method} | {row['file_GB']:.3f} | {row['extra_peak_GB']:.3f} | "
            f"{row['temp_GB']:.3f} | {row['s']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
