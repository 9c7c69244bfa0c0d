"""``starganv2-export``: write the inference path of a checkpoint to ONNX and verify it.

    starganv2-export model.ckpt onnx/                 # onnx/latent.onnx and onnx/reference.onnx
    starganv2-export model.ckpt onnx/ --mode latent --psi 0.7

Both graphs take a dynamic batch size N. latent.onnx: ``x (N,3,S,S) float32, y (N,) int64,
z (N,latent_dim) float32``; reference.onnx: ``x, y, x_ref (N,3,S,S)``; output ``x_fake (N,3,S,S)``,
images in [-1, 1] (the output clamped to [-1, 1]). Each file is checked with onnxruntime against
PyTorch on random inputs and the max abs difference is printed (it must be under 1e-4). Needs
``pip install 'starganv2[export]'``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from starganv2.cli.common import add_verbose_flag, console_logging


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="starganv2-export",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("ckpt", help="a model checkpoint (convert original StarGAN v2 files first)")
    p.add_argument("output_dir", help="folder for <mode>.onnx (latent.onnx, reference.onnx...)")
    p.add_argument(
        "--mode",
        choices=["latent", "reference", "label", "attribute", "both", "all"],
        default="all",
        help="guidance mode to export; all (or both): every mode the model has",
    )
    p.add_argument("--psi", type=float, default=1.0, help="truncation baked into latent.onnx")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--seed", type=int, default=0)
    add_verbose_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """``starganv2-export``; SIGTERM and Ctrl-C stop it with one line and status 143 or 130
    (:func:`starganv2.cli.common.main_stoppable`)."""
    from starganv2.cli.common import main_stoppable

    return main_stoppable(_main, argv, "starganv2-export")


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console_logging(args.verbose)
    log = logging.getLogger("starganv2.export")
    from starganv2.cli.common import BAD_INPUT, load_module, report_error
    from starganv2.interop.onnx import ONNXParityError, export_onnx
    from starganv2.models.styles import check_psi

    modes = None if args.mode in ("both", "all") else (args.mode,)
    try:
        check_psi(args.psi, "--psi")  # before the model is loaded
        module = load_module(args.ckpt, "cpu")
        results = export_onnx(
            module,
            args.output_dir,
            modes=modes,
            psi=args.psi,
            opset=args.opset,
            verify=not args.no_verify,
            seed=args.seed,
        )
    except (*BAD_INPUT, ONNXParityError) as err:
        return report_error(err, log)
    for res in results.values():
        diffs = ", ".join(f"batch {n}: {d:.2e}" for n, d in res["max_abs_diff"].items())
        sys.stdout.write(f"{res['path']}  max abs diff vs PyTorch: {diffs or 'not verified'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
