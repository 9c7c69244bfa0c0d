"""What the face masks cost: seconds per StarGAN v2 training iteration with and without them.

Variants, interleaved round by round in one run so a busy machine affects them alike:

- ``masks``: ``w_hpf=1`` with the FAN's masks (as CelebA-HQ trains: masks of the sources once
  per iteration, of each cycle fake in the two G updates: three FAN passes of the batch);
- ``no_masks``: ``w_hpf=1`` and no masks (the generator runs without its skip; what the library
  did before the FAN was wired);
- ``w_hpf0``: ``w_hpf=0`` (the AFHQ generator: one stage less, block shortcuts kept);
- and, for reference, ``fan``: the FAN's masks of one batch alone (``FAN.masks``).

Each iteration is the library's own ``train_iteration`` in a plain loop (``loss.backward()``,
the module's four Adams, its EMA), as ``benchmarks/train_speed.py``'s ``plain`` variant. The FAN
has random weights unless ``--fan wing.ckpt`` is given (the time does not depend on them).

    # this CPU: 64 px, small widths, batch 4, one thread, CPU-seconds clock (robust when shared)
    python benchmarks/mask_cost.py --img-size 64 --batch 4 --dim-in 32 --max-conv-dim 128 \\
        --threads 1 --clock cpu
    # one GPU, the paper's CelebA-HQ setting
    python benchmarks/mask_cost.py --img-size 256 --batch 8 --dim-in 64 --max-conv-dim 512
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from starganv2.faces.fan import FAN
from starganv2.models.stargan_v2.module import OPTIMIZER_ORDER, StarGANv2Module
from starganv2.models.stargan_v2.step import train_iteration

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import device_name, image_side, non_negative_int, positive_int  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=64)
    p.add_argument("--batch", type=positive_int, default=4)
    p.add_argument("--dim-in", type=int, default=32)
    p.add_argument("--max-conv-dim", type=int, default=128)
    p.add_argument("--style-dim", type=int, default=64)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--variants", default="masks,no_masks,w_hpf0,fan")
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--iters", type=positive_int, default=2, help="timed iterations per round")
    p.add_argument(
        "--warmup", type=non_negative_int, default=1, help="untimed iterations per round"
    )
    p.add_argument("--fan", default=None, help="wing.ckpt (default: random weights)")
    p.add_argument(
        "--device",
        type=device_name,
        default=None,
        help="cpu, cuda, ... (default: cuda if available)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: process seconds")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(args: argparse.Namespace, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, 3, args.img_size, args.img_size)
    batch = {k: torch.rand(shape, generator=g) * 2 - 1 for k in ("x_real", "x_ref", "x_ref2")}
    batch["y_org"] = torch.randint(0, 2, (args.batch,), generator=g)
    batch["y_trg"] = torch.randint(0, 2, (args.batch,), generator=g)
    return {k: v.to(device) for k, v in batch.items()}


def _step(
    args: argparse.Namespace, device: torch.device, w_hpf: float, masks: bool, fan_path: str
) -> Callable[[], None]:
    """One training iteration of a fresh module with these settings, as a callable."""
    torch.manual_seed(args.seed)
    module = StarGANv2Module(
        img_size=args.img_size,
        num_domains=2,
        style_dim=args.style_dim,
        hidden_dim=args.hidden_dim,
        dim_in=args.dim_in,
        max_conv_dim=args.max_conv_dim,
        w_hpf=w_hpf,
        fan_weights=fan_path if w_hpf > 0 else None,
    ).to(device)
    opts = dict(zip(OPTIMIZER_ORDER, module.build_optimizers()))
    batch = _batch(args, device)
    z = (torch.randn(args.batch, 16, device=device), torch.randn(args.batch, 16, device=device))

    def update(loss: torch.Tensor, names: tuple[str, ...]) -> None:
        for opt in opts.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for name in names:
            opts[name].step()

    def run() -> None:
        train_iteration(
            module.online_nets(),
            batch,
            z,
            module.loss_weights(),
            update,
            ema=module.nets_ema,
            ema_beta=0.999,
            mask_fn=module.fan.masks if masks else None,
        )

    return run


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        fan_path = args.fan
        if fan_path is None:
            fan_path = str(Path(tmp) / "random_wing.ckpt")
            torch.save({"state_dict": FAN().state_dict()}, fan_path)
        settings = {"masks": (1.0, True), "no_masks": (1.0, False), "w_hpf0": (0.0, False)}
        runs: dict[str, Callable[[], None]] = {}
        for name in names:
            if name == "fan":
                fan = FAN.from_file(fan_path).to(device)
                x = _batch(args, device)["x_real"]
                runs[name] = lambda fan=fan, x=x: fan.masks(x)
            elif name in settings:
                runs[name] = _step(args, device, *settings[name], fan_path)
            else:
                sys.exit(f"unknown variant {name!r}; known: {[*settings, 'fan']}")
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.rounds):
            for name in names:
                for _ in range(args.warmup):
                    runs[name]()
                _sync(device)
                start = clock()
                for _ in range(args.iters):
                    runs[name]()
                _sync(device)
                times[name].append((clock() - start) / args.iters)
    base = statistics.median(times[names[0]])
    sys.stdout.write(
        f"{args.img_size} px, batch {args.batch}, widths {args.dim_in}/{args.max_conv_dim}, "
        f"{device}, {torch.get_num_threads()} thread(s), {args.clock} clock, {args.rounds} rounds "
        f"x {args.iters} iterations\n"
        f"{'variant':<10} {'s/iter (median)':>16} {'rounds':>24} {'/ ' + names[0]:>10}\n"
    )
    for name in names:
        med = statistics.median(times[name])
        rounds = " ".join(f"{t:.3f}" for t in times[name])
        sys.stdout.write(f"{name:<10} {med:>16.3f} {rounds:>24} {med / base:>10.2f}\n")


if __name__ == "__main__":
    main()
