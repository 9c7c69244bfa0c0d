"""forward, validation_step and test_step (starganv2.models.lightning_steps): calling the module
translates, and Trainer.validate, Trainer.test and a fit with a validation interval log the
evaluator's figures under stable names that Lightning's EarlyStopping and ModelCheckpoint watch."""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from starganv2.data.datamodule import ImageDomainDataModule, ShapesDataModule
from starganv2.evaluation.evaluator import Evaluator
from starganv2.evaluation.shapes_classifier import load_or_train_classifier
from starganv2.models.lightning_steps import logged_name
from starganv2.models.registry import load_model
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.evaluation.conftest import TinyFeatures, write_domain_data
from tests.helpers import TINY, quiet_trainer
from tests.helpers.ddp import free_port, join_process_group_env
from tests.models.stargan_v1.test_module import TINY_V1

MONITOR = "val/shapes/target_accuracy_latent"


def _shapes(cache: Path) -> ShapesDataModule:
    """Two shapes at 32 px (TINY's two domains), 6 training and 2 validation images each."""
    return ShapesDataModule(
        cache_dir=cache,
        img_size=32,
        domains=("circle", "square"),
        n_train=6,
        n_val=2,
        batch_size=2,
        num_workers=0,
    )


def _module(**kw) -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**{**TINY, **kw})


def _shapes_evaluator() -> Evaluator:
    return Evaluator(metrics=["shapes_quality"], modes=["latent"], batch_size=4)


@pytest.fixture(scope="module")
def shapes_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("shapes_cache")
    dm = _shapes(cache)
    dm.prepare_data()
    load_or_train_classifier(dm.root)  # trained once here; every evaluation reuses the file
    return cache


@pytest.mark.parametrize(
    ("key", "stage", "name"),
    [
        ("FID_latent/mean", "val", "val/fid/latent"),
        ("FID_latent/cat2dog", "val", "val/fid/latent/cat2dog"),
        ("LPIPS_reference/mean", "test", "test/lpips/reference"),
        ("shapes/target_accuracy_latent", "val", "val/shapes/target_accuracy_latent"),
        ("attr/target/mean", "test", "test/attr/target/mean"),
    ],
)
def test_logged_names(key, stage, name):
    assert logged_name(key, stage) == name


def test_forward_is_translate():
    module = _module().eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y = torch.tensor([0, 1, 0])
    z = torch.randn(3, TINY["latent_dim"])
    assert torch.equal(module(x, y, z=z), module.translate(x, y, z=z))
    assert torch.equal(module(x, 1, x_ref=x.flip(0)), module.translate(x, 1, x_ref=x.flip(0)))


def test_forward_is_translate_for_stargan_v1_too():
    torch.manual_seed(0)
    module = StarGANv1Module(**TINY_V1).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(module(x, torch.tensor([1, 0])), module.translate(x, torch.tensor([1, 0])))


def test_evaluator_must_evaluate_and_stays_out_of_hparams_and_state():
    module = _module()
    names = set(module.state_dict())
    with pytest.raises(TypeError, match="evaluator is a int: expected None or an object with"):
        module.evaluator = 3
    module.evaluator = _shapes_evaluator()
    assert "evaluator" not in module.hparams and set(module.state_dict()) == names


def test_validate_logs_the_evaluators_figures_under_val_names(shapes_cache):
    module = _module()
    module.evaluator = _shapes_evaluator()
    dm = _shapes(shapes_cache)
    logged = quiet_trainer(limit_val_batches=1).validate(module, datamodule=dm, verbose=False)[0]
    expected = _shapes_evaluator().evaluate(module, dm)
    assert MONITOR in logged
    assert logged == pytest.approx(
        {logged_name(k, "val"): v for k, v in expected.items()}, nan_ok=True
    )


def test_test_returns_the_figures_under_test_names(shapes_cache):
    module = _module()
    module.evaluator = _shapes_evaluator()
    logged = quiet_trainer().test(module, datamodule=_shapes(shapes_cache), verbose=False)[0]
    assert "test/shapes/target_accuracy_latent" in logged
    assert all(k.startswith("test/") for k in logged)


def test_validate_without_evaluator_says_how_to_set_one(shapes_cache):
    with pytest.raises(RuntimeError, match=r"evaluator is not set: set module.evaluator = "):
        quiet_trainer(limit_val_batches=1).validate(_module(), datamodule=_shapes(shapes_cache))


def test_validate_without_validation_images_says_so(tmp_path, caplog):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    shutil.rmtree(root / "val")
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    module = _module()
    module.evaluator = _shapes_evaluator()
    with caplog.at_level(logging.WARNING, logger="starganv2.data.datamodule"):
        assert quiet_trainer(limit_val_batches=1).validate(module, datamodule=dm) == []
    assert f"{root / 'val'}: not found, so validation and test measure nothing" in caplog.text


class _Validations(Callback):
    """The iterations at which validation ran."""

    def __init__(self) -> None:
        self.iterations: list[int] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.iterations.append(pl_module.iteration)


def test_fit_validates_every_n_iters_for_early_stopping_and_checkpoints(shapes_cache, tmp_path):
    module = _module(total_iters=4)
    module.evaluator = _shapes_evaluator()
    stop = EarlyStopping(monitor=MONITOR, mode="max", patience=0)
    best = ModelCheckpoint(tmp_path, filename="best", monitor=MONITOR, mode="max")
    seen = _Validations()
    trainer = quiet_trainer(
        val_check_interval=2,  # training batches, which are iterations
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        callbacks=[stop, best, seen],
    )
    trainer.fit(module, datamodule=_shapes(shapes_cache))
    assert module.iteration == 4
    assert seen.iterations == [2, 4]
    assert math.isfinite(float(stop.best_score))  # EarlyStopping saw the metric
    assert Path(best.best_model_path) == tmp_path / "best.ckpt"  # ModelCheckpoint saw it too
    assert best.best_model_score is not None and (tmp_path / "best.ckpt").is_file()
    assert load_model(tmp_path / "best.ckpt").evaluator is None  # loads; the evaluator is not saved


# ---------------------------------------------------------------------- DDP: the same figures
WORLD = 2


def _ddp_evaluator() -> Evaluator:
    """FID/LPIPS (states synced over ranks) and the shapes figures (rank 0 only, broadcast)."""
    return Evaluator(
        metrics={"fid_lpips": {"feature_extractor": TinyFeatures()}, "shapes_quality": {}},
        modes=["latent"],
        num_outs_per_domain=2,
        batch_size=1,
    )


def _validate(cache: Path, **trainer_kw) -> dict[str, float]:
    module = _module()
    module.evaluator = _ddp_evaluator()
    trainer = quiet_trainer(limit_val_batches=1, **trainer_kw)
    return trainer.validate(module, datamodule=_shapes(cache), verbose=False)[0]


def _rank_main(rank: int, port: int, cache: str, torch_home: str, out: str) -> None:
    join_process_group_env(rank, WORLD, port, TORCH_HOME=torch_home)
    figures = _validate(Path(cache), devices=WORLD, strategy="ddp")
    torch.save(figures, Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_ddp_validation_gives_the_figures_of_one_process(shapes_cache, offline_hub, tmp_path):
    torch_home = str(offline_hub.parent.parent)
    mp.spawn(
        _rank_main,
        args=(free_port(), str(shapes_cache), torch_home, str(tmp_path)),
        nprocs=WORLD,
        join=True,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    one = _validate(shapes_cache)
    assert {"val/fid/latent", "val/lpips/latent", MONITOR} <= set(one)
    for r, figures in enumerate(ranks):
        assert figures == pytest.approx(one, rel=1e-5, nan_ok=True), f"rank {r}"
