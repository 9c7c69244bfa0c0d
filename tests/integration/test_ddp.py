"""DDP is proven equivalent to one process: 2 CPU processes (gloo) against a single-process run.

One spawned pair of ranks trains tiny nets for a few iterations with the real strategy
(``ddp_find_unused_parameters_true``), the real balanced sampler (sharding itself) and the real
checkpoint callback, and records per update the gradient of every net right after
``manual_backward``. A single process then trains on the same global batches (the two ranks'
batches concatenated, with the same fixed latent codes) from the same initial weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.multiprocessing as mp
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, Dataset

from starganv2.callbacks.checkpoint import IterationCheckpoint
from starganv2.data.sampling import BalancedDomainSampler
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.step import UPDATES as STEP_UPDATES
from tests.helpers import TINY, quiet_trainer
from tests.helpers.ddp import free_port, join_process_group_env
from tests.helpers.reference_step import reference_gradients
from tests.integration.conftest import TINY_OVERRIDES, TINY_SHAPES, run_cli

pytestmark = pytest.mark.slow

WORLD = 2
PER_RANK = 2  # images per rank and iteration; the global batch is WORLD * PER_RANK
ITERS = 2
# The reference computes each update's gradient as the mean of the two ranks' half-batch
# gradients (equal to the global batch's in exact arithmetic): with each half's forward pass
# bit-identical to a rank's, rounding cannot flip the subgradient of an L1 term (diversity,
# cycle, style) at its kink, which a global-batch forward did here (a 1.8e-3 to 2.3e-3 relative
# difference in G's gradient from a single pixel with |x_fake - x_fake2| ~ 6e-8).
HP = {**TINY, "max_conv_dim": 32, "total_iters": ITERS, "lr": 1e-3, "f_lr": 1e-3, "lambda_ds": 2.0}
NETS = ("generator", "mapping_network", "style_encoder", "discriminator")
UPDATES = ("d_latent", "d_ref", "g_latent", "g_ref")
RTOL = 1e-5


class Triples(Dataset):
    """Items for the balanced sampler's ``(src, ref, ref2)`` triples: fixed images per image index
    and fixed latent codes per triple (so every process sees the same values), plus the triple."""

    def __init__(self, n_images: int = 12):
        g = torch.Generator().manual_seed(1)
        self.images = torch.rand(n_images, 3, HP["img_size"], HP["img_size"], generator=g) * 2 - 1
        self.labels = [i % HP["num_domains"] for i in range(n_images)]

    def __getitem__(self, t: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        src, ref, ref2 = t
        g = torch.Generator().manual_seed(src * 10_007 + ref * 101 + ref2)
        return {
            "x_real": self.images[src],
            "y_org": torch.tensor(self.labels[src]),
            "x_ref": self.images[ref],
            "x_ref2": self.images[ref2],
            "y_trg": torch.tensor(self.labels[ref]),
            "z_trg": torch.randn(HP["latent_dim"], generator=g),
            "z_trg2": torch.randn(HP["latent_dim"], generator=g),
            "triple": torch.tensor(t),
        }


class TriplesData(L.LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        data = Triples()
        # built after the process group exists: the sampler reads world size and rank from it
        sampler = BalancedDomainSampler(data.labels, num_samples=PER_RANK * ITERS, seed=0)
        return DataLoader(data, batch_size=PER_RANK, sampler=sampler, drop_last=True)


def _flat_params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()]).clone()


class Recorder(StarGANv2Module):
    """Records the batches, each update's gradients and resulting parameters (per net,
    flattened) and the logged stats. The reference computes each gradient at exactly the
    recorded weights: Adam's first steps (betas (0, 0.99)) turn rounding-level gradient
    differences into visible parameter differences, which would otherwise compound."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.record: dict[str, list] = {"batches": [], "grads": [], "params": [], "stats": []}

    def _update(self, loss, opts):
        super()._update(loss, opts)
        self.record["params"].append({name: _flat_params(self.nets[name]) for name in NETS})

    def training_step(self, batch, batch_idx):
        if self.iteration < self.hparams.total_iters:
            self.record["batches"].append({k: v.detach().clone() for k, v in batch.items()})
        return super().training_step(batch, batch_idx)

    def manual_backward(self, loss, *args, **kwargs):
        super().manual_backward(loss, *args, **kwargs)
        grads = {}
        for name in NETS:
            gs = [p.grad for p in self.nets[name].parameters()]
            if all(g is None for g in gs):
                grads[name] = None
                continue
            ps = self.nets[name].parameters()
            grads[name] = torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).detach().flatten()
                    for g, p in zip(gs, ps)
                ]
            ).clone()
        self.record["grads"].append(grads)

    def _log_iteration(self, stats, batch_size, scalars):
        self.record["stats"].append(
            {f"train/{p}/{t}": v.clone() for p, ts in stats.items() for t, v in ts.items()}
        )
        super()._log_iteration(stats, batch_size, scalars)


class CountingIO(TorchCheckpointIO):
    """Appends ``rank path`` to a log file for every checkpoint file written."""

    def __init__(self, log: Path):
        super().__init__()
        self.log = log

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with open(self.log, "a") as fh:
            fh.write(f"{os.environ.get('RANK', '0')} {Path(path).name}\n")
        super().save_checkpoint(checkpoint, path, storage_options)


def _rank_main(rank: int, out: str, port: int) -> None:
    join_process_group_env(rank, WORLD, port)
    out = Path(out)
    torch.manual_seed(0)
    model = Recorder(**HP)
    if rank == 0:
        torch.save(model.state_dict(), out / "init.pt")
    trainer = quiet_trainer(
        devices=WORLD,
        strategy="ddp_find_unused_parameters_true",
        log_every_n_steps=1,
        callbacks=[IterationCheckpoint(out / "checkpoints", every_n_iters=1)],
        plugins=[CountingIO(out / "writes.txt")],
    )
    trainer.fit(model, datamodule=TriplesData())
    torch.save(
        {
            "state": model.state_dict(),
            "optim": [opt.state_dict() for opt in trainer.optimizers],
            "record": model.record,
            "logged": {k: v.clone() for k, v in trainer.callback_metrics.items()},
        },
        out / f"rank{rank}.pt",
    )


def _reference_grads(init: dict, batches: list[dict], params: list[dict]) -> list[dict]:
    """Every update's gradients at the DDP run's weights before that update, computed without
    Lightning or DDP as the mean of the two ranks' half-batch gradients."""
    torch.manual_seed(0)
    model = StarGANv2Module(**HP)
    model.load_state_dict(init)
    nets = model.online_nets()
    grads = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks: the same kernels, the same rounding
    try:
        for k, batch in enumerate(batches):
            model.iteration = k
            weights = model.loss_weights()
            half = batch["x_real"].size(0) // WORLD
            splits = [range(r * half, (r + 1) * half) for r in range(WORLD)]
            for u, (update, _) in enumerate(STEP_UPDATES):
                j = k * len(STEP_UPDATES) + u
                if j > 0:  # the weights the DDP run had before this update
                    with torch.no_grad():
                        for name in NETS:
                            torch.nn.utils.vector_to_parameters(
                                params[j - 1][name].clone(), model.nets[name].parameters()
                            )
                z = (batch["z_trg"], batch["z_trg2"])
                grads.append(reference_gradients(nets, batch, z, weights, update, splits))
    finally:
        torch.set_num_threads(threads)
    return grads


def _assert_same_tree(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs between ranks"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank_main, args=(str(out), free_port()), nprocs=WORLD, join=True)
    return out


def test_ddp_matches_single_process(ddp_run):
    ranks = [torch.load(ddp_run / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    # Both ranks end bit-identical: parameters, EMA (in the state dict) and optimizer states.
    _assert_same_tree(ranks[0]["state"], ranks[1]["state"], "state_dict")
    _assert_same_tree(ranks[0]["optim"], ranks[1]["optim"], "optimizers")

    # The sampler sharded one epoch draw without duplication: rank r has draws r, r + WORLD, ...
    draws = BalancedDomainSampler(Triples().labels, PER_RANK * ITERS, 0, WORLD, 0).epoch_draws()
    for r, rank in enumerate(ranks):
        seen = torch.cat([b["triple"] for b in rank["record"]["batches"]])
        assert seen.tolist() == draws[r::WORLD].tolist(), f"rank {r} drew the wrong share"

    # One process on the same global batches, at the same weights before every update.
    batches = [
        {k: torch.cat([b0[k], b1[k]]) for k in b0}
        for b0, b1 in zip(ranks[0]["record"]["batches"], ranks[1]["record"]["batches"])
    ]
    assert len(batches) == ITERS
    init = torch.load(ddp_run / "init.pt")
    single = _reference_grads(init, batches, ranks[0]["record"]["params"])
    assert len(single) == len(UPDATES) * ITERS
    worst = 0.0
    for r, rank in enumerate(ranks):
        assert len(rank["record"]["grads"]) == len(single)
        for k, (g_ddp, g_one) in enumerate(zip(rank["record"]["grads"], single)):
            update, stepped = STEP_UPDATES[k % 4]
            for name in stepped:  # the nets this update steps
                where = f"rank {r}, iteration {k // 4 + 1}, update {update}, {name}"
                a, b = g_ddp[name], g_one[name]
                if a is None or b is None:
                    assert a is None and b is None, f"{where}: gradient missing on one side"
                    continue
                rel = float((a - b).norm() / b.norm().clamp_min(1e-30))
                worst = max(worst, rel)
                assert rel <= RTOL, f"{where}: relative gradient difference {rel:.2e} > {RTOL}"
    print(f"worst relative gradient difference DDP vs one process: {worst:.2e}")

    # Logged losses are the mean over the ranks (sync_dist on logging steps).
    for key in ("train/d_latent/real", "train/g_latent/cyc", "train/d_ref/reg"):
        local = [rank["record"]["stats"][-1][key] for rank in ranks]
        logged = ranks[0]["logged"][key]
        torch.testing.assert_close(logged, torch.stack(local).mean(), rtol=1e-6, atol=0)


def test_ddp_checkpoints_written_once_by_rank_zero(ddp_run):
    writes = (ddp_run / "writes.txt").read_text().split()
    ranks, names = writes[0::2], writes[1::2]
    assert set(ranks) == {"0"}
    # written under a hidden temporary name, then renamed
    assert [n.split(".")[1] for n in names] == [f"iter_{i:07d}" for i in range(1, ITERS + 1)]
    assert all(n.startswith(".") and n.endswith(".ckpt") for n in names)
    files = sorted(p.name for p in (ddp_run / "checkpoints").iterdir())
    assert files == [f"iter_{i:07d}.ckpt" for i in range(1, ITERS + 1)] + ["last.ckpt"]
    ckpt = torch.load(ddp_run / "checkpoints" / "last.ckpt", weights_only=False)
    final = torch.load(ddp_run / "rank0.pt", weights_only=False)["state"]
    _assert_same_tree(ckpt["state_dict"], final, "checkpoint")
    assert ckpt["starganv2"] == {
        "iteration": ITERS,
        "model": "stargan_v2",
        "processes": WORLD,  # TriplesData has no batch_size: not recorded
    }


def test_ddp_cpu_from_the_cli(tmp_path, shapes_cache):
    """``trainer=ddp_cpu`` end to end: Lightning re-runs the Hydra command for rank 1 in the same
    run folder; rank 0 alone writes the config, checkpoints, samples and the CSV log."""
    args = [
        "starganv2.cli.train",
        "trainer=ddp_cpu",
        *TINY_OVERRIDES,
        *TINY_SHAPES,
        f"data.cache_dir={shapes_cache}",
        f"paths.root_dir={tmp_path}",
    ]
    proc = run_cli(args, cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "outputs" / "train").iterdir())
    assert len(runs) == 1, runs  # one run folder (rank 1 is pointed at rank 0's)
    out = runs[0]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "iter_0000001.ckpt",
        "iter_0000002.ckpt",
        "last.ckpt",
    ]
    logs = {p.name: p.read_text() for p in out.glob("*.log")}  # train.log: rank 0's
    assert {name: text.count("saved checkpoint") for name, text in logs.items()} == {
        "train.log": 2,
        "train_ddp_process_1.log": 0,
    }
    # our INFO lines once at the console (rank 0's); rank 1's are in its own log file
    console = proc.stdout + proc.stderr
    assert console.count("[starganv2.data.datamodule][INFO] - data ") == 1, console[-3000:]
    assert "[INFO] - data " in logs["train_ddp_process_1.log"]
    assert (out / "config_resolved.yaml").is_file()
    assert [p.name for p in (out / "csv").iterdir()] == ["version_0"]
    rows = (out / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + one row per iteration (log_every_n_steps=1)
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["starganv2"] == {
        "iteration": 2,
        "model": "stargan_v2",
        "processes": 2,
        "batch_size": 2,
    }
