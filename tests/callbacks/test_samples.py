"""SampleGrids' fixed inputs: an image that passed the start-up check but cannot be decoded."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from starganv2.callbacks.samples import SampleGrids
from starganv2.data.folders import eval_transform, list_domain_files
from starganv2.data.sampling import ImageDomainDataset
from tests.helpers.images import SIZE, make_root

MODEL = SimpleNamespace(
    guidance_modes=("latent", "reference"),
    device=torch.device("cpu"),
    has_styles=True,
    latent_dim=4,
)


def _inputs(tmp_path, broken: list[int]) -> tuple[dict, ImageDomainDataset]:
    root = make_root(tmp_path, {"cat": 3, "dog": 3}, val=None)
    files = list_domain_files(root / "train")
    ds = ImageDomainDataset.from_domain_files(files, ["cat", "dog"], eval_transform(SIZE))
    for i in broken:  # a PNG's header with garbage after it: decoding fails, not the scan
        ds.files[i].write_bytes(ds.files[i].read_bytes()[:40] + b"\0" * 200)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_set=ds))
    grids = SampleGrids(tmp_path / "samples", num_sources=2, refs_per_domain=1)
    return grids._fixed_inputs(trainer, MODEL), ds


def test_an_undecodable_image_is_replaced_by_the_next_of_its_domain(tmp_path, caplog):
    clean, ds = _inputs(tmp_path / "clean", [])
    with caplog.at_level(logging.WARNING, logger="starganv2.callbacks.samples"):
        fixed, ds = _inputs(tmp_path / "broken", [0])  # the first cat, a picked source
    assert "000.png" in caplog.text and "next image of its domain" in caplog.text
    assert fixed["x_src"].shape == clean["x_src"].shape == (2, 3, SIZE, SIZE)
    assert torch.equal(fixed["x_src"][0], ds.load(1))  # the next cat
    assert torch.equal(fixed["x_src"][1], clean["x_src"][1])  # the dog as before
    assert torch.equal(fixed["y_ref"], clean["y_ref"])


def test_a_domain_with_no_readable_image_is_an_error_naming_it(tmp_path):
    with pytest.raises(OSError, match="none of the 3 images of domain 0"):
        _inputs(tmp_path, [0, 1, 2])


def _coded_dataset(num_domains: int, per_domain: int, size: int = SIZE) -> SimpleNamespace:
    """A stand-in dataset whose image ``j`` (``(3, size, size)``) is filled with ``j / 100``, so a
    picked image tells its index (domain ``j // per_domain``)."""
    labels = [j // per_domain for j in range(num_domains * per_domain)]
    return SimpleNamespace(
        labels=labels,
        files=[f"{j:03d}.png" for j in range(len(labels))],
        load=lambda j: torch.full((3, size, size), j / 100),
    )


def _picked_domains(x: torch.Tensor, per_domain: int) -> list[int]:
    return [round(v * 100) // per_domain for v in x[:, 0, 0, 0].tolist()]


@pytest.mark.parametrize(
    ("num_domains", "num_sources", "expected"),
    [
        (5, 6, [0, 0, 1, 2, 3, 4]),  # every domain, the first one twice
        (3, 6, [0, 0, 1, 1, 2, 2]),
        (2, 3, [0, 0, 1]),
        (4, 2, [0, 1]),
    ],
)
def test_sources_are_dealt_round_robin_over_the_domains(num_domains, num_sources, expected):
    ds = _coded_dataset(num_domains, per_domain=4)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_set=ds))
    grids = SampleGrids("unused", num_sources=num_sources, refs_per_domain=1)
    fixed = grids._fixed_inputs(trainer, MODEL)
    assert _picked_domains(fixed["x_src"], 4) == expected
    assert fixed["y_ref"].tolist() == list(range(num_domains))
    picked_src = {round(v * 100) for v in fixed["x_src"][:, 0, 0, 0].tolist()}
    picked_ref = {round(v * 100) for v in fixed["x_ref"][:, 0, 0, 0].tolist()}
    assert not picked_src & picked_ref  # references differ from the sources


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_grids_of_a_model_converted_to_another_dtype(dtype):
    from starganv2.models.stargan_v2.module import StarGANv2Module
    from tests.helpers import TINY

    torch.manual_seed(0)
    model = StarGANv2Module(**{**TINY, "img_size": 16}).to(dtype)
    assert model.input_dtype == dtype  # as after trainer.precision=64-true or bf16-true
    trainer = SimpleNamespace(datamodule=SimpleNamespace(val_set=_coded_dataset(2, 3, size=16)))
    grids = SampleGrids("unused", num_sources=2, num_latents=1, refs_per_domain=1)
    grids._fixed = grids._fixed_inputs(trainer, model)
    out = grids.grids(model)
    assert sorted(out) == ["latent", "reference"]
    assert all(g.dtype == torch.float32 and g.isfinite().all() for g in out.values())
    assert grids._fixed["x_src"].dtype == grids._fixed["z"].dtype == torch.float32  # as drawn


def test_grids_go_to_wandb_at_the_iteration_as_the_step():
    """wandb filed a grid without a step under the step logged last (iteration 10's grid at the
    losses' step 5), unlike TensorBoard, the losses and the evaluations."""
    from lightning.pytorch.loggers import WandbLogger

    class Recorder(WandbLogger):
        def __init__(self) -> None:  # no wandb run: only what the callback hands over
            self.calls: list[tuple[str, int | None]] = []

        def log_image(self, key, images, step=None, **kwargs) -> None:
            self.calls.append((key, step))

    recorder = Recorder()
    SampleGrids._send(
        SimpleNamespace(loggers=[recorder]), "samples/latent", torch.zeros(3, 4, 4), 10
    )
    assert recorder.calls == [("samples/latent", 10)]


class _BatchesOnly:
    """A data module of one's own that only yields training batches (docs/architecture.md, "A
    data source")."""

    train_set = None


@pytest.mark.parametrize("dataset", [None, [torch.zeros(3, 8, 8)]])
def test_a_data_module_without_a_dataset_to_draw_from_is_one_line_naming_it(tmp_path, dataset):
    """A data module of one's own without ``val_set``/``train_set`` (or with a plain list) stopped
    ``starganv2-train`` with a traceback (a ``RuntimeError`` the console script does not report,
    or an ``AttributeError`` on ``labels``) that said neither which data module nor how to train
    without the grids."""
    dm = _BatchesOnly()
    dm.train_set = dataset
    trainer = SimpleNamespace(datamodule=dm)
    with pytest.raises(ValueError) as err:
        SampleGrids(tmp_path / "samples")._fixed_inputs(trainer, MODEL)
    message = str(err.value)
    assert message.startswith("callbacks.samples: data module _BatchesOnly has no val_set")
    assert "'~callbacks.samples'" in message and "\n" not in message
