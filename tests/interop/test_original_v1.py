"""Import of the original StarGAN (v1) checkpoints, ``<iter>-G.ckpt`` / ``<iter>-D.ckpt`` plain state
dicts (written here by the tests in that layout)."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.cli.convert import main as convert_main
from starganv2.interop.original import ConversionError, load_original
from starganv2.interop.original_v1 import (
    convert_v1_checkpoint,
    infer_v1_config,
    is_v1_generator_file,
)
from starganv2.models.registry import load_model
from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.helpers import quiet_trainer, random_loader

ARCH = {"img_size": 64, "num_domains": 3, "g_conv_dim": 4, "d_conv_dim": 2, "g_repeat_num": 2}


def _source(**kw) -> StarGANv1Module:
    torch.manual_seed(1)
    module = StarGANv1Module(**{**ARCH, **kw})
    with torch.no_grad():
        for name, b in module.named_buffers():
            if "running" in name:
                b.uniform_(0.5, 1.5)
    return module


def _write(module, folder, it=200, prefix="", old_torch=False):
    """The original's two files; ``old_torch`` leaves out ``num_batches_tracked`` (PyTorch 0.4.0)."""
    folder.mkdir(parents=True, exist_ok=True)
    for net, letter in (("generator", "G"), ("discriminator", "D")):
        state = {
            prefix + k: v.clone()
            for k, v in module.nets[net].state_dict().items()
            if not (old_torch and k.endswith("num_batches_tracked"))
        }
        torch.save(state, folder / f"{it}-{letter}.ckpt")
    return folder / f"{it}-G.ckpt"


def _assert_same_nets(a, b):
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k


@pytest.mark.parametrize(("prefix", "old_torch"), [("", False), ("module.", True)])
def test_convert_round_trip(tmp_path, prefix, old_torch):
    src = _source()
    g_path = _write(src, tmp_path / "models", prefix=prefix, old_torch=old_torch)
    out = tmp_path / "v1.ckpt"
    module = convert_v1_checkpoint(g_path, out)  # finds 200-D.ckpt next to it
    assert module.iteration == 200
    assert {k: module.hparams[k] for k in ARCH} == ARCH
    assert module.hparams.d_repeat_num == 6
    loaded = load_model(out)
    assert type(loaded) is StarGANv1Module and loaded.iteration == 200
    for net in ("generator", "discriminator"):
        expected = dict(src.nets[net].state_dict())
        for k, v in loaded.nets[net].state_dict().items():
            if old_torch and k.endswith("num_batches_tracked"):
                assert int(v) == 0
            else:
                assert torch.equal(v, expected[k]), k
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(loaded.translate(x, 2), src.eval().translate(x, 2))
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_v1_checkpoint(g_path, out)


def test_converted_checkpoint_fine_tunes(tmp_path):
    g_path = _write(_source(img_size=32, d_conv_dim=4), tmp_path, it=5)
    out = tmp_path / "v1.ckpt"
    convert_v1_checkpoint(g_path, out, total_iters=6)
    resumed = StarGANv1Module(**{**ARCH, "img_size": 32, "d_conv_dim": 4}, total_iters=6)
    quiet_trainer().fit(resumed, random_loader(n=4, num_domains=3), ckpt_path=out)
    assert resumed.iteration == 6


def test_celeba_multi_hot_layout_imports_with_label_vectors(tmp_path):
    """The released CelebA weights: c_dim 5 attributes (3 hair colours, male, young)."""
    src = _source(img_size=32, num_domains=5, d_conv_dim=4)
    g_path = _write(src, tmp_path)
    module = convert_v1_checkpoint(g_path, tmp_path / "celeba.ckpt")
    assert module.num_domains == 5 and module.img_size == 32
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    blond_male = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]] * 2)  # two attributes at once
    out = module.eval().translate_labels(x, blond_male)
    torch.testing.assert_close(out, src.eval().nets["generator"](x, blond_male))
    # domain 1 is the one-hot vector: blond hair, female, old
    torch.testing.assert_close(
        module.translate(x, 1), module.translate_labels(x, torch.eye(5)[[1, 1]])
    )


def test_generator_alone_needs_the_image_size(tmp_path):
    g_path = _write(_source(), tmp_path)
    (tmp_path / "200-D.ckpt").unlink()
    with pytest.raises(ConversionError, match="img_size.*--set img_size=128"):
        convert_v1_checkpoint(g_path, tmp_path / "a.ckpt")
    module = convert_v1_checkpoint(g_path, tmp_path / "a.ckpt", img_size=64)
    assert module.img_size == 64 and module.hparams.g_conv_dim == 4


def test_two_dataset_mask_layout_is_refused_with_the_reason(tmp_path):
    """--dataset Both: G takes c_dim + c2_dim + 2 label channels, D has c_dim + c2_dim logits."""
    g = StarGANv1Module(**{**ARCH, "num_domains": 5}).nets["generator"].state_dict()
    d = StarGANv1Module(**{**ARCH, "num_domains": 3}).nets["discriminator"].state_dict()
    with pytest.raises(ConversionError, match="two-dataset model.*mask vector"):
        infer_v1_config(g, d)
    d4 = StarGANv1Module(**{**ARCH, "num_domains": 4}).nets["discriminator"].state_dict()
    with pytest.raises(ConversionError, match="do not belong to the same model"):
        infer_v1_config(g, d4)


def test_mismatching_override_names_key_and_shapes(tmp_path):
    g_path = _write(_source(), tmp_path)
    with pytest.raises(ConversionError, match=r"g_conv_dim=8 was requested.*\n.*main\.0\.weight"):
        convert_v1_checkpoint(g_path, tmp_path / "a.ckpt", g_conv_dim=8)
    torch.save({"generator": {}}, tmp_path / "1-G.ckpt")
    with pytest.raises(ConversionError, match="not a plain state dict"):
        convert_v1_checkpoint(tmp_path / "1-G.ckpt", tmp_path / "b.ckpt")


def test_cli_recognises_v1_files(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)  # keep other tests' logging
    g_path = _write(_source(), tmp_path / "models", it=3000)
    assert is_v1_generator_file(g_path) and not is_v1_generator_file(tmp_path / "3000-D.ckpt")
    assert convert_main([str(g_path), str(tmp_path / "v1.ckpt"), "--iteration", "0"]) == 0
    assert load_model(tmp_path / "v1.ckpt").iteration == 0
    renamed = tmp_path / "gen.ckpt"
    renamed.write_bytes(g_path.read_bytes())
    args = [str(renamed), str(tmp_path / "v1b.ckpt"), "--v1", "--set", "img_size=64"]
    assert convert_main(args) == 0
    assert convert_main([str(g_path), str(tmp_path / "v1c.ckpt"), "--expect", "g_conv_dim=8"]) == 1
    assert "g_conv_dim=8 was requested but the file has g_conv_dim=4" in caplog.text
    assert convert_main([str(g_path), str(tmp_path / "v1d.ckpt"), "--set", "img_size=32"]) == 1
    assert "d_repeat_num=6 is invalid at img_size=32" in caplog.text
    assert "Inferred from the file: num_domains=3" in caplog.text


def _celeba_folder(root, n=4):
    """A CelebA-layout folder: images and list_attr_celeba.txt (count, names, 1/-1 rows)."""
    from PIL import Image

    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Smiling", "Young"]
    rows = []
    for i in range(n):
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (60 * i, 90, 30)).save(root / "img" / f"{i:06d}.jpg")
        hair = [1 if k == i % 3 else -1 for k in range(3)]
        rows.append(f"{i:06d}.jpg " + " ".join(f"{v:>2d}" for v in [*hair, 1, -1, (-1) ** i]))
    (root / "list_attr_celeba.txt").write_text("\n".join([str(n), " ".join(names) + " ", *rows]))
    return root / "img", root / "list_attr_celeba.txt"


def test_convert_celeba_weights_and_sample_the_originals_test_grid(tmp_path):
    from PIL import Image

    from starganv2.cli.sample import run as sample
    from starganv2.interop.original_v1 import CELEBA_ATTRIBUTES
    from tests.integration.conftest import compose_train

    src = _source(img_size=32, num_domains=5)
    g_path = _write(src, tmp_path / "models")
    out = tmp_path / "celeba_v1.ckpt"
    assert convert_main([str(g_path), str(out), "--labels", "celeba"]) == 0
    module = load_model(out)
    assert module.multi_label and module.attribute_names == list(CELEBA_ATTRIBUTES)
    assert module.exclusive_groups == [(0, 1, 2)]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[0.0, 1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(module.translate_labels(x, c), src.nets["generator"](x, c))

    root, table = _celeba_folder(tmp_path / "celeba")
    cfg = compose_train(
        [
            f"ckpt_path={out}",
            "data=attributes",
            f"data.root={root}",
            f"data.attr_file={table}",
            "data.img_size=32",
            "data.test_size=2",
            "data.num_workers=0",
            "num_sources=2",
        ],
        tmp_path / "run",
        config_name="sample",
    )
    grid = sample(cfg)["attribute_grid"]
    assert Image.open(grid).size == ((1 + 5) * 34 + 2, 2 * 34 + 2)  # source + 5 test labels


def test_celeba_labels_need_five_label_channels(tmp_path, caplog):
    g_path = _write(_source(img_size=32), tmp_path / "models")  # 3 domains
    assert convert_main([str(g_path), str(tmp_path / "x.ckpt"), "--labels", "celeba"]) == 1
    # named as the option given: "attributes has 5 names", a key the user had not set, said
    # nothing of --labels nor what to do (hunt BA)
    assert "labels='celeba' (--labels celeba) is the layout of a generator with 5" in caplog.text
    assert "this one takes 3" in caplog.text and "Drop --labels" in caplog.text
    assert not (tmp_path / "x.ckpt").exists()


def test_set_takes_lists_in_the_unquoted_form_of_the_other_commands(tmp_path):
    """``--set attributes=[a,b,c]`` was kept as the string '[a,b,c]' and split into the names
    '[', 'a', ',', ... (hunt BA)."""
    g_path = _write(_source(img_size=32), tmp_path / "models")  # 3 domains
    out = tmp_path / "x.ckpt"
    sets = [
        "--set",
        "label_mode=multi",
        "--set",
        "attributes=[a,b,c]",
        "--set",
        "exclusive=[[a,b]]",
    ]
    assert convert_main([str(g_path), str(out), *sets]) == 0
    hparams = torch.load(out, weights_only=False)["hyper_parameters"]
    assert hparams["attributes"] == ["a", "b", "c"] and hparams["exclusive"] == [["a", "b"]]


def test_library_checkpoint_and_renamed_v1_file_get_the_right_hint(tmp_path):
    """A checkpoint of this library given with --v1 needs no conversion (it was told to drop
    --v1, as if it were a StarGAN v2 file); a renamed original v1 file given without --v1 is told
    to add it (it was told about StarGAN v2's nets only)."""
    ours = tmp_path / "ours.ckpt"
    convert_v1_checkpoint(_write(_source(), tmp_path), ours)
    with pytest.raises(ConversionError, match="already a checkpoint of this library"):
        convert_v1_checkpoint(ours, tmp_path / "a.ckpt")
    renamed = tmp_path / "generator.pth"
    renamed.write_bytes((tmp_path / "200-G.ckpt").read_bytes())
    with pytest.raises(ConversionError, match="generator.pth is a plain state dict.*--v1"):
        load_original(renamed)


def test_v1_options_on_a_v2_conversion_are_refused(tmp_path, caplog, monkeypatch):
    """--discriminator was silently ignored when the file was converted as StarGAN v2."""
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)  # keep other tests' logging
    g_path = _write(_source(), tmp_path)
    for extra in (["--discriminator", str(tmp_path / "200-D.ckpt")], ["--labels", "celeba"]):
        caplog.clear()
        args = [str(tmp_path / "100_nets_ema.ckpt"), str(tmp_path / "o.ckpt"), *extra]
        assert convert_main(args) == 1
        assert f"{extra[0]}: StarGAN v1 option(s)" in caplog.text and "--v1" in caplog.text
        assert not (tmp_path / "o.ckpt").exists()
    assert g_path.exists()


def _attribute_loader(n: int = 4) -> torch.utils.data.DataLoader:
    """Training items of five attributes (``{"x_real", "y_org"}``, 1.0 / 0.0 labels)."""
    g = torch.Generator().manual_seed(0)
    items = [
        {"x_real": torch.rand(3, 32, 32, generator=g) * 2 - 1, "y_org": torch.eye(5)[i % 5]}
        for i in range(n)
    ]
    return torch.utils.data.DataLoader(items, batch_size=2)


def test_fine_tuning_the_celeba_weights_with_the_attributes_reordered_is_refused(tmp_path):
    """The converted file holds no data module's attribute names, only the model's: the run
    checks those, so another order does not silently teach each attribute at another's label."""
    from starganv2.interop.original_v1 import CELEBA_ATTRIBUTES

    g_path = _write(_source(img_size=32, num_domains=5, d_conv_dim=4), tmp_path, it=5)
    out = tmp_path / "celeba.ckpt"
    convert_v1_checkpoint(g_path, out, labels="celeba", total_iters=6)
    arch = {**ARCH, "img_size": 32, "num_domains": 5, "d_conv_dim": 4, "total_iters": 6}
    names = list(CELEBA_ATTRIBUTES)

    def run(attributes):
        module = StarGANv1Module(**arch, label_mode="multi", attributes=attributes, n_critic=1)
        quiet_trainer().fit(module, _attribute_loader(), ckpt_path=out)
        return module

    with pytest.raises(ValueError, match=r"'Male', 'Young'\] would change label"):
        run([*names[3:], *names[:3]])
    assert run([*names[:4], "Smiling"]).iteration == 6  # a replaced attribute keeps its label
