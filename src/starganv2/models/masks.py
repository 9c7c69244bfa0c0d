"""Mask providers: where the masks of StarGAN v2's high-pass skip come from, chosen by name.

The high-pass skip (``Generator(skip="highpass")``, ``w_hpf > 0``) multiplies encoder features by
a mask before the Laplacian, so only the masked region's edges reach the decoder. A provider maps
images ``x (N, 3, H, W)`` in ``[-1, 1]`` to two masks ``(N, 1, h, w)`` in ``[0, 1]``: the first
for the 32 px skip, the second for the 64 and 128 px skips (the generator resizes them). The
module asks its provider for the masks of every generator input: the sources, and the fakes of
the cycle term; its inference and export graphs wrap the generator with its provider
(:class:`~starganv2.models.stargan_v2.graphs.MaskedGenerator`).

Providers are named, as models and metrics are (:data:`MASK_PROVIDERS`, the registry;
``StarGANv2Module(mask_provider=...)``, ``model.mask_provider`` in the configs), and built by
:func:`build_mask_provider`:

- ``"fan"``: faces. :class:`~starganv2.faces.fan.FAN` (the frozen landmark network of the
  original CelebA-HQ model) draws the masks from landmark heatmaps (docs/faces.md).
- ``"shape_oracle"``: the built-in shapes data. :class:`~starganv2.data.shape_masks.ShapeOracleMasks`
  takes each image's shape silhouette against its uniform background: on the data's images that
  is the outline rendered from the metadata, so the high-pass skip can be measured where the
  ground truth is known (docs/ablations.md).

Where each provider is registered, so that imports only run down the layers (utils < faces <
models < data < ...): a provider registers itself in the layer it belongs to.

- ``"fan"`` is registered here: the models layer may import ``faces``.
- ``"shape_oracle"`` belongs to the shapes data; ``starganv2/data/__init__.py`` registers it, so
  it is known as soon as anything under ``starganv2.data`` is imported. The models layer never
  imports ``data``; instead the package root ``starganv2/__init__.py``, which sits above every
  layer and runs before any of them, imports ``starganv2.data``. So the name is known wherever
  the library is used, also for ``load_model(path)`` with no data in sight.

Nothing here imports torch or a provider's module until a provider is built (each factory
imports its own class), so ``import starganv2`` stays light. A provider from outside the library
registers with :func:`register_mask_provider` before the model is built; configs then name it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from starganv2.utils.registration import check_new_entry, defined_at

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MASK_PROVIDER",
    "MASK_PROVIDERS",
    "MaskProvider",
    "MaskProviderFactory",
    "build_mask_provider",
    "check_mask_provider",
    "register_mask_provider",
]

log = logging.getLogger(__name__)


@runtime_checkable
class MaskProvider(Protocol):
    """Anything with ``masks(x) -> (mask_32, mask_64_128)`` (see the module docstring)."""

    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two masks ``(N, 1, h, w)`` in ``[0, 1]`` of images ``x (N, 3, H, W)`` in ``[-1, 1]``."""
        ...


class MaskProviderFactory(Protocol):
    """Builds a provider: ``factory(weights=..., key=..., load_weights=...) -> MaskProvider``.

    ``weights`` is the path of the provider's weights file (the FAN's ``wing.ckpt``; ``None`` for
    a provider without weights), ``key`` the name it was given under (for error messages, e.g.
    ``"model.fan_weights"``), and ``load_weights=False`` asks for the bare structure, whose
    weights come from the checkpoint being loaded.
    """

    def __call__(self, *, weights: str | None, key: str, load_weights: bool) -> MaskProvider: ...


DEFAULT_MASK_PROVIDER = "fan"
"""The provider a model has unless told otherwise (``StarGANv2Module(mask_provider="fan")``)."""

MASK_PROVIDERS: dict[str, MaskProviderFactory] = {}
"""The registry: provider name -> factory (fill it with :func:`register_mask_provider`)."""


def register_mask_provider(name: str, factory: MaskProviderFactory) -> None:
    """Make ``mask_provider=name`` build its provider with ``factory`` (a
    :class:`MaskProviderFactory`).

    Registering a name again with a different function raises ``ValueError`` (two providers
    would fight over one name); the same function again (a reloaded module) replaces it.
    """
    check_new_entry("mask provider", name, MASK_PROVIDERS, factory)
    MASK_PROVIDERS[name] = factory


def check_mask_provider(name: object, key: str = "mask_provider") -> str:
    """``name`` if it names a registered provider, else ``ValueError`` naming ``key``, showing
    ``name`` and listing the known names."""
    if not isinstance(name, str) or name not in MASK_PROVIDERS:
        raise ValueError(f"{key}={name!r} is invalid: expected one of {sorted(MASK_PROVIDERS)}")
    return name


def build_mask_provider(
    name: str,
    *,
    w_hpf: float,
    weights: str | None = None,
    key: str = "model.fan_weights",
    load_weights: bool = True,
) -> MaskProvider | None:
    """The provider registered as ``name`` for a generator with high-pass weight ``w_hpf``.

    Args:
        name: a registered provider (``"fan"``, ``"shape_oracle"``, ...); an unknown name raises
            ``ValueError`` naming ``mask_provider`` and listing the known names, whatever
            ``w_hpf`` is.
        w_hpf: the generator's high-pass weight; ``<= 0`` means no skip and no masks: the result
            is ``None`` (``weights``, when given, and a ``name`` other than the default
            :data:`DEFAULT_MASK_PROVIDER` are logged as unused).
        weights: the provider's weights file (the FAN's ``wing.ckpt``), ``None`` for none.
        key: the name ``weights`` was given under, for messages.
        load_weights: ``False`` builds the bare provider, for a checkpoint that brings its
            weights (``load_from_checkpoint``).

    Returns:
        the provider (frozen, eval mode when it is a net), or ``None`` without the skip; a
        factory that returns an object without ``masks`` is a ``TypeError`` naming both, here
        rather than at the first translation.
    """
    check_mask_provider(name)
    if w_hpf <= 0:
        if weights is not None:
            log.warning("%s=%r is not used: w_hpf=%s has no masks", key, weights, w_hpf)
        if name != DEFAULT_MASK_PROVIDER:
            log.warning("mask_provider=%r is not used: w_hpf=%s has no masks", name, w_hpf)
        return None
    factory = MASK_PROVIDERS[name]
    provider = factory(weights=weights, key=key, load_weights=load_weights)
    if not callable(getattr(provider, "masks", None)):
        raise TypeError(
            f"mask provider {name!r}: its factory {defined_at(factory)} returned "
            f"{type(provider).__name__}, which has no masks(x) method: expected masks(x) -> "
            "(mask_32, mask_64_128), each (N, 1, h, w) in [0, 1]"
        )
    return provider


def _fan(*, weights: str | None, key: str, load_weights: bool) -> MaskProvider:
    """The FAN's face masks (:mod:`starganv2.faces`); its weights are required."""
    from starganv2.faces.fan import FAN

    if not load_weights:
        return FAN()
    if weights is None:
        raise ValueError(
            "mask_provider='fan' needs the face-landmark network (FAN) for its face masks, but "
            f"{key} is not set: download wing.ckpt (clovaai/stargan-v2: `bash download.sh wing` "
            f"saves expr/checkpoints/wing.ckpt) and pass {key}=path/to/wing.ckpt; on the built-in "
            "shapes data use model.mask_provider=shape_oracle; or set model.w_hpf=0 (see "
            "docs/faces.md)"
        )
    return FAN.from_file(weights, key=key)


register_mask_provider("fan", _fan)
