"""The console drops Lightning's lines that repeat what our own lines say (cli/logs.py)."""

from __future__ import annotations

import io
import logging

import pytest

from starganv2.cli.logs import quiet_third_party


@pytest.fixture
def console():
    """A root handler like Hydra's console handler, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.parametrize(
    "line",
    [
        "`Trainer(limit_val_batches=1)` was configured so 1 batch will be used.",
        "Running in `fast_dev_run` mode: will run the requested loop using 2 batch(es). "
        "Logging and checkpointing is suppressed.",
        "Trainer already configured with model summary callbacks: [NetSummary]. Skipping.",
    ],
)
def test_lightning_lines_that_repeat_ours_are_dropped(console, line):
    quiet_third_party()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info(line)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False")
    assert console.getvalue() == "GPU available: False\n"


def test_the_resume_mid_epoch_warning_is_dropped(recwarn):
    import warnings

    quiet_third_party()
    warnings.warn(
        "You're resuming from a checkpoint that ended before the epoch ended and your dataloader "
        "is not resumable. This can cause unreliable results if further training is done.",
        UserWarning,
        stacklevel=1,
    )
    warnings.warn("a warning a user acts on", UserWarning, stacklevel=1)
    assert [str(w.message) for w in recwarn] == ["a warning a user acts on"]
