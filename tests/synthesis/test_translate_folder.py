"""Folder translation: mirrored paths, sidecars, resize back, bad images, resumable runs."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image

from starganv2.models.prediction import latent_codes
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.synthesis.requests import style_seed
from starganv2.synthesis.translate_folder import FAILURES_FILE, find_sidecars, translate_folder
from starganv2.utils.images import to_pil
from tests.helpers import TINY
from tests.helpers.translators import IdentityTranslator


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


def test_a_run_stopped_at_a_sidecar_leaves_no_image_without_it(module, tree, tmp_path, monkeypatch):
    """A rerun skips existing images: one written before its annotations were copied would stay
    without them (a YOLO image without its .txt reads as one with no objects)."""
    import starganv2.synthesis.translate_folder as tf

    out = tmp_path / "out"
    kw = {"target_domains": [1], "sidecar_extensions": [".txt"], "progress": False}
    real = tf.atomic_write

    def stop_at_sidecar(path, write):
        if path.suffix == ".txt":
            raise KeyboardInterrupt
        return real(path, write)

    monkeypatch.setattr(tf, "atomic_write", stop_at_sidecar)
    with pytest.raises(KeyboardInterrupt):
        translate_folder(module, tree, out, **kw)
    monkeypatch.setattr(tf, "atomic_write", real)
    translate_folder(module, tree, out, **kw)
    assert (out / "domain1/a_0.jpg").exists()
    assert (out / "domain1/a_0.txt").read_text() == "0 0.5 0.5 0.2 0.2\n"


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


def _flat(tmp_path):
    """in/a.png and in/a.jpg (one stem), with a YOLO label a.txt."""
    src = tmp_path / "in"
    _img(src / "a.png", color=(10, 10, 10))
    _img(src / "a.jpg", color=(250, 250, 250))
    (src / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return src


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"output_suffix": ".png"}, r"a\.(png|jpg) .* and .*a\.(png|jpg) .*output_suffix=null"),
        ({"domain_names": ["x", "x"]}, "domains 0 and 1 distinct domain_names$"),
        ({"name_template": "{stem}_{k}"}, r"distinct domain_names, or put \{domain\} in"),
        ({"name_template": "{domain}/{stem}", "num_styles": 3}, r"put \{k\} in name_template"),
        ({"name_template": "{domain}/../../{stem}_{k}"}, "outside output_dir"),
    ],
)
def test_outputs_that_would_share_a_path_are_refused_before_any_is_written(
    module, tmp_path, kw, message
):
    out = tmp_path / "out"
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=message):
            translate_folder(
                module, _flat(tmp_path), out, overwrite=overwrite, progress=False, **kw
            )
    assert not out.exists() and not list(tmp_path.glob("*_0*"))


@pytest.mark.parametrize("name", ["..", "x/y", ".", ""])
def test_a_domain_name_that_is_no_plain_folder_name_is_refused(module, tmp_path, name):
    with pytest.raises(ValueError, match=r"domain_names\[1\]=.* expected a plain folder name"):
        translate_folder(
            module, _flat(tmp_path), tmp_path / "n4", domain_names=["z", name], progress=False
        )
    assert not list(tmp_path.rglob("a_0*"))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"batch_size": 0}, r"batch_size=0 is invalid: expected an integer >= 1"),
        ({"batch_size": -1}, r"batch_size=-1 is invalid"),
        ({"target_domains": []}, r"target_domains=\[\] is invalid: .* at least one"),
        ({"target_domains": [True]}, r"target_domains=\[True\] is invalid"),
        ({"target_domains": [1, 1]}, r"lists \[1\] more than once"),
        ({"output_suffix": ".gif2"}, r"output_suffix='.gif2' is invalid: PIL cannot write"),
    ],
)
def test_bad_settings_are_refused_naming_the_argument(module, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        translate_folder(module, _flat(tmp_path), tmp_path / "o", progress=False, **kw)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("suffix", "fmt"), [("png", "PNG"), (".tif", "TIFF"), (".gif", "GIF")])
def test_output_suffix_takes_an_optional_dot_and_names_the_format(module, tmp_path, suffix, fmt):
    src = tmp_path / "in"
    _img(src / "a.jpg")
    (src / "a.txt").write_text("label\n")
    out = tmp_path / "o"
    translate_folder(module, src, out, target_domains=[1], output_suffix=suffix, progress=False)
    ext = suffix if suffix.startswith(".") else f".{suffix}"
    assert sorted(p.name for p in (out / "domain1").iterdir()) == sorted(["a_0" + ext, "a_0.txt"])
    assert Image.open(out / "domain1" / f"a_0{ext}").format == fmt


def test_sidecar_extensions_take_an_optional_dot(tree):
    assert [p.name for p in find_sidecars(tree / "a.jpg", ["txt"])] == ["a.txt"]
    assert [p.name for p in find_sidecars(tree / "a.jpg", ["TXT", ".xml"])] == ["a.txt"]


def test_unreadable_reference_and_output_dir_that_is_a_file_are_named(module, tree, tmp_path):
    refs = tmp_path / "refs"
    _img(refs / "dog" / "r1.png", (32, 32))
    (refs / "dog" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    kw = {"domain_names": ["cat", "dog"], "target_domains": [1], "progress": False}
    with pytest.raises(ValueError, match="ref_dir: cannot read reference image .*bad.jpg"):
        translate_folder(module, tree, tmp_path / "o", ref_dir=refs, **kw)
    assert not (tmp_path / "o").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="output_dir=.*file is a file"):
        translate_folder(module, tree, tmp_path / "file", **kw)


def test_psi_with_reference_styles_is_refused(module, tree, tmp_path):
    """ref_dir with psi=0.5 wrote the same images as psi=1: references are never truncated, and
    the setting was ignored without a word (starganv2-augment refuses it the same way)."""
    refs = tmp_path / "refs"
    _img(refs / "dog" / "r1.png", (32, 32))
    kw = {"domain_names": ["cat", "dog"], "target_domains": [1], "progress": False}
    with pytest.raises(ValueError, match=r"psi=0.5 truncates latent styles only, but ref_dir="):
        translate_folder(module, tree, tmp_path / "o", ref_dir=refs, psi=0.5, **kw)
    assert not (tmp_path / "o").exists()


def test_output_dir_holding_every_input_says_so(module, tmp_path):
    _img(tmp_path / "in" / "a.png")
    with pytest.raises(FileNotFoundError, match="all 1 images under input_dir=.* are under output"):
        translate_folder(module, tmp_path / "in", tmp_path / "in", progress=False)


def test_tiff_is_translated_and_other_pictures_are_named_not_copied(module, tmp_path, caplog):
    """a.tif is read (in its format); a.gif beside a.png is another picture, neither its sidecar
    nor silently dropped: a warning names it."""
    src = tmp_path / "in"
    _img(src / "a.png")
    _img(src / "b.TIFF")
    Image.new("RGB", (8, 8)).save(src / "a.gif")
    (src / "a.txt").write_text("label\n")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="starganv2.synthesis.translate_folder"):
        report = translate_folder(
            module, src, out, target_domains=[1], domain_names=["x", "y"], progress=False
        )
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["y/a_0.png", "y/a_0.txt", "y/b_0.TIFF"]
    assert report.written == 2 and report.sidecars == 1
    assert Image.open(out / "y/b_0.TIFF").format == "TIFF"
    assert "1 file(s) under" in caplog.text and "a.gif" in caplog.text
    assert find_sidecars(src / "a.png") == [src / "a.txt"]


def test_a_link_to_a_missing_file_is_reported_not_dropped(module, tmp_path):
    src = tmp_path / "in"
    _img(src / "a.png")
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    report = translate_folder(module, src, tmp_path / "out", target_domains=[0], progress=False)
    assert report.written == 1
    assert [p.name for p, _ in report.failed] == ["gone.png"]


def test_a_model_converted_to_bfloat16_translates_a_folder(tmp_path):
    torch.manual_seed(0)
    model = StarGANv2Module(**TINY).eval().to(torch.bfloat16)
    _img(tmp_path / "in" / "a.png")
    _img(tmp_path / "refs" / "domain1" / "r.png", color=(10, 200, 10))
    for kw in ({}, {"ref_dir": tmp_path / "refs"}):
        out = tmp_path / f"out{len(kw)}"
        report = translate_folder(
            model, tmp_path / "in", out, target_domains=[1], progress=False, **kw
        )
        assert report.written == 1 and not report.failed
        assert Image.open(out / "domain1/a_0.png").size == (40, 24)


def test_an_unreadable_image_whose_name_is_not_utf8_is_listed(module, tmp_path):
    """A name in another encoding (a zip made on an old system: latin-1 ``caf\\xe9``): the failure
    listing keeps its bytes as on disk, instead of failing on the undecodable name and losing
    the list and the exit status."""
    src = tmp_path / "in"
    _img(src / "a.png")
    bad = os.fsdecode(os.fsencode(src) + b"/caf\xe9.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    report = translate_folder(module, src, out, target_domains=[0], progress=False)
    assert report.written == 1 and [str(p) for p, _ in report.failed] == [bad]
    assert (out / FAILURES_FILE).read_bytes().startswith(os.fsencode(bad) + b"\t")


def test_the_styles_of_an_image_take_different_references(module, tmp_path):
    """num_styles=2 with two references: each image's two outputs use both (they were drawn
    independently, so about half the images got one reference twice: two identical outputs)."""
    src, refs = tmp_path / "in", tmp_path / "refs"
    for i in range(6):
        _img(src / f"i{i}.png", (32, 32), (40 * i, 30, 30))
    _img(refs / "dog" / "r0.png", (32, 32), (0, 0, 255))
    _img(refs / "dog" / "r1.png", (32, 32), (255, 255, 0))
    out = tmp_path / "out"
    kw = dict(target_domains=[1], domain_names=["cat", "dog"], num_styles=2, progress=False)
    translate_folder(module, src, out, ref_dir=refs, batch_size=4, **kw)
    for i in range(6):
        k0, k1 = (np.asarray(Image.open(out / f"dog/i{i}_{k}.png")) for k in (0, 1))
        assert not np.array_equal(k0, k1), f"i{i}: both styles took one reference"


class _StyleColour(IdentityTranslator):
    """Paints each output in the colour ``tanh(s[:3])`` of its style code, so an output file
    shows which latent code or reference it took."""

    def translate(self, x, y_trg, z=None, x_ref=None, s=None):
        return torch.tanh(s[:, :3])[:, :, None, None].expand_as(x).clone()


def _outputs(out):
    return {p.relative_to(out).as_posix(): np.asarray(Image.open(p)) for p in out.rglob("*.png")}


@pytest.mark.parametrize("with_refs", [False, True])
def test_an_output_does_not_depend_on_batch_size_domains_or_failed_images(tmp_path, with_refs):
    """An output's code or reference depends on (seed, relative path, domain, k) only, as in
    Trainer.predict: drawn per chunk, most outputs changed with batch_size, with the target
    domains and with an unreadable image in the chunk, so a run resumed with another batch size
    mixed two draws."""
    src, refs = tmp_path / "in", tmp_path / "refs"
    for i in range(5):
        _img(src / "s" / f"i{i}.png", (32, 32), (40 * i, 0, 0))
    for name in ("d0", "d1", "d2"):
        for r in range(4):
            _img(refs / name / f"r{r}.png", (32, 32), (60 * r, 255 - 60 * r, 90))
    module = _StyleColour(num_domains=3, latent_dim=4).eval()
    kw = dict(domain_names=["d0", "d1", "d2"], num_styles=2, progress=False)
    kw |= {"ref_dir": refs} if with_refs else {}
    translate_folder(module, src, tmp_path / "a", batch_size=2, **kw)
    (src / "s" / "i2b.png").write_bytes(b"broken")  # shares a chunk with i2 and i3
    translate_folder(module, src, tmp_path / "b", batch_size=3, target_domains=[1], **kw)
    a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    assert len(a) == 30 and len(b) == 10
    changed = [k for k in b if not np.array_equal(a[k], b[k])]
    assert not changed, f"{len(changed)} of 10 outputs changed: {changed}"
    if not with_refs:  # the hash of requests_for / predict_step, keyed by the relative path
        z = latent_codes(torch.tensor([style_seed(0, "s/i3.png", 1, 1)]), 4)
        expected = np.asarray(to_pil(torch.tanh(z[0, :3])[:, None, None].expand(3, 32, 32)))
        np.testing.assert_array_equal(b["d1/s/i3_1.png"], expected)


def test_an_image_whose_name_is_not_utf8_is_translated(tmp_path):
    """Its relative path enters the style seed's hash with its bytes (a UnicodeEncodeError
    otherwise)."""
    src = tmp_path / "in"
    src.mkdir()
    name = os.fsdecode(os.fsencode(src) + b"/caf\xe9.png")
    Image.new("RGB", (32, 32)).save(name, format="PNG")
    report = translate_folder(_StyleColour(), src, tmp_path / "out", progress=False)
    assert report.written == 3 and not report.failed


def test_resize_back_false_with_pascal_voc_sidecars_warns_once(tmp_path, caplog):
    """Square outputs with VOC .xml copied unchanged: its pixel boxes and <size> are the
    original's, so they no longer fit; this was silent. YOLO .txt (normalized) and inputs
    already img_size square get no warning."""
    src = tmp_path / "in"
    for name in ("a", "b"):
        _img(src / f"{name}.png", (64, 40))
        (src / f"{name}.xml").write_text("<annotation><size><width>64</width></size></annotation>")
    _img(src / "ok" / "c.png", (32, 32))
    (src / "ok" / "c.xml").write_text("<annotation/>")
    (src / "ok" / "d.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    _img(src / "ok" / "d.png", (64, 40))
    kw = dict(target_domains=[0], resize_back=False, progress=False)
    with caplog.at_level(logging.WARNING):
        translate_folder(IdentityTranslator(), src, tmp_path / "out", **kw)
    warned = [r.getMessage() for r in caplog.records if "resize_back" in r.getMessage()]
    assert len(warned) == 1 and "a.xml" in warned[0] and "resize_back=true" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        translate_folder(IdentityTranslator(), src / "ok", tmp_path / "out2", **kw)
        translate_folder(IdentityTranslator(), src, tmp_path / "out3", target_domains=[0])
    assert not [r for r in caplog.records if "resize_back" in r.getMessage()]
