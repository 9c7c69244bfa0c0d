"""The Translator protocol: what evaluation, synthesis, folder translation, sample callbacks and
ONNX export may rely on, whatever the model.

A model translates images ``x (N, 3, img_size, img_size)`` in ``[-1, 1]`` into target domains
``y_trg (N,)`` (or one int for all rows). Models come in two kinds, told apart by ``has_styles``:

- **style models** (StarGAN v2): each output also depends on a style code ``s (N, style_dim)``,
  drawn from a latent code ``z (N, latent_dim)`` (latent-guided) or taken from a reference image
  ``x_ref`` of the target domain (reference-guided). They implement :class:`StyleTranslator`.
- **deterministic models** (StarGAN v1): one output per image and target domain; ``translate``
  takes no ``z``, ``x_ref`` or ``s``.

``guidance_modes`` names the ways outputs can be made: ``("latent", "reference")`` for style
models, ``("label",)`` for deterministic ones, ``("attribute",)`` for deterministic models driven
by multi-hot attribute vectors instead of domains (StarGAN v1 with ``label_mode="multi"``, the
CelebA setting: ``translate_labels(x, c_trg)`` with ``c_trg (N, num_domains)``). Tools call
:func:`require_mode` before they use a mode, so a model that lacks it fails at once with a
message that says what it can do instead.

Inference uses the model's averaged (EMA) weights where it has them; ``translate`` handles
everything model-specific (e.g. face masks for the high-pass skip).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = [
    "Translator",
    "StyleTranslator",
    "GuidanceModeError",
    "require_mode",
    "require_styles",
    "MODE_LATENT",
    "MODE_REFERENCE",
    "MODE_LABEL",
    "MODE_ATTRIBUTE",
]

MODE_LATENT = "latent"
MODE_REFERENCE = "reference"
MODE_LABEL = "label"
MODE_ATTRIBUTE = "attribute"


class GuidanceModeError(ValueError):
    """A tool asked a model for a guidance mode it does not have."""


@runtime_checkable
class Translator(Protocol):
    """Any image-to-image translation model of this library (see the module docstring)."""

    @property
    def num_domains(self) -> int:
        """Number of domains; labels are ``0 .. num_domains - 1``."""
        ...

    @property
    def img_size(self) -> int:
        """Square image side the model was built for."""
        ...

    @property
    def has_styles(self) -> bool:
        """True for style models (latent and reference guidance), False for deterministic ones."""
        ...

    @property
    def guidance_modes(self) -> tuple[str, ...]:
        """The modes the model supports: ``("latent", "reference")`` or ``("label",)``."""
        ...

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        ...

    def translate(
        self, x: torch.Tensor, y_trg: torch.Tensor | int, **style: torch.Tensor
    ) -> torch.Tensor:
        """``x (N, 3, S, S)`` in ``[-1, 1]`` into domains ``y_trg`` -> ``(N, 3, S, S)`` clamped to
        ``[-1, 1]``.

        Style models accept at most one of ``z``, ``x_ref``, ``s`` (none: fresh latent codes);
        deterministic models accept none.
        """
        ...

    def inference_graph(self, mode: str, **options: object) -> nn.Module:
        """A plain ``nn.Module`` computing ``translate`` in ``mode`` on the CPU, for export:
        ``forward(x, y, *extra)`` with the extra inputs of :meth:`graph_inputs`. ``options`` are
        model-specific (StarGAN v2's latent graph takes ``psi`` and ``s_mean``)."""
        ...

    def graph_inputs(
        self, mode: str, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Random example inputs ``(x, y, *extra)`` of :meth:`inference_graph` for batch ``n``."""
        ...

    def graph_input_names(self, mode: str) -> list[str]:
        """Names of the inputs of :meth:`inference_graph` (``["x", "y", "z"]``, ...)."""
        ...

    def eval(self) -> nn.Module: ...

    def train(self, mode: bool = True) -> nn.Module: ...


@runtime_checkable
class StyleTranslator(Translator, Protocol):
    """A :class:`Translator` whose outputs depend on a style code (StarGAN v2)."""

    @property
    def latent_dim(self) -> int:
        """Length of the latent code ``z``."""
        ...

    @property
    def style_dim(self) -> int:
        """Length of the style code ``s``."""
        ...

    def style_from_latent(self, z: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """Style codes ``(N, style_dim)`` of latent codes ``z (N, latent_dim)`` for domains ``y``
        (an int for every row, or an integer ``(N,)`` tensor), inputs checked as ``translate``
        checks them."""
        ...

    def style_from_reference(self, x_ref: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """Style codes ``(N, style_dim)`` of reference images ``x_ref (N, 3, S, S)`` of domains
        ``y`` (an int for every row, or an integer ``(N,)`` tensor), inputs checked as
        ``translate`` checks them."""
        ...


def require_mode(model: Translator, mode: str, what: str) -> None:
    """Raise :class:`GuidanceModeError` unless ``model`` supports guidance ``mode``.

    ``what`` names the tool or option asking (``"reference grids"``, ``"modes=[reference]"``).
    """
    modes = tuple(model.guidance_modes)
    if mode not in modes:
        kind = "a style model" if model.has_styles else "deterministic (no style codes)"
        raise GuidanceModeError(
            f"{what} needs {mode!r} guidance, but {type(model).__name__} is {kind} and supports "
            f"only {list(modes)}; use one of those instead"
        )


def require_styles(model: Translator, what: str) -> StyleTranslator:
    """``model`` as a :class:`StyleTranslator`, or a :class:`GuidanceModeError` naming ``what``."""
    if not model.has_styles:
        raise GuidanceModeError(
            f"{what} needs style codes (latent or reference guidance), but "
            f"{type(model).__name__} is deterministic: it makes one output per image and target "
            f"domain (modes {list(model.guidance_modes)})"
        )
    return model  # type: ignore[return-value]
