"""FID and LPIPSDiversity where torchmetrics users put metrics: in a ``MetricCollection``, logged
with ``self.log_dict`` by a LightningModule (the example of docs/evaluation.md, run as written),
and synced over 2 DDP ranks (gloo) to the one-process figures."""

from __future__ import annotations

import json
import math
import re
import socket
from pathlib import Path

import pytest
import torch
from torchmetrics import MetricCollection

from starganv2.evaluation import backbones as B
from starganv2.evaluation.fid import FID
from starganv2.evaluation.lpips import LPIPSDiversity
from tests.evaluation.conftest import TinyFeatures

DOCS = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def _data(n: int = 12, k: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real images ``(n, 3, 32, 32)`` in [0, 1], and generated ``(n, k, 3, 32, 32)`` in [-1, 1]."""
    g = torch.Generator().manual_seed(3)
    real = torch.rand(n, 3, 32, 32, generator=g)
    outputs = torch.rand(n, k, 3, 32, 32, generator=g) ** 2 * 2 - 1
    return real, outputs


def _update(fid: FID, lpips: LPIPSDiversity, real, outputs) -> None:
    fid.update(real, real=True)
    fid.update((outputs.flatten(0, 1) + 1) / 2, real=False)
    lpips.update(outputs)


def test_metric_collection_computes_and_resets_both(offline_hub):
    real, outputs = _data()
    collection = MetricCollection(
        {"fid": FID(TinyFeatures()), "lpips": LPIPSDiversity()}, prefix="val/"
    )
    alone = {"fid": FID(TinyFeatures()), "lpips": LPIPSDiversity()}
    for half in (slice(0, 8), slice(8, 12)):
        _update(collection["fid"], collection["lpips"], real[half], outputs[half])
    _update(alone["fid"], alone["lpips"], real, outputs)
    values = collection.compute()
    assert set(values) == {"val/fid", "val/lpips"}
    for name, metric in alone.items():
        assert float(values[f"val/{name}"]) == pytest.approx(float(metric.compute()), rel=1e-6)
    assert float(values["val/lpips"]) > 0
    collection.reset()
    assert int(collection["lpips"].count) == 0
    assert int(collection["fid"].real_features_num_samples) == 0


def _docs_example() -> str:
    text = DOCS.read_text()
    marker = "<!-- the block below is run by tests/evaluation/test_metrics_lightning.py -->"
    assert marker in text
    block = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S)
    return block.group(1)


def test_docs_lightning_example_logs_both_metrics(offline_hub, tiny_module):
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    namespace: dict = {}
    exec(compile(_docs_example(), str(DOCS), "exec"), namespace)
    module = namespace["TranslationQuality"](tiny_module, num_outs=2, fid_extractor=TinyFeatures())
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 32, 32, generator=g) * 2 - 1
    y = torch.arange(12) % 2
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (results,) = trainer.validate(module, dataloaders=DataLoader(TensorDataset(x, y), batch_size=4))
    assert set(results) == {"val/fid", "val/lpips"}
    assert all(math.isfinite(v) for v in results.values())
    assert results["val/lpips"] > 0
    assert int(module.val_metrics["lpips"].count) == 0  # Lightning reset it after the epoch


# ---------------------------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, port: int, alexnet: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        real, outputs = _data()
        share = slice(0, 8) if rank == 0 else slice(8, 12)  # uneven: 8 and 4 images
        fid, lpips = FID(TinyFeatures()), LPIPSDiversity(alexnet)
        _update(fid, lpips, real[share], outputs[share])
        values = {"fid": float(fid.compute()), "lpips": float(lpips.compute())}
        values["count"] = int(lpips.count)  # the local state again after compute
        Path(out, f"rank{rank}.json").write_text(json.dumps(values))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_sum_states_to_the_one_process_figures(torch_home, tmp_path):
    import torch.multiprocessing as mp

    alexnet = str(torch_home / "hub" / "checkpoints" / B.ALEXNET_FILE)
    real, outputs = _data()
    fid, lpips = FID(TinyFeatures()), LPIPSDiversity(alexnet)
    _update(fid, lpips, real, outputs)
    single = {"fid": float(fid.compute()), "lpips": float(lpips.compute())}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, alexnet, str(tmp_path)), nprocs=2, join=True)
    for rank, local_count in ((0, 8), (1, 4)):
        ranked = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert ranked["fid"] == pytest.approx(single["fid"], rel=1e-6)
        assert ranked["lpips"] == pytest.approx(single["lpips"], rel=1e-6)
        assert ranked["count"] == local_count
