"""FID and LPIPS with the StarGAN v2 protocol (torchmetrics), the metric named ``fid_lpips``.

Per guidance mode and task (see :mod:`starganv2.evaluation.protocol`):

- ``FID_<mode>/<task>``: Frechet distance between the outputs and **all training images** of the
  target domain (:class:`~starganv2.evaluation.fid.FID`, a ``torchmetrics.Metric``). Outputs are
  clamped and, by default, quantised to 8 bit exactly as saving PNGs would
  (:func:`starganv2.utils.images.quantize`).
- ``LPIPS_<mode>/<task>``: diversity, the mean LPIPS (AlexNet) over the pairs of each source
  image's outputs, averaged over images (:class:`~starganv2.evaluation.lpips.LPIPSDiversity`).
  A deterministic model (``label`` mode, StarGAN v1) makes one output per image: there is no pair
  to compare, so LPIPS does not apply: no ``LPIPS_label`` keys, the reason is logged, and the
  AlexNet weights are not needed when ``label`` is the only mode evaluated.
- ``FID_<mode>/mean`` and ``LPIPS_<mode>/mean``: means over tasks.

Metric states are summed across DDP ranks by torchmetrics at ``compute()``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from starganv2.data.folders import eval_transform
from starganv2.evaluation.backbones import (
    ALEXNET_FILE,
    FID_FEATURES,
    FID_WEIGHT_FILES,
    AlexNetLPIPS,
    WeightRequest,
    build_fid_feature_extractor,
    find_all_weights,
)
from starganv2.evaluation.fid import FID
from starganv2.evaluation.lpips import LPIPSDiversity
from starganv2.evaluation.protocol import (
    EvalData,
    EvalProtocol,
    TransformFactory,
    TranslationBatch,
    image_loader,
    rank_share,
    rank_world,
    reference_styles,
    task_name,
    tasks,
    translate_task,
)
from starganv2.evaluation.registry import MetricRunner
from starganv2.models.interface import MODE_LABEL, MODE_REFERENCE, Translator
from starganv2.utils.files import atomic_write
from starganv2.utils.images import quantize, to_pil, to_unit

__all__ = ["FidLpips", "metric", "ordered_results"]

log = logging.getLogger(__name__)

_SAVED_NAME = re.compile(r"(\d{4,})_(\d{2,})\.png")
"""The name of a saved output, ``<iiii>_<jj>.png``: source image ``iiii`` (from 1), output ``jj``."""


class FidLpips:
    """FID and LPIPS of a :class:`~starganv2.models.interface.Translator`, the paper's protocol.

    The feature networks are built here, once (so missing weights fail before any data is read,
    in one error that lists every missing file); call :meth:`compute` as often as needed (the
    evaluation callback does, during training). The figures come from the ``torchmetrics``
    metrics :class:`~starganv2.evaluation.fid.FID` (one per target domain: its real statistics)
    and :class:`~starganv2.evaluation.lpips.LPIPSDiversity`.

    Args:
        num_outs_per_domain: outputs per source image and task for style models (>= 2; the paper
            uses 10).
        batch_size: source images per batch.
        seed: seed of the latent codes and reference draws (per image).
        num_workers: DataLoader workers for image loading.
        fid_features: ``standard`` or ``torchvision`` (see :mod:`~starganv2.evaluation.backbones`);
            ignored with ``feature_extractor``.
        fid_weights: explicit file for the FID network; ``None``: the torch hub cache.
        lpips_weights: explicit AlexNet file (``alexnet-owt-7be5be79.pth``); ``None``: hub cache.
        feature_extractor: a custom FID feature module, ``(N, 3, H, W)`` float in [0, 1] ->
            ``(N, D)`` (tests, other backbones).
        quantize: round outputs to 8 bit before FID, as a PNG round trip would. The ``standard``
            network always sees 8-bit images, so this matters for the other extractors.
        save_images: folder to also write every output as ``<mode>/<task>/<iiii>_<jj>.png``;
            each task's folder then holds this run's outputs only (images of an earlier run
            there are deleted when the task starts, see :meth:`_clear_saved`).
        settings_key: the config key of these settings (``metrics.fid_lpips``, from
            :func:`metric`): errors about a weight file then name ``<settings_key>.fid_weights``
            (or ``.lpips_weights``), with the command-line override that passes a path;
            ``None``: the Python arguments (``fid_weights='...'``), for a ``FidLpips`` built
            directly.
        modes: the guidance modes :meth:`compute` will be given, when known (``None``: any).
            ``label`` alone (a deterministic model) measures no LPIPS, so the AlexNet weights are
            neither asked for nor read; otherwise they are checked here, before any data.
    """

    def __init__(
        self,
        num_outs_per_domain: int = 10,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        fid_features: str = "standard",
        fid_weights: str | os.PathLike | None = None,
        lpips_weights: str | os.PathLike | None = None,
        feature_extractor: nn.Module | None = None,
        quantize: bool = True,
        save_images: str | os.PathLike | None = None,
        settings_key: str | None = None,
        modes: Sequence[str] | None = None,
    ):
        if num_outs_per_domain < 2:
            raise ValueError(
                f"num_outs_per_domain={num_outs_per_domain}: expected >= 2 "
                "(LPIPS diversity compares pairs of outputs)"
            )
        if fid_features not in FID_FEATURES and feature_extractor is None:
            raise ValueError(f"fid_features={fid_features!r}: expected one of {list(FID_FEATURES)}")
        self.num_outs = int(num_outs_per_domain)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = num_workers
        self.fid_features = fid_features if feature_extractor is None else "custom"
        self.quantize = quantize
        self.save_images = Path(save_images) if save_images is not None else None
        prefix = f"{settings_key}." if settings_key else ""
        fid_key, lpips_key = f"{prefix}fid_weights", f"{prefix}lpips_weights"
        self._lpips_args = (lpips_weights, lpips_key)
        measures_lpips = modes is None or any(m != MODE_LABEL for m in modes)
        # Every missing weight file in one error, before any data is read.
        requests = [WeightRequest(ALEXNET_FILE, lpips_weights, lpips_key)] if measures_lpips else []
        if feature_extractor is None:
            requests.insert(0, WeightRequest(FID_WEIGHT_FILES[fid_features], fid_weights, fid_key))
        find_all_weights(requests)
        # the settings as given (not the paths found): a bad file in the hub cache is named as such
        self.fid_extractor = (
            feature_extractor
            if feature_extractor is not None
            else build_fid_feature_extractor(fid_features, fid_weights, key=fid_key)
        )
        self.lpips = self._new_lpips() if measures_lpips else None
        self.fid = self._new_fid()

    # ------------------------------------------------------------------ helpers
    def _new_fid(self) -> FID:
        """A FID metric with no statistics that keeps its real ones across :meth:`FID.reset`."""
        return FID(self.fid_extractor, reset_real_features=False)

    def _new_lpips(self) -> LPIPSDiversity:
        """The LPIPS diversity metric, its AlexNet read from the weights given or found."""
        weights, key = self._lpips_args
        return LPIPSDiversity(net=AlexNetLPIPS(weights, key=key))

    def _fid_images(self, x: torch.Tensor) -> torch.Tensor:
        return quantize(x) if self.quantize else to_unit(x)

    @torch.no_grad()
    def _update_real(
        self,
        files: Sequence[Path],
        img_size: int,
        device: torch.device,
        transform: TransformFactory = eval_transform,
    ) -> None:
        loader = image_loader(
            files, rank_share(len(files)), img_size, self.batch_size, self.num_workers, transform
        )
        for x, _ in loader:
            # The eval transform maps 8-bit pixels p to p/127.5 - 1: quantising is exact.
            self.fid.update(quantize(x.to(device)), real=True)

    # ------------------------------------------------------------------ main
    @torch.no_grad()
    def compute(self, model: Translator, data: EvalData, modes: Sequence[str]) -> dict[str, float]:
        """Run the protocol; returns ``{"FID_latent/cat2dog": ..., "FID_latent/mean": ...,
        "LPIPS_latent/...": ..., ...}`` (the same on every rank under DDP).

        ``model`` is used in eval mode (and left as it was); its device is the device.
        """
        domains = data.domains
        device = model.device
        was_training = model.training
        model.eval()
        if self.lpips is None and any(m != MODE_LABEL for m in modes):
            self.lpips = self._new_lpips()  # built for label mode alone, now given another
        if self.lpips is not None:
            self.lpips.to(device)
        if MODE_LABEL in modes:
            log.info(LABEL_LPIPS_NOTE)
        fid: dict[str, float] = {}
        lpips: dict[str, float] = {}
        try:
            for trg, trg_domain in enumerate(domains):
                self.fid = self._new_fid().to(device)  # the target's real statistics
                self._update_real(
                    data.train_files[trg_domain], model.img_size, device, data.transform
                )
                ref_styles = None
                if MODE_REFERENCE in modes:
                    ref_styles = reference_styles(
                        model,
                        data.val_files[trg_domain],
                        trg,
                        self.batch_size,
                        self.num_workers,
                        data.transform,
                    )
                for mode in modes:
                    for src in (s for s in range(len(domains)) if s != trg):
                        task = task_name(domains, src, trg)
                        self.fid.reset()  # the generated statistics only
                        if self.lpips is not None:
                            self.lpips.reset()
                        src_files = data.val_files[domains[src]]
                        if self.save_images is not None:
                            self._clear_saved(self.save_images / mode / task)
                        for batch in translate_task(
                            model,
                            src_files,
                            src,
                            trg,
                            mode,
                            num_outs=self.num_outs,
                            batch_size=self.batch_size,
                            seed=self.seed,
                            indices=rank_share(len(src_files)),
                            ref_styles=ref_styles,
                            num_workers=self.num_workers,
                            transform=data.transform,
                        ):
                            flat = batch.outputs.flatten(0, 1)  # (B*K, 3, H, W)
                            self.fid.update(self._fid_images(flat), real=False)
                            if mode != MODE_LABEL:
                                self.lpips.update(batch.outputs)
                            if self.save_images is not None:
                                self._save(batch, task)
                        key = f"{mode}/{task}"
                        fid[f"FID_{key}"] = float(self.fid.compute())
                        # One output per image in label mode: no pair, no LPIPS (LABEL_LPIPS_NOTE).
                        if mode != MODE_LABEL:
                            lpips[f"LPIPS_{key}"] = float(self.lpips.compute())
                        log.info("%s %s: %s", mode, task, _figures(fid, lpips, key))
        finally:
            self.fid.reset()
            if self.lpips is not None:
                self.lpips.reset()
            model.train(was_training)
        results = ordered_results(domains, modes, {**fid, **lpips})
        for mode in modes:  # the figures papers quote; the JSON holds them too
            log.info(
                "%s mean over %d tasks: %s",
                mode,
                len(domains) * (len(domains) - 1),
                _figures(results, results, f"{mode}/mean"),
            )
        return results

    @staticmethod
    def _clear_saved(folder: Path) -> None:
        """Delete the outputs an earlier run saved in the task folder ``folder`` (files named
        ``<iiii>_<jj>.png``, as :meth:`_save` names them; nothing else, no sub-folder), so that
        it holds this run's outputs only: fewer images or outputs than before would otherwise
        leave the earlier ones beside them. Under DDP each rank deletes the names of its own
        share of source images (``iiii - 1`` modulo the world size, as :func:`rank_share`), the
        ones only it writes, so no rank deletes another's new file."""
        if not folder.is_dir():
            return
        rank, world = rank_world()
        for path in folder.iterdir():
            match = _SAVED_NAME.fullmatch(path.name)
            if match and (int(match.group(1)) - 1) % world == rank and path.is_file():
                path.unlink()

    def _save(self, batch: TranslationBatch, task: str) -> None:
        folder = self.save_images / batch.mode / task
        k = batch.outputs.size(1)
        for n, i in enumerate(batch.index.tolist()):
            for j in range(k):
                img = to_pil(batch.outputs[n, j])
                path = folder / f"{i + 1:04d}_{j + 1:02d}.png"
                atomic_write(path, lambda tmp, img=img: img.save(tmp, format="PNG"))


LABEL_LPIPS_NOTE = (
    "label mode: LPIPS diversity does not apply (one deterministic output per source image and "
    "target domain, no pair of outputs to compare): no LPIPS_label figures, and the AlexNet "
    "weights are not needed for it"
)
"""Why ``label`` mode has FID figures only, logged when it is evaluated."""


def _figures(fid: dict[str, float], lpips: dict[str, float], key: str) -> str:
    """``FID 12.345, LPIPS 0.1234`` of ``key`` (``<mode>/<task>``); FID alone without LPIPS."""
    text = f"FID {fid[f'FID_{key}']:.3f}"
    if f"LPIPS_{key}" in lpips:
        text += f", LPIPS {lpips[f'LPIPS_{key}']:.4f}"
    return text


def ordered_results(
    domains: Sequence[str], modes: Sequence[str], values: dict[str, float]
) -> dict[str, float]:
    """Keys in the original's order: per mode, FID tasks, FID mean, LPIPS tasks, LPIPS mean
    (no LPIPS in ``label`` mode: see :data:`LABEL_LPIPS_NOTE`)."""
    out: dict[str, float] = {}
    names = [task_name(domains, s, t) for s, t in tasks(len(domains))]
    for mode in modes:
        for metric in ("FID",) if mode == MODE_LABEL else ("FID", "LPIPS"):
            per_task = [values[f"{metric}_{mode}/{n}"] for n in names]
            for n, v in zip(names, per_task):
                out[f"{metric}_{mode}/{n}"] = v
            out[f"{metric}_{mode}/mean"] = float(np.mean(per_task))
    return out


def metric(
    protocol: EvalProtocol,
    *,
    fid_features: str = "standard",
    fid_weights: str | os.PathLike | None = None,
    lpips_weights: str | os.PathLike | None = None,
    feature_extractor: nn.Module | None = None,
    quantize: bool = True,
) -> MetricRunner:
    """Registry factory of ``fid_lpips`` (settings ``metrics.fid_lpips.<key>``): a
    :class:`FidLpips` with the protocol's outputs per image, batch, seed, workers and image folder.

    Args:
        protocol: the evaluation protocol.
        fid_features: ``standard`` (TF-Inception, the usual FID) or ``torchvision`` (ImageNet
            Inception-v3, as the original StarGAN v2 code); ignored with ``feature_extractor``.
        fid_weights: explicit file for the FID network; ``None``: the torch hub cache.
        lpips_weights: explicit AlexNet file (``alexnet-owt-7be5be79.pth``); ``None``: hub cache.
        feature_extractor: a custom FID feature module, ``(N, 3, H, W)`` float in [0, 1] ->
            ``(N, D)`` (tests, other backbones; Python only).
        quantize: round outputs to 8 bit before FID, as a PNG round trip would.
    """
    if fid_features not in FID_FEATURES and feature_extractor is None:
        raise ValueError(
            f"metrics.fid_lpips.fid_features={fid_features!r}: expected one of {list(FID_FEATURES)}"
        )
    runner = FidLpips(
        num_outs_per_domain=protocol.num_outs_per_domain,
        batch_size=protocol.batch_size,
        seed=protocol.seed,
        num_workers=protocol.num_workers,
        fid_features=fid_features,
        fid_weights=fid_weights,
        lpips_weights=lpips_weights,
        feature_extractor=feature_extractor,
        quantize=quantize,
        save_images=protocol.save_images,
        settings_key="metrics.fid_lpips",
        modes=protocol.modes,
    )
    return runner.compute
