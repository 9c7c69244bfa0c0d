"""Datasets and the balanced sampler: balance, reference pairs, DDP shards, unreadable files."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

from starganv2.data import sampling as sampling_mod
from starganv2.data.folders import (
    eval_transform,
    train_transform,
)
from starganv2.data.sampling import (
    BalancedDomainSampler,
    SourceReferenceDataset,
    UniformSampler,
    UniformSourceSampler,
    UnreadableDataError,
)
from tests.helpers.images import SIZE, make_root, small_datamodule

# ---------------------------------------------------------------- sampler


def test_balanced_sampling_small_vs_large_domain() -> None:
    labels = [0] * 2 + [1] * 20 + [2] * 5
    sampler = BalancedDomainSampler(labels, num_samples=6000, seed=1, num_replicas=1, rank=0)
    draws = np.array(list(sampler))  # (6000, 3)
    lab = np.array(labels)
    for col in (0, 1):
        freq = np.bincount(lab[draws[:, col]], minlength=3) / len(draws)
        np.testing.assert_allclose(freq, 1 / 3, atol=0.03)
    # target independent of source: every (source, target) pair about 1/9
    joint = np.bincount(lab[draws[:, 0]] * 3 + lab[draws[:, 1]], minlength=9) / len(draws)
    np.testing.assert_allclose(joint, 1 / 9, atol=0.02)
    # the 2-image domain is drawn in both of its images
    assert set(draws[lab[draws[:, 0]] == 0, 0]) == {0, 1}


def test_reference_pairs_same_domain_different_image() -> None:
    labels = [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    draws = np.array(
        list(BalancedDomainSampler(labels, num_samples=3000, seed=0, num_replicas=1, rank=0))
    )
    lab = np.array(labels)
    assert (lab[draws[:, 1]] == lab[draws[:, 2]]).all()
    assert (draws[:, 1] != draws[:, 2]).all()
    # ref2 covers all other members of the domain (not a fixed partner)
    assert set(draws[draws[:, 1] == 5, 2]) == {6, 7, 8, 9, 10}


def test_ddp_shards_disjoint_cover_epoch_deterministic() -> None:
    labels = [0] * 7 + [1] * 3 + [2] * 12

    def shares(epoch: int, seed: int = 0) -> list[list[tuple[int, int, int]]]:
        out = []
        for rank in range(2):
            s = BalancedDomainSampler(labels, seed=seed, num_replicas=2, rank=rank)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    r0, r1 = shares(epoch=1)
    assert len(r0) == len(r1) == 11  # ceil(22 / 2)
    whole = BalancedDomainSampler(labels, num_samples=22, seed=0, num_replicas=1, rank=0)
    whole.set_epoch(1)
    full = list(whole)
    assert r0 == full[0::2] and r1 == full[1::2]  # disjoint positions whose union is the epoch
    assert r0 != r1
    assert shares(epoch=1) == [r0, r1]  # reproducible from seed and epoch
    assert shares(epoch=2) != [r0, r1]
    assert shares(epoch=1, seed=5) != [r0, r1]


def test_sampler_reads_rank_from_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling_mod.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(sampling_mod.dist, "get_world_size", lambda: 4)
    monkeypatch.setattr(sampling_mod.dist, "get_rank", lambda: 3)
    s = BalancedDomainSampler([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    assert (s.num_replicas, s.rank, len(s)) == (4, 3, 3)
    with pytest.raises(ValueError, match="rank=4 with num_replicas=2"):
        BalancedDomainSampler([0, 0], num_replicas=2, rank=4)


def test_uniform_sampler_each_item_once_per_epoch_sharded() -> None:
    """The original's shuffle: a permutation per epoch (no replacement), split across ranks."""
    shards = [list(UniformSampler(10, seed=3, num_replicas=2, rank=r)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(10))
    again = list(UniformSampler(10, seed=3, num_replicas=2, rank=0))
    assert again == shards[0]
    one = UniformSampler(10, seed=3)
    first = list(one)
    one.set_epoch(1)
    assert sorted(list(one)) == list(range(10)) and list(one) != first
    longer = list(UniformSampler(4, num_samples=10, seed=0))  # passes continue: each 2-3 times
    assert sorted(np.bincount(longer).tolist()) == [2, 2, 3, 3]
    assert sorted(longer[:4]) == list(range(4))


def test_uniform_source_sampler_keeps_imbalance_and_balanced_references() -> None:
    labels = [0] * 2 + [1] * 20
    sampler = UniformSourceSampler(labels, seed=0)
    draws = np.array(list(sampler))  # (22, 3)
    assert sorted(draws[:, 0].tolist()) == list(range(22))  # every source once: 20 of domain 1
    lab = np.asarray(labels)
    assert (lab[draws[:, 1]] == lab[draws[:, 2]]).all() and (draws[:, 1] != draws[:, 2]).all()
    balanced = np.array(list(BalancedDomainSampler(labels, seed=0)))
    np.testing.assert_array_equal(draws[:, 1:], balanced[:, 1:])  # the same references


def test_datamodule_uniform_sampler(tmp_path: Path) -> None:
    dm = small_datamodule(
        make_root(tmp_path, {"a": 2, "b": 5}), sampler="uniform", drop_last=False, batch_size=3
    )
    dm.setup()
    y = torch.cat([b["y_org"] for b in dm.train_dataloader()])
    assert sorted(y.tolist()) == [0, 0, 1, 1, 1, 1, 1]  # the data's frequencies, once each
    with pytest.raises(ValueError, match="data.sampler='random': expected one of"):
        small_datamodule(tmp_path, sampler="random")


def test_lightning_sets_sampler_epoch(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"a": 3, "b": 3}))
    dm.setup("fit")
    loader = dm.train_dataloader()
    first = list(loader.sampler)
    _set_sampler_epoch(loader, 3)  # what Lightning's fit loop calls at every epoch start
    assert loader.sampler.epoch == 3
    assert list(loader.sampler) != first


def test_pickle_datasets_transforms_sampler(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"a": 2, "b": 2}))
    dm.setup("fit")
    objs = [
        train_transform(8),
        eval_transform(8),
        dm.train_set,
        dm.val_set,
        SourceReferenceDataset(dm.train_set),
        dm.train_dataloader().sampler,
        dm,
    ]
    for obj in objs:
        pickle.loads(pickle.dumps(obj))
    ds = pickle.loads(pickle.dumps(SourceReferenceDataset(dm.train_set)))
    assert ds[(0, 2, 3)]["x_ref"].shape == (3, SIZE, SIZE)


def test_spawned_worker_loads_batches(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"a": 2, "b": 2}), num_workers=1)
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.multiprocessing_context = "spawn"
    batch = next(iter(loader))
    assert batch["x_real"].shape == (4, 3, SIZE, SIZE)


def test_load_failure_after_scan_names_file(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"cat": 2, "dog": 2}))
    dm.setup()
    victim = dm.train_set.files[1]
    victim.write_bytes(victim.read_bytes()[:30])
    with pytest.raises(OSError, match=f"failed to load image {victim}"):
        dm.train_set[1]


def test_unreadable_training_file_is_replaced_with_a_counted_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dm = small_datamodule(make_root(tmp_path, {"cat": 3, "dog": 3}))
    dm.setup()
    victim = dm.train_set.files[1]  # cat 001
    victim.unlink()  # deleted after the start-up check
    data = SourceReferenceDataset(dm.train_set)
    loaded: list[int] = []
    load = dm.train_set.load

    def recording_load(index: int) -> torch.Tensor:
        x = load(index)
        loaded.append(index)
        return x

    dm.train_set.load = recording_load
    with caplog.at_level(logging.WARNING, logger="starganv2.data.sampling"):
        item = data[(1, 0, 2)]  # source unreadable: the next cat image stands in
        assert loaded == [2, 0, 2] and item["y_org"] == 0
        loaded.clear()
        item = data[(3, 2, 1)]  # second reference unreadable: the next one is the first
        assert loaded == [3, 2, 0]  # reference (2), so the cycle goes on to 0
        assert item["y_org"] == 1 and item["y_trg"] == 0
    dm.train_set.load = load
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "starganv2.data.sampling"
        and r.getMessage().startswith("skipping an unreadable training image")
    ]
    assert len(warnings) == 2 and "(2 so far" in warnings[-1] and str(victim) in warnings[-1]
    assert data.failures == 2
    # the whole loader goes on
    batches = list(dm.train_dataloader())
    assert batches and all(b["x_real"].shape[0] == 4 for b in batches)


def test_many_failures_in_a_row_stop_with_a_clear_error(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"cat": 4, "dog": 4}), max_consecutive_failures=3)
    dm.setup()
    for path in dm.train_set.files:
        path.unlink()  # the storage is gone
    data = SourceReferenceDataset(dm.train_set, max_consecutive_failures=3)
    with pytest.raises(UnreadableDataError, match="3 training images in a row could not be read"):
        data[(0, 4, 5)]


def test_failures_in_a_row_count_resets_after_a_good_read(tmp_path: Path) -> None:
    dm = small_datamodule(make_root(tmp_path, {"cat": 4, "dog": 4}))
    dm.setup()
    dm.train_set.files[0].unlink()
    data = SourceReferenceDataset(dm.train_set, max_consecutive_failures=2)
    for _ in range(5):  # one failure per item, never two in a row
        data[(0, 4, 5)]
    assert data.failures == 5
