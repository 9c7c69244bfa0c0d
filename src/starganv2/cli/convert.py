"""``starganv2-convert``: import checkpoints released with the original StarGAN v2 code.

    starganv2-convert expr/checkpoints/afhq/100000_nets_ema.ckpt afhq.ckpt
    starganv2-convert 100000_nets_ema.ckpt celeba_hq.ckpt --iteration 0 --set total_iters=150000

``*_nets.ckpt`` and ``*_optims.ckpt`` next to the EMA file are picked up automatically. The
architecture is inferred from the tensor shapes; ``--set key=value`` adds module arguments and
``--expect key=value`` checks architecture values (a mismatch is reported with the key and both
shapes). See :func:`starganv2.interop.original.convert_checkpoint`.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys


def _pairs(items: list[str], flag: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} {item!r}: expected key=value")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starganv2-convert", description=__doc__.split("\n\n")[0])
    p.add_argument("nets_ema", help="the original <iter>_nets_ema.ckpt file")
    p.add_argument("output", help="the StarGANv2Module checkpoint to write (.ckpt)")
    p.add_argument("--nets", help="the <iter>_nets.ckpt file (default: next to nets_ema if any)")
    p.add_argument(
        "--optims", help="the <iter>_optims.ckpt file (default: next to nets_ema if any)"
    )
    p.add_argument("--no-siblings", action="store_true", help="do not look for --nets/--optims")
    p.add_argument(
        "--iteration", type=int, help="saved iteration (default: from the file name, e.g. 100000)"
    )
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture value the file must have (img_size, num_domains, style_dim, ...)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="other StarGANv2Module argument to store (lr, lambda_ds, total_iters, ...)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from starganv2.interop.original import ConversionError, convert_checkpoint

    overrides = {**_pairs(args.set, "--set"), **_pairs(args.expect, "--expect")}
    try:
        convert_checkpoint(
            args.nets_ema,
            args.output,
            nets_path=args.nets,
            optims_path=args.optims,
            iteration=args.iteration,
            find_siblings=not args.no_siblings,
            overwrite=args.overwrite,
            **overrides,
        )
    except (ConversionError, FileNotFoundError, FileExistsError, TypeError) as err:
        logging.getLogger("starganv2.convert").error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
