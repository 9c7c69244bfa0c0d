"""Data layer: discovery, checks, loading, transforms, balanced DDP sampler, batch contract."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from PIL import Image

from starganv2 import data as data_mod
from starganv2.data import (
    BalancedDomainSampler,
    EvalDataset,
    ImageDomainDataModule,
    ImageDomainDataset,
    ShapesDataModule,
    SourceReferenceDataset,
    check_image,
    eval_transform,
    list_domain_files,
    load_image,
    train_transform,
)

SIZE = 8


def _save(
    path: Path, color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (SIZE, SIZE)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}[
        path.suffix.lower()
    ]
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def _make_root(root: Path, counts: dict[str, int], val: int | None = 1, ext: str = ".png") -> Path:
    """root/{train,val}/<domain>/NNN<ext>, each image a unique solid colour (r = domain, g/b = index)."""
    for d_idx, (domain, n) in enumerate(counts.items()):
        for i in range(n):
            _save(root / "train" / domain / f"{i:03d}{ext}", (40 * d_idx + 20, i % 256, i // 256))
        for i in range(val or 0):
            _save(root / "val" / domain / f"{i:03d}{ext}", (40 * d_idx + 20, 255, i))
    return root


def _dm(root: Path, **kwargs: object) -> ImageDomainDataModule:
    kwargs = {
        "img_size": SIZE,
        "batch_size": 4,
        "num_workers": 0,
        "pin_memory": False,
        "scan_workers": 1,
        **kwargs,
    }
    return ImageDomainDataModule(root, **kwargs)


# ---------------------------------------------------------------- discovery


def test_list_domain_files_nested_mixed_case_ignores_non_images(tmp_path: Path) -> None:
    t = tmp_path / "train"
    expected = [
        _save(t / "dog" / "a.JPG"),
        _save(t / "dog" / "sub" / "deep" / "b.Png"),
        _save(t / "dog" / "c.jpeg"),
        _save(t / "dog" / "d.WEBP"),
        _save(t / "dog" / "e.bmp"),
    ]
    (t / "dog" / "notes.txt").write_text("x")
    (t / "dog" / "labels.json").write_text("{}")
    (t / "dog" / "sub" / "photo.gif").write_bytes(b"GIF89a")
    _save(t / "dog" / ".hidden.png")
    _save(t / "cat" / "z.png")
    (t / ".git").mkdir()
    (t / "README.md").write_text("not a domain")
    files = list_domain_files(t)
    assert list(files) == ["cat", "dog"]
    assert files["dog"] == sorted(expected)
    assert files["cat"] == [t / "cat" / "z.png"]


def test_setup_finds_sorted_domains(tmp_path: Path) -> None:
    dm = _dm(_make_root(tmp_path, {"zebra": 2, "ant": 3}), num_domains=2)
    assert dm.num_domains == 2
    dm.setup("fit")
    assert dm.domains == ["ant", "zebra"] and dm.num_domains == 2
    assert sorted(dm.train_set.labels) == [0, 0, 0, 1, 1]
    assert dm.train_set.files[0].parent.name == "ant"


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
    monkeypatch.setattr(data_mod.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(data_mod.dist, "get_world_size", lambda: 4)
    monkeypatch.setattr(data_mod.dist, "get_rank", lambda: 3)
    s = BalancedDomainSampler([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    assert (s.num_replicas, s.rank, len(s)) == (4, 3, 3)
    with pytest.raises(ValueError, match="rank=4 with num_replicas=2"):
        BalancedDomainSampler([0, 0], num_replicas=2, rank=4)


def test_lightning_sets_sampler_epoch(tmp_path: Path) -> None:
    dm = _dm(_make_root(tmp_path, {"a": 3, "b": 3}))
    dm.setup("fit")
    loader = dm.train_dataloader()
    first = list(loader.sampler)
    _set_sampler_epoch(loader, 3)  # what Lightning's fit loop calls at every epoch start
    assert loader.sampler.epoch == 3
    assert list(loader.sampler) != first


# ---------------------------------------------------------------- batches


def test_training_batch_contract(tmp_path: Path) -> None:
    counts = {"a": 2, "b": 3, "c": 4}
    dm = _dm(_make_root(tmp_path, counts), batch_size=5, randcrop_prob=1.0, samples_per_epoch=40)
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
    dm = _dm(_make_root(tmp_path / "a", {"a": 2, "b": 2}, val=3), val_batch_size=4)
    dm.setup("fit")
    batches = list(dm.val_dataloader())
    assert [b["x"].shape for b in batches] == [(4, 3, SIZE, SIZE), (2, 3, SIZE, SIZE)]
    assert torch.cat([b["y"] for b in batches]).tolist() == [0, 0, 0, 1, 1, 1]
    assert batches[0]["y"].dtype == torch.long
    assert len(list(dm.test_dataloader())) == 2

    dm = _dm(_make_root(tmp_path / "b", {"a": 2, "b": 2}, val=None))
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        dm.setup("fit")
    assert "val not found" in caplog.text and str(tmp_path / "b" / "val") in caplog.text
    assert dm.val_dataloader() == []


def test_transforms_range_shape_and_determinism() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (13, 21, 3), dtype=np.uint8))
    torch.manual_seed(0)
    for t in (train_transform(16, 1.0), train_transform(16, 0.0), eval_transform(16)):
        x = t(img)
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(
        eval_transform(16)(Image.new("RGB", (5, 9), (255, 255, 255))), torch.ones(3, 16, 16)
    )
    assert torch.equal(
        train_transform(16)(Image.new("RGB", (9, 5), (0, 0, 0))), -torch.ones(3, 16, 16)
    )
    assert torch.equal(eval_transform(16)(img), eval_transform(16)(img))
    square = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    outs = [train_transform(16, 1.0)(square) for _ in range(6)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # random crop / flip
    with pytest.raises(ValueError, match="randcrop_prob=1.5"):
        train_transform(16, 1.5)


def test_pickle_datasets_transforms_sampler(tmp_path: Path) -> None:
    dm = _dm(_make_root(tmp_path, {"a": 2, "b": 2}))
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
    dm = _dm(_make_root(tmp_path, {"a": 2, "b": 2}), num_workers=1)
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.multiprocessing_context = "spawn"
    batch = next(iter(loader))
    assert batch["x_real"].shape == (4, 3, SIZE, SIZE)


# ---------------------------------------------------------------- image modes


def test_modes_become_rgb(tmp_path: Path) -> None:
    gray = Image.new("L", (4, 4), 100)
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 1
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    cases = {
        "l.png": (gray, (100, 100, 100)),
        "p.png": (pal, (10, 200, 30)),
        "pt.png": (pal_t, (255, 255, 255)),
        "rgba.png": (rgba, (255, 255, 255)),
        "cmyk.jpg": (cmyk, (255, 0, 0)),
        "bw.bmp": (Image.new("1", (4, 4), 1), (255, 255, 255)),
    }
    for name, (img, rgb) in cases.items():
        img.save(tmp_path / name)
        out = load_image(tmp_path / name)
        assert out.mode == "RGB", name
        assert np.abs(np.asarray(out, dtype=int)[1, 1] - rgb).max() <= 3, (
            name,
            np.asarray(out)[1, 1],
        )


def test_16bit_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.array([[0, 257, 32768, 65535]], dtype=np.uint16).repeat(2, 0)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    out = np.asarray(load_image(tmp_path / "g16.png"))
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    i32 = data_mod.to_rgb(Image.fromarray(arr.astype(np.int32)))
    assert np.asarray(i32)[0, :, 1].tolist() == [0, 1, 128, 255]
    f = data_mod.to_rgb(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)))
    assert np.asarray(f)[0, :, 2].tolist() == [0, 128, 255]


def test_exif_orientation_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (16, 8), (255, 0, 0))
    img.paste((0, 0, 255), (8, 0, 16, 8))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "o.jpg")
    assert out.size == (8, 16)
    a = np.asarray(out, dtype=int)
    assert a[2, 4, 0] > 200 and a[2, 4, 2] < 60  # top is red
    assert a[13, 4, 2] > 200 and a[13, 4, 0] < 60  # bottom is blue


# ---------------------------------------------------------------- bad input


def test_missing_root_and_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"data.root={tmp_path / 'nope'}"):
        _dm(tmp_path / "nope").setup()
    (tmp_path / "r" / "val").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "r" / "train")):
        _dm(tmp_path / "r").setup()
    (tmp_path / "r" / "train").mkdir()
    with pytest.raises(ValueError, match=f"no domain folders under {tmp_path / 'r' / 'train'}"):
        _dm(tmp_path / "r").setup()


def test_num_domains_mismatch(tmp_path: Path) -> None:
    root = _make_root(tmp_path / "afhq", {"cat": 2, "dog": 2})
    msg = f"data.num_domains=3 but found 2 domain folders under {root / 'train'}: ['cat', 'dog']"
    with pytest.raises(ValueError) as err:
        _dm(root, num_domains=3).setup()
    assert str(err.value) == msg


def test_empty_domain_and_single_image_domain(tmp_path: Path) -> None:
    root = _make_root(tmp_path / "a", {"cat": 2, "dog": 2})
    (root / "train" / "fox").mkdir()
    (root / "train" / "fox" / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError, match=f"{root / 'train' / 'fox'}: empty domain"):
        _dm(root).setup()
    root = _make_root(tmp_path / "b", {"cat": 2, "dog": 1})
    with pytest.raises(ValueError, match=f"{root / 'train' / 'dog'}: 1 usable image.*at least 2"):
        _dm(root).setup()


def test_val_domains_must_match_train(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {"cat": 2, "dog": 2})
    _save(root / "val" / "fox" / "0.png")
    with pytest.raises(ValueError, match=f"under {root / 'val'}: \\['cat', 'dog', 'fox'\\]"):
        _dm(root).setup()


def _corrupt(root: Path) -> list[Path]:
    good_jpg = _save(root / "train" / "cat" / "ok.jpg").read_bytes()
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
    root = _make_root(tmp_path, {"cat": 3, "dog": 3})
    bad = _corrupt(root)
    with pytest.raises(ValueError, match="4 unreadable or corrupt") as err:
        _dm(root).setup()
    for p in bad:
        assert str(p) in str(err.value)
    assert "000.png" not in str(err.value)


def test_bad_files_skip_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _make_root(tmp_path, {"cat": 3, "dog": 3})
    bad = _corrupt(root)
    dm = _dm(root, on_bad_image="skip", scan_workers=4)
    with caplog.at_level(logging.WARNING, logger="starganv2.data"):
        dm.setup()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    for p in bad:
        assert str(p) in warnings[0].getMessage()
        assert p not in dm.train_set.files
    assert len(dm.train_set) == 7


def test_skip_leaving_one_image_is_an_error(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {"cat": 2, "dog": 2})
    (root / "train" / "dog" / "001.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"{root / 'train' / 'dog'}: 1 usable image"):
        _dm(root, on_bad_image="skip").setup()


def test_invalid_on_bad_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data.on_bad_image='ignore'.*\['error', 'skip'\]"):
        _dm(tmp_path, on_bad_image="ignore")


def test_check_image_truncation_and_trailing_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for ext in (".jpg", ".png", ".webp", ".bmp"):
        p = tmp_path / f"n{ext}"
        noise.save(p)
        assert check_image(p) is None, ext
        whole = p.read_bytes()
        p.write_bytes(whole[: len(whole) // 2])  # header intact, pixel data cut
        if ext != ".webp":  # Pillow's WebP plugin already fails at open
            with Image.open(p) as img:
                assert img.size == (32, 32)  # the header alone does not show it
        assert check_image(p) is not None, ext
    p = _save(tmp_path / "a.jpg")
    p.write_bytes(p.read_bytes() + b"appended metadata")
    assert check_image(p) is None


def test_load_failure_after_scan_names_file(tmp_path: Path) -> None:
    dm = _dm(_make_root(tmp_path, {"cat": 2, "dog": 2}))
    dm.setup()
    victim = dm.train_set.files[1]
    victim.write_bytes(victim.read_bytes()[:30])
    with pytest.raises(OSError, match=f"failed to load image {victim}"):
        dm.train_set[1]
    with pytest.raises(OSError, match=str(victim)):
        list(dm.train_dataloader())


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
