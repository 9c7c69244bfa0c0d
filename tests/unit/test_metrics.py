"""FID / LPIPS protocol: task enumeration, seeds, quantisation, weights lookup, the full protocol on
tiny data with an injected feature extractor and a random-weight AlexNet in a temporary hub cache."""

from __future__ import annotations

import json
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from starganv2 import metrics as M
from starganv2.module import StarGANv2Module
from tests.helpers import TINY


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    """A torch hub cache holding a randomly initialised AlexNet (the LPIPS backbone file)."""
    from torchvision.models import alexnet

    home = tmp_path_factory.mktemp("torch_home")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), home / "hub" / "checkpoints" / M.ALEXNET_FILE)
    return home


@pytest.fixture
def offline_hub(torch_home, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home / "hub" / "checkpoints"


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    return tmp_path / "empty_home" / "hub" / "checkpoints"


class TinyFeatures(nn.Module):
    """A small fixed random conv net: (N, 3, H, W) in [0, 1] -> (N, 8)."""

    num_features = 8

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.3)
            self.conv.bias.zero_()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return torch.tanh(self.conv(x * 2 - 1)).mean(dim=(2, 3))


def _write_domain_data(root: Path, domains: list[str], n_train: int, n_val: int, size: int = 32):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for k, d in enumerate(domains):
            (root / split / d).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                arr[..., k % 3] = 40 + 60 * k  # domains differ in one channel
                Image.fromarray(arr).save(root / split / d / f"{i:03d}.png")
    return root


@pytest.fixture
def tiny_module() -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**{**TINY, "num_domains": 2}).eval()


# ---------------------------------------------------------------------------------------------- pure parts
def test_tasks_two_domains():
    assert M.tasks(2) == [(1, 0), (0, 1)]
    assert [M.task_name(["cat", "dog"], s, t) for s, t in M.tasks(2)] == ["dog2cat", "cat2dog"]


def test_tasks_three_domains():
    names = [M.task_name(["a", "b", "c"], s, t) for s, t in M.tasks(3)]
    assert names == ["b2a", "c2a", "a2b", "c2b", "a2c", "b2c"]


def test_latent_codes_depend_on_image_not_on_call_order():
    a = M.latent_codes(0, 1, 0, 5, 10, 4)
    assert a.shape == (10, 4) and a.dtype == torch.float32
    torch.manual_seed(123)  # global RNG state does not matter
    assert torch.equal(a, M.latent_codes(0, 1, 0, 5, 10, 4))
    assert not torch.equal(a, M.latent_codes(0, 1, 0, 6, 10, 4))
    assert not torch.equal(a, M.latent_codes(0, 0, 1, 5, 10, 4))
    assert not torch.equal(a, M.latent_codes(1, 1, 0, 5, 10, 4))


def test_reference_indices_distinct_when_enough_references():
    idx = M.reference_indices(0, 0, 1, 3, 10, 12)
    assert idx.shape == (10,) and len(set(idx.tolist())) == 10 and int(idx.max()) < 12
    few = M.reference_indices(0, 0, 1, 3, 10, 3)
    assert set(few.tolist()) <= {0, 1, 2}


def test_quantize_matches_png_round_trip(tmp_path):
    from torchvision.utils import save_image

    x = torch.rand(3, 8, 8) * 2.4 - 1.2  # includes values outside [-1, 1]
    save_image((x + 1) / 2, tmp_path / "a.png")
    png = torch.from_numpy(np.array(Image.open(tmp_path / "a.png"))).permute(2, 0, 1)
    assert torch.equal(M.quantize_8bit(x) * 255, png.float())


def test_results_keys_and_means():
    fid = {"FID_latent/b2a": 1.0, "FID_latent/a2b": 3.0}
    lp = {"LPIPS_latent/b2a": 0.1, "LPIPS_latent/a2b": 0.3}
    out = M._ordered_results(["a", "b"], ["latent"], fid, lp)
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


def test_save_results_writes_json(tmp_path):
    path = M.save_results({"FID_latent/mean": 1.5, "x": float("nan")}, tmp_path / "o" / "r.json")
    assert json.loads(path.read_text()) == {"FID_latent/mean": 1.5, "x": "nan"}


# ---------------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize(
    ("kwargs", "filename"),
    [
        ({"fid_features": "standard"}, M.STANDARD_INCEPTION_FILE),
        ({"fid_features": "torchvision"}, M.TORCHVISION_INCEPTION_FILE),
    ],
)
def test_missing_fid_weights_fail_fast_and_name_the_file(offline_hub, kwargs, filename):
    t0 = time.perf_counter()
    with pytest.raises(M.MissingWeightsError) as err:
        M.Evaluator(**kwargs)
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert filename in msg and str(offline_hub) in msg and "fid_weights" in msg


def test_missing_lpips_weights_fail_fast_and_name_the_file(empty_hub):
    t0 = time.perf_counter()
    with pytest.raises(M.MissingWeightsError) as err:
        M.Evaluator(feature_extractor=TinyFeatures())
    assert time.perf_counter() - t0 < 5
    assert M.ALEXNET_FILE in str(err.value) and str(empty_hub) in str(err.value)


def test_explicit_missing_path_names_key(tmp_path):
    with pytest.raises(M.MissingWeightsError, match=r"fid_weights=.*nothere\.pth"):
        M.find_weights(M.STANDARD_INCEPTION_FILE, tmp_path / "nothere.pth", "fid_weights")


def test_lpips_from_explicit_file_outside_the_hub(torch_home, empty_hub):
    explicit = torch_home / "hub" / "checkpoints" / M.ALEXNET_FILE
    metric = M.build_lpips(explicit)
    ref = torch.load(explicit, map_location="cpu", weights_only=True)
    assert torch.equal(metric.net.net.slice1[0].weight, ref["features.0.weight"])
    assert not (empty_hub / M.ALEXNET_FILE).exists()  # nothing downloaded or copied


# ---------------------------------------------------------------------------------------------- protocol
def test_lpips_diversity_is_mean_over_45_pairs(offline_hub):
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    ev = M.Evaluator(feature_extractor=TinyFeatures(), num_outs_per_domain=10)
    g = torch.Generator().manual_seed(0)
    outputs = torch.rand(2, 10, 3, 32, 32, generator=g) * 2.2 - 1.1  # (B, K, 3, H, W)
    got = ev._lpips_diversity(outputs)
    assert got.shape == (2,)
    lpips = LearnedPerceptualImagePatchSimilarity(net_type="alex")  # default: mean reduction
    x = outputs.clamp(-1, 1)
    pairs = list(combinations(range(10), 2))
    assert len(pairs) == 45
    first, second = (torch.tensor(t) for t in zip(*pairs))
    for b in range(2):  # the mean LPIPS of the 45 pairs of image b, in one batch of 45
        direct = lpips(x[b, first], x[b, second])
        assert got[b].item() == pytest.approx(direct.item(), rel=1e-5)
    assert float(got.min()) > 0


def test_protocol_two_domains(tmp_path, offline_hub, tiny_module):
    root = _write_domain_data(tmp_path / "data", ["cat", "dog"], n_train=5, n_val=3)
    feats = TinyFeatures()
    saved = tmp_path / "out"
    results = M.evaluate(
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


def test_protocol_independent_of_batch_size_and_rank_split(tmp_path, offline_hub, tiny_module):
    """Per-image seeding: batch size 1 vs 3 and a 2-way image split give the same outputs."""
    root = _write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=3)
    files = M.list_domain_files(root / "val")

    def outs(batch_size, indices, mode, ref_styles=None):
        return {
            int(i): o
            for b in M.translate_task(
                tiny_module,
                files["a"],
                0,
                1,
                mode,
                num_outs=4,
                batch_size=batch_size,
                indices=indices,
                ref_styles=ref_styles,
            )
            for i, o in zip(b.index, b.outputs)
        }

    styles = M.reference_styles(tiny_module, files["b"], 1, 32)
    for mode, rs in (("latent", None), ("reference", styles)):
        full = outs(3, None, mode, rs)
        split = {**outs(1, [0, 2], mode, rs), **outs(1, [1], mode, rs)}
        assert sorted(full) == [0, 1, 2]
        for i in full:
            torch.testing.assert_close(full[i], split[i], rtol=1e-5, atol=1e-5)


def test_protocol_three_domains_keys(tmp_path, offline_hub):
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "num_domains": 3}).eval()
    root = _write_domain_data(tmp_path / "data", ["a", "b", "c"], n_train=3, n_val=2)
    results = M.evaluate(
        module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=2, modes=["latent"]
    )
    names = ["b2a", "c2a", "a2b", "c2b", "a2c", "b2c", "mean"]
    assert list(results) == [f"FID_latent/{n}" for n in names] + [
        f"LPIPS_latent/{n}" for n in names
    ]


def test_fid_real_features_are_the_target_training_images(tmp_path, offline_hub, tiny_module):
    """A generator that returns the target's training images exactly gives FID ~ 0."""
    root = _write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=4)
    train = M.list_domain_files(root / "train")
    ev = M.Evaluator(feature_extractor=TinyFeatures(), num_outs_per_domain=2, modes=["latent"])
    ev._reset_fid(real=True)
    ev._update_real(train["b"], 32, torch.device("cpu"))
    ev._reset_fid(real=False)
    for x, _ in M._loader(train["b"], range(4), 32, 4, 0):
        ev.fid.update(ev._fid_images(x), real=False)
    assert float(ev.fid.compute()) == pytest.approx(0.0, abs=1e-6)


def test_evaluate_rejects_domain_count_mismatch(tmp_path, offline_hub, tiny_module):
    root = _write_domain_data(tmp_path / "data", ["a", "b", "c"], n_train=2, n_val=2)
    with pytest.raises(ValueError, match=r"3 domains .* num_domains=2"):
        M.evaluate(tiny_module, root, feature_extractor=TinyFeatures())


def test_evaluator_argument_errors(offline_hub):
    with pytest.raises(ValueError, match="num_outs_per_domain=1"):
        M.Evaluator(feature_extractor=TinyFeatures(), num_outs_per_domain=1)
    with pytest.raises(ValueError, match="modes="):
        M.Evaluator(feature_extractor=TinyFeatures(), modes=["latnet"])
    with pytest.raises(ValueError, match="fid_features='fancy'"):
        M.Evaluator(fid_features="fancy")


# ---------------------------------------------------------------------------------------------- real nets
def _random_fidelity_inception_state(monkeypatch) -> dict:
    """A randomly initialised state dict of torch-fidelity's FID Inception (no download)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, **k: None)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return net.state_dict()


@pytest.mark.slow
def test_standard_and_torchvision_extractors_load_from_hub_cache(offline_hub, monkeypatch):
    """Random-init weight files in the hub cache are picked up; outputs are 2048-d features."""
    from torchvision.models import inception_v3

    torch.save(
        _random_fidelity_inception_state(monkeypatch), offline_hub / M.STANDARD_INCEPTION_FILE
    )
    torch.save(
        inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(),
        offline_hub / M.TORCHVISION_INCEPTION_FILE,
    )
    x = torch.rand(2, 3, 32, 32)
    try:
        for kind in M.FID_FEATURES:
            net = M.build_fid_feature_extractor(kind)
            assert net(x).shape == (2, 2048)
            assert float(net(x).abs().sum()) > 0
        ev = M.Evaluator(fid_features="torchvision", num_outs_per_domain=2)
        assert isinstance(ev.fid.inception, M.TorchvisionInceptionFeatures)
    finally:
        for f in (M.STANDARD_INCEPTION_FILE, M.TORCHVISION_INCEPTION_FILE):
            (offline_hub / f).unlink()


# ---------------------------------------------------------------------------------------------- callback
@pytest.mark.slow
def test_evaluation_callback_every_n_iters_logs_and_writes(tmp_path, offline_hub):
    import csv

    from lightning.pytorch.loggers import CSVLogger

    from starganv2.data import ImageDomainDataModule
    from starganv2.eval_callback import EvaluationCallback
    from tests.helpers import quiet_trainer

    root = _write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=3)
    dm = ImageDomainDataModule(root, img_size=32, batch_size=2, num_domains=2, num_workers=0)
    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "total_iters": 2})
    cb = EvaluationCallback(
        every_n_iters=1,
        feature_extractor=TinyFeatures(),
        num_outs_per_domain=2,
        max_images_per_domain=2,
        modes=["latent"],
        dirpath=tmp_path / "eval",
    )
    logger = CSVLogger(tmp_path / "logs", name="csv")
    trainer = quiet_trainer(callbacks=[cb], logger=logger)
    trainer.fit(module, datamodule=dm)
    assert module.iteration == 2
    assert sorted(cb.history) == [1, 2]  # at_end does not repeat iteration 2
    assert list(cb.history[2]) == [
        f"{m}_latent/{t}" for m in ("FID", "LPIPS") for t in ("b2a", "a2b", "mean")
    ]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "eval_0000001.json",
        "eval_0000002.json",
    ]
    assert json.loads((tmp_path / "eval" / "eval_0000002.json").read_text()) == pytest.approx(
        cb.history[2]
    )
    assert float(trainer.callback_metrics["eval/FID_latent/mean"]) == pytest.approx(
        cb.history[2]["FID_latent/mean"]
    )
    logger.finalize("success")
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval/LPIPS_latent/mean")]
    assert [int(r["step"]) for r in rows] == [1, 2]


def test_evaluation_callback_missing_weights_fail_before_training(tmp_path, empty_hub):
    from starganv2.eval_callback import EvaluationCallback
    from tests.helpers import quiet_trainer

    cb = EvaluationCallback(every_n_iters=1)
    module = StarGANv2Module(**{**TINY, "total_iters": 1})
    with pytest.raises(M.MissingWeightsError, match=M.ALEXNET_FILE):
        quiet_trainer(callbacks=[cb]).fit(module, train_dataloaders=[])
    assert module.iteration == 0


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
        results = M.evaluate(module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=3)
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_match_one_process(tmp_path, offline_hub, tiny_module):
    """Images split over 2 gloo ranks (3 and 2 per domain: uneven) give the single-process figures."""
    import socket

    import torch.multiprocessing as mp

    root = _write_domain_data(tmp_path / "data", ["a", "b"], n_train=5, n_val=3)
    single = M.evaluate(tiny_module, root, feature_extractor=TinyFeatures(), num_outs_per_domain=3)
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
