"""Training entry point: ``starganv2-train [overrides]`` or ``python -m starganv2.cli.train``.

``run(cfg)`` only wires objects together: data module, module, callbacks, loggers and trainer
from their ``_target_`` s, then ``fit``. See ``conf/train.yaml`` for the keys.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("starganv2.train")


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: ``ckpt_path``, or with ``resume=auto`` the run folder's
    ``checkpoints/last.ckpt`` when it exists (a fresh start otherwise)."""
    from starganv2.cli.config_check import ConfigError

    resume = cfg.get("resume")
    if cfg.get("ckpt_path") and resume:
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path!r} and resume={resume!r} both given: use one of them"
        )
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path!r}: no such checkpoint file")
        return str(path)
    if resume is None:
        return None
    if resume != "auto":
        raise ConfigError(f"resume={resume!r} is invalid: expected auto or null")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if last.is_file():
        log.info("resume=auto: continuing from %s", last)
        return str(last)
    log.info("resume=auto: no %s yet, starting from scratch", last)
    return None


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    from hydra.utils import instantiate

    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def run(cfg: DictConfig) -> dict[str, float]:
    """Train as configured by ``cfg``; returns the final callback metrics as floats."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from starganv2.cli.config_check import check_config

    check_config(cfg, ["data", "model", "callbacks"])
    ckpt_path = resolve_ckpt_path(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)
    out = Path(cfg.paths.output_dir)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(resolved), out / "config_resolved.yaml")
        log.info("run folder: %s", out.resolve())

    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    metrics["iteration"] = float(model.iteration)
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra shim around :func:`run`; returns ``optimized_metric`` for sweepers."""
    from starganv2.cli.config_check import ConfigError
    from starganv2.module import NonFiniteLossError

    try:
        metrics = run(cfg)
    except (ConfigError, NonFiniteLossError) as err:
        log.error("%s", err)
        sys.exit(1)
    key = cfg.get("optimized_metric")
    if key:
        if key not in metrics:
            raise KeyError(f"optimized_metric={key!r} was not logged; logged: {sorted(metrics)}")
        return metrics[key]
    return None


if __name__ == "__main__":
    main()
