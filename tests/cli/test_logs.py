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


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_zero_shows_our_info_and_warnings_at_the_console(
    console, tmp_path, monkeypatch, rank
):
    """Under DDP every rank runs the command: rank 1 repeated "resume=auto: continuing ...",
    "data ..." and the like at the console. Its errors and its own log file keep every line."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", rank, raising=False)
    file = logging.FileHandler(tmp_path / "train_ddp_process_1.log")
    logging.getLogger().addHandler(file)
    try:
        quiet_third_party()
        ours = logging.getLogger("starganv2.train")
        ours.info("resume=auto: continuing")
        logging.getLogger("starganv2.data.sampling").warning("resuming within epoch 0")
        ours.error("a failure")
        logging.getLogger("lightning.fabric.utilities.distributed").info("GLOBAL_RANK: 1")
    finally:
        logging.getLogger().removeHandler(file)
        file.close()
    every = ["resume=auto: continuing", "resuming within epoch 0", "a failure", "GLOBAL_RANK: 1"]
    shown = every if rank == 0 else ["a failure", "GLOBAL_RANK: 1"]
    assert console.getvalue().splitlines() == shown
    assert (tmp_path / "train_ddp_process_1.log").read_text().splitlines() == every


def test_the_librarys_own_errors_are_never_noise(console):
    """An error quoting torch's weights_only message (a FAN file that is an image) used to match
    the weights_only noise pattern: the run exited with status 1 and printed nothing."""
    quiet_third_party()
    line = "model.fan_weights='a.jpg' could not be read with torch.load(weights_only=True): ..."
    logging.getLogger("starganv2.train").error(line)
    logging.getLogger("lightning.pytorch").info("the weights_only notice")
    assert console.getvalue() == line + "\n"
