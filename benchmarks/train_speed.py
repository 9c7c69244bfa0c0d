"""Training speed: seconds per StarGAN v2 iteration and peak memory, per speed setting.

Variants (``--variants``, comma-separated):

- ``original``: the comparator, ``benchmarks/original_iteration.py``: the work the original code
  does, in its order (the D updates' fakes without a graph, the second fake of the diversity term
  built with a graph then detached, every net's weight gradients, plain Adam, the EMA as a loop
  over parameters), with the library's nets and math but the original's layers
  (``original_layers``: torch's instance norm and pooling, and each 3x3 conv apart from the
  pooling after it or the upsampling before it), as a plain loop. The reference of the ratios
  (``--baseline``).
- ``eager``: Lightning, float32, eager: the library's training step as ``starganv2-train`` runs it.
- ``plain``: the same iteration as a plain PyTorch loop without Lightning: the module's own
  ``train_iteration`` (same nets, loss weights, update order, optimizers, EMA) with
  ``loss.backward()``, to show the framework overhead (``eager / plain``).
- ``channels_last``, ``compile`` (G, F, E), ``bf16`` (bf16-mixed autocast), ``fp16`` (16-mixed
  with GradScaler; GPU), and combinations joined by ``+``, e.g. ``bf16+channels_last+compile``.
- ``plain_bf16``: the plain loop under bf16 autocast.
- ``+cudnn_benchmark`` (e.g. ``eager+cudnn_benchmark``): cuDNN picks each conv's algorithm by
  timing the candidates (``torch.backends.cudnn.benchmark``; ``trainer.benchmark=true`` in the
  configs), set for this variant's runs only and restored after them. GPU only in effect.
- ``plain+noreuse``: the plain loop without ``reuse_latent_fake``; ``plain+r1everyK``: lazy R1
  every K-th D update (K = 2, 4, 8, 16; changes the math). Both are options of the module.
- ``+nocyc``: ``lambda_cyc=0`` (an ablation; changes the math): the cycle term is then computed
  for its logged value only, without a graph, so what that saves shows against ``plain``.
- ``+torchlayers`` (e.g. ``plain+torchlayers``): the original's layers (``original_layers``, as
  the comparator has: torch's ``nn.InstanceNorm2d`` and ``F.avg_pool2d``, and no conv fused
  with the resampling beside it) instead of the library's: what the layers save, apart from
  the work the step skips.

Variants are interleaved round by round (``--rounds``) so a noisy, shared machine affects them
alike; each round times ``--iters`` iterations after ``--warmup`` untimed ones. The table gives
the median seconds per iteration and the median of the per-round ratios to ``--baseline``
(default ``original``).

    # this CPU (2 cores), 64 px, small widths
    python benchmarks/train_speed.py --img-size 64 --batch 8 --dim-in 32 --max-conv-dim 256
    # one GPU, the paper's setting (256 px, batch 8, paper widths)
    python benchmarks/train_speed.py --img-size 256 --batch 8 \\
        --variants original,eager,plain,channels_last,bf16,bf16+channels_last,bf16+channels_last+compile

Allocator (``--malloc``): on Linux the process keeps freed memory for reuse by default, as
``starganv2-train`` does (``keep_freed_memory``); ``--malloc default`` leaves glibc's policy, which
hands large blocks back to the kernel after every use, so each iteration faults their pages in
again (at 64 px, batch 8 and the paper's widths a fifth of the CPU time was system time). Both
apply to all variants of a run alike.

Peak memory: per variant on CUDA (``max_memory_allocated``); on the CPU the process's peak
resident set (all variants together) is printed below the table.

``--profile N`` then profiles ``--iters`` iterations of every variant with ``torch.profiler``
(after the timed rounds, so the timings are not affected) and prints the N operators whose self
time differs most between the variants, side by side, in milliseconds per iteration (self CPU
time, or self CUDA time on a GPU), with each variant's total and its number of operator calls::

    # where our iteration and the comparator's differ at 64 px
    python benchmarks/train_speed.py --img-size 64 --batch 2 --max-conv-dim 128 --threads 1 \\
        --variants original,plain --profile 25

``--count`` then counts one iteration of every variant at the dispatcher: floating-point
operations by torch's formulas (convolutions, matrix products and their gradients), operator
calls, and the FLOP rate that the measured seconds per iteration give::

    python benchmarks/train_speed.py --img-size 256 --batch 8 --variants original,plain --count
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the comparator, original_iteration
from _args import device_name, image_side, non_negative_int, positive_int  # noqa: E402
from original_iteration import (  # noqa: E402
    original_iteration,
    original_layers,
    original_optimizers,
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=64)
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--num-domains", type=int, default=2)
    p.add_argument("--dim-in", type=int, default=None, help="None: the paper's 2**14 // img_size")
    p.add_argument("--max-conv-dim", type=int, default=512)
    p.add_argument("--style-dim", type=int, default=64)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument(
        "--variants", default="original,eager,plain,channels_last,bf16,compile,bf16+compile"
    )
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--iters", type=positive_int, default=3, help="timed iterations per round")
    p.add_argument(
        "--warmup", type=non_negative_int, default=1, help="untimed iterations per round"
    )
    p.add_argument(
        "--device",
        type=device_name,
        default=None,
        help="cpu, cuda, ... (default: cuda if available)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed seconds; cpu: this process's CPU seconds (with --threads 1, robust "
        "to other jobs on a shared machine: the work done, not the waiting)",
    )
    p.add_argument(
        "--baseline",
        default="original",
        help="the variant the ratios are taken to (default original, the comparator; e.g. eager)",
    )
    p.add_argument(
        "--malloc",
        choices=["keep", "default"],
        default="keep",
        help="keep: glibc keeps freed memory for reuse, as starganv2-train does by default "
        "(keep_freed_memory); default: glibc's own policy. For the whole process, so every "
        "variant (the comparator too) runs under the same allocator",
    )
    p.add_argument(
        "--profile",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="after timing, print the N operators whose self time differs most between variants",
    )
    p.add_argument(
        "--count",
        action="store_true",
        help="after timing, count one iteration of each variant: floating-point operations "
        "(torch's FLOP formulas: convolutions, matrix products, their gradients), operator calls, "
        "and the FLOP rate that the measured s/iter gives",
    )
    return p.parse_args()


CLOCK = time.perf_counter


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_batches(args: argparse.Namespace, n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, 3, args.img_size, args.img_size)
    out = []
    for _ in range(n):
        out.append(
            {
                "x_real": torch.rand(shape, generator=g) * 2 - 1,
                "y_org": torch.randint(0, args.num_domains, (args.batch,), generator=g),
                "x_ref": torch.rand(shape, generator=g) * 2 - 1,
                "x_ref2": torch.rand(shape, generator=g) * 2 - 1,
                "y_trg": torch.randint(0, args.num_domains, (args.batch,), generator=g),
            }
        )
    return out


class Variant:
    """One setting; keeps its module (and compiled graphs) across rounds."""

    def __init__(self, name: str, args: argparse.Namespace, device: torch.device):
        from starganv2.models.stargan_v2.module import StarGANv2Module

        self.name, self.args, self.device = name, args, device
        parts = set(name.split("+"))
        known = {"eager", "plain", "plain_bf16", "channels_last", "compile", "bf16", "fp16"}
        known |= {"original", "noreuse", "torchlayers", "cudnn_benchmark"}
        known |= {f"r1every{k}" for k in (2, 4, 8, 16)} | {"nocyc"}
        if parts - known:
            raise SystemExit(
                f"--variants: unknown {sorted(parts - known)}; expected {sorted(known)}"
            )
        self.plain = bool(parts & {"plain", "plain_bf16", "original"})
        self.original = "original" in parts  # the comparator: the original's work order
        self.cudnn_benchmark = "cudnn_benchmark" in parts
        r1 = [int(p[len("r1every") :]) for p in parts if p.startswith("r1every")]
        if self.original and (r1 or parts & {"compile", "noreuse", "nocyc"}):
            raise SystemExit(
                f"--variants: {name!r}: the original has no lazy R1, reuse, compile or nocyc"
            )
        self.precision = (
            "bf16-mixed"
            if parts & {"bf16", "plain_bf16"}
            else "16-mixed"
            if "fp16" in parts
            else "32-true"
        )
        torch.manual_seed(args.seed)
        self.model = StarGANv2Module(
            img_size=args.img_size,
            num_domains=args.num_domains,
            latent_dim=args.latent_dim,
            style_dim=args.style_dim,
            hidden_dim=args.hidden_dim,
            dim_in=args.dim_in,
            max_conv_dim=args.max_conv_dim,
            total_iters=10**9,
            finite_check_every=10**6,
            channels_last="channels_last" in parts,
            compile_nets=["generator", "mapping_network", "style_encoder"]
            if "compile" in parts
            else None,
            reuse_latent_fake="noreuse" not in parts,
            r1_every=r1[0] if r1 else 1,
            lambda_cyc=0.0 if "nocyc" in parts else 1.0,
        )
        if parts & {"original", "torchlayers"}:
            for net in self.model.online_nets():
                original_layers(net)  # nn.InstanceNorm2d and F.avg_pool2d, as the original
        self.times: list[float] = []
        self.peak_mb: float | None = None
        if self.plain:
            self._setup_plain()

    # -------------------------------------------------------------- Lightning
    def _run_lightning(self, n_warm: int, n_timed: int, batches: list) -> float:
        import lightning as L
        from torch.utils.data import DataLoader

        class Timer(L.Callback):
            t0 = t1 = None

            def on_train_batch_start(cb, trainer, pl_module, batch, batch_idx):
                if batch_idx == n_warm:
                    _sync(self.device)
                    cb.t0 = CLOCK()

            def on_train_batch_end(cb, trainer, pl_module, outputs, batch, batch_idx):
                if batch_idx == n_warm + n_timed - 1:
                    _sync(self.device)
                    cb.t1 = CLOCK()

        timer = Timer()
        self.model.hparams.total_iters = self.model.iteration + n_warm + n_timed
        trainer = L.Trainer(
            accelerator=self.device.type,
            devices=1,
            precision=self.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            max_epochs=-1,
            log_every_n_steps=50,
            use_distributed_sampler=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            benchmark=self.cudnn_benchmark,
            callbacks=[timer],
        )
        trainer.fit(self.model, train_dataloaders=DataLoader(batches, batch_size=None))
        return (timer.t1 - timer.t0) / n_timed

    # -------------------------------------------------------------- plain PyTorch
    def _setup_plain(self) -> None:
        m = self.model.to(self.device)
        m.train()
        for net in m.nets_ema.values():
            net.eval()
        if self.original:
            hp = m.hparams
            self.optimizers = original_optimizers(
                m.online_nets(), hp.lr, hp.f_lr, (hp.beta1, hp.beta2), hp.weight_decay
            )
        else:
            from starganv2.models.stargan_v2.module import OPTIMIZER_ORDER

            self.optimizers = dict(zip(OPTIMIZER_ORDER, m.build_optimizers()))

    def _plain_step(self, batch: dict[str, torch.Tensor]) -> None:
        """One iteration without Lightning: the module's own ``train_iteration`` (same losses,
        weights, update order and EMA), with ``loss.backward()`` and ``opt.step()``; or, for the
        ``original`` variant, the comparator's ``original_iteration``. The batch is copied first
        (a data loader's batch is new each iteration, and the comparator marks its sources as
        requiring gradients)."""
        from starganv2.models.stargan_v2.step import train_iteration

        m, hp = self.model, self.model.hparams
        batch = {k: v.to(self.device, non_blocking=True, copy=True) for k, v in batch.items()}
        n = batch["x_real"].size(0)
        z_trgs = (
            torch.randn(n, hp.latent_dim, device=self.device),
            torch.randn(n, hp.latent_dim, device=self.device),
        )
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.precision == "bf16-mixed"
            else contextlib.nullcontext()
        )

        def update(loss: torch.Tensor, names: tuple[str, ...]) -> None:
            for opt in self.optimizers.values():
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for name in names:
                self.optimizers[name].step()

        with autocast:
            if self.original:
                original_iteration(
                    m.online_nets(),
                    self.optimizers,
                    batch,
                    z_trgs,
                    m.loss_weights(),
                    ema=m.nets_ema,
                    ema_beta=hp.ema_beta,
                )
            else:
                train_iteration(
                    m.online_nets(),
                    batch,
                    z_trgs,
                    m.loss_weights(),
                    update,
                    ema=m.nets_ema,
                    ema_beta=hp.ema_beta,
                    iteration=m.iteration,
                    reuse_latent_fake=hp.reuse_latent_fake,
                )
        m.iteration += 1

    def _run_plain(self, n_warm: int, n_timed: int, batches: list) -> float:
        for b in batches[:n_warm]:
            self._plain_step(b)
        _sync(self.device)
        t0 = CLOCK()
        for b in batches[n_warm : n_warm + n_timed]:
            self._plain_step(b)
        _sync(self.device)
        return (CLOCK() - t0) / n_timed

    # --------------------------------------------------------------
    def run(self, n_warm: int, n_timed: int, batches: list) -> float:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        run: Callable = self._run_plain if self.plain else self._run_lightning
        before = torch.backends.cudnn.benchmark  # a global: this variant's setting, then back
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        try:
            sec = run(n_warm, n_timed, batches)
        finally:
            torch.backends.cudnn.benchmark = before
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.peak_mb = max(self.peak_mb or 0.0, peak)
        return sec


def main() -> None:
    args = parse_args()
    import logging
    import warnings

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.malloc == "keep":
        from starganv2.utils.malloc import keep_freed_memory

        keep_freed_memory()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    global CLOCK
    if args.clock == "cpu":
        if device.type == "cuda":
            raise SystemExit("--clock cpu measures CPU work: use it on the CPU")
        CLOCK = time.process_time
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    base = args.baseline
    if base not in names:
        names.insert(0, base)
    batches = make_batches(args, args.warmup + args.iters)

    variants = {}
    for name in names:
        v = Variant(name, args, device)
        if "compile" in name:  # compile outside the timed rounds
            t0 = time.perf_counter()
            v.run(2, 1, batches[:3] if len(batches) >= 3 else batches * 3)
            print(f"[{name}] compile warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        variants[name] = v
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        row = {}
        for name in names:
            row[name] = variants[name].run(args.warmup, args.iters, batches)
            variants[name].times.append(row[name])
        for name in names:
            ratios[name].append(row[name] / row[base])
        print(f"round {r + 1}: " + ", ".join(f"{n} {s:.3f}s" for n, s in row.items()), flush=True)

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print()
    print(
        f"device: {device.type} ({dev or platform.machine()}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}; img {args.img_size}, batch {args.batch}, "
        f"dim_in {args.dim_in}, max_conv_dim {args.max_conv_dim}; {args.rounds} rounds x "
        f"{args.iters} iters (median); clock {args.clock}; malloc {args.malloc}"
    )
    print(f"| variant | s/iter | x {base} (time) | speed-up | peak MiB |")
    print("|---|---|---|---|---|")
    for name in names:
        sec = statistics.median(variants[name].times)
        ratio = statistics.median(ratios[name])
        peak = f"{variants[name].peak_mb:.0f}" if variants[name].peak_mb is not None else "-"
        print(f"| {name} | {sec:.3f} | {ratio:.3f} | {1 / ratio:.2f}x | {peak} |")
    if device.type != "cuda":
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory of the process (all variants): {rss:.0f} MiB")
    if args.profile:
        print_profile(variants, args, batches, device)
    if args.count:
        counts = {name: count_ops(v, batches) for name, v in variants.items()}
        print()
        print("| variant | TFLOP per iteration | operator calls | TFLOP/s at the measured s/iter |")
        print("|---|---|---|---|")
        for name, (flops, calls) in counts.items():
            rate = flops / 1e12 / statistics.median(variants[name].times)
            print(f"| {name} | {flops / 1e12:.4f} | {calls} | {rate:.2f} |")


def profile_ops(
    variant: Variant, args: argparse.Namespace, batches: list, device: torch.device
) -> tuple[dict[str, float], dict[str, int]]:
    """Self time (ms per iteration) and calls per iteration of each operator over ``--iters``
    iterations of ``variant`` (after two unprofiled ones, so no first-call work is counted)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    variant.run(1, 1, batches)
    with profile(activities=activities) as prof:
        variant.run(0, args.iters, batches)
    ms: dict[str, float] = {}
    calls: dict[str, int] = {}
    for e in prof.key_averages():
        us = e.self_device_time_total if device.type == "cuda" else e.self_cpu_time_total
        ms[e.key] = us / 1000 / args.iters
        calls[e.key] = round(e.count / args.iters)
    return ms, calls


def count_ops(variant: Variant, batches: list) -> tuple[int, int]:
    """Floating-point operations and aten operator calls of one iteration of ``variant``, counted
    at the dispatcher (so the backward passes, R1's double backward and the optimizers are in):
    FLOPs by torch's own formulas (``torch.utils.flop_counter``: convolutions, matrix products
    and their gradients; elementwise work is not counted). Not ``FlopCounterMode`` itself: its
    module tracking fails inside R1's ``autograd.grad`` (torch 2.14), and it counts no calls."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        flops = calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            self.calls += 1
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.flops += formula(*args, **kwargs, out_val=out)
            return out

    counter = Count()
    with counter:
        variant.run(0, 1, batches)
    return counter.flops, counter.calls


def print_profile(
    variants: dict[str, Variant], args: argparse.Namespace, batches: list, device: torch.device
) -> None:
    """The per-operator table of ``--profile`` (see the module docstring)."""
    names = list(variants)
    prof = {n: profile_ops(variants[n], args, batches, device) for n in names}
    ops = set().union(*(ms for ms, _ in prof.values()))

    def spread(op: str) -> float:
        values = [prof[n][0].get(op, 0.0) for n in names]
        return max(values) - min(values)

    top = sorted(ops, key=spread, reverse=True)[: args.profile]
    print()
    print(f"per-operator self time, ms per iteration ({args.iters} iterations profiled)")
    print("| operator | " + " | ".join(f"{n} ms (calls)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for op in top:
        cells = [f"{prof[n][0].get(op, 0.0):.1f} ({prof[n][1].get(op, 0)})" for n in names]
        print(f"| {op} | " + " | ".join(cells) + " |")
    totals = [f"{sum(prof[n][0].values()):.1f} ({sum(prof[n][1].values())})" for n in names]
    print("| **all operators** | " + " | ".join(totals) + " |")


if __name__ == "__main__":
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        main()
    except SIGTERMException:  # a SystemExit with status 0: say it, and do not report success
        print(
            "stopped by SIGTERM (Lightning first ends the iteration in progress)", file=sys.stderr
        )
        sys.exit(128 + 15)
