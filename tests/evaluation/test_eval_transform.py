"""The evaluator prepares the images as the data module does for evaluation: a StarGAN v1 run
(``data.transform=stargan_v1``, ``data.crop_size``) is measured on centre-cropped images, the
sources, the references and the FID reals alike, not on squashed uncropped ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from starganv2.data.datamodule import ImageDomainDataModule
from starganv2.data.folders import load_image, v1_eval_transform
from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.protocol import EvalData, datamodule_eval_transform
from starganv2.utils.images import quantize
from tests.evaluation.conftest import TinyFeatures
from tests.helpers.translators import IdentityTranslator

CROP = 24


class RecordingTranslator(IdentityTranslator):
    """The identity, recording every image it is given (sources and references)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.sources: list[torch.Tensor] = []
        self.references: list[torch.Tensor] = []

    def translate(self, x, y_trg, z=None, x_ref=None, s=None):
        self.sources.append(x.detach().clone())
        return super().translate(x, y_trg)

    def style_from_reference(self, x, y):
        self.references.append(x.detach().clone())
        return super().style_from_reference(x, y)


def _framed_data(root: Path, domains: list[str], n: int = 3) -> Path:
    """Images of 40 x 48 px: random content in the centre, a black frame around it that a centre
    crop to 24 px removes and a squashing resize keeps."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for d in domains:
            (root / split / d).mkdir(parents=True)
            for i in range(n):
                arr = np.zeros((48, 40, 3), np.uint8)
                arr[12:36, 8:32] = rng.integers(1, 256, (24, 24, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / d / f"{i}.png")
    return root


def _rows(batches: list[torch.Tensor]) -> list[torch.Tensor]:
    return [x for batch in batches for x in batch]


def test_a_stargan_v1_data_module_is_evaluated_on_its_centre_crops(tmp_path, offline_hub):
    root = _framed_data(tmp_path / "data", ["a", "b"])
    dm = ImageDomainDataModule(
        root, img_size=32, num_domains=2, transform="stargan_v1", crop_size=CROP, batch_size=2
    )
    dm.prepare_data()
    dm.setup("validate")
    model = RecordingTranslator(img_size=32, num_domains=2)
    feats = TinyFeatures()
    evaluator = Evaluator({"fid_lpips": {"feature_extractor": feats}}, num_outs_per_domain=2)
    evaluator.evaluate(model, dm)

    crop = v1_eval_transform(32, CROP)
    val = [crop(load_image(p)) for d in dm.domains for p in dm.val_files[d]]  # dm.val_set's
    assert all(torch.equal(x, dm.val_set[i]["x"]) for i, x in enumerate(val))
    for x in _rows(model.sources) + _rows(model.references):
        assert any(torch.equal(x, v) for v in val)
    assert len(model.sources) and len(model.references)
    # the FID reals of target a, the first images FID sees: its training images, cropped
    reals = torch.stack([crop(load_image(p)) for p in dm.train_files["a"]])
    assert torch.equal(feats.inputs[0], quantize(reals))


def test_the_transform_follows_the_data_module_at_the_models_size():
    class V1:
        transform, crop_size = "stargan_v1", CROP

    class V2:
        transform, crop_size = "stargan_v2", None

    factory = datamodule_eval_transform(V1())
    image = Image.new("RGB", (40, 48))
    assert factory(16)(image).shape == (3, 16, 16)  # the model's size, not the data's
    assert "CenterCrop(size=(24, 24))" in repr(factory(16))
    assert "CenterCrop" not in repr(datamodule_eval_transform(V2())(16))
    assert "CenterCrop" not in repr(datamodule_eval_transform(object())(16))
    assert EvalData(["a"], {}, {}).transform(16)(image).shape == (3, 16, 16)
