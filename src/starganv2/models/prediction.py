"""``predict_step``: a batch of translation requests in, translated images out.

``Trainer.predict(module, dataloader)`` runs it on every batch, on every DDP rank, with the module
in eval mode and gradients off; the inference (EMA) nets translate, through ``translate``. A
batch is a dict (what :func:`starganv2.synthesis.requests.collate_requests` makes):

- ``x`` ``(N, 3, S, S)`` float: source images in [-1, 1], ``S = img_size``;
- ``y_trg`` ``(N,)`` long: target domains;
- ``seed`` ``(N,)`` long: each item's own style seed; its latent code is :func:`latent_codes` of
  it, so an output depends on its own request only, not on the batch or on how ranks split the
  data;
- ``x_ref`` ``(N, 3, S, S)`` float, optional: reference images of ``y_trg`` (reference-guided;
  ``seed`` is then not needed);
- ``psi`` ``(N,)`` float, optional: truncation of each item's style (latent or reference) toward
  ``y_trg``'s mean style (1 = none, 0 = the mean; :func:`~starganv2.models.styles.truncate`);
- any other key (file names, ids, annotations): passed through.

It returns ``{"x_fake": (N, 3, S, S) float in [-1, 1] on the CPU, **passed}``: every key of the
batch except the images ``x`` and ``x_ref``, tensors among them moved to the CPU, so a writer
(:class:`starganv2.synthesis.prediction_writer.PredictionWriter`) can name and store each output.

Models without style codes (StarGAN v1, ``guidance_modes == ("label",)``) translate by label
and refuse ``x_ref`` and ``psi``; ``seed`` is ignored there.

Truncation uses the per-domain mean styles of :func:`~starganv2.models.styles.style_means`
(10,000 latent codes drawn from a fixed seed, :data:`MEAN_STYLE_SEED`, so every rank computes the
same means), computed on the first batch that needs them and kept until the next prediction run
starts (the weights may have changed in between).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from starganv2.models.interface import GuidanceModeError
from starganv2.models.styles import MEAN_STYLE_SEED, seeded_style_means, truncate
from starganv2.models.training_checks import check_images

__all__ = ["PredictionMixin", "latent_codes", "IMAGE_KEYS", "MEAN_STYLE_SEED"]

IMAGE_KEYS = ("x", "x_ref")
"""Batch keys that ``predict_step`` consumes and does not pass through."""


def latent_codes(seed: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """The latent code of each item: ``seed (N,)`` integers -> ``(N, latent_dim)`` float32 on the
    CPU, row ``i`` drawn by ``torch.randn(latent_dim)`` in float32 from a generator seeded with
    ``seed[i]``.

    Row ``i`` depends on ``seed[i]`` only (not on the batch it sits in), on any device, whatever
    torch's default dtype (Lightning's ``precision="64-true"`` sets float64 while it predicts, and
    float64 draws are other numbers): callers cast the codes to their model's dtype.
    """
    if not isinstance(seed, torch.Tensor) or seed.dim() != 1 or seed.is_floating_point():
        shown = f"{seed.dtype} {tuple(seed.shape)}" if isinstance(seed, torch.Tensor) else seed
        raise ValueError(f"seed is {shown}: expected an integer tensor (N,), one seed per item")
    rows = [
        torch.randn(
            latent_dim, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32
        )
        for s in seed.tolist()
    ]
    codes = torch.stack(rows) if rows else torch.zeros(0, latent_dim, dtype=torch.float32)
    return codes  # (N, latent_dim)


class PredictionMixin:
    """``predict_step`` for the library's LightningModules (see the module docstring).

    A mixin of :class:`~starganv2.models.base.TranslationModule`: it relies on the Translator
    protocol only (``translate``, ``has_styles``, ``guidance_modes`` and, for style models,
    ``style_from_latent``, ``style_from_reference``, ``latent_dim``).
    """

    _prediction_s_mean: torch.Tensor | None = None

    @torch.no_grad()
    def predict_step(
        self, batch: Mapping[str, Any], batch_idx: int = 0, dataloader_idx: int = 0
    ) -> dict[str, Any]:
        """Translate one batch of requests; returns ``{"x_fake": (N, 3, S, S), **passed}``."""
        if not isinstance(batch, Mapping):  # (x, y) tuples: ``in`` would compare tensors
            raise TypeError(
                f"predict_step: the batch is a {type(batch).__name__}: expected a dict with x "
                "(N, 3, S, S), y_trg (N,), seed (N,) and optionally x_ref, psi, as "
                "starganv2.prediction_loader(TranslationRequests(...)) yields"
            )
        for key in ("x", "y_trg"):
            if key not in batch:
                raise KeyError(
                    f"predict_step: the batch has no {key!r} (keys {sorted(batch)}); expected "
                    "x (N, 3, S, S), y_trg (N,), seed (N,) and optionally x_ref, psi"
                )
        x, y_trg = batch["x"], batch["y_trg"]
        x_ref, psi = batch.get("x_ref"), batch.get("psi")
        if not self.has_styles:
            given = [k for k in ("x_ref", "psi") if batch.get(k) is not None]
            if given:
                raise GuidanceModeError(
                    f"predict_step: the batch has {given}, but {type(self).__name__} is "
                    f"deterministic (modes {list(self.guidance_modes)}): it has no style codes "
                    "to take from a reference or truncate; leave x_ref and psi out"
                )
            _refuse_style_copies(batch.get("style"), type(self).__name__)
            x_fake = self.translate(x, y_trg)
        else:
            s = self._prediction_styles(batch, x, y_trg, x_ref, psi)  # (N, style_dim)
            x_fake = self.translate(x, y_trg, s=s)
        passed = {
            k: v.cpu() if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
            if k not in IMAGE_KEYS
        }
        return {**passed, "x_fake": x_fake.cpu()}

    def _prediction_styles(
        self,
        batch: Mapping[str, Any],
        x: torch.Tensor,
        y_trg: torch.Tensor,
        x_ref: torch.Tensor | None,
        psi: torch.Tensor | None,
    ) -> torch.Tensor:
        """Style codes ``(N, style_dim)``: of ``x_ref`` or of each item's seed, truncated."""
        y = self.translation_inputs(x, y_trg)
        if x_ref is not None:
            check_images(x_ref, self.img_size, "x_ref")
            if x_ref.size(0) != x.size(0):
                raise ValueError(f"x_ref has {x_ref.size(0)} images for {x.size(0)} sources")
            s = self.style_from_reference(x_ref, y)
        else:
            if batch.get("seed") is None:
                raise KeyError(
                    f"predict_step: the batch has no 'seed' (keys {sorted(batch)}); latent-guided "
                    "prediction needs seed (N,) long, one style seed per item (or x_ref)"
                )
            seed = batch["seed"]
            if seed.shape != (x.size(0),):
                raise ValueError(f"seed is {tuple(seed.shape)}: expected ({x.size(0)},)")
            z = latent_codes(seed, self.latent_dim).to(x.device, x.dtype)  # (N, latent_dim)
            s = self.style_from_latent(z, y)  # (N, style_dim)
        if psi is not None:
            s = truncate(s, self.prediction_style_means().to(s.device), psi.to(s.device), y)
        return s

    def prediction_style_means(self) -> torch.Tensor:
        """The per-domain mean styles ``(num_domains, style_dim)`` that ``psi`` truncates toward
        (computed once per prediction run, from :data:`MEAN_STYLE_SEED`)."""
        if self._prediction_s_mean is None:
            self._prediction_s_mean = seeded_style_means(self)
        return self._prediction_s_mean

    def on_predict_start(self) -> None:
        """Forget the mean styles of an earlier run: the weights may have changed since."""
        self._prediction_s_mean = None


def _refuse_style_copies(style: Any, model: str) -> None:
    """``GuidanceModeError`` for requests of a deterministic model with a style index above 0
    (``requests_for(..., num_styles=K)``, ``K > 1``): every style of a source and target would
    be the same image, written ``K`` times under different names, as ``starganv2-translate``
    and ``starganv2-augment`` refuse ``styles > 1`` for such a model."""
    if style is None:
        return
    styles = torch.as_tensor(style)
    top = int(styles.max()) if styles.numel() else 0
    if top > 0:
        raise GuidanceModeError(
            f"predict_step: the batch has requests of style {top}, but {model} is deterministic "
            "(one output per source and target): every style would be the same image; make "
            "the requests with num_styles=1"
        )
