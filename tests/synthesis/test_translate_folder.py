"""Folder translation: mirrored paths, sidecars, resize back, bad images, resumable runs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.translate_folder import FAILURES_FILE, find_sidecars, translate_folder
from tests.helpers import TINY


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


def _img(path, size=(40, 24), color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "in"
    _img(src / "a.jpg")
    (src / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # YOLO label
    _img(src / "sub" / "deep" / "b.png", size=(32, 32))
    (src / "sub" / "deep" / "b.xml").write_text("<annotation/>")
    (src / "sub" / "deep" / "notes.md").write_text("not a sidecar")
    (src / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    _img(src / ".ipynb_checkpoints" / "a-checkpoint.jpg")  # a tool's copy: not translated
    return src


def test_outputs_mirror_paths_copy_sidecars_and_report_bad_image(module, tree, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="starganv2.synthesis.translate_folder"):
        report = translate_folder(
            module,
            tree,
            out,
            domain_names=["cat", "dog"],
            num_styles=2,
            batch_size=2,
            progress=False,
        )
    expected = {
        f"{d}/{name}_{k}{ext}"
        for d in ("cat", "dog")
        for k in (0, 1)
        for name, ext in (
            ("a", ".jpg"),
            ("a", ".txt"),
            ("sub/deep/b", ".png"),
            ("sub/deep/b", ".xml"),
        )
    } | {FAILURES_FILE}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == expected
    assert report.written == 8 and report.sidecars == 8
    assert (out / "dog/a_1.txt").read_text() == "0 0.5 0.5 0.2 0.2\n"
    assert Image.open(out / "cat/a_0.jpg").size == (40, 24)  # resized back to the input size
    assert [p.name for p, _ in report.failed] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text
    assert "broken.jpg" in (out / FAILURES_FILE).read_text()


def test_rerun_skips_existing_outputs_and_overwrite_replaces_them(module, tree, tmp_path):
    out = tmp_path / "out"
    kw = {"target_domains": [1], "progress": False, "resize_back": False}
    first = translate_folder(module, tree, out, **kw)
    stamp = (out / "domain1/a_0.jpg").stat().st_mtime_ns
    (out / "domain1/sub/deep/b_0.png").unlink()  # as if interrupted before this one
    again = translate_folder(module, tree, out, **kw)
    assert first.written == 2 and again.written == 1 and again.skipped_existing == 1
    assert (out / "domain1/a_0.jpg").stat().st_mtime_ns == stamp
    assert Image.open(out / "domain1/a_0.jpg").size == (32, 32)
    forced = translate_folder(module, tree, out, overwrite=True, **kw)
    assert forced.written == 2
    assert not list(out.rglob(".*"))  # no temporary files left


def test_reference_styles_come_from_the_reference_folder(module, tree, tmp_path):
    refs = tmp_path / "refs"
    _img(refs / "dog" / "r1.png", (32, 32), (0, 0, 255))
    out = tmp_path / "out"
    translate_folder(
        module,
        tree,
        out,
        target_domains=[1],
        domain_names=["cat", "dog"],
        ref_dir=refs,
        resize_back=False,
        output_suffix=".png",
        sidecar_extensions=[],
        progress=False,
    )
    from starganv2.data.folders import eval_transform, load_image

    x = eval_transform(32)(load_image(tree / "sub/deep/b.png"))[None]
    ref = eval_transform(32)(load_image(refs / "dog/r1.png"))[None]
    expected = ((module.translate(x, 1, x_ref=ref) + 1) / 2).clamp(0, 1)[0]
    got = torch.from_numpy(np.array(Image.open(out / "dog/sub/deep/b_0.png")))
    got = got.permute(2, 0, 1).float() / 255
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6
    assert not (out / "dog/sub/deep/b_0.xml").exists()  # sidecars disabled


def test_missing_reference_domain_is_an_error(module, tree, tmp_path):
    (tmp_path / "refs" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images for target domain 'cat'"):
        translate_folder(
            module,
            tree,
            tmp_path / "o",
            domain_names=["cat", "dog"],
            ref_dir=tmp_path / "refs",
            progress=False,
        )


def test_find_sidecars(tree):
    assert [p.name for p in find_sidecars(tree / "a.jpg")] == ["a.txt"]
    assert find_sidecars(tree / "a.jpg", [".xml"]) == []
