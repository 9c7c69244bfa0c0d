"""Compose the real conf/ tree at tiny size (offline, CPU, seconds per run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF_DIR = Path(__file__).resolve().parents[2] / "src" / "starganv2" / "conf"

TINY_OVERRIDES = [
    "data.img_size=32",
    "data.batch_size=2",
    "data.val_batch_size=2",
    "data.num_workers=0",
    "model.dim_in=16",
    "model.max_conv_dim=32",
    "model.hidden_dim=32",
    "model.style_dim=8",
    "model.latent_dim=4",
    "model.total_iters=2",
    "callbacks.checkpoint.every_n_iters=1",
    "callbacks.samples.every_n_iters=2",
    "callbacks.samples.num_sources=2",
    "callbacks.samples.refs_per_domain=1",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=1",
]
TINY_SHAPES = ["data.n_train=6", "data.n_val=2"]
TINY_V1_MODEL = ["model.g_conv_dim=8", "model.d_conv_dim=8", "model.g_repeat_num=1"]


def tiny_overrides(cfg: DictConfig) -> list[str]:
    """:data:`TINY_OVERRIDES` for the model ``cfg`` trains (StarGAN v1 has other width keys)."""
    if str(cfg.model.get("_target_", "")).endswith("StarGANv1Module"):
        keep = [o for o in TINY_OVERRIDES if not o.startswith("model.") or "total_iters" in o]
        return keep + TINY_V1_MODEL
    return TINY_OVERRIDES


@pytest.fixture(scope="session")
def shapes_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shapes_cache")


def compose_train(overrides: list[str], output_dir: Path, config_name: str = "train") -> DictConfig:
    """Compose conf/<config_name>.yaml like the CLI does, with the run folder at ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


def tiny_train_cfg(tmp_path: Path, shapes_cache: Path, extra: list[str] = ()) -> DictConfig:
    overrides = TINY_OVERRIDES + TINY_SHAPES + [f"data.cache_dir={shapes_cache}", *extra]
    return compose_train(overrides, tmp_path / "run")


def run_cli(args: list[str], cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m starganv2.cli.train`` (or another module given first) in a subprocess."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test stops with SIGINT: its default disposition, so
    Python installs its Ctrl-C handler there (a shell that starts the tests in the background
    makes them, and their children, ignore SIGINT)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_train(args: list[str], cwd: Path, keep_output: bool = False) -> subprocess.Popen:
    """Start ``python -m starganv2.cli.train args`` in the background (no W&B), to be stopped by a
    signal. ``keep_output``: stdout and stderr together in ``proc.stdout`` (text); else dropped."""
    out = subprocess.PIPE if keep_output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "starganv2.cli.train", *args],
        preexec_fn=default_sigint,
        cwd=cwd,
        env={**os.environ, "WANDB_MODE": "disabled"},
        stdout=out,
        stderr=subprocess.STDOUT if keep_output else subprocess.DEVNULL,
        text=True,
    )


def make_folder_dataset(root: Path, domains: list[str], n: int = 3, size: int = 40) -> Path:
    """A tiny dataset in the public layout: root/{train,val}/<domain>/*.png."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for d in domains:
            folder = root / split / d
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                Image.fromarray(arr).save(folder / f"{i}.png")
    return root
