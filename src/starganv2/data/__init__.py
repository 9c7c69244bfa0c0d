"""Data: image folders (``folders``), datasets and the balanced sampler (``sampling``), the
LightningDataModules (``datamodule``), the built-in synthetic shapes (``shapes``) and their oracle
masks (``shape_masks``), and folder alignment of face photos (``align_folder``).

Importing this package registers the data's mask provider, ``"shape_oracle"``
(:mod:`starganv2.models.masks` says why here); the package root imports it, so the name is known
wherever the library is used. Building the provider imports its module (and torch), not this.
"""

from __future__ import annotations

import logging

from starganv2.models.masks import MaskProvider, register_mask_provider

log = logging.getLogger(__name__)


def _shape_oracle(*, weights: str | None, key: str, load_weights: bool) -> MaskProvider:
    """The shapes data's oracle masks (:class:`~starganv2.data.shape_masks.ShapeOracleMasks`);
    no weights (``weights``, when given, is logged as unused)."""
    from starganv2.data.shape_masks import ShapeOracleMasks

    if weights is not None:
        log.warning("%s=%r is not used: mask_provider='shape_oracle' has no weights", key, weights)
    return ShapeOracleMasks()


register_mask_provider("shape_oracle", _shape_oracle)
