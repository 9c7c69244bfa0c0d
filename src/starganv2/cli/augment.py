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
and the exit status is 143 (:data:`SIGTERM_EXIT`; 130 after Ctrl-C, :data:`SIGINT_EXIT`).
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
from types import FrameType
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from starganv2.cli.common import (
    SIGINT_EXIT,
    SIGTERM_EXIT,
    from_launch_folder,
    hydra_config,
    stopped_by_ctrl_c,
)

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
    )


def rerun_command() -> str:
    """The command that finishes an interrupted run: this one again (its overrides, from the
    folder it was launched in), quoted for a POSIX shell."""
    hc = hydra_config()
    if hc is None:
        return shlex.join(["starganv2-augment", *sys.argv[1:]])
    return from_launch_folder(["starganv2-augment", *hc.overrides.task])


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: stop where the program is, as Ctrl-C's ``KeyboardInterrupt`` does
    (Lightning's own handler, which runs before this one during prediction, only notes it)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up
    raise SIGTERMException


def _report_stopped(cause: str) -> None:
    """Say that ``cause`` stopped the run and give the command that finishes it."""
    log.warning(
        "stopped by %s; the outputs written so far are whole: run the same command again to "
        "finish: %s",
        cause,
        rerun_command(),
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="augment")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; bad input: one error line and status 1; outputs that
    failed: status 2; stopped by SIGTERM: one line and status 143; by Ctrl-C: one line and
    status 130."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from starganv2.cli.common import run_or_exit

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        report = run_or_exit(run, cfg, log)
    except SIGTERMException:
        _report_stopped("SIGTERM")
        sys.exit(SIGTERM_EXIT)
    except (KeyboardInterrupt, SystemExit) as err:  # Lightning ends Ctrl-C with exit(1)
        if not stopped_by_ctrl_c(err):
            raise
        _report_stopped("Ctrl-C")
        sys.exit(SIGINT_EXIT)
    finally:
        signal.signal(signal.SIGTERM, previous)
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
