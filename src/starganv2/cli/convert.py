"""``starganv2-convert``: import checkpoints released with the original StarGAN v2 code.

    starganv2-convert expr/checkpoints/afhq/100000_nets_ema.ckpt afhq.ckpt
    starganv2-convert 100000_nets_ema.ckpt celeba_hq.ckpt --iteration 0 --set total_iters=150000

``*_nets.ckpt`` and ``*_optims.ckpt`` next to the EMA file are picked up automatically. A
CelebA-HQ file (``w_hpf > 0``) keeps its ``fan`` entry, the face-landmark net of the face masks,
so the result needs no other file; ``--fan wing.ckpt`` supplies that net when the entry is
missing. The architecture is inferred from the tensor shapes; ``--set key=value`` adds module
arguments and ``--expect key=value`` checks architecture values (a mismatch is reported with the
key and both shapes). See :func:`starganv2.interop.original.convert_checkpoint`.

Original StarGAN (v1) files, ``<iter>-G.ckpt`` (with ``<iter>-D.ckpt`` beside it), are recognised
by their name (or with ``--v1``) and become a ``StarGANv1Module`` checkpoint
(:func:`starganv2.interop.original_v1.convert_v1_checkpoint`)::

    starganv2-convert stargan_celeba_128/models/200000-G.ckpt celeba_v1.ckpt --labels celeba

``--labels celeba`` stores the released CelebA model's label layout (five attributes, the hair
colours exclusive, ``label_mode=multi``), so ``starganv2-sample`` draws the original's test grid.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
from pathlib import Path

from starganv2.cli.common import (
    BAD_INPUT,
    add_verbose_flag,
    check_output_file,
    console_logging,
    report_error,
)


def _pairs(items: list[str], flag: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} {item!r}: expected key=value")
        out[key] = _value(value)
    return out


def _value(text: str) -> object:
    """A Python literal (``1e-4``, ``['a', 'b']``), else a list or dict in the unquoted form of
    the other commands' overrides (``[a,b]``, read as YAML: as a string it was taken apart into
    characters, ``attributes=[a,b]`` giving the names ``'['``, ``'a'``, ``','``...), else the
    text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if text.strip()[:1] in ("[", "{"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


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
        "--fan",
        help="wing.ckpt, the face-landmark net of a w_hpf>0 (CelebA-HQ) model (default: the "
        "'fan' entry of nets_ema, which the released files have)",
    )
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
    p.add_argument(
        "--v1",
        action="store_true",
        help="the input is an original StarGAN v1 <iter>-G.ckpt (automatic for such names)",
    )
    p.add_argument(
        "--discriminator", help="v1 only: the <iter>-D.ckpt file (default: next to -G.ckpt if any)"
    )
    p.add_argument(
        "--labels",
        choices=["celeba"],
        help="v1 only: the label layout of a released model (celeba: Black_Hair, Blond_Hair, "
        "Brown_Hair, Male, Young as attribute vectors); default: single-label domains",
    )
    add_verbose_flag(p)
    return p


def _convert_v1(args: argparse.Namespace, overrides: dict) -> None:
    from starganv2.interop.original_v1 import convert_v1_checkpoint

    if args.nets or args.optims or getattr(args, "fan", None):
        raise SystemExit("--nets/--optims/--fan are StarGAN v2 options; for v1 use --discriminator")
    convert_v1_checkpoint(
        args.nets_ema,
        args.output,
        d_path=args.discriminator,
        iteration=args.iteration,
        find_siblings=not args.no_siblings,
        overwrite=args.overwrite,
        labels=args.labels,
        **overrides,
    )


def _check_args(args: argparse.Namespace) -> None:
    """``ValueError`` naming the argument for a negative ``--iteration`` and for an ``output``
    that is a folder (the converted checkpoint is one file: ``outdir/`` would become a file
    named ``outdir``, an existing folder a traceback)."""
    if args.iteration is not None and args.iteration < 0:
        raise ValueError(f"--iteration={args.iteration} is invalid: expected an integer >= 0")
    check_output_file(
        args.output,
        f"output {args.output!r}",
        "the checkpoint file",
        str(Path(args.output) / "model.ckpt"),
    )


def main(argv: list[str] | None = None) -> int:
    """``starganv2-convert``; SIGTERM and Ctrl-C stop it with one line and status 143 or 130
    (:func:`starganv2.cli.common.main_stoppable`)."""
    from starganv2.cli.common import main_stoppable

    return main_stoppable(_main, argv, "starganv2-convert")


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console_logging(args.verbose)
    from starganv2.interop.original import convert_checkpoint
    from starganv2.interop.original_v1 import is_v1_generator_file

    overrides = {**_pairs(args.set, "--set"), **_pairs(args.expect, "--expect")}
    try:
        _check_args(args)
        if args.v1 or is_v1_generator_file(args.nets_ema):
            _convert_v1(args, overrides)
            return 0
        v1_only = [
            f for f, v in (("--labels", args.labels), ("--discriminator", args.discriminator)) if v
        ]
        if v1_only:  # silently ignored otherwise
            raise ValueError(
                f"{' and '.join(v1_only)}: StarGAN v1 option(s), but {args.nets_ema} is converted "
                "as a StarGAN v2 file; pass --v1 for an original v1 <iter>-G.ckpt"
            )
        convert_checkpoint(
            args.nets_ema,
            args.output,
            nets_path=args.nets,
            optims_path=args.optims,
            iteration=args.iteration,
            find_siblings=not args.no_siblings,
            overwrite=args.overwrite,
            fan_path=args.fan,
            **overrides,
        )
    except (*BAD_INPUT, TypeError) as err:  # ConversionError is a ValueError
        return report_error(err, logging.getLogger("starganv2.convert"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
