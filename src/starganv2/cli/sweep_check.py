"""Every job of a training sweep checked before the first one starts.

Hydra composes a multirun job's configuration only when that job starts, and a job that stops on
bad input ends the sweep: ``model.lambda_sty=1,-1,2`` trained the first job, refused the second
(``model.lambda_sty=-1 is invalid``) and never ran the third, hours into a sweep. This Hydra
callback (``hydra.callbacks`` in ``conf/train.yaml``) composes each job of a basic-sweeper
multirun when the multirun starts and runs the training entry point's checks that read neither
a job's run folder nor its data (:func:`starganv2.cli.train.check_settings`); the first job that
would stop is one error line naming it and the reason, exit status 1, before any job runs.

A sweeper that chooses its values while it runs (Optuna) has its jobs checked as each starts:
they are not known in advance. Its search space is checked here (:func:`search_space_error`): a
range Optuna cannot sample (``interval(4, 1)``) was its traceback. So is the database that keeps
its study (``hydra.sweeper.storage``, :func:`storage_error`): Optuna 2 (the one
hydra-optuna-sweeper allows) with SQLAlchemy 2 failed on any database in an ``AssertionError``.
A study the database already holds goes on: its trials are numbered on from those it holds
(:func:`first_trial_number`), so a relaunch's trials do not take the earlier ones' folders."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

__all__ = [
    "SweepSettingsCheck",
    "sweep_jobs",
    "job_config",
    "search_space_error",
    "direction_error",
    "storage_error",
    "first_trial_number",
]

BASIC_SWEEPER = "BasicSweeper"
"""The class name of Hydra's sweeper over the command line's lists (the cartesian product)."""
OPTUNA_SWEEPER = "OptunaSweeper"
"""The class name of the Optuna sweeper (``hparams_search=optuna``)."""


def _sweep_arguments(config: Any) -> list[str]:
    """``hydra.sweeper.params`` and the command line's overrides, as the sweepers read them."""
    from omegaconf import OmegaConf

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    return arguments + list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))


def sweep_jobs(config: Any) -> list[list[str]]:
    """Each job's overrides, in launch order, as Hydra's basic sweeper makes them from
    ``hydra.sweeper.params`` and the command line (``config.hydra.overrides.task``)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(_sweep_arguments(config))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def direction_error(config: Any) -> str | None:
    """``hydra.sweeper.direction`` of an Optuna search as ``key=value: why`` when it is neither
    ``minimize`` nor ``maximize`` (nor a list of them), else ``None``: Optuna refused it when the
    search started, in a traceback."""
    from collections.abc import Sequence as Listed

    direction = config.hydra.sweeper.get("direction", "minimize")
    listed = isinstance(direction, Listed) and not isinstance(direction, str)
    names = [getattr(d, "name", d) for d in (direction if listed else [direction])]
    if names and all(name in ("minimize", "maximize") for name in names):
        return None
    return (
        f"hydra.sweeper.direction={direction!r}: expected minimize or maximize (or a list of them)"
    )


def search_space_error(config: Any) -> str | None:
    """The first entry of an Optuna search (``hydra.sweeper.params``, the command line's sweeps)
    that Optuna cannot make a distribution of, as ``key=value: why`` (``interval(4, 1)``: low
    above high; ``tag(log, interval(0, 1))``: a log range from 0), else ``None``. The sweeper
    builds them when the search starts and stopped with Optuna's traceback. Optuna is imported
    with INFO lines held back (its database layer logs a line per plugin it sets up)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from starganv2.utils.quiet import info_held_back

    with info_held_back():
        from hydra_plugins.hydra_optuna_sweeper._impl import (
            create_optuna_distribution_from_override,
        )

    parser = OverridesParser.create()
    for argument in _sweep_arguments(config):
        try:
            (override,) = parser.parse_overrides([argument])
        except HydraException:  # a malformed override: the sweeper reports it itself
            continue
        try:
            create_optuna_distribution_from_override(override)
        except (ValueError, TypeError) as err:
            return f"{argument}: {str(err).rstrip('.')}"
    return None


def _version(text: str) -> tuple[int, ...]:
    """``"2.10.1"`` as ``(2, 10, 1)``; a part that is not a number ends it (``"2.0b1"``: (2,))."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def storage_error(config: Any) -> str | None:
    """``hydra.sweeper.storage`` of an Optuna search as ``key=value: why`` when Optuna cannot
    open that database, else ``None`` (also without a storage). Optuna 2 cannot use SQLAlchemy 2
    (its first query failed in an ``AssertionError``): said with the command that mends it,
    before anything is opened. Else the database is opened (and, as the sweeper would, made):
    a path in a missing folder or a URL SQLAlchemy cannot parse was the sweeper's traceback."""
    storage = config.hydra.sweeper.get("storage")
    if not storage:
        return None
    from starganv2.utils.quiet import info_held_back

    with info_held_back():
        import optuna
        import sqlalchemy

    key = f"hydra.sweeper.storage={storage}"
    if _version(optuna.__version__) < (3,) and _version(sqlalchemy.__version__) >= (2,):
        return (
            f"{key}: Optuna {optuna.__version__} (the version hydra-optuna-sweeper installs) "
            f"cannot use SQLAlchemy {sqlalchemy.__version__}; install an earlier one: "
            "pip install 'sqlalchemy<2' (the cluster extra pins it)"
        )
    try:
        with info_held_back():
            optuna.storages.get_storage(str(storage))
    except Exception as err:  # SQLAlchemy's and Optuna's own errors, of many kinds
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"{key}: Optuna cannot open it ({why})"
    return None


def first_trial_number(config: Any) -> int:
    """The number Optuna gives this launch's first trial: how many trials the study named
    ``hydra.sweeper.study_name`` in ``hydra.sweeper.storage`` already holds, 0 without a storage
    or such a study (an in-memory study starts anew at each launch)."""
    storage = config.hydra.sweeper.get("storage")
    name = config.hydra.sweeper.get("study_name")
    if not storage or not name:
        return 0
    from starganv2.utils.quiet import info_held_back

    with info_held_back():
        import optuna

        summaries = optuna.get_all_study_summaries(str(storage))
    return next((s.n_trials for s in summaries if s.study_name == str(name)), 0)


def _number_trials_from(config: Any, first: int) -> None:
    """Give every job's configuration ``hydra.job.env_set.STARGANV2_FIRST_TRIAL=first`` (a Hydra
    override: the launcher composes each job from them), which names its folder."""
    from omegaconf import open_dict, read_write

    from starganv2.cli.job_names import FIRST_TRIAL_KEY

    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{FIRST_TRIAL_KEY}={first}")


def job_config(config: Any, overrides: Sequence[str], num: int) -> Any:
    """Job ``num``'s configuration as the launcher composes it, with ``hydra.runtime.output_dir``
    set to the job's folder as Hydra sets it when the job starts (keys such as
    ``callbacks.*.dirpath`` interpolate it)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    loader = GlobalHydra.instance().config_loader()
    cfg = loader.load_sweep_config(config, list(overrides))
    with open_dict(cfg):
        cfg.hydra.job.id = num
        cfg.hydra.job.num = num
        folder = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        cfg.hydra.runtime.output_dir = str(folder.absolute())
    return cfg


class SweepSettingsCheck(Callback):
    """Check every job of a basic-sweeper multirun (:func:`sweep_jobs`) with
    :func:`starganv2.cli.train.check_settings` before any starts; the first that would stop on
    bad input is one error line naming the job and the reason, exit status 1. An Optuna search's
    direction, space and database are checked (:func:`direction_error`,
    :func:`search_space_error`, :func:`storage_error`), its trials as each starts; a study the
    database already holds numbers this launch's trials on from its own."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Runs before the sweeper (Hydra turns a callback's exception into a warning, so this
        exits itself, as :class:`~starganv2.cli.job_names.RepeatedSweepValueCheck` does)."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.errors import HydraException

        from starganv2.cli.common import BAD_INPUT
        from starganv2.cli.train import check_settings

        log = logging.getLogger("starganv2.train")
        sweeper = str(config.hydra.sweeper.get("_target_", ""))
        if sweeper.endswith(OPTUNA_SWEEPER):
            direction = direction_error(config)
            if direction is not None:
                log.error("%s; no trial has run: correct it and launch the search again", direction)
                sys.exit(1)
            error = search_space_error(config)
            if error is not None:
                log.error(
                    "the Optuna search space has %s; no trial has run: correct it and launch "
                    "the search again",
                    error,
                )
                sys.exit(1)
            error = storage_error(config)
            if error is not None:
                log.error("%s; no trial has run", error)
                sys.exit(1)
            first = first_trial_number(config)
            if first:
                log.info(
                    "Optuna study %s in %s holds %d trial%s: this launch's are numbered from "
                    "trial-%03d",
                    config.hydra.sweeper.study_name,
                    config.hydra.sweeper.storage,
                    first,
                    "" if first == 1 else "s",
                    first,
                )
                _number_trials_from(config, first)
            return
        if not sweeper.endswith(BASIC_SWEEPER):
            return
        try:
            jobs = sweep_jobs(config)
        except HydraException:  # a malformed override: the sweeper reports it itself
            return
        hydra_config = HydraConfig.instance()
        kept = hydra_config.cfg
        try:
            for num, overrides in enumerate(jobs):
                try:
                    cfg = job_config(config, overrides, num)
                except HydraException:  # one that does not compose: Hydra's own message
                    return
                hydra_config.set_config(cfg)  # ${hydra:...} resolves to this job's values
                try:
                    check_settings(cfg)
                except BAD_INPUT as err:
                    swept = " ".join(o for o in overrides if o in _swept(jobs))
                    log.error(
                        "job #%d of %d (%s) would stop: %s; no job has run: correct it and "
                        "launch the sweep again",
                        num,
                        len(jobs),
                        swept or " ".join(overrides),
                        err,
                    )
                    sys.exit(1)
        finally:
            hydra_config.cfg = kept


def _swept(jobs: Sequence[Sequence[str]]) -> set[str]:
    """The overrides that differ between jobs (what tells a job apart), as ``key=value``."""
    if len(jobs) < 2:
        return set()
    return {o for job in jobs for o in job if any(o not in other for other in jobs)}
