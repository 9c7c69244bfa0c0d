"""FID and LPIPS: the full protocol on tiny data with an injected feature extractor and a
random-weight AlexNet in a temporary hub cache; DDP ranks match one process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from starganv2.data.folders import list_domain_files
from starganv2.evaluation import fid_lpips as FL
from starganv2.evaluation import protocol as P
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.evaluation.conftest import TinyFeatures, evaluate, write_domain_data
from tests.helpers import TINY


def test_results_keys_and_means():
    values = {"FID_latent/b2a": 1.0, "FID_latent/a2b": 3.0}
    values |= {"LPIPS_latent/b2a": 0.1, "LPIPS_latent/a2b": 0.3}
    out = FL.ordered_results(["a", "b"], ["latent"], values)
    assert list(out) == [
        "FID_latent/b2a",
        "FID_latent/a2b",
        "FID_latent/mean",
        "LPIPS_latent/b2a",
        "LPIPS_latent/a2b",
        "LPIPS_latent/mean",
    ]
    assert out["FID_latent/mean"] == pytest.approx(2.0)
    assert out["LPIPS_latent/mean"] == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------- protocol
def test_protocol_two_domains(tmp_path, offline_hub, tiny_module):
    root = write_domain_data(tmp_path / "data", ["cat", "dog"], n_train=5, n_val=3)
    feats = TinyFeatures()
    saved = tmp_path / "out"
    results = evaluate(
        tiny_module,
        root,
        feature_extractor=feats,
        num_outs_per_domain=3,
        batch_size=2,
        save_images=saved,
    )
    expected = [
        f"{metric}_{mode}/{name}"
        for mode in ("latent", "reference")
        for metric in ("FID", "LPIPS")
        for name in ("dog2cat", "cat2dog", "mean")
    ]
    assert list(results) == expected
    assert all(np.isfinite(v) for v in results.values())
    for mode in ("latent", "reference"):
        for metric in ("FID", "LPIPS"):
            tasks = [results[f"{metric}_{mode}/{t}"] for t in ("dog2cat", "cat2dog")]
            assert results[f"{metric}_{mode}/mean"] == pytest.approx(np.mean(tasks))
            assert min(tasks) > 0
    # Every FID input is 8-bit: values k / 255.
    for x in feats.inputs[1:]:  # [0] may be a probe
        assert torch.equal(x * 255, (x * 255).round())
    # 2 modes x 2 tasks x 3 images x 3 outputs PNGs, named like the original.
    pngs = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*.png"))
    assert len(pngs) == 36 and "latent/cat2dog/0001_01.png" in pngs
    assert "reference/dog2cat/0003_03.png" in pngs


def test_protocol_logs_the_mean_of_each_mode(tmp_path, offline_hub, tiny_module, caplog):
    """The per-mode means (the figures a paper quotes) are in the log, not only the JSON."""
    root = write_domain_data(tmp_path / "data", ["cat", "dog"], n_train=4, n_val=2)
    with caplog.at_level("INFO", logger=FL.log.name):
        results = evaluate(
            tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2
        )
    for mode in ("latent", "reference"):
        line = (
            f"{mode} mean over 2 tasks: FID {results[f'FID_{mode}/mean']:.3f}, "
            f"LPIPS {results[f'LPIPS_{mode}/mean']:.4f}"
        )
        assert line in caplog.messages


def test_protocol_three_domains_keys(tmp_path, offline_hub):
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "num_domains": 3}).eval()
    root = write_domain_data(tmp_path / "data", ["a", "b", "c"], n_train=3, n_val=2)
    results = evaluate(
        module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2, modes=["latent"]
    )
    names = ["b2a", "c2a", "a2b", "c2b", "a2c", "b2c", "mean"]
    assert list(results) == [f"FID_latent/{n}" for n in names] + [
        f"LPIPS_latent/{n}" for n in names
    ]


def test_fid_real_features_are_the_target_training_images(tmp_path, offline_hub, tiny_module):
    """A generator that returns the target's training images exactly gives FID ~ 0, again after
    the reset between tasks (which keeps the target's real statistics)."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=4)
    train = list_domain_files(root / "train")
    ev = FL.FidLpips(feature_extractor=TinyFeatures(), num_outs_per_domain=2)
    ev._update_real(train["b"], 32, torch.device("cpu"))
    for _ in range(2):
        ev.fid.reset()
        for x, _ in P.image_loader(train["b"], range(4), 32, 4, 0):
            ev.fid.update(ev._fid_images(x), real=False)
        assert int(ev.fid.real_features_num_samples) == 4
        assert float(ev.fid.compute()) == pytest.approx(0.0, abs=1e-6)


def test_runner_uses_the_metric_classes(offline_hub):
    from starganv2.evaluation.fid import FID
    from starganv2.evaluation.lpips import LPIPSDiversity

    feats = TinyFeatures()
    ev = FL.FidLpips(feature_extractor=feats, num_outs_per_domain=2)
    assert isinstance(ev.fid, FID) and isinstance(ev.lpips, LPIPSDiversity)
    assert ev.fid.feature_extractor is feats and not ev.fid.reset_real_features


# ---------------------------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, port: int, root: str, torch_home: str, out: str) -> None:
    import os

    import torch.distributed as dist

    os.environ["TORCH_HOME"] = torch_home
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.manual_seed(0)
        module = StarGANv2Module(**{**TINY, "num_domains": 2}).eval()
        results = evaluate(module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=3)
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_match_one_process(tmp_path, offline_hub, tiny_module):
    """Images split over 2 gloo ranks (3 and 2 per domain: uneven) give the single-process figures."""
    import socket

    import torch.multiprocessing as mp

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=5, n_val=3)
    single = evaluate(tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(
        _ddp_worker,
        args=(2, port, str(root), str(offline_hub.parents[1]), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    for rank in range(2):
        ranked = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert list(ranked) == list(single)
        for key, value in single.items():
            assert ranked[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
