"""``starganv2-eval`` compares the data's domain folders with the names the checkpoint was
trained with, as ``starganv2-translate`` does: a domain at another label is refused (its figures
would be reported under another task's name), a rename is a warning."""

from __future__ import annotations

import logging

import pytest
import torch

from starganv2.evaluation import registry
from tests.helpers import write_tiny_checkpoint
from tests.integration.conftest import compose_train, make_folder_dataset

TRAINED = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def named_ckpt(tmp_path_factory):
    """A tiny 3-domain checkpoint whose data module saved the domains circle, square, triangle."""
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "named.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["ImageDomainDataModule"] = {"domains": TRAINED}
    torch.save(checkpoint, path)
    return path


@pytest.fixture
def measured(monkeypatch) -> list[list[str]]:
    """A metric ``domains_seen`` that needs no weights: records the domains it measured."""
    seen: list[list[str]] = []

    def factory(protocol):
        def run(model, data, modes):
            seen.append(list(data.domains))
            return {f"seen/{d}": 1.0 for d in data.domains}

        return run

    monkeypatch.setitem(registry._FACTORIES, "domains_seen", factory)
    return seen


def _eval(ckpt, tmp_path, domains):
    from starganv2.cli.eval import run

    root = make_folder_dataset(tmp_path / "data", domains, n=2, size=32)
    overrides = [
        f"ckpt_path={ckpt}",
        "data=folder",
        f"data.root={root}",
        "data.num_domains=3",
        "data.img_size=32",
        "data.num_workers=0",
        "metrics=[domains_seen]",
        "logger=none",
        "device=cpu",
    ]
    cfg = compose_train(overrides, tmp_path / "run", config_name="eval")
    return run(cfg), root


def test_folders_that_move_a_trained_domain_are_refused(named_ckpt, tmp_path, measured):
    """Trained on circle, square, triangle; folders apple, circle, square: circle and square would
    be measured with the labels of others, under their own names (``FID_latent/circle2apple``)."""
    with pytest.raises(ValueError) as err:
        _eval(named_ckpt, tmp_path, ["apple", "circle", "square"])
    root = tmp_path / "data"
    assert str(err.value).startswith(
        f"the domain folders under {root / 'train'} give the domains (0: apple, 1: circle, "
        f"2: square) but ckpt_path={named_ckpt} was trained with (0: circle, 1: square, "
        "2: triangle): ['circle', 'square'] would be translated with another domain's label"
    )
    assert measured == []  # refused before any metric ran


def test_renamed_folders_are_measured_with_a_warning(named_ckpt, tmp_path, measured, caplog):
    with caplog.at_level(logging.WARNING, logger="starganv2.models.domain_names"):
        results, root = _eval(named_ckpt, tmp_path, ["ball", "square", "triangle"])
    assert measured == [["ball", "square", "triangle"]] and results["seen/ball"] == 1.0
    assert (
        f"the domain folders under {root / 'train'} give the domains (0: ball, 1: square, "
        f"2: triangle); ckpt_path={named_ckpt} was trained with (0: circle, 1: square, "
        "2: triangle): each label keeps its place"
    ) in caplog.text
    assert caplog.text.count("was trained with") == 1  # not again by the evaluator


def test_the_trained_folders_and_unnamed_checkpoints_pass_quietly(
    named_ckpt, tmp_path, measured, caplog
):
    unnamed = write_tiny_checkpoint(tmp_path / "unnamed.ckpt")  # converted: no names saved
    with caplog.at_level(logging.WARNING, logger="starganv2.models.domain_names"):
        _eval(named_ckpt, tmp_path / "a", TRAINED)
        _eval(unnamed, tmp_path / "b", ["apple", "circle", "square"])
    assert measured == [TRAINED, ["apple", "circle", "square"]]
    assert "trained with" not in caplog.text
