"""``starganv2-align``: align face photos the way StarGAN v2's CelebA-HQ model expects them.

    starganv2-align photos/ aligned/ --fan wing.ckpt --mean-landmarks celeba_lm_mean.npz

Every image under the input folder (any depth) is resized to ``--img-size``, its 98 landmarks
are found with the FAN, and it is rotated, scaled and moved so the landmarks sit on the mean
CelebA-HQ landmarks; the result goes to the same relative path under the output folder. Both
files come with the original release (``bash download.sh wing`` in clovaai/stargan-v2 saves
``expr/checkpoints/wing.ckpt`` and ``expr/checkpoints/celeba_lm_mean.npz``).

Exit status: 0 when every image was aligned, 1 on bad input (a missing file or folder), 2 when
some images could not be read or aligned (they are listed in the log and in
``<output>/align_failures.tsv``); existing outputs are kept unless ``--overwrite``, so a rerun
resumes. See :func:`starganv2.data.align_folder.align_folder`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from starganv2.cli.common import add_verbose_flag, console_logging


def _int_in(low: int, high: int | None = None, step: int = 1):
    """An argparse type: an int in ``[low, high]`` (``high`` None: no upper bound) that is a
    multiple of ``step``: bad values stop the command before the FAN is read."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high) or value % step:
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            kind = f"a multiple of {step}" if step > 1 else "an int"
            raise argparse.ArgumentTypeError(f"{text!r}: expected {kind} {bound}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="starganv2-align",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("input_dir", help="folder of face photos (searched recursively)")
    p.add_argument("output_dir", help="where the aligned images go (mirrored relative paths)")
    p.add_argument("--fan", required=True, help="wing.ckpt, the face-landmark net's weights")
    p.add_argument(
        "--mean-landmarks", required=True, help="celeba_lm_mean.npz (array 'mean', 98x2)"
    )
    p.add_argument(
        "--img-size", type=_int_in(64, step=64), default=256, help="output side, a multiple of 64"
    )
    p.add_argument("--batch-size", type=_int_in(1), default=8)
    p.add_argument("--quality", type=_int_in(0, 100), default=95, help="JPEG / WebP quality")
    p.add_argument("--device", default="auto", help="auto (an accelerator if any), cpu, cuda:0...")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_verbose_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """``starganv2-align``; SIGTERM and Ctrl-C stop it with one line and status 143 or 130
    (:func:`starganv2.cli.common.main_stoppable`)."""
    from starganv2.cli.common import main_stoppable

    return main_stoppable(_main, argv, "starganv2-align")


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console_logging(args.verbose)
    log = logging.getLogger("starganv2.align")
    from starganv2.cli.common import BAD_INPUT, report_error, resolve_device
    from starganv2.data.align_folder import align_folder
    from starganv2.faces.align import load_mean_landmarks
    from starganv2.faces.fan import FAN

    try:
        device = resolve_device(args.device, key="--device")  # before the FAN is read
        fan = FAN.from_file(args.fan, key="--fan").to(device)
        reference = load_mean_landmarks(args.mean_landmarks, args.img_size)
        report = align_folder(
            fan,
            args.input_dir,
            args.output_dir,
            reference,
            img_size=args.img_size,
            batch_size=args.batch_size,
            quality=args.quality,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except BAD_INPUT as err:
        return report_error(err, log)
    return 2 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
