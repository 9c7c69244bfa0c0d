"""``data.attributes=null`` ("all of the table's") in training: the model is built with the
table's names, so the default hair-colour group is checked against them and checkpoints name the
attributes."""

from __future__ import annotations

from hydra.utils import instantiate

from starganv2.cli.train import name_all_attributes
from tests.data.test_attributes import NAMES, ROWS, _celeba_text, _write
from tests.integration.conftest import compose_train


def _cfg(tmp_path, attributes: str):
    table = _write(tmp_path / "list_attr_celeba.txt", _celeba_text(ROWS))
    overrides = [
        "experiment=stargan_v1",
        "data=attributes",
        f"data.root={tmp_path}",
        f"data.attr_file={table}",
        "model.label_mode=multi",
        f"data.attributes={attributes}",
        f"data.num_domains={len(NAMES) if attributes == 'null' else 5}",
    ]
    return compose_train(overrides, tmp_path / "run")


def test_null_attributes_are_the_tables_and_reach_the_model(tmp_path):
    cfg = _cfg(tmp_path, "null")
    name_all_attributes(cfg)
    assert list(cfg.data.attributes) == NAMES
    model = instantiate(cfg.model)  # the default hair group names the table's attributes
    assert list(model.hparams.attributes) == NAMES
    assert model.attribute_names == NAMES


def test_given_attributes_are_left_as_they_are(tmp_path):
    cfg = _cfg(tmp_path, "[Black_Hair,Blond_Hair,Brown_Hair,Male,Young]")
    name_all_attributes(cfg)
    assert list(cfg.data.attributes) == NAMES[:5]
