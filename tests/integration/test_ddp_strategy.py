"""Two CPU processes with the strategy a user types without reading our docs.

``trainer.devices=2`` alone used to start both ranks and crash on each with a traceback about
unused parameters (plain ``ddp``, Lightning's ``auto``): the command now picks the DDP that
works and trains. A Python user's ``Trainer(devices=2, strategy="ddp")`` stops both ranks before
the first iteration with one line naming the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader
from tests.helpers.ddp import free_port, join_process_group_env
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, run_cli

pytestmark = pytest.mark.slow

WORLD = 2


def _rank_main(rank: int, out: str, port: int) -> None:
    """One rank of ``Trainer(devices=2, strategy="ddp").fit(module)``: writes what it raised."""
    join_process_group_env(rank, WORLD, port)
    module = StarGANv2Module(**TINY, total_iters=2)
    try:
        quiet_trainer(devices=WORLD, strategy="ddp").fit(module, random_loader(n=8))
        said = "no error"
    except Exception as err:  # the test compares what each rank raised
        said = f"{type(err).__name__}: {err}"
    Path(out, f"rank{rank}.txt").write_text(f"{module.iteration}\n{said}")


def test_plain_ddp_in_python_stops_every_rank_before_training_in_one_line(tmp_path):
    mp.spawn(_rank_main, args=(str(tmp_path), free_port()), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        iteration, said = (tmp_path / f"rank{rank}.txt").read_text().split("\n", 1)
        assert iteration == "0", f"rank {rank} trained"
        assert said == (
            "ValueError: trainer.strategy=DDPStrategy cannot train this model: DDP without "
            "find_unused_parameters=True stops at the second backward pass of an iteration "
            "(each update leaves the other nets' parameters without gradients); use "
            "trainer.strategy=ddp_find_unused_parameters_true or trainer=ddp "
            '(in Python: Trainer(strategy="ddp_find_unused_parameters_true"))'
        ), f"rank {rank}"


def test_devices_2_from_the_cli_trains_with_the_ddp_that_works(tmp_path, shapes_cache):
    args = [
        "starganv2.cli.train",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={shapes_cache}",
        f"paths.root_dir={tmp_path}",
    ]
    proc = run_cli(args, cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out,) = (tmp_path / "outputs" / "train").iterdir()
    log = (out / "train.log").read_text()
    assert log.count("using ddp_find_unused_parameters_true, the DDP that trains this model") == 1
    assert "trainer.strategy=auto with 2 processes (trainer.devices=2" in log
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["starganv2"] == {
        "iteration": 2,
        "model": "stargan_v2",
        "processes": 2,
        "batch_size": 2,
    }
