"""A validation image damaged in the middle (the start-up check reads each file's header and
end only) stopped ``starganv2-train val_every_n_iters=N`` with a traceback and without a
checkpoint, losing every iteration since the last interval one (found by hunt AQ)."""

from __future__ import annotations

import logging

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from starganv2.callbacks.checkpoint import IterationCheckpoint
from starganv2.cli.common import run_or_exit
from starganv2.cli.train import run_errors
from starganv2.data.folders import ImageLoadError
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, quiet_trainer, random_loader

MESSAGE = "failed to load image val/cat/0.png: OSError: unrecognized data stream contents"


class _ValidationImageFails(L.Callback):
    """Raises what the validation loader raises for an image that does not decode, after
    iteration ``at`` (validation runs between iterations)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.iteration == self.at:
            raise ImageLoadError(MESSAGE)


def test_a_validation_image_that_does_not_decode_stops_after_a_checkpoint(tmp_path):
    cb = IterationCheckpoint(tmp_path / "ckpt", every_n_iters=100)
    model = StarGANv2Module(**TINY, total_iters=50)
    trainer = quiet_trainer(callbacks=[cb, _ValidationImageFails(at=2)])
    with pytest.raises(ImageLoadError):
        trainer.fit(model, random_loader(n=16))
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["starganv2"]["iteration"] == 2


def test_the_train_command_reports_it_in_one_line(caplog):
    def run(cfg):
        raise ImageLoadError(MESSAGE)

    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        run_or_exit(run, OmegaConf.create({}), logging.getLogger("test"), run_errors())
    assert stop.value.code == 1
    assert [r.getMessage() for r in caplog.records] == [MESSAGE]
