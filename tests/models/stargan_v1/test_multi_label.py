"""StarGAN v1 with attribute vectors (label_mode="multi", the paper's CelebA setting): training on
multi-hot labels, the target-label options, the attribute guidance and its export graph, and the
argument checks."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from starganv2.models.interface import MODE_ATTRIBUTE, GuidanceModeError
from starganv2.models.registry import load_model
from starganv2.models.stargan_v1 import module as v1_module
from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.helpers import quiet_trainer

NAMES = ["black", "blond", "brown", "male", "young"]
MULTI = {
    "img_size": 16,
    "num_domains": 5,
    "g_conv_dim": 4,
    "d_conv_dim": 4,
    "g_repeat_num": 1,
    "n_critic": 2,
    "label_mode": "multi",
    "attributes": NAMES,
    "exclusive": [["black", "blond", "brown"]],
}


class AttributeItems(Dataset):
    """Random images with multi-hot labels, one hair colour each (the attribute data's items)."""

    def __init__(self, n: int = 8):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 3, 16, 16, generator=g) * 2 - 1
        hair = torch.nn.functional.one_hot(torch.randint(3, (n,), generator=g), 3)
        self.c = torch.cat([hair, torch.randint(2, (n, 2), generator=g)], 1).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x_real": self.x[i], "y_org": self.c[i]}


def _loader() -> DataLoader:
    return DataLoader(AttributeItems(), batch_size=4)


def test_multi_mode_trains_on_attribute_vectors_and_round_trips(tmp_path):
    module = StarGANv1Module(**MULTI, total_iters=4)
    assert module.guidance_modes == (MODE_ATTRIBUTE,)
    assert module.exclusive_groups == [(0, 1, 2)] and module.attribute_names == NAMES
    trainer = quiet_trainer()
    trainer.fit(module, _loader())
    assert module.iteration == 4
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_model(path)
    assert loaded.multi_label and loaded.attribute_names == NAMES
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c = torch.tensor([[0.0, 1, 0, 1, 0], [1, 0, 0, 0, 1]])
    torch.testing.assert_close(loaded.translate_labels(x, c), module.translate_labels(x, c))
    with pytest.raises(GuidanceModeError, match="call translate_labels"):
        loaded.translate(x, 1)


def test_multi_mode_uses_bce_and_the_shuffled_or_flipped_targets(monkeypatch):
    seen = []
    original = v1_module.train_iteration

    def spy(nets, x_real, y_org, y_trg, *args, **kw):
        seen.append((y_org.clone(), y_trg.clone()))
        return original(nets, x_real, y_org, y_trg, *args, **kw)

    monkeypatch.setattr(v1_module, "train_iteration", spy)
    quiet_trainer().fit(StarGANv1Module(**MULTI, total_iters=1), _loader())
    y_org, y_trg = seen[-1]
    assert y_trg.shape == (4, 5)  # whole rows of the batch, in another order
    assert sorted(map(tuple, y_trg.tolist())) == sorted(map(tuple, y_org.tolist()))

    quiet_trainer().fit(
        StarGANv1Module(**MULTI, total_iters=1, target_labels="flip", flip_k=2), _loader()
    )
    y_org, y_trg = seen[-1]
    hair_moved = (y_trg[:, :3] != y_org[:, :3]).any(1).long()
    assert (hair_moved + (y_trg[:, 3:] != y_org[:, 3:]).sum(1)).eq(2).all()
    assert y_trg[:, :3].sum(1).eq(1).all()


def test_attribute_export_graph():
    module = StarGANv1Module(**MULTI)
    graph = module.inference_graph(MODE_ATTRIBUTE)
    x, c = module.graph_inputs(MODE_ATTRIBUTE, 2, torch.Generator().manual_seed(0))
    assert c.shape == (2, 5) and set(c.unique().tolist()) <= {0.0, 1.0}
    assert module.graph_input_names(MODE_ATTRIBUTE) == ["x", "c"]
    torch.testing.assert_close(graph(x, c), module.translate_labels(x, c))


def test_label_modes_do_not_mix():
    single = StarGANv1Module(
        **{**MULTI, "label_mode": "single", "attributes": None, "exclusive": []}
    )
    with pytest.raises(ValueError, match="model.label_mode='single' but the batch's labels"):
        quiet_trainer().fit(single, _loader())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label_mode": "multiple"}, "label_mode='multiple' is invalid"),
        ({"label_mode": "single"}, "are options of label_mode=multi"),
        ({"target_labels": "batch"}, "target_labels='batch' needs domain labels"),
        ({"attributes": NAMES[:4]}, "attributes has 4 names .* but num_domains=5"),
        ({"exclusive": [["black", "grey"]]}, r"exclusive group \['black', 'grey'\]"),
        ({"attributes": None}, "names attributes, but attributes is not set"),
        ({"target_labels": "flip", "flip_k": 4}, "flip_k=4 is invalid: there are 3 attributes"),
    ],
)
def test_label_arguments_are_checked(change, message):
    with pytest.raises(ValueError, match=message):
        StarGANv1Module(**{**MULTI, **change})


def test_checkpoint_of_a_config_built_module_loads_with_weights_only(tmp_path):
    """Hydra passes ListConfigs; the hyperparameters must be plain lists in the checkpoint."""
    import lightning as L
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"attributes": NAMES, "exclusive": MULTI["exclusive"]})
    module = StarGANv1Module(**{**MULTI, "attributes": cfg.attributes, "exclusive": cfg.exclusive})
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    hp = torch.load(tmp_path / "m.ckpt", weights_only=True)["hyper_parameters"]
    assert hp["attributes"] == NAMES and type(hp["exclusive"][0]) is list
    assert load_model(tmp_path / "m.ckpt").exclusive_groups == [(0, 1, 2)]


@pytest.mark.slow
def test_attribute_graph_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from starganv2.interop.onnx import export_onnx

    res = export_onnx(StarGANv1Module(**MULTI).eval(), tmp_path, verify_batch_sizes=(1, 3))
    assert list(res) == ["attribute"] and max(res["attribute"]["max_abs_diff"].values()) < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["attribute.onnx"]
