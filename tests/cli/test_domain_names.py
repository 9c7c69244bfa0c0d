"""The inference tools name the domains as training saved them in the checkpoint, and refuse
names that would give a domain another one's label."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.models.domain_names import moved_domains, saved_domain_names
from tests.helpers import write_module_checkpoint, write_tiny_checkpoint


@pytest.fixture(scope="module")
def named_ckpt(tmp_path_factory):
    """A tiny 3-domain checkpoint whose data module saved the domains cat, dog, wild."""
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "named.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["ImageDomainDataModule"] = {"domains": ["cat", "dog", "wild"]}
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def unnamed_ckpt(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "unnamed.ckpt")


def _cfg(name, overrides, tmp_path):
    from tests.integration.conftest import compose_train

    return compose_train(overrides, tmp_path / "run", config_name=name)


def _translate(ckpt, tmp_path, *extra):
    from starganv2.cli.translate import run
    from tests.integration.conftest import make_folder_dataset

    src = make_folder_dataset(tmp_path / "data", ["x", "y"], n=1, size=32) / "val"
    out = tmp_path / "out"
    cfg = _cfg(
        "translate",
        [f"ckpt_path={ckpt}", f"input_dir={src}", f"output_dir={out}", "progress=false", *extra],
        tmp_path,
    )
    return run(cfg), out


def test_saved_names_are_read_from_any_data_module_entry():
    names = ["cat", "dog", "wild"]
    assert saved_domain_names({"MyData": {"domains": names}, "epoch": 3}, 3) == names
    assert saved_domain_names({"MyData": {"domains": names}}, 2) is None  # another model
    assert saved_domain_names({"state_dict": {"domains": names}}, 3) is None
    assert saved_domain_names({"epoch": 3}, 3) is None
    assert moved_domains(names, ["wild", "dog", "cat"]) == ["cat", "wild"]
    assert moved_domains(names, ["cats", "dog", "wild"]) == []


def test_translate_names_outputs_as_the_checkpoint_does(named_ckpt, tmp_path):
    report, out = _translate(named_ckpt, tmp_path, "domains=[dog]")
    assert report.written == 2 and not report.failed
    assert sorted(p.name for p in out.iterdir()) == ["dog"]


def test_names_that_move_a_domain_to_another_label_are_refused(named_ckpt, tmp_path):
    with pytest.raises(ValueError) as err:
        _translate(named_ckpt, tmp_path, "domain_names=[wild,dog,cat]", "domains=[cat]")
    msg = str(err.value)
    assert "domain_names gives the domains (0: wild, 1: dog, 2: cat)" in msg
    assert "trained with (0: cat, 1: dog, 2: wild)" in msg
    assert "['cat', 'wild']" in msg and "domain_names=[cat,dog,wild]" in msg
    assert not (tmp_path / "out").exists()


def test_renamed_domains_keep_their_labels_with_a_warning(named_ckpt, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.translate"):
        report, out = _translate(named_ckpt, tmp_path, "domain_names=[kitten,dog,wild]")
    assert report.written == 6
    assert sorted(p.name for p in out.iterdir()) == ["dog", "kitten", "wild"]
    assert "trained with (0: cat, 1: dog, 2: wild)" in caplog.text


def _refs(root, names):
    from PIL import Image

    for name in names:
        (root / name).mkdir(parents=True)
        Image.new("RGB", (32, 32), (40, 90, 140)).save(root / name / "r.png")
    return root


def test_a_ref_dir_with_some_of_the_checkpoints_domains_takes_its_names(named_ckpt, tmp_path):
    # ref_dir holds the target's folder alone: its one name was taken as the model's domain list
    # ("ref_dir gives 1 domain names ['dog'] but the model has num_domains=3")
    refs = _refs(tmp_path / "refs", ["dog"])
    report, out = _translate(named_ckpt, tmp_path, "domains=[dog]", f"ref_dir={refs}")
    assert report.written == 2 and sorted(p.name for p in out.iterdir()) == ["dog"]


def test_a_ref_dir_in_another_order_than_the_checkpoint_keeps_its_labels(tmp_path):
    from starganv2.cli.translate import domain_names

    path = write_tiny_checkpoint(tmp_path / "ckpt.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["ImageDomainDataModule"] = {"domains": ["wild", "cat", "dog"]}
    torch.save(checkpoint, path)
    refs = _refs(tmp_path / "refs", ["cat", "dog", "wild"])  # listed alphabetically
    cfg = _cfg("translate", [f"ckpt_path={path}", f"ref_dir={refs}"], tmp_path)
    assert domain_names(cfg, 3) == ["wild", "cat", "dog"]
    other = _refs(tmp_path / "other", ["a", "b", "c"])  # not the checkpoint's: a rename, as before
    cfg = _cfg("translate", [f"ckpt_path={path}", f"ref_dir={other}"], tmp_path)
    assert domain_names(cfg, 3) == ["a", "b", "c"]


def test_checkpoints_without_names_number_the_domains(unnamed_ckpt, tmp_path):
    report, out = _translate(unnamed_ckpt, tmp_path, "domains=[1]")
    assert report.written == 2 and sorted(p.name for p in out.iterdir()) == ["domain1"]


def test_augment_takes_targets_by_the_checkpoints_names(named_ckpt, tmp_path):
    from starganv2.cli.augment import run
    from tests.synthesis.detection.datasets import make_coco

    src = make_coco(tmp_path / "in", broken=False)
    overrides = [f"ckpt_path={named_ckpt}", f"input={src}", f"output={tmp_path / 'out'}"]
    report = run(_cfg("augment", [*overrides, "targets=wild"], tmp_path))
    assert report.written == 3 and {o["domain"] for o in report.outputs} == {"wild"}
    with pytest.raises(ValueError, match=r"\['cat', 'wild'\] would be translated"):
        run(_cfg("augment", [*overrides, "domain_names=[wild,dog,cat]"], tmp_path / "b"))


def test_a_data_root_without_train_folder_is_named_not_skipped(named_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data.root=.*nowhere has no train/ folder"):
        _translate(named_ckpt, tmp_path, "data=folder", f"data.root={tmp_path / 'nowhere'}")
    assert not (tmp_path / "out").exists()


def test_a_model_on_attribute_vectors_is_refused_saying_where_its_grid_is(tmp_path):

    from starganv2.models.stargan_v1.module import StarGANv1Module

    torch.manual_seed(0)
    module = StarGANv1Module(
        img_size=16,
        num_domains=2,
        g_conv_dim=4,
        d_conv_dim=4,
        g_repeat_num=1,
        label_mode="multi",
        attributes=["smile", "male"],
    )
    ckpt = write_module_checkpoint(module, tmp_path / "v1.ckpt")
    with pytest.raises(ValueError, match=r"starganv2-translate translates images into domains"):
        _translate(ckpt, tmp_path)
    assert not (tmp_path / "out").exists()


def test_sample_on_the_default_data_says_which_data_it_used(named_ckpt, tmp_path):
    """A model trained on one's own folders, sampled without data=...: the default shapes data
    does not fit it, and the error says that shapes was assumed and what to pass."""
    from starganv2.cli.sample import run

    two = tmp_path / "two.ckpt"
    checkpoint = torch.load(write_tiny_checkpoint(two, num_domains=2), weights_only=True)
    checkpoint["ImageDomainDataModule"] = {"domains": ["cat", "dog"]}
    torch.save(checkpoint, two)
    cfg = _cfg("sample", [f"ckpt_path={two}", "data.n_train=6", "data.n_val=3"], tmp_path)
    with pytest.raises(ValueError) as err:
        run(cfg)
    msg = str(err.value)
    assert msg.startswith("the model has num_domains=2 (cat, dog) but the data config (data=shapes")
    assert "data=folder data.root=<its folder> data.num_domains=2" in msg


def _sample_from_folders(ckpt, tmp_path, domains):
    """``starganv2-sample`` of ``ckpt`` with sources and references from folders ``domains``."""
    from starganv2.cli.sample import run
    from tests.integration.conftest import make_folder_dataset

    refs = make_folder_dataset(tmp_path / "refs", domains, n=2, size=32) / "val"
    overrides = [f"ckpt_path={ckpt}", f"src_dir={refs}", f"ref_dir={refs}", "num_sources=3"]
    return run(_cfg("sample", [*overrides, f"output_dir={tmp_path / 'out'}"], tmp_path))


def test_sample_refuses_references_that_move_a_domain_to_another_label(named_ckpt, tmp_path):
    """Folders dog, wild, zebra would draw dog with cat's label and file it as latent_dog.png."""
    with pytest.raises(ValueError) as err:
        _sample_from_folders(named_ckpt, tmp_path, ["dog", "wild", "zebra"])
    msg = str(err.value)
    assert "gives the domains (0: dog, 1: wild, 2: zebra)" in msg
    assert "trained with (0: cat, 1: dog, 2: wild)" in msg and "['dog', 'wild']" in msg
    assert not list((tmp_path / "out").glob("*.png"))


def test_sample_warns_about_renamed_reference_domains(named_ckpt, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.models.domain_names"):
        written = _sample_from_folders(named_ckpt, tmp_path, ["cat", "dog", "zebra"])
    assert "latent_grid/zebra" in written
    assert "trained with (0: cat, 1: dog, 2: wild)" in caplog.text
