"""What the demo computes, without the web page: one loaded model, pictures in, pictures out.

:class:`DemoEngine` holds a :class:`~starganv2.models.interface.Translator` (loaded once) and
answers the page's requests as plain function calls, so they are tested without a browser:

- :meth:`~DemoEngine.prepare`: a picture of any size -> the model's square input (the fit of
  :mod:`starganv2.synthesis.fit`) and the image the model sees.
- :meth:`~DemoEngine.latent_styles`: ``K`` style codes of a domain from a seed, truncated by
  ``psi``. Latent codes are drawn one row at a time from the seed, so style ``k`` is the same
  whatever ``K``: raising ``K`` keeps the styles already shown.
- :meth:`~DemoEngine.translate`: the source into one or more outputs (latent styles, a reference's
  style, or labels for deterministic models), batched, mapped back to the source's size.
- :meth:`~DemoEngine.blend`, :meth:`~DemoEngine.video`: moving between styles.

Every request carries its own seed and returns its own results: nothing of one request is kept
for the next, except the per-domain mean styles (computed once, on first use of ``psi < 1``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from starganv2.models.interface import (
    MODE_ATTRIBUTE,
    MODE_LABEL,
    MODE_LATENT,
    MODE_REFERENCE,
    Translator,
    require_mode,
    require_styles,
)
from starganv2.synthesis.fit import FIT_MODES, PAD_MODES, Fit, fit_square, resize, unfit
from starganv2.synthesis.styles import NUM_MEAN_CODES, style_means, truncate
from starganv2.synthesis.video import write_video
from starganv2.utils.files import atomic_write
from starganv2.utils.images import from_uint8, to_pil, to_unit

__all__ = [
    "AUTO",
    "MODE_ATTRIBUTE",
    "Prepared",
    "Result",
    "DemoEngine",
    "predict_domains",
    "write_zip",
]

log = logging.getLogger(__name__)

AUTO = -1
"""Domain index meaning "choose for me": the reference's predicted domain, or for a target a
domain other than the source's predicted one."""


@dataclass(frozen=True)
class Prepared:
    """A picture fitted to the model: ``x (3, S, S)`` in ``[-1, 1]`` on the model's device, the
    ``fit`` that maps outputs back, and ``view``, the model's input as a picture."""

    x: torch.Tensor
    fit: Fit
    view: Image.Image


@dataclass
class Result:
    """One answer of :meth:`DemoEngine.translate`.

    Attributes:
        images: the outputs at the source's size (``Fit.out_height x Fit.out_width``).
        y_trg: the target domain used (an index; ``None`` for attribute vectors).
        styles: ``(K, style_dim)`` style codes of the outputs (style models), else ``None``.
        masks: the high-pass skip's two masks as pictures, when asked for and the model has them.
        seconds: wall time of the model's work and the mapping back (not of decoding the upload).
        notes: sentences for the user (e.g. which domain was predicted).
    """

    images: list[Image.Image]
    y_trg: int | None
    styles: torch.Tensor | None = None
    masks: list[Image.Image] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@torch.no_grad()
def predict_domains(model: Translator, x: torch.Tensor) -> torch.Tensor | None:
    """The most likely domain of each image ``x (N, 3, S, S)`` by the model's discriminator, or
    ``None`` when the model has none this function knows how to ask.

    StarGAN v2's discriminator scores "real image of domain ``y``" for a given ``y``: the
    prediction is the domain with the highest score. StarGAN v1's has a classification head: its
    argmax. Both are what the model learned about the domains, not a trained classifier: good
    enough to pick a default, which the user can override.
    """
    nets = getattr(model, "nets", None)
    if not isinstance(nets, torch.nn.ModuleDict) or "discriminator" not in nets:
        return None
    disc = nets["discriminator"]
    try:
        if model.has_styles:
            scores = torch.stack(
                [
                    disc(x, torch.full((x.size(0),), d, dtype=torch.long, device=x.device))
                    for d in range(model.num_domains)
                ],
                dim=1,
            )  # (N, num_domains)
        else:
            out = disc(x)
            scores = out[1] if isinstance(out, tuple) else out  # (N, num_domains)
        if scores.shape != (x.size(0), model.num_domains):
            return None
    except (TypeError, RuntimeError, ValueError) as e:
        log.debug("no domain prediction from %s: %s", type(disc).__name__, e)
        return None
    return scores.argmax(dim=1)


class DemoEngine:
    """The demo's model and everything it computes (see the module docstring).

    Args:
        model: any :class:`~starganv2.models.interface.Translator`, in eval mode.
        domain_names: one name per domain (default ``domain0, domain1, ...``).
        attributes: for deterministic models with multi-hot labels (StarGAN v1's CelebA weights),
            one name per label entry; ``None``: the model's ``attribute_names`` when its guidance
            is ``"attribute"``, else labels are single domains.
        fit, pad: default fit of non-square pictures (:data:`~starganv2.synthesis.fit.FIT_MODES`)
            and letterbox fill (:data:`~starganv2.synthesis.fit.PAD_MODES`).
        batch_size: outputs computed per forward pass.
        mean_codes: latent codes averaged per domain for ``psi < 1``.
    """

    def __init__(
        self,
        model: Translator,
        domain_names: Sequence[str] | None = None,
        attributes: Sequence[str] | None = None,
        fit: str = "letterbox",
        pad: str = "constant",
        batch_size: int = 8,
        mean_codes: int = NUM_MEAN_CODES,
    ) -> None:
        n = model.num_domains
        names = [f"domain{i}" for i in range(n)] if domain_names is None else list(domain_names)
        if attributes is None and MODE_ATTRIBUTE in tuple(model.guidance_modes):
            found = getattr(model, "attribute_names", None)
            attributes = list(found) if found else [f"attr{i}" for i in range(n)]
        if len(names) != n:
            raise ValueError(
                f"domain_names={names} has {len(names)} names but the model has num_domains={n}"
            )
        if attributes is not None:
            if model.has_styles or not hasattr(model, "translate_labels"):
                raise ValueError(
                    f"attributes={list(attributes)} needs a label model (StarGAN v1) with "
                    f"translate_labels, but {type(model).__name__} has none"
                )
            if len(attributes) != n:
                raise ValueError(
                    f"attributes={list(attributes)} has {len(attributes)} names but the model's "
                    f"label vectors have num_domains={n} entries"
                )
        if fit not in FIT_MODES:
            raise ValueError(f"fit={fit!r} is invalid: expected one of {list(FIT_MODES)}")
        if pad not in PAD_MODES:
            raise ValueError(f"pad={pad!r} is invalid: expected one of {list(PAD_MODES)}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} is invalid: expected at least 1")
        self.model = model
        self.domain_names = names
        self.attributes = None if attributes is None else list(attributes)
        self.fit, self.pad = fit, pad
        self.batch_size = batch_size
        self.mean_codes = mean_codes
        self._s_mean: torch.Tensor | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what the model offers
    @property
    def has_styles(self) -> bool:
        """Style model (latent and reference guidance) or deterministic (labels)."""
        return bool(self.model.has_styles)

    @property
    def has_masks(self) -> bool:
        """Whether the model computes masks for its high-pass skip (face models)."""
        return getattr(self.model, "mask_source", None) is not None

    @property
    def img_size(self) -> int:
        return int(self.model.img_size)

    def domain_index(self, name: str | int) -> int:
        """A domain's index from its name (or index); ``ValueError`` naming the choices."""
        if isinstance(name, int) and -1 <= name < len(self.domain_names):
            return name
        if name in self.domain_names:
            return self.domain_names.index(name)
        raise ValueError(f"domain {name!r} is not one of {self.domain_names}")

    # ------------------------------------------------------------------ pictures
    def prepare(self, picture: Image.Image, fit: str | None = None) -> Prepared:
        """Fit an RGB picture of any size to the model's input (see :mod:`..fit`)."""
        x = from_uint8(pil_to_tensor(picture.convert("RGB")))  # (3, H, W)
        x_fit, how = fit_square(x, self.img_size, fit or self.fit, self.pad)
        return Prepared(x_fit.to(self.model.device), how, to_pil(x_fit))

    def _pictures(self, out: torch.Tensor, how: Fit) -> list[Image.Image]:
        """Outputs ``(K, 3, S, S)`` -> pictures at the source's size, one at a time (a large
        source would not fit K times in memory as floats)."""
        return [to_pil(unfit(o.float().cpu(), how)) for o in out]

    # ------------------------------------------------------------------ styles
    def style_means(self) -> torch.Tensor:
        """Per-domain mean styles ``(num_domains, style_dim)`` for truncation, computed once."""
        with self._lock:
            if self._s_mean is None:
                model = require_styles(self.model, "style strength psi < 1")
                start = time.perf_counter()
                g = torch.Generator().manual_seed(0)
                self._s_mean = style_means(model, self.mean_codes, generator=g)
                log.info(
                    "mean styles of %d codes in %.2f s",
                    self.mean_codes,
                    time.perf_counter() - start,
                )
            return self._s_mean

    def latent_styles(self, y: int, num: int, seed: int, psi: float = 1.0) -> torch.Tensor:
        """``num`` style codes ``(num, style_dim)`` of domain ``y`` from ``seed``, truncated
        towards the domain's mean by ``psi`` (1: none, 0: the mean). Code ``k`` does not depend
        on ``num``."""
        model = require_styles(self.model, "latent-guided styles")
        if num < 1:
            raise ValueError(f"num_styles={num!r} is invalid: expected at least 1")
        g = torch.Generator().manual_seed(int(seed))
        z = torch.cat([torch.randn(1, model.latent_dim, generator=g) for _ in range(num)])
        z = z.to(model.device, getattr(model, "dtype", torch.float32))  # (num, latent_dim)
        y_trg = torch.full((num,), y, dtype=torch.long, device=z.device)
        s = model.style_from_latent(z, y_trg)  # (num, style_dim)
        if psi != 1.0:
            s = truncate(s, self.style_means().to(s.device), psi, y_trg)
        return s

    def styles_to_move_through(
        self, shown: torch.Tensor, y: int, num: int, seed: int, psi: float = 1.0
    ) -> torch.Tensor:
        """The styles ``(n, style_dim)`` the blend slider and the video move through, from a
        result's styles ``shown`` ``(K, style_dim)``: ``shown`` itself when ``K >= 2``; with one
        style shown, that style then the next ``num - 1`` latent styles of ``seed``
        (:meth:`latent_styles`). So a reference-guided result's video starts at the reference's
        style; replacing it by the seed's first latent style, as before, gave a video of styles
        unrelated to the result on the page."""
        if shown.size(0) >= 2 or num <= 1:
            return shown
        more = self.latent_styles(y, num, seed, psi).to(shown.device, shown.dtype)
        return torch.cat([shown[:1], more[1:]])

    def reference_style(self, ref: Prepared, y_ref: int) -> tuple[torch.Tensor, int, str | None]:
        """Style code ``(1, style_dim)`` of a reference, its domain (``AUTO``: predicted) and a
        note saying what was predicted."""
        model = require_styles(self.model, "reference-guided styles")
        note = None
        if y_ref == AUTO:
            predicted = predict_domains(model, ref.x.unsqueeze(0))
            if predicted is None:
                raise ValueError(
                    "this model cannot predict the reference's domain: choose it in the list"
                )
            y_ref = int(predicted[0])
            note = f"reference domain predicted: {self.domain_names[y_ref]}"
        y = torch.tensor([y_ref], device=ref.x.device)
        return model.style_from_reference(ref.x.unsqueeze(0), y), y_ref, note

    # ------------------------------------------------------------------ translation
    @torch.no_grad()
    def _generate(self, x: torch.Tensor, y: int, styles: torch.Tensor) -> torch.Tensor:
        """``x (3, S, S)`` with each style of ``styles (K, style_dim)`` -> ``(K, 3, S, S)``,
        ``batch_size`` outputs per forward pass."""
        chunks = []
        for s in styles.split(self.batch_size):
            xb = x.unsqueeze(0).expand(s.size(0), -1, -1, -1)  # (k, 3, S, S)
            chunks.append(self.model.translate(xb, y, s=s).cpu())
        return torch.cat(chunks)

    def target_for(self, src: Prepared, y_trg: int) -> tuple[int, str | None]:
        """``y_trg``, or for ``AUTO`` a domain other than the source's predicted one (the first
        domain when there is no prediction), with a note saying so."""
        if y_trg != AUTO:
            return y_trg, None
        predicted = predict_domains(self.model, src.x.unsqueeze(0))
        if predicted is None:
            return 0, f"target: {self.domain_names[0]}"
        y_src = int(predicted[0])
        y = (y_src + 1) % self.model.num_domains
        names = self.domain_names
        return y, f"source looks like {names[y_src]}; target: {names[y]}"

    @torch.no_grad()
    def translate(
        self,
        src: Prepared,
        mode: str = MODE_LATENT,
        y_trg: int = AUTO,
        num_styles: int = 1,
        seed: int = 0,
        psi: float = 1.0,
        ref: Prepared | None = None,
        y_ref: int = AUTO,
        labels: Sequence[int] | None = None,
        masks: bool = False,
    ) -> Result:
        """Translate a prepared source.

        Args:
            src: the source (:meth:`prepare`).
            mode: ``"latent"`` (``num_styles`` styles of ``y_trg`` from ``seed``, truncated by
                ``psi``), ``"reference"`` (the style of ``ref``, of domain ``y_ref``),
                ``"label"`` (deterministic models: one output for ``y_trg``, or for the multi-hot
                ``labels`` when the engine has ``attributes``) or ``"attribute"`` (multi-label
                models: the ``labels`` switched on, none by default).
            y_trg, y_ref: domain indices; ``AUTO`` chooses (see :meth:`target_for`,
                :meth:`reference_style`).
            masks: also return the high-pass skip's masks of the source (face models).
        """
        if mode == MODE_ATTRIBUTE and labels is None:
            labels = []  # every attribute off
        if mode in (MODE_LABEL, MODE_ATTRIBUTE) and labels is not None:
            if self.attributes is None:
                raise ValueError("labels=... needs attributes (multi-hot label names)")
        else:
            require_mode(self.model, mode, f"mode={mode!r}")
        start = time.perf_counter()
        notes: list[str] = []
        styles = None
        if labels is not None:
            c = torch.zeros(1, self.model.num_domains, device=src.x.device)
            c[0, list(labels)] = 1.0  # (1, num_domains) multi-hot
            out = self.model.translate_labels(src.x.unsqueeze(0), c).cpu()
            y = None
        elif mode == MODE_LABEL:
            y, note = self.target_for(src, y_trg)
            notes += [note] if note else []
            out = self.model.translate(src.x.unsqueeze(0), y).cpu()
        elif mode == MODE_REFERENCE:
            if ref is None:
                raise ValueError("reference-guided translation needs a reference picture")
            styles, y, note = self.reference_style(ref, y_ref)
            notes += [note] if note else []
            out = self._generate(src.x, y, styles)
        else:
            y, note = self.target_for(src, y_trg)
            notes += [note] if note else []
            styles = self.latent_styles(y, num_styles, seed, psi)
            out = self._generate(src.x, y, styles)
        images = self._pictures(out, src.fit)
        mask_pictures = self.masks(src) if masks else []
        seconds = time.perf_counter() - start
        return Result(images, y, styles, mask_pictures, seconds, notes)

    def masks(self, src: Prepared) -> list[Image.Image]:
        """The high-pass skip's two masks of the source as grey pictures at the model's size
        (empty when the model has no mask provider)."""
        provider = getattr(self.model, "mask_source", None)
        if provider is None:
            return []
        with torch.no_grad():
            found = provider.masks(src.x.unsqueeze(0))  # two (1, 1, h, w) in [0, 1]
        size = self.img_size
        pictures = []
        for m in found:
            m = resize(m.float().cpu() * 2 - 1, size, size)[0].expand(3, -1, -1)  # (3, S, S)
            pictures.append(to_pil(m))
        return pictures

    @torch.no_grad()
    def blend(
        self, src: Prepared, y: int, s_a: torch.Tensor, s_b: torch.Tensor, alpha: float
    ) -> Image.Image:
        """The source with the style ``(1 - alpha) s_a + alpha s_b`` (``(style_dim,)`` each)."""
        s = torch.lerp(s_a, s_b, float(alpha)).unsqueeze(0)  # (1, style_dim)
        return self._pictures(self._generate(src.x, y, s.to(src.x.device)), src.fit)[0]

    def video_frames(
        self, src: Prepared, y: int, styles: torch.Tensor, frames_per_transition: int
    ) -> Iterator[torch.Tensor]:
        """Frames ``(3, H, W)`` in ``[0, 1]`` (the source's size) moving through ``styles
        (K, style_dim)`` in order and back to the first, ``frames_per_transition`` frames
        between two styles; computed ``batch_size`` frames at a time."""
        if styles.size(0) < 2:
            raise ValueError("a style video needs at least 2 styles")
        loop = torch.cat([styles, styles[:1]])  # (K + 1, style_dim)
        alphas = torch.arange(frames_per_transition, dtype=loop.dtype) / frames_per_transition
        path = [
            torch.lerp(loop[k], loop[k + 1], float(a))
            for k in range(loop.size(0) - 1)
            for a in alphas
        ]
        codes = torch.stack(path).to(src.x.device)  # (K * frames_per_transition, style_dim)
        for chunk in codes.split(self.batch_size):
            for frame in self._generate(src.x, y, chunk):
                yield to_unit(unfit(frame, src.fit))

    def video(
        self,
        src: Prepared,
        y: int,
        styles: torch.Tensor,
        path: str | os.PathLike,
        frames_per_transition: int = 12,
        fps: int = 24,
    ) -> int:
        """Write the loop of :meth:`video_frames` to ``path`` (MP4, the library's video writer);
        returns the number of frames."""
        frames = self.video_frames(src, y, styles, frames_per_transition)
        return write_video(frames, path, fps=fps)


def write_zip(images: Sequence[Image.Image], names: Sequence[str], path: str | os.PathLike) -> Path:
    """PNG files of ``images`` named ``names`` in one zip archive at ``path`` (written atomically)."""
    import io

    def write(tmp: Path) -> Any:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for img, name in zip(images, names):
                buffer = io.BytesIO()
                img.save(buffer, format="PNG")
                archive.writestr(name, buffer.getvalue())

    return atomic_write(path, write)
