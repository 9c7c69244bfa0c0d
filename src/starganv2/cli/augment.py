"""Detection augmentation entry point: ``starganv2-augment ckpt_path=... input=... output=...``.

Translates a COCO, YOLO or Pascal VOC dataset into the model's other domains and writes the same
format (:func:`starganv2.synthesis.detection.augment.augment_dataset`); the console ends with the
counts written, skipped and failed, and kept and dropped (``check=detector drop_failed=true``). Exits with status 1 on bad input (one line), 2 when some
outputs failed (listed in ``<output>/augment_report.json``). See ``conf/augment.yaml``.

``devices=2`` (or ``devices=8 num_nodes=2`` on a cluster) spreads the images over processes with
DDP: Lightning runs this command again for the other ranks of a node, each rank translates its
share, and rank 0 alone writes the dataset files and the report, and prints the counts.

SIGTERM (``kill``, ``timeout``, a scheduler) stops it as Ctrl-C does: every output written so
far is whole, one line says so with the command that finishes the job (the same command again),
and the exit status is 143 (130 after Ctrl-C; :func:`starganv2.cli.common.run_stoppable`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from starganv2.cli.overrides_check import checked_command_line

log = logging.getLogger("starganv2.augment")


def run(cfg: DictConfig) -> Any:
    """Augment as configured by ``cfg``; returns the :class:`AugmentReport`."""
    import torch

    from starganv2.cli.common import load_module
    from starganv2.cli.logs import quiet_third_party
    from starganv2.cli.translate import domain_names, refuse_attribute_model
    from starganv2.synthesis.detection.augment import augment_dataset, domain_index

    quiet_third_party()
    module = load_module(cfg.ckpt_path, torch.device("cpu"))
    refuse_attribute_model(module, cfg.ckpt_path, "starganv2-augment")
    names = domain_names(cfg, module.num_domains)
    targets = None
    if cfg.targets is not None:  # one domain alone (targets=night, targets=1) is a list of one
        given = cfg.targets if OmegaConf.is_list(cfg.targets) else [cfg.targets]
        targets = [domain_index(t, names, "targets") for t in given]
    labels = None
    if cfg.check_labels is not None:
        labels = dict(OmegaConf.to_container(cfg.check_labels, resolve=True))
    source = None
    if cfg.source_domain is not None:
        source = domain_index(cfg.source_domain, names, "source_domain")
    return augment_dataset(
        module,
        cfg.input,
        cfg.output,
        domain_names=names,
        format=cfg.format,
        images_dir=cfg.images,
        targets=targets,
        source_domain=source,
        styles=cfg.styles,
        ref_dir=cfg.ref_dir,
        psi=cfg.psi,
        seed=cfg.seed,
        fit=cfg.fit,
        tile_size=cfg.tile_size,
        tile_overlap=cfg.tile_overlap,
        include_source=cfg.include_source,
        check=cfg.check,
        detector=cfg.detector,
        check_iou=cfg.check_iou,
        check_score=cfg.check_score,
        check_class=cfg.check_class,
        check_labels=labels,
        detector_input=cfg.detector_input,
        drop_failed=cfg.drop_failed,
        batch_size=cfg.batch_size,
        quality=cfg.quality,
        accelerator=cfg.device,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        progress=cfg.progress,
        overwrite=cfg.overwrite,
        id_offset=cfg.id_offset,
    )


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="augment")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; bad input: one error line and status 1; outputs that
    failed: status 2; stopped by SIGTERM: one line and status 143; by Ctrl-C: one line and
    status 130."""
    from starganv2.cli.common import run_stoppable

    report = run_stoppable(run, cfg, log, "starganv2-augment")
    if report.path is None:  # another rank of a DDP run: rank 0 reports for all
        return
    print(
        f"{report.written} written, {report.skipped} skipped, {report.failed} failed; "
        f"{report.kept} kept, {report.dropped} dropped ({len(report.problems)} input "
        f"problem(s)); report: {report.path}"
    )
    if report.failed:
        sys.exit(2)


if __name__ == "__main__":
    main()
