"""A model and a data module that disagree on the image size or the number of domains are
refused in one line when fitting starts, naming both keys, instead of failing deep inside torch
(a conv larger than its input, a domain index out of range) or training unused domain heads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from starganv2.data.datamodule import ShapesDataModule
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.training_checks import check_data_fits
from tests.helpers import TINY, quiet_trainer
from tests.models.stargan_v1.test_module import TINY_V1

DOMAINS = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def shapes_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shapes_cache")


def _shapes(cache: Path) -> ShapesDataModule:
    """Three shapes at 32 px, 4 training and 2 validation images each."""
    return ShapesDataModule(
        cache_dir=cache, img_size=32, n_train=4, n_val=2, batch_size=2, num_workers=0
    )


def _num_domains_message(model: int) -> str:
    return (
        f"model.num_domains={model} but data.num_domains=3 ({DOMAINS}): the model needs one "
        "output per domain of the data; set the count once, data.num_domains (the model configs "
        "follow it: num_domains: ${data.num_domains}), and drop a model.num_domains override "
        "(in Python, build the module with the data module's num_domains)"
    )


@pytest.mark.parametrize("num_domains", [2, 5])
def test_stargan_v2_with_another_number_of_domains_than_the_data(shapes_cache, num_domains):
    module = StarGANv2Module(**{**TINY, "num_domains": num_domains}, total_iters=1)
    with pytest.raises(ValueError) as err:
        quiet_trainer().fit(module, datamodule=_shapes(shapes_cache))
    assert str(err.value) == _num_domains_message(num_domains)
    assert module.iteration == 0


def test_stargan_v2_with_another_image_size_than_the_data(shapes_cache):
    module = StarGANv2Module(**{**TINY, "num_domains": 3, "img_size": 64}, total_iters=1)
    with pytest.raises(ValueError) as err:
        quiet_trainer().fit(module, datamodule=_shapes(shapes_cache))
    assert str(err.value) == (
        "model.img_size=64 but data.img_size=32: the model's nets are built for another image "
        "size than the data's; set the size once, data.img_size (the model configs follow it: "
        "img_size: ${data.img_size}), and drop a model.img_size override (in Python, build the "
        "module with the data module's img_size)"
    )


def test_stargan_v1_with_another_number_of_domains_than_the_data(shapes_cache):
    module = StarGANv1Module(**TINY_V1, total_iters=1)  # two domains
    with pytest.raises(ValueError, match=re.escape(_num_domains_message(2))):
        quiet_trainer().fit(module, datamodule=_shapes(shapes_cache))


def test_a_data_module_that_fits_or_tells_nothing_passes():
    class Fits:
        img_size, num_domains, domains = 32, 3, DOMAINS

    class Unknown:
        @property
        def num_domains(self) -> int:
            raise RuntimeError("num_domains is unknown before setup()")

    check_data_fits(32, 3, Fits())
    check_data_fits(32, 3, Unknown())
    check_data_fits(32, 3, None)  # plain dataloaders: no data module


def _data_without_references(cache: object) -> ShapesDataModule:
    """Tiny shapes data whose training items hold no reference images (StarGAN v1's option)."""
    return ShapesDataModule(
        cache_dir=cache,
        img_size=32,
        n_train=4,
        n_val=2,
        batch_size=2,
        num_workers=0,
        load_references=False,
    )


def test_stargan_v2_with_data_that_leaves_out_the_references(shapes_cache):
    """``data.load_references=false`` (StarGAN v1's option) used to fail the first iteration
    of StarGAN v2 with a bare ``KeyError: 'x_ref'``; it is refused before training instead."""
    data = _data_without_references(shapes_cache)
    module = StarGANv2Module(**{**TINY, "num_domains": 3}, total_iters=1)
    with pytest.raises(ValueError) as err:
        quiet_trainer().fit(module, datamodule=data)
    assert str(err.value) == (
        "data.load_references=false, but stargan_v2 trains on reference images (x_ref, x_ref2); "
        "set data.load_references=true (false is for StarGAN v1, model=stargan_v1)"
    )
    assert module.iteration == 0


def test_stargan_v1_trains_without_references(shapes_cache):
    data = _data_without_references(shapes_cache)
    module = StarGANv1Module(**{**TINY_V1, "num_domains": 3}, total_iters=1)
    quiet_trainer().fit(module, datamodule=data)
    assert module.iteration == 1
