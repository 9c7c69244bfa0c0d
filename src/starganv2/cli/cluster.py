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
    missing, and a single run with that launcher (it would not be submitted): one error line,
    exit status 1, before any folder is made."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        """A single run with the SLURM launcher: Hydra uses launchers in multiruns only, so it
        trained on this machine (a login node, say) without a word; refused, naming ``-m``."""
        if not _slurm_launcher(config):
            return
        logging.getLogger("starganv2.train").error(
            "hydra/launcher=slurm submits jobs only in a multirun: add -m to submit this run to "
            "SLURM (one job), or drop hydra/launcher=slurm to run it on this machine"
        )
        sys.exit(1)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Check before the sweeper launches (Hydra turns a callback's exception into a warning,
        so this exits itself, as the ``slurm_count`` resolver does)."""
        if not _slurm_launcher(config):
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


def _slurm_launcher(config: Any) -> bool:
    """Whether ``config`` (with its ``hydra`` node) uses submitit's SLURM launcher."""
    launcher = config.hydra.get("launcher") or {}
    return str(launcher.get("_target_", "")).endswith("SlurmLauncher")
