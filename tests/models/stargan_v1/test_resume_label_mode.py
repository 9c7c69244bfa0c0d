"""A StarGAN v1 run cannot resume a checkpoint of the other label mode: one-hot domains and
attribute vectors give the nets the same shapes, so nothing else would stop it."""

from __future__ import annotations

import pytest

from starganv2.models.stargan_v1.module import StarGANv1Module
from tests.helpers import quiet_trainer, random_loader
from tests.models.stargan_v1.test_module import TINY_V1


def test_resuming_with_another_label_mode_is_refused_naming_the_key(tmp_path):
    first = StarGANv1Module(**TINY_V1, total_iters=1, n_critic=1)
    trainer = quiet_trainer()
    trainer.fit(first, random_loader(n=4))
    path = tmp_path / "single.ckpt"
    trainer.save_checkpoint(path)

    multi = StarGANv1Module(**TINY_V1, total_iters=2, n_critic=1, label_mode="multi")
    with pytest.raises(ValueError, match=r"model\.label_mode='single' but this run has model\."):
        quiet_trainer().fit(multi, random_loader(n=4), ckpt_path=path)
    same = StarGANv1Module(**TINY_V1, total_iters=2, n_critic=1)  # the same mode resumes
    quiet_trainer().fit(same, random_loader(n=4), ckpt_path=path)
    assert same.iteration == 2
