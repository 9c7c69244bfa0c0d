"""The data modules: batch contract, validation batches, bad input, the shapes module."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from starganv2.data import sampling as sampling_mod
from starganv2.data.datamodule import ShapesDataModule
from starganv2.data.sampling import (
    EvalDataset,
    ImageDomainDataset,
)
from tests.helpers.images import SIZE, make_root, save_image, small_datamodule

# ---------------------------------------------------------------- batches


def test_training_batch_contract(tmp_path: Path) -> None:
    counts = {"a": 2, "b": 3, "c": 4}
    dm = small_datamodule(
        make_root(tmp_path, counts), batch_size=5, randcrop_prob=1.0, samples_per_epoch=40
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 8
    batch = next(iter(loader))
    assert set(batch) == {"x_real", "y_org", "x_ref", "x_ref2", "y_trg"}
    for key in ("x_real", "x_ref", "x_ref2"):
        x = batch[key]
        assert x.shape == (5, 3, SIZE, SIZE) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
    for key in ("y_org", "y_trg"):
        assert batch[key].shape == (5,) and batch[key].dtype == torch.long

    # images are solid colours: red encodes the domain, green/blue the file
    def domain_of(x: torch.Tensor) -> torch.Tensor:
        red = ((x[:, 0].mean((1, 2)) + 1) * 127.5).round()
        return ((red - 20) / 40).round().long()

    assert torch.equal(domain_of(batch["x_real"]), batch["y_org"])
    assert torch.equal(domain_of(batch["x_ref"]), batch["y_trg"])
    assert torch.equal(domain_of(batch["x_ref2"]), batch["y_trg"])
    assert (
        (batch["x_ref"] - batch["x_ref2"]).abs().amax((1, 2, 3)) > 0.003
    ).all()  # different files


def test_val_batches_and_missing_val(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dm = small_datamodule(make_root(tmp_path / "a", {"a": 2, "b": 2}, val=3), val_batch_size=4)
    dm.setup("fit")
    batches = list(dm.val_dataloader())
    assert [b["x"].shape for b in batches] == [(4, 3, SIZE, SIZE), (2, 3, SIZE, SIZE)]
    assert torch.cat([b["y"] for b in batches]).tolist() == [0, 0, 0, 1, 1, 1]
    assert batches[0]["y"].dtype == torch.long
    assert len(list(dm.test_dataloader())) == 2

    dm = small_datamodule(make_root(tmp_path / "b", {"a": 2, "b": 2}, val=None))
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        dm.setup("fit")
    assert "val not found" in caplog.text and str(tmp_path / "b" / "val") in caplog.text
    assert dm.val_dataloader() == []


# ---------------------------------------------------------------- bad input


def test_missing_root_and_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"data.root={tmp_path / 'nope'}"):
        small_datamodule(tmp_path / "nope").setup()
    (tmp_path / "r" / "val").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "r" / "train")):
        small_datamodule(tmp_path / "r").setup()
    (tmp_path / "r" / "train").mkdir()
    with pytest.raises(ValueError, match=f"no domain folders under {tmp_path / 'r' / 'train'}"):
        small_datamodule(tmp_path / "r").setup()


def test_missing_train_says_where_the_domain_folders_go(tmp_path: Path) -> None:
    """Domain folders straight under data.root, or data.root set to a split folder: the error
    says where they go, not 'one sub-folder per domain under data.root', which the user's folder
    already has."""
    flat = tmp_path / "flat"
    (make_root(tmp_path / "d", {"cat": 2, "dog": 2}, val=None) / "train").rename(flat)
    with pytest.raises(FileNotFoundError) as err:
        small_datamodule(flat).setup()
    msg = str(err.value)
    assert msg.startswith(f"{flat / 'train'}: folder not found; data.root={flat} should hold")
    assert f"found the folders ['cat', 'dog'] directly under data.root={flat}" in msg
    assert f"move them into {flat / 'train'}" in msg
    split = make_root(tmp_path / "r", {"cat": 2, "dog": 2}) / "val"
    with pytest.raises(FileNotFoundError) as err:
        small_datamodule(split).setup()
    assert str(err.value).endswith(f"; {split.parent} holds train/: set data.root={split.parent}")


def test_num_domains_mismatch(tmp_path: Path) -> None:
    root = make_root(tmp_path / "afhq", {"cat": 2, "dog": 2})
    msg = f"data.num_domains=3 but found 2 domain folders under {root / 'train'}: ['cat', 'dog']"
    with pytest.raises(ValueError) as err:
        small_datamodule(root, num_domains=3).setup()
    assert str(err.value) == msg


def test_empty_domain_and_single_image_domain(tmp_path: Path) -> None:
    root = make_root(tmp_path / "a", {"cat": 2, "dog": 2})
    (root / "train" / "fox").mkdir()
    (root / "train" / "fox" / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError, match=f"{root / 'train' / 'fox'}: empty domain"):
        small_datamodule(root).setup()
    root = make_root(tmp_path / "b", {"cat": 2, "dog": 1})
    with pytest.raises(ValueError, match=f"{root / 'train' / 'dog'}: 1 usable image.*at least 2"):
        small_datamodule(root).setup()


def test_val_domains_must_match_train(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"cat": 2, "dog": 2})
    save_image(root / "val" / "fox" / "0.png")
    with pytest.raises(ValueError, match=f"under {root / 'val'}: \\['cat', 'dog', 'fox'\\]"):
        small_datamodule(root).setup()


def test_val_domains_that_differ_only_in_unicode_normalization_say_so(tmp_path: Path) -> None:
    """'dög' composed (NFC) under train/ and decomposed (NFD, as macOS writes it) under val/
    print alike: the error names the difference instead of two lists that look the same."""
    import unicodedata

    root = make_root(tmp_path, {"cat": 2, "d\u00f6g": 2})
    (root / "val" / "d\u00f6g").rename(root / "val" / unicodedata.normalize("NFD", "d\u00f6g"))
    with pytest.raises(ValueError) as err:
        small_datamodule(root).setup()
    assert str(err.value).endswith(
        "; 'd\u00f6g' is spelled with other Unicode code points under val/ than under train/ "
        "(NFD and NFC, as copies from macOS make): rename one of them"
    )


def _corrupt(root: Path) -> list[Path]:
    good_jpg = save_image(root / "train" / "cat" / "ok.jpg").read_bytes()
    good_png = (root / "train" / "cat" / "000.png").read_bytes()
    bad = [
        root / "train" / "cat" / "garbage.jpg",
        root / "train" / "dog" / "cut.jpg",
        root / "train" / "dog" / "sub" / "cut.png",
        root / "train" / "dog" / "empty.png",
    ]
    bad[0].write_bytes(b"this is not a jpeg at all")
    bad[1].write_bytes(good_jpg[: len(good_jpg) - 40])
    bad[2].parent.mkdir()
    bad[2].write_bytes(good_png[: len(good_png) // 2])
    bad[3].write_bytes(b"")
    return bad


def test_bad_files_error_lists_every_file(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"cat": 3, "dog": 3})
    bad = _corrupt(root)
    with pytest.raises(ValueError, match="4 unreadable or corrupt") as err:
        small_datamodule(root).setup()
    for p in bad:
        assert str(p) in str(err.value)
    assert "000.png" not in str(err.value)


def test_bad_files_skip_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_root(tmp_path, {"cat": 3, "dog": 3})
    bad = _corrupt(root)
    dm = small_datamodule(root, on_bad_image="skip", scan_workers=4)
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        dm.setup()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    for p in bad:
        assert str(p) in warnings[0].getMessage()
        assert p not in dm.train_set.files
    assert len(dm.train_set) == 7


def test_pictures_in_formats_not_read_are_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A domain half made of .gif/.jfif pictures lost that half silently in training (translate
    already said so): one warning names them and the formats read."""
    from PIL import Image

    root = make_root(tmp_path, {"cat": 3, "dog": 3})
    Image.new("RGB", (8, 8)).save(root / "train" / "cat" / "moving.gif")
    Image.new("RGB", (8, 8)).save(root / "train" / "dog" / "photo.jfif", format="JPEG")
    (root / "train" / "dog" / "notes.txt").write_text("not a picture")
    dm = small_datamodule(root)
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        dm.setup()
    warnings = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"2 file(s) under {root / 'train'} are in formats")
    assert "moving.gif" in warnings[0] and "photo.jfif" in warnings[0]
    assert "notes.txt" not in warnings[0] and "train on them" in warnings[0]
    assert len(dm.train_set) == 6  # still left out


def test_skip_leaving_one_image_is_an_error(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"cat": 2, "dog": 2})
    (root / "train" / "dog" / "001.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"{root / 'train' / 'dog'}: 1 usable image"):
        small_datamodule(root, on_bad_image="skip").setup()


def test_invalid_on_bad_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data.on_bad_image='ignore'.*\['error', 'skip'\]"):
        small_datamodule(tmp_path, on_bad_image="ignore")


# ---------------------------------------------------------------- shapes module


def test_shapes_data_module(tmp_path: Path) -> None:
    dm = ShapesDataModule(
        cache_dir=tmp_path,
        img_size=16,
        batch_size=4,
        n_train=3,
        n_val=2,
        domains=("square", "circle"),
        num_workers=0,
        pin_memory=False,
    )
    assert dm.num_domains == 2
    dm.prepare_data()
    dm.setup("fit")
    assert dm.domains == ["circle", "square"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["x_real"].shape == (4, 3, 16, 16)
    assert sum(b["x"].shape[0] for b in dm.val_dataloader()) == 4
    assert isinstance(dm.val_set, EvalDataset) and isinstance(dm.train_set, ImageDomainDataset)
    with pytest.raises(ValueError, match="data.num_domains=3 but found 2"):
        ShapesDataModule(
            cache_dir=tmp_path,
            img_size=16,
            n_train=3,
            n_val=2,
            domains=("square", "circle"),
            num_domains=3,
            num_workers=0,
        ).setup()


@pytest.mark.parametrize("attributes", [False, True])
def test_corrupt_generated_image_says_the_data_are_generated(
    tmp_path: Path, attributes: bool
) -> None:
    """A cached shapes image that no longer decodes is reported with the advice for generated
    data (delete the folder, it comes back), not only 'use skip' as for one's own images."""
    from starganv2.data.attribute_datamodule import ShapesAttributeDataModule

    if attributes:
        dm = ShapesAttributeDataModule(cache_dir=tmp_path, img_size=16, n_train=4, n_val=2)
        image = "images/000001.png"
    else:
        kw = {"img_size": 16, "n_train": 3, "n_val": 2, "num_workers": 0}
        dm = ShapesDataModule(cache_dir=tmp_path, **kw)
        image = "train/circle/000001.png"
    dm.prepare_data()
    (dm.root / image).write_bytes(b"not a png")
    with pytest.raises(ValueError, match="generated data: delete the folder.*or use 'skip'"):
        dm.setup("fit")


def test_shapes_data_module_look(tmp_path: Path) -> None:
    kw = {"cache_dir": tmp_path, "img_size": 16, "n_train": 2, "n_val": 0, "num_workers": 0}
    plain = ShapesDataModule(
        **kw, textures=["solid"], background_gray=[0.5, 0.5], background_tint=0
    )
    default = ShapesDataModule(**kw)
    assert plain.root != default.root
    plain.prepare_data()
    meta = json.loads((plain.root / "metadata.json").read_text())
    assert {tuple(r["background"]) for r in meta["images"]} == {(128, 128, 128)}
    assert {r["texture"] for r in meta["images"]} == {"solid"}
    with pytest.raises(ValueError, match="background_gray"):
        ShapesDataModule(**kw, background_gray=[0.9, 0.1])


def test_lightnings_distributed_sampler_under_ddp_is_refused(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    dm = small_datamodule(make_root(tmp_path, {"cat": 2, "dog": 2}))
    dm.setup()
    monkeypatch.setattr(sampling_mod.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(sampling_mod.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(sampling_mod.dist, "get_rank", lambda: 0)
    dm.trainer = SimpleNamespace(
        current_epoch=0, _accelerator_connector=SimpleNamespace(use_distributed_sampler=True)
    )
    with pytest.raises(ValueError, match="trainer.use_distributed_sampler=true under DDP"):
        dm.train_dataloader()


def test_fewer_images_than_a_batch_is_refused_before_training(tmp_path, monkeypatch) -> None:
    """6 images and batch 8 with drop_last: an epoch holds no batch, so Lightning would end the
    fit at iteration 0 with status 0. The loader refuses, naming the keys that fix it."""
    root = make_root(tmp_path, {"cat": 3, "dog": 3})
    dm = small_datamodule(root, batch_size=8)
    dm.setup()
    with pytest.raises(ValueError, match="6 training samples per epoch") as err:
        dm.train_dataloader()
    for key in ("data.batch_size=8", "data.drop_last=false", "data.batch_size<=6", str(root)):
        assert key in str(err.value)
    kept = small_datamodule(root, batch_size=8, drop_last=False)
    kept.setup()
    assert [b["x_real"].shape[0] for b in kept.train_dataloader()] == [6]
    repeated = small_datamodule(root, batch_size=8, samples_per_epoch=16)
    repeated.setup()
    assert len(repeated.train_dataloader()) == 2
    exact = small_datamodule(root, batch_size=6)
    exact.setup()
    assert len(exact.train_dataloader()) == 1
    # under DDP it is the share of each process that counts: 8 images, 2 processes, batch 8
    root8 = make_root(tmp_path / "eight", {"cat": 4, "dog": 4})
    monkeypatch.setattr(sampling_mod.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(sampling_mod.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(sampling_mod.dist, "get_rank", lambda: 0)
    ddp = small_datamodule(root8, batch_size=8)
    ddp.setup()
    with pytest.raises(ValueError, match=r"4 training samples per epoch per process \(2 proc"):
        ddp.train_dataloader()


def test_val_batch_size_must_be_positive(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"cat": 2, "dog": 2})
    with pytest.raises(ValueError, match="data.val_batch_size=0: expected an int >= 1"):
        small_datamodule(root, val_batch_size=0)
