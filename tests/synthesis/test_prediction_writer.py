"""Translation requests through ``Trainer.predict`` and the prediction writer: seeds, batches,
rank shares, whole files and reruns that skip finished outputs. Two DDP processes through the
writer: tests/integration/test_augment_ddp.py (``starganv2-augment devices=2``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.prediction_writer import PredictionWriter, write_image
from starganv2.synthesis.requests import (
    RequestSampler,
    SquareLoader,
    TranslationRequest,
    TranslationRequests,
    collate_requests,
    prediction_loader,
    reference_index,
    requests_for,
    style_seed,
)
from starganv2.utils.images import to_pil
from tests.helpers import TINY, quiet_trainer


@pytest.fixture(scope="module")
def module() -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


def _sources(folder: Path, n: int = 3) -> dict[str, Path]:
    """``n`` small pictures of different sizes and colours, keyed by relative path."""
    out = {}
    for i in range(n):
        path = folder / "sub" / f"img{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40 + 8 * i, 24), (40 * i, 200 - 30 * i, 90)).save(path)
        out[f"sub/img{i}.png"] = path
    return out


def _pixels(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


class CountingLoader(SquareLoader):
    """The default loader, counting the images it reads."""

    def __init__(self, img_size: int) -> None:
        super().__init__(img_size)
        self.calls: list[str] = []

    def __call__(self, source):
        self.calls.append(str(source))
        return super().__call__(source)


# ---------------------------------------------------------------------- requests and batches
def test_style_seeds_are_stable_and_differ_per_source_target_and_style():
    seed = style_seed(0, "sub/img0.png", 1, 0)
    assert seed == style_seed(0, "sub/img0.png", 1, 0) and 0 <= seed < 2**63
    others = {
        style_seed(1, "sub/img0.png", 1, 0),
        style_seed(0, "sub/img1.png", 1, 0),
        style_seed(0, "sub/img0.png", 0, 0),
        style_seed(0, "sub/img0.png", 1, 1),
    }
    assert seed not in others and len(others) == 4


def test_requests_for_every_source_target_and_style(tmp_path):
    sources = _sources(tmp_path, 2)
    requests = requests_for(sources, targets=lambda key: [0, 1], num_styles=2, seed=3, psi=0.5)
    assert [r.key for r in requests] == [
        f"{y}/sub/img{i}_{k}.png" for i in range(2) for y in (0, 1) for k in range(2)
    ]
    assert requests[5] == TranslationRequest(
        sources["sub/img1.png"], 0, style_seed(3, "sub/img1.png", 0, 1), "0/sub/img1_1.png", 1,
        psi=0.5,
    )  # fmt: skip
    refs = {1: ["r0.png", "r1.png", "r2.png"]}
    with_refs = requests_for(sources, [1], num_styles=3, refs=refs)
    for key in sources:  # the 3 styles of a source take the 3 references, in a seeded order
        mine = [r for r in with_refs if r.source == sources[key]]
        assert sorted(r.ref for r in mine) == refs[1]
        assert [r.ref for r in mine] == [
            refs[1][reference_index(0, key, 1, k, 3)] for k in range(3)
        ]
        assert mine[0].ref == refs[1][mine[0].seed % 3]  # style 0: the choice of before
    with pytest.raises(ValueError, match=r"refs has no reference image of target domain 0"):
        requests_for(sources, [0], refs=refs)


def test_dataset_items_and_collate_keep_names_and_annotations_as_lists(tmp_path):
    sources = _sources(tmp_path, 2)
    requests = [
        TranslationRequest(sources["sub/img0.png"], 1, 5, "a.png", extra={"boxes": [[1, 2, 3, 4]]}),
        TranslationRequest(sources["sub/img1.png"], 0, 6, "b.png", psi=0.25, extra={"boxes": []}),
    ]  # fmt: skip
    data = TranslationRequests(requests, SquareLoader(32))
    batch = collate_requests([data[0], data[1]])
    assert batch["x"].shape == (2, 3, 32, 32) and batch["x"].min() >= -1
    assert batch["y_trg"].tolist() == [1, 0] and batch["seed"].tolist() == [5, 6]
    assert batch["psi"].tolist() == [1.0, 0.25]  # 1 (none) where a request has no psi
    assert batch["key"] == ["a.png", "b.png"] and batch["boxes"] == [[[1, 2, 3, 4]], []]
    assert "x_ref" not in batch


def test_a_loader_returning_a_mapping_passes_its_extra_keys_through(tmp_path):
    sources = _sources(tmp_path, 1)

    def letterbox_like(source):
        return {"x": torch.zeros(3, 32, 32), "fit": ("letterbox", Path(source).name)}

    data = TranslationRequests(requests_for(sources, [1]), letterbox_like)
    batch = collate_requests([data[0]])
    assert batch["fit"] == [("letterbox", "img0.png")] and batch["x"].abs().max() == 0


def test_duplicate_keys_and_mixed_guidance_are_refused(tmp_path):
    a = TranslationRequest("a.png", 0, 1, "same.png")
    with pytest.raises(ValueError, match=r"requests 0 and 1 have the same key 'same.png'"):
        TranslationRequests([a, TranslationRequest("b.png", 1, 2, "same.png")], SquareLoader(32))
    with pytest.raises(ValueError, match=r"1 of 2 requests have a reference image"):
        TranslationRequests([a, TranslationRequest("b", 1, 2, "b.png", ref="r")], SquareLoader(32))


def test_sampler_gives_each_rank_its_share_once_and_leaves_done_requests_out():
    requests = [TranslationRequest(f"s{i}", 0, i, f"{i}.png") for i in range(7)]
    data = TranslationRequests(requests, SquareLoader(32))
    shares = [list(RequestSampler(data, num_replicas=2, rank=r)) for r in range(2)]
    assert shares == [[0, 2, 4, 6], [1, 3, 5]]  # no padding with repeated requests
    done = {"2.png", "3.png"}
    skip = [list(RequestSampler(data, lambda r: r.key in done, 2, r)) for r in range(2)]
    assert skip == [[0, 4, 6], [1, 5]]  # the shares stay put: done requests just drop out
    assert len(RequestSampler(data, lambda r: r.key in done, 2, 1)) == 2


# ---------------------------------------------------------------------- writing
def test_predict_writes_every_output_and_a_rerun_skips_them_before_reading(module, tmp_path):
    sources = _sources(tmp_path / "in", 3)
    requests = requests_for(sources, targets=[0, 1], num_styles=2, seed=7)
    loader_fn = CountingLoader(32)
    data = TranslationRequests(requests, loader_fn)
    writer = PredictionWriter(tmp_path / "out")

    def predict() -> None:
        loader = prediction_loader(data, batch_size=5, skip=writer.is_written)
        trainer = quiet_trainer(callbacks=[writer])
        assert trainer.predict(module, loader, return_predictions=False) is None

    predict()
    assert writer.written == 12 and len(loader_fn.calls) == 12
    assert module.allow_zero_length_dataloader_with_multiple_devices is False  # restored
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert [f for f in files if f.endswith(".png")] == sorted(r.key for r in requests)
    assert not [f for f in files if Path(f).name.startswith(".")]  # no temporary file left
    # each file holds its request's translation (seed -> latent code), at 8-bit precision
    batch = collate_requests([data[4]])
    expected = module.predict_step(batch, 0)["x_fake"][0]
    got = torch.from_numpy(_pixels(tmp_path / "out" / requests[4].key)).permute(2, 0, 1)
    assert (got.float() / 127.5 - 1 - expected).abs().max() <= 1 / 127.5 + 1e-6

    loader_fn.calls.clear()
    predict()  # everything done: nothing read, nothing translated, nothing written
    assert writer.written == 0 and loader_fn.calls == []

    (tmp_path / "out" / requests[3].key).unlink()
    before = _pixels(tmp_path / "out" / requests[0].key)
    predict()
    assert writer.written == 1 and loader_fn.calls == [str(requests[3].source)]
    assert np.array_equal(_pixels(tmp_path / "out" / requests[0].key), before)


def test_an_interrupted_write_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    image = torch.zeros(3, 8, 8)

    save = Image.Image.save

    def crash(picture, fp, format=None, **kw):
        if isinstance(fp, io.BytesIO):  # the check that PIL writes the format, in memory
            return save(picture, fp, format=format, **kw)
        Path(fp).write_bytes(b"\x89PNG half")  # part of a file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out" / "a.png", image)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("w.tif", "TIFF"), ("w.gif", "GIF"), ("w.jpeg", "JPEG"), ("w.WEBP", "WEBP"), ("w", "PNG")],
)
def test_write_image_writes_the_format_its_suffix_names(tmp_path, name, fmt):
    """PNG bytes used to land under .tif and .gif names; no suffix is PNG, as documented."""
    path = write_image(tmp_path / name, torch.zeros(3, 8, 8))
    with Image.open(path) as image:
        assert image.format == fmt and image.size == (8, 8)


def test_write_image_refuses_a_suffix_pil_cannot_write(tmp_path):
    with pytest.raises(ValueError, match=r"path=.*w\.xyz.*cannot write RGB images as '\.xyz'"):
        write_image(tmp_path / "w.xyz", torch.zeros(3, 8, 8))
    assert list(tmp_path.iterdir()) == []


def test_write_image_writes_jpeg_at_the_library_quality(tmp_path):
    """JPEG at quality 95, as translate_folder writes it (PIL's default is 75)."""
    image = torch.rand(3, 32, 32) * 2 - 1
    write_image(tmp_path / "a.jpg", image)
    to_pil(image).save(tmp_path / "b.jpg", quality=95)
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()


def test_requests_for_takes_one_int_and_refuses_names_saying_how_to_get_indices(tmp_path):
    sources = _sources(tmp_path, 2)
    assert requests_for(sources, targets=1) == requests_for(sources, targets=[1])
    assert requests_for(sources, targets=np.int64(1)) == requests_for(sources, targets=[1])
    assert requests_for(sources, lambda key: 1) == requests_for(sources, [1])
    with pytest.raises(TypeError, match=r"targets\[0\]='dog' is a str: .*names\.index\('dog'\)"):
        requests_for(sources, targets=["dog"])
    with pytest.raises(TypeError, match=r"targets\('sub/img0\.png'\)\[0\]='dog' is a str"):
        requests_for(sources, targets=lambda key: ["dog"])
    with pytest.raises(ValueError, match=r"targets\[1\]=-1 is out of range"):
        requests_for(sources, targets=[0, -1])


def test_default_writer_keeps_keys_inside_the_output_folder(tmp_path):
    writer = PredictionWriter(tmp_path)
    assert writer.output_path("0/a/b.png") == tmp_path / "0" / "a" / "b.png"
    for bad in ("../b.png", "/etc/b.png", ""):
        with pytest.raises(ValueError, match="expected a relative path inside the output folder"):
            writer.output_path(bad)


def test_a_custom_item_writer_gets_each_item_with_its_image(module, tmp_path):
    sources = _sources(tmp_path, 2)
    requests = [
        TranslationRequest(p, 1, i, f"{i}.png", extra={"image_id": 10 + i})
        for i, p in enumerate(sources.values())
    ]
    seen = []
    writer = PredictionWriter(
        tmp_path / "unused",
        write_item=lambda item, image: seen.append((item["image_id"], tuple(image.shape))),
        is_written=lambda r: False,
    )
    loader = prediction_loader(TranslationRequests(requests, SquareLoader(32)), 2)
    quiet_trainer(callbacks=[writer]).predict(module, loader, return_predictions=False)
    assert seen == [(10, (3, 32, 32)), (11, (3, 32, 32))]
    assert not (tmp_path / "unused").exists()


def test_under_ddp_an_unsharded_loader_is_refused(module, tmp_path):
    class FakeTrainer:
        world_size = 2
        predict_dataloaders = [torch.utils.data.DataLoader(list(range(3)))]

    with pytest.raises(ValueError, match=r"dataloader\(s\) \[0\].*every one of the 2 ranks"):
        PredictionWriter(tmp_path).on_predict_start(FakeTrainer(), module)


# ---------------------------------------------------------------------- the README's example
def _readme_example() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Translating a dataloader with Trainer.predict") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)]


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    torch.manual_seed(0)
    trainer = quiet_trainer()
    trainer.strategy.connect(StarGANv2Module(**TINY))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    for i in range(2):
        (tmp_path / "photos").mkdir(exist_ok=True)
        Image.new("RGB", (48, 32), (60 * i, 90, 200)).save(tmp_path / "photos" / f"img{i}.jpg")
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    written = sorted(str(p.relative_to("translated")) for p in Path("translated").rglob("*.png"))
    assert written == ["1/img0_0.png", "1/img0_1.png", "1/img1_0.png", "1/img1_1.png"]
