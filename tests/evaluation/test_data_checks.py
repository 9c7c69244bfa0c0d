"""The evaluator's checks of the data against the model, from a dataset folder or a data module:
``val/`` with the training domains, at least 2 images per domain (the folder named), and the
domain names the model was trained with (``model.trained_domains``)."""

from __future__ import annotations

import logging
import shutil

import pytest

from starganv2.data.datamodule import ImageDomainDataModule
from starganv2.evaluation.evaluator import Evaluator, check_trained_domains
from starganv2.evaluation.protocol import EvalData
from tests.evaluation.conftest import TinyFeatures, evaluate, write_domain_data


def _evaluator() -> Evaluator:
    return Evaluator({"fid_lpips": {"feature_extractor": TinyFeatures()}}, num_outs_per_domain=2)


def test_an_extra_val_domain_folder_is_refused_naming_val(tmp_path, offline_hub, tiny_module):
    """Before, ``val/zzz`` (no ``train/zzz``) was left out silently; the data module refuses it
    (``_scan_val``) and so does the folder path now."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    shutil.copytree(root / "val" / "b", root / "val" / "zzz")
    with pytest.raises(ValueError) as err:
        evaluate(tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2)
    assert str(err.value).startswith(
        f"domain folders under {root / 'val'}: ['a', 'b', 'zzz'], expected the training "
        f"domains ['a', 'b'] (the folders under {root / 'train'}; extra: ['zzz'], missing: [])"
    )


def test_a_missing_val_domain_folder_is_refused_naming_val(tmp_path, offline_hub, tiny_module):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    shutil.rmtree(root / "val" / "b")
    with pytest.raises(ValueError) as err:
        evaluate(tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2)
    assert str(err.value).startswith(
        f"domain folders under {root / 'val'}: ['a'], expected the training domains ['a', 'b']"
    )
    assert "missing: ['b']" in str(err.value)


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_domain_with_one_image_is_refused_naming_its_folder(
    tmp_path, offline_hub, tiny_module, split
):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    (root / split / "b" / "001.png").unlink()
    with pytest.raises(ValueError) as err:
        evaluate(tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2)
    assert str(err.value).startswith(
        f"{root / split / 'b'}: 1 image(s); expected at least 2 images per domain in {split}/"
    )


def test_a_data_module_val_domain_with_one_image_names_its_folder(
    tmp_path, offline_hub, tiny_module
):
    """The data module accepts one validation image per domain (training needs none); the
    evaluator needs 2 and names the folder."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    (root / "val" / "a" / "001.png").unlink()
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    with pytest.raises(ValueError, match=rf"^{root / 'val' / 'a'}: 1 image\(s\); expected"):
        _evaluator().evaluate(tiny_module, dm)


def test_data_that_move_a_trained_domain_are_refused(tmp_path, offline_hub, tiny_module):
    """A model trained on ``b, a`` measured on folders ``a, b``: every figure would be another
    domain's under the name of this one (``FID_latent/b2a`` measuring ``a2b``)."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    tiny_module.trained_domains = ["b", "a"]
    with pytest.raises(ValueError) as err:
        _evaluator().evaluate(tiny_module, root)
    msg = str(err.value)
    assert msg.startswith(
        f"the domain folders under {root / 'train'} give the domains (0: a, 1: b) but the model "
        "(model.trained_domains) was trained with (0: b, 1: a): ['b', 'a'] would be translated "
        "with another domain's label"
    )


def test_a_renamed_domain_keeps_its_label_with_a_warning(
    tmp_path, offline_hub, tiny_module, caplog
):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    tiny_module.trained_domains = ["cat", "b"]
    with caplog.at_level(logging.WARNING, logger="starganv2.models.domain_names"):
        results = _evaluator().evaluate(tiny_module, root)
    assert "FID_latent/b2a" in results
    assert (
        f"the domain folders under {root / 'train'} give the domains (0: a, 1: b); the model "
        "(model.trained_domains) was trained with (0: cat, 1: b): each label keeps its place"
    ) in caplog.text


def test_trained_domains_is_checked_and_not_saved(tiny_module):
    names = set(tiny_module.state_dict())
    assert tiny_module.trained_domains is None  # unknown unless set
    with pytest.raises(ValueError, match=r"^trained_domains=\['a'\]: expected None or 2 domain"):
        tiny_module.trained_domains = ["a"]
    tiny_module.trained_domains = ("a", "b")
    assert tiny_module.trained_domains == ["a", "b"]
    assert "trained_domains" not in tiny_module.hparams and set(tiny_module.state_dict()) == names


def test_the_name_check_leaves_other_counts_to_the_count_check(caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.models.domain_names"):
        check_trained_domains(["a", "b"], "here", ["a", "b", "c"], "there")
        check_trained_domains(["a", "b"], "here", None, "there")
        check_trained_domains(["a", "b"], "here", ["a", "b"], "there")
    assert caplog.text == ""


def test_eval_data_keeps_its_transform_when_limited(tmp_path):
    from functools import partial

    from starganv2.data.folders import v1_eval_transform

    factory = partial(v1_eval_transform, crop_size=20)
    data = EvalData(["a"], {"a": [tmp_path] * 3}, {"a": [tmp_path] * 3}, transform=factory)
    cut = data.limited(2)
    assert cut.transform is factory and len(cut.train_files["a"]) == 2


def test_load_model_gives_the_trained_domains_to_the_evaluator(tmp_path, offline_hub):
    """``load_model`` reads the domain names training saved in the checkpoint: from Python, as
    from ``starganv2-eval``, data that move one of them to another label are refused."""
    from starganv2.models.registry import load_model
    from starganv2.models.stargan_v2.module import StarGANv2Module
    from tests.helpers import TINY, quiet_trainer

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    trainer = quiet_trainer()
    trainer.fit(StarGANv2Module(**TINY, total_iters=1), datamodule=dm)
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)

    model = load_model(path)
    assert model.trained_domains == ["a", "b"]
    moved = write_domain_data(tmp_path / "moved", ["0", "a"], n_train=2, n_val=2)
    with pytest.raises(ValueError, match=r"\['a'\] would be translated with another domain's"):
        _evaluator().evaluate(model, moved)
    assert "FID_latent/b2a" in _evaluator().evaluate(model, root)
