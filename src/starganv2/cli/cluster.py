"""A check before a multirun submits to SLURM: ``hydra/launcher=slurm`` on a machine without
SLURM's commands is one error line saying so and what to do, not submitit's traceback ("Could not
detect srun") after Hydra has made the sweep folder.

The check is a Hydra callback (``hydra.callbacks`` in ``conf/hydra/default.yaml``) that acts
when the multirun starts, after composition: composing the SLURM config off the cluster (to read
or test it) still works."""

from __future__ import annotations

import logging
import shutil
import sys
from typing import Any

from hydra.experimental.callback import Callback

__all__ = ["SLURM_COMMANDS", "SlurmCommandsCheck", "missing_slurm_commands"]

SLURM_COMMANDS = ("sbatch", "srun")
"""The commands the submitit launcher needs on the submitting machine: it submits with
``sbatch`` and its jobs start their tasks with ``srun``."""


def missing_slurm_commands() -> list[str]:
    """Those of :data:`SLURM_COMMANDS` that are not on this machine's ``PATH``."""
    return [name for name in SLURM_COMMANDS if shutil.which(name) is None]


class SlurmCommandsCheck(Callback):
    """Refuse a multirun whose launcher is submitit's SLURM one where SLURM's commands are
    missing: one error line, exit status 1, before the sweep folder is made."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Check before the sweeper launches (Hydra turns a callback's exception into a warning,
        so this exits itself, as the ``slurm_count`` resolver does)."""
        target = str(config.hydra.launcher.get("_target_", ""))
        if not target.endswith("SlurmLauncher"):
            return
        missing = missing_slurm_commands()
        if not missing:
            return
        logging.getLogger("starganv2.train").error(
            "hydra/launcher=slurm: SLURM's commands (%s) are not on this machine: run this "
            "command on the cluster's login node, or drop hydra/launcher=slurm to run here",
            ", ".join(missing),
        )
        sys.exit(1)
