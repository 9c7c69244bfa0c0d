"""ONNX export of the inference path, checked against PyTorch with onnxruntime.

Two graphs, both built from the EMA nets and both with a dynamic batch axis ``N``:

* latent: ``(x (N, 3, S, S) float32, y (N,) int64, z (N, latent_dim) float32) -> (N, 3, S, S)``,
  generator with mapping network (and, with ``psi < 1``, truncation towards the per-domain style
  means baked into the graph);
* reference: ``(x (N, 3, S, S), y (N,) int64, x_ref (N, 3, S, S)) -> (N, 3, S, S)``, generator
  with style encoder.

Images are in [-1, 1]; outputs are not clamped. Export needs the ``export`` extra
(``pip install 'starganv2[export]'``: onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

__all__ = [
    "LatentTranslator",
    "ReferenceTranslator",
    "export_onnx",
    "verify_onnx",
    "ONNXParityError",
    "TOLERANCE",
]

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
"""Largest accepted absolute difference between onnxruntime and PyTorch outputs."""


class ONNXParityError(RuntimeError):
    """onnxruntime and PyTorch disagree by more than the tolerance."""


def _require(*modules: str) -> None:
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, which is not installed: "
            "pip install 'starganv2[export]' (onnx, onnxruntime, onnxscript)"
        )


class LatentTranslator(nn.Module):
    """``(x, y, z) -> G(x, F(z, y))`` with optional truncation ``psi`` towards ``s_mean``.

    Args:
        generator, mapping_network: the (EMA) nets.
        psi: truncation; 1 disables it.
        s_mean: ``(num_domains, style_dim)`` style means, required when ``psi != 1``.
    """

    def __init__(
        self,
        generator: nn.Module,
        mapping_network: nn.Module,
        psi: float = 1.0,
        s_mean: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.mapping_network = mapping_network
        self.psi = float(psi)
        if self.psi != 1.0:
            if s_mean is None:
                raise ValueError("psi != 1 needs s_mean (num_domains, style_dim)")
            self.register_buffer("s_mean", s_mean.detach().clone())

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        s = self.mapping_network(z, y)  # (N, style_dim)
        if self.psi != 1.0:
            s = torch.lerp(self.s_mean[y], s, self.psi)
        return self.generator(x, s)


class ReferenceTranslator(nn.Module):
    """``(x, y, x_ref) -> G(x, E(x_ref, y))``."""

    def __init__(self, generator: nn.Module, style_encoder: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.style_encoder = style_encoder

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_ref: torch.Tensor) -> torch.Tensor:
        return self.generator(x, self.style_encoder(x_ref, y))


def _inputs(module: nn.Module, mode: str, n: int, generator: torch.Generator) -> tuple:
    hp = module.hparams
    size = hp.img_size
    x = torch.rand(n, 3, size, size, generator=generator) * 2 - 1
    y = torch.randint(0, hp.num_domains, (n,), generator=generator)
    if mode == "latent":
        return x, y, torch.randn(n, hp.latent_dim, generator=generator)
    return x, y, torch.rand(n, 3, size, size, generator=generator) * 2 - 1


def _input_names(mode: str) -> list[str]:
    return ["x", "y", "z" if mode == "latent" else "x_ref"]


def verify_onnx(
    path: str | os.PathLike,
    wrapper: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    tolerance: float = TOLERANCE,
) -> float:
    """Run ``path`` with onnxruntime (CPU) and ``wrapper`` with PyTorch on ``inputs``.

    Returns the max absolute difference; raises :class:`ONNXParityError` when it is not below
    ``tolerance``.
    """
    _require("onnxruntime")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {name: t.cpu().numpy() for name, t in zip(names, inputs)}
    (out,) = session.run(None, feed)
    with torch.no_grad():
        expected = wrapper(*inputs)
    diff = (torch.from_numpy(out) - expected).abs().max().item()
    log.info(
        "%s: max abs difference onnxruntime vs PyTorch = %.3g (batch %d)",
        path,
        diff,
        len(inputs[0]),
    )
    if not diff < tolerance:
        raise ONNXParityError(
            f"{path}: onnxruntime differs from PyTorch by {diff:.3g} (max abs), tolerance "
            f"{tolerance:g}; the export is not trustworthy: try another opset"
        )
    return diff


def export_onnx(
    module: nn.Module,
    output_dir: str | os.PathLike,
    modes: tuple[Literal["latent", "reference"], ...] = ("latent", "reference"),
    psi: float = 1.0,
    s_mean: torch.Tensor | None = None,
    opset: int = 18,
    verify: bool = True,
    verify_batch_sizes: tuple[int, ...] = (1, 3),
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Export the EMA inference path of ``module`` to ``output_dir/{latent,reference}.onnx``.

    The graphs are traced on the CPU in float32 with a batch of 2 and a dynamic batch axis, then
    (with ``verify``) run by onnxruntime for every size in ``verify_batch_sizes`` on random inputs
    and compared with PyTorch. Files are written under a temporary name and renamed once verified.

    Returns ``{mode: {"path": Path, "max_abs_diff": {batch size: float}}}``.
    """
    _require("onnx", "onnxscript", *(("onnxruntime",) if verify else ()))
    import onnx

    for mode in modes:
        if mode not in ("latent", "reference"):
            raise ValueError(f"mode {mode!r} is invalid: expected 'latent' or 'reference'")
    if psi != 1.0 and s_mean is None:
        from starganv2.synthesis import style_means

        s_mean = style_means(module.cpu(), generator=torch.Generator().manual_seed(seed))
    module = module.cpu().float().eval()
    ema = module.nets_ema
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        if mode == "latent":
            wrapper: nn.Module = LatentTranslator(
                ema["generator"], ema["mapping_network"], psi, s_mean
            )
        else:
            wrapper = ReferenceTranslator(ema["generator"], ema["style_encoder"])
        wrapper.eval()
        names = _input_names(mode)
        batch = torch.export.Dim("batch", min=1, max=4096)
        dynamic_shapes = {name: {0: batch} for name in names}
        path = output_dir / f"{mode}.onnx"
        fd, tmp = tempfile.mkstemp(prefix=f".{mode}.", suffix=".onnx", dir=output_dir)
        os.close(fd)
        try:
            with torch.no_grad():
                program = torch.onnx.export(
                    wrapper,
                    _inputs(module, mode, 2, gen),
                    input_names=names,
                    output_names=["x_fake"],
                    dynamic_shapes=dynamic_shapes,
                    opset_version=opset,
                    dynamo=True,
                    external_data=False,
                )
            program.save(tmp)
            onnx.checker.check_model(tmp)
            diffs = {}
            if verify:
                for n in verify_batch_sizes:
                    diffs[n] = verify_onnx(tmp, wrapper, _inputs(module, mode, n, gen), tolerance)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        results[mode] = {"path": path, "max_abs_diff": diffs}
        log.info("wrote %s (inputs %s, dynamic batch)", path, names)
    return results
