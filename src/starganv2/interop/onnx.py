"""ONNX export of the inference path, checked against PyTorch with onnxruntime.

One graph per guidance mode of the model (``Translator.inference_graph``), each with a dynamic
batch axis ``N``. For StarGAN v2 (its EMA nets):

* latent: ``(x (N, 3, S, S) float32, y (N,) int64, z (N, latent_dim) float32) -> (N, 3, S, S)``,
  generator with mapping network (and, with ``psi < 1``, truncation towards the per-domain style
  means baked into the graph);
* reference: ``(x (N, 3, S, S), y (N,) int64, x_ref (N, 3, S, S)) -> (N, 3, S, S)``, generator
  with style encoder.

Images are in [-1, 1]; outputs are clamped to [-1, 1], as ``translate``'s are. Export needs the
``export`` extra (``pip install 'starganv2[export]'``: onnx, onnxruntime, onnxscript).

A model with the high-pass skip (``w_hpf > 0``) exports with its mask provider inside the graph,
whichever it is (``module.mask_source``: the face-landmark net, the shapes oracle, ...): same
inputs, the masks are computed from ``x``. The FAN's masks threshold each heatmap at 0.1 before a
per-heatmap min-max normalisation, so a heatmap value within float rounding of the threshold can
switch a mask pixel between onnxruntime and PyTorch (as between two GPUs): for graphs with masks
a verification batch also passes when its median difference is under the tolerance and at least
:data:`MASKED_MIN_SHARE` of the values are within it (logged as a warning with the figures).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from starganv2.models.interface import MODE_LATENT, Translator, require_mode
from starganv2.models.styles import check_psi
from starganv2.utils.files import atomic_path, blocking_file

__all__ = [
    "export_onnx",
    "verify_onnx",
    "ONNXParityError",
    "TOLERANCE",
    "MASKED_MIN_SHARE",
    "MIN_OPSET",
]

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
"""Largest accepted absolute difference between onnxruntime and PyTorch outputs."""
MASKED_MIN_SHARE = 0.9
"""Graphs with masks: share of output values that must be within the tolerance."""
MIN_OPSET = 18
"""Lowest opset the dynamo exporter writes: it converts a graph to a lower one only when every
op allows it, and otherwise keeps 18 (ours fail: ``GroupNormalization``, ``Split``)."""


class ONNXParityError(RuntimeError):
    """onnxruntime and PyTorch disagree by more than the tolerance."""


def _require(*modules: str) -> None:
    """``ImportError`` naming the extra to install when one of ``modules`` is missing, or, when
    one is installed but its import fails (a broken dependency, a file of the same name in the
    working folder), that module and the failure: "not installed" sent people to a pip install
    that changed nothing."""
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise _broken(name, err) from err
            missing.append(name)
        except ImportError as err:
            raise _broken(name, err) from err
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, which is not installed: "
            "pip install 'starganv2[export]' (onnx, onnxruntime, onnxscript)"
        )


def _broken(name: str, err: ImportError) -> ImportError:
    """The error for ``name`` installed but failing to import with ``err``."""
    return ImportError(
        f"ONNX export needs {name}, which is installed but cannot be imported: {err}"
    )


def verify_onnx(
    path: str | os.PathLike,
    wrapper: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    tolerance: float = TOLERANCE,
    min_share: float = 1.0,
    name: str | os.PathLike | None = None,
) -> float:
    """Run ``path`` with onnxruntime (CPU) and ``wrapper`` with PyTorch on ``inputs``.

    Returns the max absolute difference; raises :class:`ONNXParityError` when it is not below
    ``tolerance``, unless ``min_share < 1`` and the median difference is below ``tolerance``
    with at least ``min_share`` of the values within it (graphs with masks, see the module
    docstring). ``name``: the file as the messages call it (default ``path``; the export
    verifies a temporary file under the name it will have).
    """
    name = path if name is None else name
    _require("onnxruntime")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {name: t.cpu().numpy() for name, t in zip(names, inputs)}
    (out,) = session.run(None, feed)
    with torch.no_grad():
        expected = wrapper(*inputs)
    diffs = (torch.from_numpy(out) - expected).abs()
    diff = diffs.max().item()
    log.info(
        "%s: max abs difference onnxruntime vs PyTorch = %.3g (batch %d)",
        name,
        diff,
        len(inputs[0]),
    )
    if not diff < tolerance and min_share < 1.0:
        share = (diffs < tolerance).float().mean().item()
        if diffs.median().item() < tolerance and share >= min_share:
            log.warning(
                "%s: %.4f of the values within %g of PyTorch, max %.3g: a face-mask pixel switched "
                "at the masks' threshold (accepted: at least %.2f within, median below)",
                name,
                share,
                tolerance,
                diff,
                min_share,
            )
            return diff
    if not diff < tolerance:
        raise ONNXParityError(
            f"{name}: onnxruntime differs from PyTorch by {diff:.3g} (max abs, batch "
            f"{len(inputs[0])}), tolerance {tolerance:g}: the graph does not compute what the "
            "module does"
        )
    return diff


def export_onnx(
    module: Translator,
    output_dir: str | os.PathLike,
    modes: str | Sequence[str] | None = None,
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
    opset: int = 18,
    verify: bool = True,
    verify_batch_sizes: tuple[int, ...] = (1, 3),
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Export the inference path of ``module`` to ``output_dir/<mode>.onnx``, one file per mode.

    ``modes``: guidance modes (default: all the model has: ``latent`` and ``reference`` for
    StarGAN v2, ``label`` for StarGAN v1); the inputs of each graph are
    ``module.graph_input_names(mode)``. ``psi``/``s_mean``: truncation baked into the latent graph
    (``psi`` in [0, 1], and ``latent`` among ``modes`` when ``psi < 1``, else ``ValueError``
    before anything is written). ``opset``: :data:`MIN_OPSET` to the installed onnx's newest.
    The graphs are traced from a copy of the inference nets, on the CPU, in float32, in eval mode
    and contiguous memory format (``module`` itself is left as it was: device, dtype, mode,
    layout), with a batch of 2 and a dynamic batch axis, then (with ``verify``) run by
    onnxruntime for every size in ``verify_batch_sizes`` on random inputs and compared with
    PyTorch. Files are written under a temporary name and renamed once every graph is verified;
    a failed check (or any error) raises and leaves every file as it was: no mix of new and
    older graphs (:class:`ONNXParityError` for a failed check).

    Returns ``{mode: {"path": Path, "max_abs_diff": {batch size: float}}}``.
    """
    psi = check_psi(psi)  # outside [0, 1] the baked-in "truncation" extrapolates
    _check_output_dir(Path(output_dir))
    _require("onnx", "onnxscript", *(("onnxruntime",) if verify else ()))
    import onnx

    _check_opset(opset, onnx.defs.onnx_opset_version())

    modes = tuple(module.guidance_modes) if modes is None else _mode_tuple(modes)
    for mode in modes:
        require_mode(module, mode, "ONNX export")
    if psi != 1.0:
        require_mode(module, MODE_LATENT, "truncation (psi < 1) in the exported graph")
        if MODE_LATENT not in modes:  # else --mode reference --psi 0.7 dropped psi silently
            raise ValueError(
                f"psi={psi:g} truncates latent-guided styles, but modes={list(modes)} export no "
                "latent graph (reference-guided outputs are never truncated): drop psi, or "
                "export the latent mode"
            )
        if s_mean is None:
            from starganv2.synthesis.styles import seeded_style_means

            s_mean = seeded_style_means(module, seed)
        s_mean = s_mean.detach().cpu().float()
    provider = getattr(module, "mask_source", None)  # the masks inside the graphs, if any
    min_share = 1.0 if provider is None else MASKED_MIN_SHARE
    output_dir = Path(output_dir)
    gen = torch.Generator().manual_seed(seed)
    results: dict[str, dict[str, Any]] = {}
    # every graph is written and checked under its temporary name before any is renamed: a
    # failed check (or a stop) at the second graph left a new latent.onnx beside an older
    # reference.onnx of another model
    with contextlib.ExitStack() as graphs:
        for mode in modes:
            extra = {"psi": psi, "s_mean": s_mean} if mode == MODE_LATENT else {}
            wrapper = _export_copy(module.inference_graph(mode, **extra))
            names = module.graph_input_names(mode)
            batch = torch.export.Dim("batch", min=1, max=4096)
            dynamic_shapes = {name: {0: batch} for name in names}
            path = output_dir / f"{mode}.onnx"
            tmp = graphs.enter_context(atomic_path(path))
            with torch.no_grad():
                program = torch.onnx.export(
                    wrapper,
                    module.graph_inputs(mode, 2, gen),
                    input_names=names,
                    output_names=["x_fake"],
                    dynamic_shapes=dynamic_shapes,
                    opset_version=opset,
                    dynamo=True,
                    external_data=False,
                )
            program.save(str(tmp))
            onnx.checker.check_model(str(tmp))
            diffs = {}
            if verify:
                for n in verify_batch_sizes:
                    inputs = module.graph_inputs(mode, n, gen)
                    try:
                        diffs[n] = verify_onnx(tmp, wrapper, inputs, tolerance, min_share, path)
                    except ONNXParityError as err:
                        raise ONNXParityError(
                            f"{err}, so it was not written (nor any other graph of this export). "
                            "This is a bug of the exporter or of the model's graph: please report "
                            "it with the model's hyperparameters; verify=False (starganv2-export "
                            "--no-verify) writes the file unchecked"
                        ) from None
            results[mode] = {"path": path, "max_abs_diff": diffs}
    for mode, result in results.items():
        names = module.graph_input_names(mode)
        log.info("wrote %s (inputs %s, dynamic batch)", result["path"], names)
    return results


def _mode_tuple(modes: str | Sequence[str]) -> tuple[str, ...]:
    """``modes`` as a tuple, one name given alone included: ``modes="latent"`` was taken apart
    into the letters and refused as "needs 'l' guidance"."""
    return (modes,) if isinstance(modes, str) else tuple(modes)


def _check_opset(opset: int, highest: int) -> None:
    """``ValueError`` naming ``opset`` unless it lies in [:data:`MIN_OPSET`, ``highest``] (the
    installed onnx's newest): below, the exporter silently wrote opset 18 (``--opset 9``) or
    wrote a file ``onnx.checker`` rejects with a traceback (17); above, the checker did."""
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= highest:
        raise ValueError(
            f"opset={opset!r} is invalid: the exporter writes opsets {MIN_OPSET} (the default) "
            f"to {highest} (the installed onnx's newest)"
        )


def _check_output_dir(output_dir: Path) -> None:
    """``FileExistsError`` naming ``output_dir`` when it, or the nearest of its parents that
    exists, is a file: found only at the first write, it ended in a traceback
    (``NotADirectoryError``) or a bare ``[Errno 17] File exists`` after the tracing."""
    blocker = blocking_file(output_dir)
    if blocker is not None:
        raise FileExistsError(
            f"output_dir={output_dir}: {blocker} is a file, not a folder; give a folder "
            "for the .onnx files (missing folders are made)"
        )


def _export_copy(wrapper: nn.Module) -> nn.Module:
    """A copy of ``wrapper`` to trace: CPU, float32, eval mode, contiguous memory format (ONNX
    has no layouts), so that the caller's nets keep their device, dtype, mode and layout."""
    wrapper = copy.deepcopy(wrapper).cpu().float().eval()
    return wrapper.to(memory_format=torch.contiguous_format)
