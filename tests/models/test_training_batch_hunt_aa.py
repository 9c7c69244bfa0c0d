"""A dataloader of one's own whose batches are not the dict the model trains on is refused in one
line naming the key, before the first update, instead of a bare ``KeyError``, ``IndexError`` or
matrix-shape error deep in the nets."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, RandomPairs, quiet_trainer
from tests.models.stargan_v1.test_module import TINY_V1


class Edited(Dataset):
    """:class:`RandomPairs` items with some keys replaced (``None``: left out)."""

    def __init__(self, **changes: object) -> None:
        self.items = RandomPairs(n=4)
        self.changes = changes

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, object]:
        item = {**self.items[i], **self.changes}
        return {k: v for k, v in item.items() if v is not None}


def _fit(module, dataset) -> None:
    quiet_trainer().fit(module, train_dataloaders=DataLoader(dataset, batch_size=2))


def test_tuple_batches_are_refused_naming_the_expected_keys():
    module = StarGANv2Module(**TINY, total_iters=1)
    data = TensorDataset(torch.rand(4, 3, 32, 32) * 2 - 1, torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError) as err:
        _fit(module, data)
    assert str(err.value) == (
        "a training batch is a list: expected a dict with keys ['x_real', 'x_ref', 'x_ref2', "
        "'y_org', 'y_trg'], as starganv2.ImageDomainDataModule's train_dataloader yields"
    )
    assert module.iteration == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"x_ref": None, "x_ref2": None}, "the training batch has no ['x_ref', 'x_ref2']"),
        ({"x_ref": torch.zeros(3, 64, 64)}, "batch['x_ref'] has shape (2, 3, 64, 64)"),
        ({"y_trg": 7}, "batch['y_trg'] values must be in [0, 2), got [7]"),
    ],
)
def test_stargan_v2_batches_without_a_key_or_of_another_size_or_domain(changes, message):
    module = StarGANv2Module(**TINY, total_iters=1)
    with pytest.raises(ValueError) as err:
        _fit(module, Edited(**changes))
    assert str(err.value).startswith(message)
    assert module.iteration == 0


def test_stargan_v1_reads_no_references_but_its_labels():
    quiet_trainer().fit(
        StarGANv1Module(**TINY_V1, total_iters=1),
        train_dataloaders=DataLoader(Edited(x_ref=None, x_ref2=None), batch_size=2),
    )
    with pytest.raises(ValueError, match=r"batch\['y_org'\] values must be in \[0, 2\)"):
        _fit(StarGANv1Module(**TINY_V1, total_iters=1), Edited(y_org=5))


def test_a_model_checkpoint_counting_optimizer_steps_is_refused(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from starganv2.callbacks.checkpoint import IterationCheckpoint

    every = ModelCheckpoint(dirpath=tmp_path / "steps", every_n_train_steps=2)
    module = StarGANv2Module(**TINY, total_iters=2)
    with pytest.raises(ValueError) as err:
        quiet_trainer(callbacks=[every]).fit(module, DataLoader(RandomPairs(n=4), batch_size=2))
    assert str(err.value) == (
        "ModelCheckpoint(every_n_train_steps=2) counts optimizer steps, and one iteration of this "
        "model takes several; checkpoint every N iterations with "
        "starganv2.callbacks.checkpoint.IterationCheckpoint(dirpath, every_n_iters=N)"
    )
    assert module.iteration == 0
    iters = IterationCheckpoint(tmp_path / "iters", every_n_iters=1)
    quiet_trainer(callbacks=[iters]).fit(module, DataLoader(RandomPairs(n=4), batch_size=2))
    assert sorted(p.name for p in (tmp_path / "iters").glob("*.ckpt")) == [
        "iter_0000001.ckpt",
        "iter_0000002.ckpt",
        "last.ckpt",
    ]


def test_a_checkpoint_of_another_model_or_other_nets_is_one_line(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from starganv2.models.registry import CheckpointError

    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    module = StarGANv2Module(**TINY, total_iters=1)
    quiet_trainer(callbacks=[saver]).fit(module, DataLoader(RandomPairs(n=4), batch_size=2))
    last = tmp_path / "last.ckpt"
    with pytest.raises(CheckpointError) as err:
        StarGANv1Module.load_from_checkpoint(last)
    assert str(err.value) == (
        "the checkpoint holds a stargan_v2 model, not stargan_v1 (StarGANv1Module): "
        "starganv2.load_model(path) builds the model a checkpoint holds; resume it with a module "
        "of that model"
    )
    narrower = StarGANv2Module(**{**TINY, "dim_in": 8}, total_iters=2)
    with pytest.raises(
        CheckpointError, match=r"^ckpt_path='.*last\.ckpt' holds stargan_v2 nets of"
    ):
        quiet_trainer().fit(narrower, DataLoader(RandomPairs(n=4), batch_size=2), ckpt_path=last)
    assert "\n" not in str(err.value)


def test_predict_with_tuple_batches_names_the_expected_dict():
    module = StarGANv2Module(**TINY).eval()
    data = TensorDataset(torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match=r"^predict_step: the batch is a list: expected a dict"):
        quiet_trainer().predict(module, DataLoader(data, batch_size=2))
