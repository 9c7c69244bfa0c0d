"""Small builders shared by tests: tiny module settings, random batches, a quiet Trainer."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

TINY = {
    "img_size": 32,
    "num_domains": 2,
    "latent_dim": 4,
    "style_dim": 8,
    "hidden_dim": 32,
    "dim_in": 16,
    "max_conv_dim": 64,
    "w_hpf": 0.0,
}

TINY_V1 = {"img_size": 32, "num_domains": 2, "g_conv_dim": 8, "d_conv_dim": 8, "g_repeat_num": 1}
"""A tiny StarGAN v1 (``StarGANv1Module(**TINY_V1)``), the size of :data:`TINY`."""


class RandomPairs(Dataset):
    """Random training items in the data module's batch format (fixed by ``seed``)."""

    def __init__(self, n: int = 8, img_size: int = 32, num_domains: int = 2, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 3, 3, img_size, img_size, generator=g) * 2 - 1
        self.y = torch.randint(0, num_domains, (n, 2), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "x_real": self.x[i, 0],
            "y_org": self.y[i, 0],
            "x_ref": self.x[i, 1],
            "x_ref2": self.x[i, 2],
            "y_trg": self.y[i, 1],
        }


def random_loader(n: int = 8, batch_size: int = 2, **kw) -> DataLoader:
    return DataLoader(RandomPairs(n, **kw), batch_size=batch_size, shuffle=False, drop_last=True)


def quiet_trainer(**kw) -> L.Trainer:
    """A CPU trainer without logger or Lightning's defaults; checkpointing and the progress bar
    are on only when such a callback is passed."""
    from lightning.pytorch.callbacks import Checkpoint, ProgressBar

    callbacks = kw.get("callbacks") or []
    opts = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": any(isinstance(cb, Checkpoint) for cb in callbacks),
        "enable_progress_bar": any(isinstance(cb, ProgressBar) for cb in callbacks),
        "enable_model_summary": False,
        "max_epochs": -1,
        "use_distributed_sampler": False,
        "limit_val_batches": 0,
    }
    opts.update(kw)
    return L.Trainer(**opts)


def write_module_checkpoint(module, path, **extra):
    """``module`` saved at ``path`` in the layout ``starganv2-train`` writes at iteration 0
    (weights, hyper-parameters, Lightning's version, the ``starganv2`` record), with the
    entries ``extra`` (a data module's saved names...); returns ``path``."""
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": L.__version__,
        "starganv2": {"iteration": 0, "model": module.MODEL_NAME},
        **extra,
    }
    torch.save(checkpoint, path)
    return path


def write_tiny_checkpoint(path, num_domains: int = 3):
    """A checkpoint of an untrained :data:`TINY` StarGAN v2 (seed 0) at ``path``, in the layout
    ``starganv2-train`` writes (weights, hyper-parameters, Lightning's version)."""
    from starganv2.models.stargan_v2.module import StarGANv2Module

    torch.manual_seed(0)
    module = StarGANv2Module(**{**TINY, "num_domains": num_domains})
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    return path
