"""SLURM multi-node: the submitit launcher config composes with trainer=ddp, and under SLURM's
environment Lightning's SLURMEnvironment (not its own launcher) sets ranks and the main address."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

import starganv2.cli  # noqa: F401  the configs' resolvers (${run_folder_name:...}), as the CLI has
from tests.integration.conftest import CONF_DIR

OVERRIDES = [
    "hydra/launcher=slurm",
    "experiment=paper",
    "trainer=ddp",
    "trainer.devices=4",
    "trainer.num_nodes=2",
    "hydra.launcher.partition=gpu",
]


def compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def test_slurm_launcher_composes_two_nodes_one_task_per_gpu():
    cfg = compose_with_hydra(OVERRIDES)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["partition"] == "gpu"
    assert cfg.trainer.strategy == "ddp_find_unused_parameters_true"
    assert cfg.trainer.use_distributed_sampler is False


def test_slurm_asks_for_no_gpus_for_processes_on_the_cpu():
    # trainer=ddp_cpu asked SLURM for a GPU per process, which it would not use
    cfg = compose_with_hydra(["hydra/launcher=slurm", "trainer=ddp_cpu", "trainer.devices=3"])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["tasks_per_node"], launcher["gpus_per_node"]) == (3, None)


def test_slurm_environment_sets_ranks(monkeypatch):
    cfg = compose_with_hydra(OVERRIDES + ["trainer.accelerator=cpu"])  # no GPU in tests
    env = {  # what srun sets for task 5 of 8 (second node, second GPU)
        "SLURM_NTASKS": "8",
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "SLURM_NODELIST": "gpu[017-018]",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        # setenv first so that teardown removes the value SLURMEnvironment writes (it sets
        # MASTER_ADDR/MASTER_PORT); a leaked MASTER_ADDR=gpu017 hangs later DDP tests.
        monkeypatch.setenv(key, "unset")
        monkeypatch.delenv(key)
    # The Trainer sets the process-wide rank_zero_only.rank to 5: restore it after the test, or
    # later tests in this process believe they are not rank 0 (and skip rank-0-only writes).
    import lightning.fabric.utilities.rank_zero as fabric_rz
    import lightning.pytorch.utilities.rank_zero as pl_rz
    import lightning_utilities.core.rank_zero as util_rz

    for module in (fabric_rz, pl_rz, util_rz):
        monkeypatch.setattr(
            module.rank_zero_only, "rank", getattr(module.rank_zero_only, "rank", 0)
        )
    trainer = instantiate(
        cfg.trainer, default_root_dir=None, logger=False, enable_model_summary=False
    )
    cluster = trainer.strategy.cluster_environment
    assert isinstance(cluster, SLURMEnvironment)
    assert cluster.creates_processes_externally  # srun starts the tasks, Lightning does not
    assert (cluster.world_size(), cluster.global_rank()) == (8, 5)
    assert (cluster.local_rank(), cluster.node_rank()) == (1, 1)
    assert cluster.main_address == "gpu017"
    assert (trainer.global_rank, trainer.world_size, trainer.num_nodes) == (5, 8, 2)
