"""Demo latency: how long the browser demo takes to answer one translation.

Builds a StarGAN v2 model at the paper's widths (256 px by default; random weights: the time does
not depend on them), saves it as a checkpoint, loads it as ``starganv2-demo`` does, serves the
page (:func:`starganv2.synthesis.demo.app.build_app`) on 127.0.0.1 and times:

- ``engine``: the function behind the page's Translate button (fit, style, generator, mapping
  back to the source's size), the figure the page prints;
- ``api``: the whole round trip of the ``translate`` endpoint from ``gradio_client`` with only an
  image (upload, decode, translate, PNG encode, download): what a user waits for.

Medians over ``--rounds`` after one warm-up, in wall seconds and in CPU seconds of this process
(server and client threads included): on a busy machine the wall time grows with the load, the CPU
time much less, and on an idle one the wall time is about the CPU time divided by the threads used.
The load average is printed before and after.

    python benchmarks/demo_latency.py                     # 256 px, 640x480 source, 1 and 4 styles
    python benchmarks/demo_latency.py --img-size 64 --dim-in 32 --max-conv-dim 256
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _args module
from _args import image_side, int_list, positive_int  # noqa: E402


def picture_size(text: str) -> tuple[int, int]:
    """``--source`` ``WIDTHxHEIGHT``, both >= 1 (``argparse`` type): ``640`` used to end in an
    unpacking traceback."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected WIDTHxHEIGHT, e.g. 640x480"
        )
    return positive_int(parts[0]), positive_int(parts[1])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--img-size", type=image_side, default=256)
    p.add_argument("--dim-in", type=int, default=None, help="None: the paper's 2**14 // img_size")
    p.add_argument("--max-conv-dim", type=int, default=512)
    p.add_argument(
        "--source",
        type=picture_size,
        default="640x480",
        help="WIDTHxHEIGHT of the uploaded picture",
    )
    p.add_argument("--styles", default="1,4", help="numbers of styles to time")
    p.add_argument("--rounds", type=positive_int, default=5)
    p.add_argument("--threads", type=positive_int, default=None)
    args = p.parse_args()
    args.styles = int_list(args.styles, "--styles", 1, "1,4")
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _median_s(fn, rounds: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process per call of ``fn``."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    import lightning as L
    from gradio_client import Client, handle_file

    from starganv2.models.registry import load_model
    from starganv2.models.stargan_v2.module import StarGANv2Module
    from starganv2.synthesis.demo.app import build_app
    from starganv2.synthesis.demo.engine import DemoEngine

    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = args.source
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="demo-latency-"))
    torch.manual_seed(0)
    module = StarGANv2Module(
        img_size=args.img_size, dim_in=args.dim_in, max_conv_dim=args.max_conv_dim
    )
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(work / "model.ckpt")
    engine = DemoEngine(load_model(work / "model.ckpt"), ["a", "b"])
    rng = np.random.default_rng(0)
    source = work / "source.png"
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(source)
    picture = Image.open(source).convert("RGB")

    app = build_app(engine)
    app.launch(
        server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True
    )
    client = Client(app.local_url, verbose=False, download_files=str(work / "downloads"))
    rows = []
    try:
        for k in args.styles:
            t_engine = _median_s(
                lambda k=k: engine.translate(engine.prepare(picture), y_trg=1, num_styles=k),
                args.rounds,
            )
            t_api = _median_s(
                lambda k=k: client.predict(
                    handle_file(str(source)), target="b", num_styles=k, api_name="/translate"
                ),
                args.rounds,
            )
            rows.append((k, t_engine, t_api))
    finally:
        app.close()
        app.scratch.remove()
    print(
        f"# demo latency: {args.img_size} px StarGAN v2 (dim_in={args.dim_in or 2**14 // args.img_size}, "
        f"max_conv_dim={args.max_conv_dim}), source {width}x{height} letterboxed, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}"
    )
    print(f"# load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| styles | engine wall (s) | engine CPU (s) | API round trip wall (s) | API CPU (s) |")
    print("|---|---|---|---|---|")
    for k, (wall, cpu), (api_wall, api_cpu) in rows:
        print(f"| {k} | {wall:.2f} | {cpu:.2f} | {api_wall:.2f} | {api_cpu:.2f} |")


if __name__ == "__main__":
    main()
