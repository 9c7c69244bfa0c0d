"""A run resumed from a checkpoint saved within an epoch continues that epoch's draws: the
iterations after the checkpoint get the batches of the uninterrupted run, not the epoch's first
batches again."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from starganv2.callbacks.checkpoint import IterationCheckpoint
from starganv2.data.attribute_datamodule import AttributeDataModule
from starganv2.data.sampling import (
    BalancedDomainSampler,
    UniformSampler,
    UniformSourceSampler,
    resume_position,
)
from tests.helpers.images import make_root, save_image, small_datamodule

LABELS = [0] * 3 + [1] * 7 + [2] * 4

SAMPLERS = {
    "balanced": lambda rank: BalancedDomainSampler(LABELS, seed=2, num_replicas=2, rank=rank),
    "uniform_source": lambda rank: UniformSourceSampler(LABELS, seed=2, num_replicas=2, rank=rank),
    "uniform": lambda rank: UniformSampler(len(LABELS), seed=2, num_replicas=2, rank=rank),
}


@pytest.mark.parametrize("kind", sorted(SAMPLERS))
@pytest.mark.parametrize("rank", [0, 1])
def test_a_sampler_resumed_at_k_yields_the_uninterrupted_draws_from_k(kind, rank) -> None:
    whole = SAMPLERS[kind](rank)
    whole.set_epoch(1)
    epoch1 = list(whole)
    whole.set_epoch(2)
    epoch2 = list(whole)

    resumed = SAMPLERS[kind](rank)
    resumed.resume(1, 3)
    resumed.set_epoch(1)
    assert list(resumed) == epoch1[3:]  # this rank's share, less the 3 draws already trained
    assert len(resumed) == len(epoch1) == 7  # the loop counts the trained batches in the epoch
    resumed.set_epoch(2)
    assert list(resumed) == epoch2  # the next epoch is whole
    with pytest.raises(ValueError, match=r"resume\(epoch=1, done=-1\)"):
        resumed.resume(1, -1)


def _trainer(epoch: int, restarting: bool, counts: tuple[int, int, int, int]) -> SimpleNamespace:
    ready, started, processed, completed = counts
    progress = SimpleNamespace(
        ready=ready, started=started, processed=processed, completed=completed
    )
    loop = SimpleNamespace(current=progress)
    return SimpleNamespace(
        current_epoch=epoch,
        fit_loop=SimpleNamespace(
            restarting=restarting, epoch_loop=SimpleNamespace(batch_progress=loop)
        ),
    )


@pytest.mark.parametrize(
    ("restarting", "counts", "expected"),
    [
        (False, (0, 0, 0, 0), (2, 0)),  # a fresh fit, or a reload at an epoch's start
        (False, (4, 4, 4, 4), (2, 0)),  # a later epoch's reload: last epoch's counts
        (True, (3, 3, 3, 2), (2, 3)),  # saved in on_train_batch_end of batch 2
        (True, (4, 3, 4, 3), (2, 3)),  # batch 3 fetched, then skipped by on_train_batch_start
        (True, (3, 3, 3, 3), (2, 3)),  # saved after the fetch of batch 3 failed
        (True, (4, 4, 3, 3), (2, 3)),  # stopped within the step of batch 3 (Ctrl-C)
        (True, (4, 4, 4, 3), (3, 0)),  # saved after the epoch's last batch: the next epoch
    ],
)
def test_resume_position_counts_batches_as_lightning_restarts(restarting, counts, expected):
    assert resume_position(_trainer(2, restarting, counts), batches_per_epoch=4) == expected


# ------------------------------------------------------------------ with Lightning's restore


class Recorder(L.LightningModule):
    """Counts iterations as the models do (one per batch, saved in checkpoints, stopping with -1
    before a batch once ``total`` is reached) and records the batch of each: every image is a
    solid colour of its own, so a pixel names the file."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.iteration = 0
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list] = {}

    def on_train_batch_start(self, batch, batch_idx):
        if self.iteration >= self.total:
            self.trainer.should_stop = True
            return -1
        return None

    def training_step(self, batch, batch_idx):
        keys = [k for k in ("x_real", "x_ref", "x_ref2") if k in batch]
        pixels = [batch[k][:, :, 0, 0].tolist() for k in keys]  # (N, 3) each
        labels = [batch[k].tolist() for k in ("y_org", "y_trg") if k in batch]
        self.seen[self.iteration] = [pixels, labels]
        self.iteration += 1
        return self.w.sum() * 0.0

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["iteration"] = self.iteration

    def on_load_checkpoint(self, checkpoint):
        self.iteration = checkpoint["iteration"]


def _fit(make_data, folder: Path, total: int, every: int, ckpt: Path | None = None) -> dict:
    """Fit :class:`Recorder` up to iteration ``total``, checkpointing every ``every``
    iterations and at the end; the batches seen, by iteration."""
    model = Recorder(total)
    trainer = L.Trainer(
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[IterationCheckpoint(folder, every_n_iters=every)],
    )
    trainer.fit(model, datamodule=make_data(), ckpt_path=ckpt)
    assert model.iteration == total
    return model.seen


def _folder_data(tmp_path: Path, **kw):
    root = make_root(tmp_path / "data", {"a": 3, "b": 6})
    # 4 batches of 2 per epoch; solid colours: the random crop and flip change no pixel
    return lambda: small_datamodule(root, batch_size=2, samples_per_epoch=8, **kw)


def _attribute_data(tmp_path: Path):
    root = tmp_path / "img"
    lines = ["11", "Black_Hair Blond_Hair "]
    for i in range(11):
        save_image(root / f"{i:06d}.png", (i * 20, 7, 0))
        lines.append(f"{i:06d}.png " + ("1 -1" if i % 2 else "-1 1"))
    table = tmp_path / "list_attr_celeba.txt"
    table.write_text("\n".join(lines) + "\n")
    kw = {"img_size": 8, "batch_size": 2, "num_workers": 0, "pin_memory": False}
    # 9 training rows after a test split of 2: 5 batches per epoch, the last one partial
    return lambda: AttributeDataModule(root, table, test_size=2, scan_workers=1, **kw)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_fit_resumed_within_an_epoch_gets_the_uninterrupted_batches(tmp_path, num_workers):
    data = _folder_data(tmp_path, num_workers=num_workers, persistent_workers=False)
    whole = _fit(data, tmp_path / "whole", total=10, every=1)
    assert whole[0] != whole[4]  # epochs differ (4 batches each)
    # mid-epoch 0, at the end of epoch 0 (batch 3 is its last), mid-epoch 1
    for k in (3, 4, 6):
        resumed = _fit(data, tmp_path / f"from{k}", 10, 100, tmp_path / f"whole/iter_{k:07d}.ckpt")
        assert sorted(resumed) == list(range(k, 10))
        for it in range(k, 10):
            assert resumed[it] == whole[it], f"resumed at {k}: iteration {it} got other batches"


def test_a_finished_run_trained_on_continues_where_it_ended(tmp_path):
    """The common resume: raise the total of a finished run. Its last checkpoint is written
    after its last batch (``total_iters`` a multiple of ``every_n_iters``, as in the configs),
    within an epoch here."""
    data = _folder_data(tmp_path, sampler="uniform")
    whole = _fit(data, tmp_path / "whole", total=9, every=100)
    _fit(data, tmp_path / "short", total=5, every=5)
    longer = _fit(data, tmp_path / "longer", 9, 100, tmp_path / "short/iter_0000005.ckpt")
    assert {it: longer[it] for it in range(5, 9)} == {it: whole[it] for it in range(5, 9)}


def test_attribute_data_resumed_within_an_epoch_gets_the_uninterrupted_batches(tmp_path):
    data = _attribute_data(tmp_path)
    whole = _fit(data, tmp_path / "whole", total=8, every=1)
    resumed = _fit(data, tmp_path / "from2", 8, 100, tmp_path / "whole/iter_0000002.ckpt")
    assert {it: resumed[it] for it in range(2, 8)} == {it: whole[it] for it in range(2, 8)}


def test_an_epochs_loader_draws_nothing_from_the_global_random_stream(tmp_path):
    """The latent codes (and main-process augmentations) come from torch's global stream; a
    training loader that seeded its workers from it would shift that stream at every epoch
    start, differently in a run resumed at an epoch's start than in the uninterrupted run."""
    dm = small_datamodule(make_root(tmp_path, {"a": 2, "b": 2}))
    dm.setup("fit")
    loader = dm.train_dataloader()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    iter(loader)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.slow
def test_the_training_command_resumed_within_an_epoch_trains_on_the_uninterrupted_draws(
    tmp_path, monkeypatch
):
    """The training application end to end: a run resumed from iteration 4 (within its second
    epoch of 3 batches) trains iterations 4 and 5 on the sources, references and target domains
    of the uninterrupted run."""
    from starganv2.cli.train import run
    from starganv2.data.sampling import SourceReferenceDataset
    from starganv2.models.stargan_v2.module import StarGANv2Module
    from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, compose_train

    draws: list[tuple[int, ...]] = []
    seen: dict[int, list[tuple[int, ...]]] = {}
    load, step = SourceReferenceDataset.__getitem__, StarGANv2Module.training_step

    def recording_load(self, index):
        draws.append(tuple(int(i) for i in index))
        return load(self, index)

    def recording_step(self, batch, batch_idx):
        seen[self.iteration] = draws[-len(batch["y_org"]) :]  # num_workers=0: just loaded
        return step(self, batch, batch_idx)

    monkeypatch.setattr(SourceReferenceDataset, "__getitem__", recording_load)
    monkeypatch.setattr(StarGANv2Module, "training_step", recording_step)
    keep = [o for o in TINY_OVERRIDES if not o.startswith(("model.total_iters", "callbacks."))]
    common = [
        *keep,
        *TINY_SHAPES,
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.samples_per_epoch=6",
        "callbacks.checkpoint.every_n_iters=2",
        "callbacks.samples.every_n_iters=100",
        "model.total_iters=6",
    ]
    assert run(compose_train(common, tmp_path / "whole"))["iteration"] == 6
    whole = dict(seen)
    seen.clear()
    ckpt = tmp_path / "whole" / "checkpoints" / "iter_0000004.ckpt"
    resumed = compose_train([*common, f"ckpt_path={ckpt}"], tmp_path / "resumed")
    assert run(resumed)["iteration"] == 6
    assert seen == {4: whole[4], 5: whole[5]}
    assert whole[4] != whole[3]  # the epoch's first batch, which a resumed run used to draw again
    # torch's random state is saved with the checkpoint: latent codes, crops and flips continue
    # too (no loader workers here), so the weights are those of the uninterrupted run, exactly
    a, b = (
        torch.load(tmp_path / run / "checkpoints/iter_0000006.ckpt", weights_only=True)
        for run in ("whole", "resumed")
    )
    differ = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert differ == []
