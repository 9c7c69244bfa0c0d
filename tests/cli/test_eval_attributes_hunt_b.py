"""``starganv2-eval`` and ``starganv2-sample`` on attribute data: the data's attributes must be
the checkpoint's, in its order (one shared check); the images are read at the model's size; and
``metrics=auto`` (``attribute_accuracy`` there) asks for no FID/LPIPS weights."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from starganv2.cli.eval import build_evaluator
from starganv2.evaluation import registry
from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.data.test_attributes import _attribute_root
from tests.helpers import write_module_checkpoint
from tests.integration.conftest import compose_train

ORDER = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
HAIR = ORDER[:3]
MOVED = ["Male", "Young", *HAIR]


def _checkpoint(path, attributes=ORDER, saved=None):
    """A tiny untrained StarGAN v1 on attribute vectors at 32 px, in the layout training writes;
    ``saved``: the attribute names its data module saved (``None``: none)."""
    torch.manual_seed(0)
    exclusive = [HAIR] if attributes else []
    module = StarGANv1Module(
        img_size=32,
        num_domains=5,
        g_conv_dim=8,
        d_conv_dim=8,
        g_repeat_num=1,
        label_mode="multi",
        attributes=attributes,
        exclusive=exclusive,
    )
    extra = {} if saved is None else {"AttributeDataModule": {"attributes": saved}}
    return write_module_checkpoint(module, path, **extra)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return _attribute_root(tmp_path_factory.mktemp("celeba"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "v1.ckpt")


@pytest.fixture
def seen(monkeypatch) -> list[dict]:
    """A metric ``attr_seen`` that needs no classifier: records the names and image shape."""
    calls: list[dict] = []

    def factory(protocol):
        def run(model, data, modes):
            shape = tuple(data.attributes.val_set[0]["x"].shape)
            calls.append({"names": list(data.domains), "shape": shape})
            return {"seen": 1.0}

        return run

    monkeypatch.setitem(registry._FACTORIES, "attr_seen", factory)
    return calls


def _data(table, attributes=None) -> list[str]:
    root, attr_file = table
    out = ["data=attributes", f"data.root={root}", f"data.attr_file={attr_file}"]
    out += ["data.test_size=2", "data.num_workers=0", "device=cpu"]
    if attributes is not None:
        out.append(f"data.attributes=[{','.join(attributes)}]")
    return out


def _eval(ckpt, table, tmp_path, *extra):
    from starganv2.cli.eval import run

    overrides = [f"ckpt_path={ckpt}", *_data(table), "metrics=[attr_seen]", "logger=none", *extra]
    return run(compose_train(overrides, tmp_path / "run", config_name="eval"))


def _sample(ckpt, table, tmp_path, *extra):
    from starganv2.cli.sample import run

    overrides = [f"ckpt_path={ckpt}", *_data(table), "num_sources=2", *extra]
    return run(compose_train(overrides, tmp_path / "run", config_name="sample"))


def test_eval_refuses_attributes_in_another_order(ckpt, table, tmp_path, seen):
    with pytest.raises(ValueError) as err:
        _eval(ckpt, table, tmp_path, f"data.attributes=[{','.join(MOVED)}]")
    assert str(err.value).startswith(
        f"data.attributes={MOVED} but ckpt_path={ckpt} was trained on {ORDER} (in that order)"
    )
    assert str(err.value).endswith(f"'data.attributes=[{','.join(ORDER)}]'")
    assert seen == []  # refused before any metric ran


def test_sample_refuses_them_with_the_same_check(ckpt, table, tmp_path):
    with pytest.raises(ValueError) as err:
        _sample(ckpt, table, tmp_path, f"data.attributes=[{','.join(MOVED)}]")
    assert str(err.value).startswith(f"data.attributes={MOVED} but ckpt_path={ckpt} was trained")


def test_an_unnamed_model_is_compared_with_the_names_its_data_saved(table, tmp_path, seen):
    """``data.attributes=null`` trains an unnamed model; its data module saved the names."""
    ckpt = _checkpoint(tmp_path / "unnamed.ckpt", attributes=None, saved=ORDER)
    with pytest.raises(ValueError, match=r"was trained on \['Black_Hair', "):
        _eval(ckpt, table, tmp_path, f"data.attributes=[{','.join(MOVED)}]")
    assert _eval(ckpt, table, tmp_path)["seen"] == 1.0  # in its order: measured


def test_attribute_data_are_read_at_the_models_size(ckpt, table, tmp_path, seen, caplog):
    """``data=attributes`` defaults to 128 px; the model is 32 px: read at 32, as promised."""
    with caplog.at_level("WARNING", logger="starganv2.eval"):
        _eval(ckpt, table, tmp_path)
    assert "data.img_size=128 but the checkpoint has img_size=32" in caplog.text
    assert seen == [{"names": ORDER, "shape": (3, 32, 32)}]
    grid = _sample(ckpt, table, tmp_path / "sample")["attribute_grid"]
    assert Image.open(grid).size == ((1 + 5) * 34 + 2, 2 * 34 + 2)  # 32 px tiles, padding 2


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))


def test_auto_on_attribute_data_asks_for_no_fid_weights(table, tmp_path, empty_hub):
    cfg = compose_train(["ckpt_path=x.ckpt", *_data(table)], tmp_path / "run", "eval")
    evaluator = build_evaluator(cfg)
    assert list(evaluator.metrics) == ["attribute_accuracy"]
    shapes = compose_train(["ckpt_path=x.ckpt", "data=shapes_attributes"], tmp_path / "s", "eval")
    assert list(build_evaluator(shapes).metrics) == ["attribute_accuracy"]
    saving = compose_train(
        ["ckpt_path=x.ckpt", *_data(table), f"save_images={tmp_path / 'imgs'}"],
        tmp_path / "run",
        "eval",
    )
    with pytest.raises(ValueError, match=r"metrics='auto' \(here \['attribute_accuracy'\]\)"):
        build_evaluator(saving)


def test_the_advice_gives_the_label_length_too_when_it_differs():
    """A model of six attributes against the five of data=attributes' default: setting
    data.attributes alone would stop on data.num_domains=5, so the advice names both."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from starganv2.cli.eval import check_attribute_names

    six = [*ORDER, "Smiling"]
    model = SimpleNamespace(hparams={"attributes": six})
    with pytest.raises(ValueError) as err:
        check_attribute_names(
            OmegaConf.create({"ckpt_path": "m.ckpt"}), SimpleNamespace(attributes=ORDER), model
        )
    assert str(err.value).endswith(f"'data.attributes=[{','.join(six)}]' data.num_domains=6")


def test_sampling_a_model_of_domains_from_attribute_data_says_so(table, tmp_path):
    """A StarGAN v1 model of domains given data=attributes: one line naming the mismatch, not
    a missing val/ folder under the table's image folder."""
    module = StarGANv1Module(img_size=32, num_domains=5, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1)
    path = write_module_checkpoint(module, tmp_path / "domains.ckpt")
    with pytest.raises(ValueError, match=r"translate into domains, but the data config is attri"):
        _sample(path, table, tmp_path)
