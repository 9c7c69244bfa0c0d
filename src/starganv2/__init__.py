"""starganv2: StarGAN v2 (and the StarGAN v1 baseline) on PyTorch Lightning and Hydra.

The public names are importable from the package (``from starganv2 import StarGANv2Module``) and
resolved lazily, so ``import starganv2`` and ``starganv2.Generator`` do not import Lightning.

Layout: ``models/`` (the Translator protocol, EMA, one subpackage per model), ``data/``,
``evaluation/``, ``synthesis/``, ``interop/`` (original checkpoints, ONNX), ``callbacks/``,
``utils/`` (the one atomic write, the one pixel conversion), ``cli/`` (the console scripts),
``conf/`` (the Hydra configs).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_PUBLIC: dict[str, str] = {
    # models
    "Translator": "starganv2.models.interface",
    "StyleTranslator": "starganv2.models.interface",
    "StarGANv2Module": "starganv2.models.stargan_v2.module",
    "StarGANv1Module": "starganv2.models.stargan_v1.module",
    "TranslationModule": "starganv2.models.base",
    "Generator": "starganv2.models.stargan_v2.nets",
    "MappingNetwork": "starganv2.models.stargan_v2.nets",
    "StyleEncoder": "starganv2.models.stargan_v2.nets",
    "Discriminator": "starganv2.models.stargan_v2.nets",
    "load_model": "starganv2.models.registry",
    "CheckpointError": "starganv2.models.registry",
    "EncodedSources": "starganv2.models.encoded_sources",
    "encode_once": "starganv2.models.encoded_sources",
    "FAN": "starganv2.faces.fan",
    # data
    "ImageDomainDataModule": "starganv2.data.datamodule",
    "ShapesDataModule": "starganv2.data.datamodule",
    "AttributeDataModule": "starganv2.data.attribute_datamodule",
    "write_detection_scenes": "starganv2.data.detection_scenes",
    # evaluation
    "Evaluator": "starganv2.evaluation.evaluator",
    # synthesis
    "latent_grid": "starganv2.synthesis.grids",
    "reference_grid": "starganv2.synthesis.grids",
    "label_grid": "starganv2.synthesis.grids",
    "attribute_grid": "starganv2.synthesis.grids",
    "style_means": "starganv2.models.styles",
    "video_ref": "starganv2.synthesis.video",
    "video_latent": "starganv2.synthesis.video",
    "video_ref_frames": "starganv2.synthesis.video",
    "translate_folder": "starganv2.synthesis.translate_folder",
    "TranslationRequest": "starganv2.synthesis.requests",
    "TranslationRequests": "starganv2.synthesis.requests",
    "requests_for": "starganv2.synthesis.requests",
    "prediction_loader": "starganv2.synthesis.requests",
    "SquareLoader": "starganv2.synthesis.requests",
    "PredictionWriter": "starganv2.synthesis.prediction_writer",
    "augment_dataset": "starganv2.synthesis.detection.augment",
    "read_dataset": "starganv2.synthesis.detection.detect",
    "write_dataset": "starganv2.synthesis.detection.detect",
    # interop
    "convert_checkpoint": "starganv2.interop.original",
    "convert_v1_checkpoint": "starganv2.interop.original_v1",
    "export_onnx": "starganv2.interop.onnx",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'starganv2' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


# The data layer registers its mask providers ("shape_oracle") when imported; the models layer
# may not import it, so the root, above every layer and run before any, does (see
# starganv2.models.masks). Light: no torch until a provider is built.
import starganv2.data  # noqa: E402,F401
