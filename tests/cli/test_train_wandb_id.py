"""The wandb run id of a run folder: a resumed run continues its wandb run, a new run gets its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from starganv2.cli.train import WANDB_ID_FILE, keep_wandb_run
from tests.integration.conftest import compose_train

WANDB = {"_target_": "lightning.pytorch.loggers.WandbLogger", "project": "p", "id": None}


def logger_cfg(**loggers):
    return OmegaConf.create({"logger": loggers})


def test_without_a_wandb_logger_nothing_is_kept(tmp_path):
    cfg = logger_cfg(csv={"_target_": "lightning.pytorch.loggers.CSVLogger"})
    assert keep_wandb_run(cfg, tmp_path, resuming=True) is None
    assert keep_wandb_run(OmegaConf.create({"logger": None}), tmp_path, resuming=False) is None


def test_a_resumed_run_takes_the_recorded_id(tmp_path):
    (tmp_path / WANDB_ID_FILE).write_text("abc123xy\n")
    cfg = logger_cfg(wandb=WANDB)
    assert keep_wandb_run(cfg, tmp_path, resuming=True) == "abc123xy"
    assert cfg.logger.wandb.id == "abc123xy"


def test_a_new_run_or_one_started_from_scratch_gets_a_new_id(tmp_path):
    """Without a checkpoint to resume from (``resume=auto`` before the first save) the run starts
    again at step 0: in the recorded wandb run its steps would clash with the logged ones."""
    (tmp_path / WANDB_ID_FILE).write_text("abc123xy\n")
    ids = {keep_wandb_run(logger_cfg(wandb=WANDB), tmp_path, resuming=False) for _ in range(5)}
    assert len(ids) == 5 and "abc123xy" not in ids
    assert all(len(i) == 8 and i.isalnum() and i.islower() or i.isdigit() for i in ids)
    empty = tmp_path / "new"
    assert keep_wandb_run(logger_cfg(wandb=WANDB), empty, resuming=True) != "abc123xy"


def test_a_given_id_wins(tmp_path):
    (tmp_path / WANDB_ID_FILE).write_text("abc123xy\n")
    cfg = logger_cfg(wandb={**WANDB, "id": "mine"})
    assert keep_wandb_run(cfg, tmp_path, resuming=True) == "mine"
    cfg = logger_cfg(wandb={**WANDB, "version": "v2"})
    assert keep_wandb_run(cfg, tmp_path, resuming=True) == "v2"
    assert cfg.logger.wandb.id is None  # Lightning takes version as the id


def test_logger_wandb_id_is_a_key_of_the_wandb_and_many_loggers(tmp_path: Path):
    """``logger.wandb.id=...`` needed a ``+`` (not in the config), and ``many`` holds wandb."""
    cfg = compose_train(["logger=wandb", "logger.wandb.id=mine"], tmp_path)
    assert cfg.logger.wandb.id == "mine"
    cfg = compose_train(["logger=many"], tmp_path)
    assert keep_wandb_run(cfg, tmp_path, resuming=False) == cfg.logger.wandb.id


def test_an_id_wandb_refuses_offline_is_one_line_without_the_login_advice(tmp_path):
    """``logger.wandb.id=a/b`` said to log in with ``wandb login``: offline, no login is
    involved; the id is what to correct."""
    from lightning.pytorch.loggers import WandbLogger

    from starganv2.cli.config_check import ConfigError
    from starganv2.cli.train import log_run_config

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, id="a/b", project="p")
    with pytest.raises(ConfigError, match=r"^logger\.wandb: .*Run ID.*logger\.wandb\.id") as err:
        log_run_config([logger], {"seed": 0})
    assert "login" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "node", "in_the_way"),
    [
        ("csv", {"_target_": "lightning.pytorch.loggers.CSVLogger", "name": "csv"}, "csv"),
        ("tb", {"_target_": "lightning.pytorch.loggers.TensorBoardLogger", "name": "tb"}, "tb"),
        ("wandb", WANDB, "wandb"),
        ("csv", {"_target_": "lightning.pytorch.loggers.CSVLogger", "name": "csv"}, ""),
    ],
)
def test_a_file_where_a_logger_folder_goes_is_one_line_naming_the_key(
    tmp_path, key, node, in_the_way
):
    """A file where a logger's folder goes stopped the CSV and TensorBoard loggers with a bare
    ``[Errno 17] File exists`` or a ``NotADirectoryError`` traceback, and wandb wrote its run
    to the system's temporary folder with a warning only."""
    from starganv2.cli.common import check_logger_folders

    save_dir = tmp_path / "run"
    blocker = save_dir / in_the_way if in_the_way else save_dir
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("x")
    cfg = logger_cfg(**{key: {**node, "save_dir": str(save_dir)}})
    with pytest.raises(ValueError, match=rf"^logger\.{key}: {blocker} is a file.*{key}\.save_dir"):
        check_logger_folders(cfg)


def test_logger_folders_that_can_be_made_pass(tmp_path):
    from starganv2.cli.common import check_logger_folders

    (tmp_path / "csv").mkdir()
    cfg = logger_cfg(
        csv={
            "_target_": "lightning.pytorch.loggers.CSVLogger",
            "name": "csv",
            "save_dir": str(tmp_path),
        },
        wandb={**WANDB, "save_dir": str(tmp_path / "new" / "deeper")},
        other={"_target_": "lightning.pytorch.loggers.WandbLogger", "save_dir": None},
    )
    check_logger_folders(cfg)
    check_logger_folders(OmegaConf.create({"logger": None}))
