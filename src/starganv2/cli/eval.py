"""Evaluation entry point: ``starganv2-eval ckpt_path=... [data=...] [overrides]``.

``run(cfg)`` only wires: the module from ``ckpt_path``, the data module from ``data``, then
:class:`starganv2.metrics.Evaluator` (FID / LPIPS, the paper's protocol) and, on the built-in shapes
data, :func:`starganv2.shapes_quality.shapes_quality`; the results go to ``output_file`` (JSON) and
to the configured loggers. See ``conf/eval.yaml`` for the keys.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

log = logging.getLogger("starganv2.eval")

METRICS = ("fid_lpips", "shapes_quality")


def _metrics(cfg: DictConfig, datamodule: Any) -> list[str]:
    if cfg.metrics == "auto":
        is_shapes = hasattr(datamodule, "shapes_params")
        return ["fid_lpips", "shapes_quality"] if is_shapes else ["fid_lpips"]
    chosen = [cfg.metrics] if isinstance(cfg.metrics, str) else list(cfg.metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise ValueError(
            f"metrics={chosen}: unknown {unknown}; expected auto or a list from {list(METRICS)}"
        )
    return chosen


def run(cfg: DictConfig) -> dict[str, float]:
    """Evaluate as configured by ``cfg``; returns the results (also written to ``output_file``)."""
    from hydra.utils import instantiate

    from starganv2.cli._inference import load_module, resolve_device
    from starganv2.metrics import Evaluator, save_results

    module = load_module(cfg.ckpt_path, resolve_device(cfg.device))
    datamodule = instantiate(cfg.data)
    chosen = _metrics(cfg, datamodule)
    out_dir = Path(cfg.paths.output_dir)
    evaluator = None
    if "fid_lpips" in chosen:  # built first: missing weights fail before any data is read
        evaluator = Evaluator(
            modes=list(cfg.modes),
            num_outs_per_domain=cfg.num_outs_per_domain,
            batch_size=cfg.batch_size,
            fid_features=cfg.fid_features,
            fid_weights=cfg.fid_weights,
            lpips_weights=cfg.lpips_weights,
            quantize=cfg.quantize,
            seed=cfg.seed,
            max_images_per_domain=cfg.max_images_per_domain,
            num_workers=cfg.num_workers,
            save_images=out_dir / "images" if cfg.save_images else None,
        )
    datamodule.prepare_data()
    datamodule.setup("validate")
    if datamodule.img_size != module.hparams.img_size:
        log.warning(
            "data.img_size=%d but the checkpoint has img_size=%d: images are resized to %d",
            datamodule.img_size,
            module.hparams.img_size,
            module.hparams.img_size,
        )
    results: dict[str, float] = {}
    if evaluator is not None:
        if datamodule.val_files is None:
            raise FileNotFoundError(
                f"{Path(datamodule.root) / 'val'}: not found; evaluation translates the "
                "validation images (expected root/val/<domain>/ images)"
            )
        results.update(
            evaluator.evaluate(
                module, datamodule.domains, datamodule.train_files, datamodule.val_files
            )
        )
    if "shapes_quality" in chosen:
        from starganv2.shapes_quality import shapes_quality

        results.update(
            shapes_quality(
                module,
                datamodule.root,
                modes=list(cfg.modes),
                num_outs_per_domain=cfg.shapes_quality.num_outs_per_domain,
                batch_size=cfg.batch_size,
                seed=cfg.seed,
                max_images_per_domain=cfg.max_images_per_domain,
            )
        )
    results["iteration"] = float(module.iteration)
    path = save_results(results, cfg.output_file)
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values() if node]
    for logger in loggers:
        logger.log_metrics({f"eval/{k}": v for k, v in results.items()}, step=module.iteration)
        logger.finalize("success")
    log.info("results: %s", path)
    return results


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; prints the JSON path; exits 1 with a one-line error."""
    try:
        run(cfg)
    except (FileNotFoundError, ValueError, ImportError) as err:
        log.error("%s", err)
        sys.exit(1)
    print(Path(cfg.output_file).resolve())


if __name__ == "__main__":
    main()
