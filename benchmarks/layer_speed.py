"""The two CPU layers of ``starganv2.models.stargan_v2.fast_layers`` against torch's.

For each shape: milliseconds per call of torch's ``nn.InstanceNorm2d`` (affine) and of the
library's ``InstanceNorm2d`` (forward and backward), of ``F.avg_pool2d(x, 2)`` and of
``avg_pool_2x2`` (forward; forward and backward), interleaved over ``--rounds`` (medians), and the largest
difference of their outputs.

    python benchmarks/layer_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import positive_int  # noqa: E402

SHAPES = ((2, 64, 64, 64), (2, 128, 32, 32), (8, 64, 64, 64), (1, 64, 256, 256))


def _ms(fn: Callable[[], object], calls: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e3


def _row(shape: tuple[int, ...], rounds: int, calls: int) -> str:
    """One table row: the layers' timings at ``shape``, interleaved over ``rounds``."""
    from starganv2.models.stargan_v2.fast_layers import InstanceNorm2d, avg_pool_2x2

    torch.manual_seed(0)
    c = shape[1]
    x = torch.randn(shape, requires_grad=True)
    g = torch.randn(shape)
    theirs, ours = nn.InstanceNorm2d(c, affine=True), InstanceNorm2d(c, affine=True)
    pooled = F.avg_pool2d(x, 2)
    gp = torch.randn_like(pooled)

    def norm(layer: nn.Module) -> Callable[[], None]:
        return lambda: layer(x).backward(g)

    def pool_bwd(pool: Callable) -> Callable[[], object]:
        return lambda: torch.autograd.grad(pool(x), x, gp)

    cases = {
        "norm_torch": norm(theirs),
        "norm_ours": norm(ours),
        "pool_torch": lambda: F.avg_pool2d(x.detach(), 2),
        "pool_ours": lambda: avg_pool_2x2(x.detach()),
        "pool_bwd_torch": pool_bwd(lambda t: F.avg_pool2d(t, 2)),
        "pool_bwd_ours": pool_bwd(avg_pool_2x2),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            times[k].append(_ms(fn, calls))
    med = {k: statistics.median(v) for k, v in times.items()}
    with torch.no_grad():
        diff = (theirs(x) - ours(x)).abs().max().item()
        same = torch.equal(avg_pool_2x2(x), pooled)
    return (
        f"| {shape} | {med['norm_torch']:.3f} | {med['norm_ours']:.3f} | {diff:.1e} | "
        f"{med['pool_torch']:.3f} | {med['pool_ours']:.3f} | {med['pool_bwd_torch']:.3f} | "
        f"{med['pool_bwd_ours']:.3f} | {same} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--rounds", type=positive_int, default=5)
    p.add_argument("--calls", type=positive_int, default=20)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; ms per call, median")
    print(
        "| shape | instance norm fwd+bwd: torch | ours | max diff | pool fwd: torch | ours |"
        " pool fwd+bwd: torch | ours | equal |"
    )
    print("|---" * 9 + "|")
    for shape in SHAPES:
        print(_row(shape, args.rounds, args.calls))


if __name__ == "__main__":
    main()
