"""Evaluation entry point: ``starganv2-eval ckpt_path=... [data=...] [overrides]``.

``run(cfg)`` only wires: the model from ``ckpt_path`` (any model of this library), the data module
from ``data``, the :class:`~starganv2.evaluation.evaluator.Evaluator` from the evaluation settings
(``conf/evaluator/default.yaml``, at the top level of ``conf/eval.yaml``); the results go to
``output_file`` (JSON) and to the configured loggers. Errors name the evaluator's settings as
typed here, at the top level (``modes=...``, not ``evaluator.modes``). The data's domain folders
are compared with the names the checkpoint was trained with: a domain at another label is
refused, a rename is a warning (as ``starganv2-translate`` does). Attribute data are read at the
model's image size, and their attributes must be those the model was trained with, in the same
order (:func:`check_attribute_names`, which ``starganv2-sample`` shares).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from starganv2.cli.overrides_check import checked_command_line

log = logging.getLogger("starganv2.eval")


def build_evaluator(cfg: DictConfig, model_modes: Sequence[str] | None = None):  # noqa: ANN201
    """The :class:`Evaluator` from the top-level keys of ``cfg`` that are its arguments.

    ``model_modes``: the guidance modes of the model to evaluate (known from its checkpoint).
    With ``modes`` null they are the modes evaluated, given to the evaluator before its metrics
    are built: a deterministic model's ``label`` mode alone makes ``fid_lpips`` measure FID only,
    without asking for the AlexNet (LPIPS) weights it would never use.

    A weights error under ``metrics=auto`` on the built-in shapes data gives its overrides in the
    form that keeps ``shapes_quality`` (``'~metrics' '+metrics={fid_lpips: {...},
    shapes_quality: {}}'``): ``'++metrics.fid_lpips.<key>=...'`` would leave ``fid_lpips`` alone.
    On attribute data ``metrics=auto`` is ``attribute_accuracy`` alone, so only it is built: the
    Inception and AlexNet weights of ``fid_lpips``, which it never uses, are not asked for.
    """
    from starganv2.cli.config_check import instantiate
    from starganv2.evaluation.backbones import MissingWeightsError, WeightsFileError
    from starganv2.evaluation.evaluator import AUTO, AUTO_ATTRIBUTES, Evaluator
    from starganv2.evaluation.protocol import MODES

    params = inspect.signature(Evaluator).parameters
    node = {k: cfg[k] for k in ("_target_", *params) if k in cfg}
    if node.get("modes") is None and model_modes and all(m in MODES for m in model_modes):
        node["modes"] = list(model_modes)  # what null means for this model, known now
    if node.get("metrics") == AUTO and is_attribute_config(cfg):
        Evaluator.check_saves_images(node.get("save_images"), [AUTO_ATTRIBUTES], AUTO, "")
        node["metrics"] = [AUTO_ATTRIBUTES]
    try:
        return instantiate(node)
    except (MissingWeightsError, WeightsFileError) as err:
        keep_auto_metrics(err, cfg, cfg.get("metrics"), "metrics")
        raise


def keep_auto_metrics(err: BaseException, cfg: DictConfig, metrics: object, key: str) -> None:
    """Rewrite in place the overrides of a weights error ``err`` of an evaluator whose
    ``metrics`` (the setting ``key``) is ``auto`` on the built-in shapes data, so that pasted
    they keep ``shapes_quality`` (``'~<key>' '+<key>={fid_lpips: {...}, shapes_quality: {}}'``):
    ``'++<key>.fid_lpips.<setting>=...'`` would leave ``fid_lpips`` alone. Other errors are left
    as they are."""
    from starganv2.evaluation.evaluator import AUTO, auto_metric_names, restate_as_mapping

    if metrics == AUTO and is_shapes_config(cfg):
        names = auto_metric_names(shapes=True)
        note = f"{key}=auto runs {names} on the built-in shapes data: these overrides keep both."
        restate_as_mapping(err, {name: {} for name in names}, note)


def is_shapes_config(cfg: DictConfig) -> bool:
    """Whether ``cfg.data`` is the built-in shapes data: its data module, or a folder that holds
    the generated data (``auto`` then adds ``shapes_quality``), known before any data is read."""
    from starganv2.evaluation.evaluator import is_shapes_data

    data = cfg.get("data") or {}
    if str(data.get("_target_", "")).endswith(".ShapesDataModule"):
        return True
    return is_shapes_data(data.get("root"))


def is_attribute_config(cfg: DictConfig) -> bool:
    """Whether ``cfg.data`` builds attribute data (an
    :class:`~starganv2.data.attribute_datamodule.AttributeDataModule`), known before any data is
    read."""
    from hydra.utils import get_class

    from starganv2.data.attribute_datamodule import AttributeDataModule

    target = (cfg.get("data") or {}).get("_target_")
    if not target:
        return False
    try:
        return issubclass(get_class(str(target)), AttributeDataModule)
    except (ImportError, ValueError):  # a bad _target_ is reported when the data are built
        return False


def attribute_datamodule(cfg: DictConfig, img_size: int) -> object:
    """The attribute data module of ``cfg.data``, set up, its images read at ``img_size`` (the
    model's; another ``data.img_size`` is a warning, as for domain folders)."""
    from starganv2.cli.config_check import instantiate

    given = cfg.data.get("img_size")
    if given is not None and given != img_size:
        log.warning(
            "data.img_size=%s but the checkpoint has img_size=%d: images are resized to %d",
            given,
            img_size,
            img_size,
        )
    datamodule = instantiate(cfg.data, img_size=img_size)
    datamodule.prepare_data()
    datamodule.setup("validate")
    return datamodule


def check_attribute_names(cfg: DictConfig, datamodule: object, model: object) -> None:
    """Refuse attribute data whose attributes (``datamodule.attributes``, in label order) are not
    those ``model`` was trained with: its ``attributes`` hyperparameter, else the names the data
    module saved in ``cfg.ckpt_path``. Labels are positions: another order would translate with
    other attributes' labels and report them under the data's names. Unnamed models (neither
    known) are not compared."""
    from starganv2.data.attribute_datamodule import saved_attribute_names
    from starganv2.models.registry import read_checkpoint

    names = list(datamodule.attributes)
    trained = (getattr(model, "hparams", None) or {}).get("attributes")
    if not trained and cfg.get("ckpt_path"):
        trained = saved_attribute_names(read_checkpoint(cfg.ckpt_path))
    if not trained or list(trained) == names:
        return
    trained = [str(a) for a in trained]
    # data.num_domains must give the label length too, or the advice fails on the next run
    count = f" data.num_domains={len(trained)}" if len(trained) != len(names) else ""
    raise ValueError(
        f"data.attributes={names} but ckpt_path={cfg.ckpt_path} was trained on {trained} (in "
        "that order): labels are positions, so other attributes would be translated and named "
        f"as these; set data.attributes to the model's: 'data.attributes=[{','.join(trained)}]'"
        f"{count}"
    )


def check_domain_names(cfg: DictConfig, datamodule: object, num_domains: int) -> None:
    """Compare the data module's domains with the names saved in ``cfg.ckpt_path``: one at
    another label is refused, a rename is a warning
    (:func:`~starganv2.evaluation.evaluator.check_trained_domains`). Data without domain folders
    (attribute data) and checkpoints without names (converted ones) are not compared."""
    from starganv2.cli.translate import checkpoint_domain_names
    from starganv2.evaluation.evaluator import check_trained_domains

    names = list(getattr(datamodule, "domains", None) or [])
    if not names:
        return
    saved = checkpoint_domain_names(cfg, num_domains)
    where = f"the domain folders under {Path(datamodule.root) / 'train'}"
    check_trained_domains(names, where, saved, f"ckpt_path={cfg.ckpt_path}")


def check_output_file(output_file: str) -> None:
    """Refuse an ``output_file`` that cannot be written as a file, before any work
    (:func:`starganv2.cli.common.check_output_file`)."""
    from starganv2.cli.common import check_output_file as check

    path = Path(output_file)
    check(
        output_file,
        f"output_file={output_file}",
        "the JSON file",
        f"output_file={path / 'metrics.json'}",
    )


def check_save_images(save_images: str | None) -> None:
    """Refuse, before any work, a ``save_images`` folder that is a file or lies under one: found
    only at the first image, after the checkpoint, the weights and the first target domain's
    real images were read, with no word of the setting."""
    from starganv2.cli.common import check_output_folder

    if save_images is not None:
        check_output_folder(
            save_images, f"save_images={save_images}", "give a folder for the images"
        )


def log_results(loggers: list[Any], results: dict[str, float | int], iteration: int) -> None:
    """Log ``results`` as ``eval/<key>`` at ``step=iteration`` to every logger; a wandb run that
    cannot start is one line naming ``logger.wandb`` (``metrics.json`` is written already)."""
    from starganv2.cli.common import wandb_must_start

    for logger in loggers:
        with wandb_must_start(logger):
            logger.log_metrics({f"eval/{k}": v for k, v in results.items()}, step=iteration)
        logger.finalize("success")


def evaluate_images(evaluator: Any, model: Any, datamodule: Any) -> dict[str, float]:
    """``evaluator.evaluate(model, datamodule)``; an image that does not decode (damaged in the
    middle, which the data's quick check of each file's header and end does not read) is a
    ``ValueError`` of one line naming it and what to do, not a traceback from the loader."""
    from starganv2.cli.common import worker_error_message
    from starganv2.data.folders import ImageLoadError

    try:
        return evaluator.evaluate(model, datamodule, settings_key="")
    except ImageLoadError as err:
        raise ValueError(
            f"{worker_error_message(err)}; the file passed the quick check of its header and "
            "end but does not decode: replace it or move it out of the data folder"
        ) from err


def run(cfg: DictConfig) -> dict[str, float | int]:
    """Evaluate as configured by ``cfg``; returns the results (also written to ``output_file``)."""
    from starganv2.cli.common import (
        check_logger_folders,
        finish_wandb,
        load_module,
        resolve_device,
    )
    from starganv2.cli.config_check import instantiate
    from starganv2.cli.logs import quiet_third_party
    from starganv2.models.registry import check_checkpoint_path
    from starganv2.utils.files import save_json

    quiet_third_party()
    check_output_file(cfg.output_file)
    check_save_images(cfg.get("save_images"))
    check_logger_folders(cfg)  # the loggers are made after the evaluation: refused before it
    check_checkpoint_path(cfg.ckpt_path)
    model = load_module(cfg.ckpt_path, resolve_device(cfg.device))
    # before the data: missing weights fail before any image is read; after the model, whose
    # modes say which weights are needed (label mode alone: no AlexNet)
    evaluator = build_evaluator(cfg, model.guidance_modes)
    evaluator.modes_for(model, settings_key="")  # a mode the model lacks: before any reading
    if is_attribute_config(cfg):
        datamodule = attribute_datamodule(cfg, model.img_size)
        check_attribute_names(cfg, datamodule, model)
    else:
        datamodule = instantiate(cfg.data)
        datamodule.prepare_data()
        datamodule.setup("validate")
        if datamodule.img_size != model.img_size:
            log.warning(
                "data.img_size=%d but the checkpoint has img_size=%d: images are resized to %d",
                datamodule.img_size,
                model.img_size,
                model.img_size,
            )
        check_domain_names(cfg, datamodule, model.num_domains)
        model.trained_domains = None  # compared just now, naming ckpt_path: no second warning
    results = evaluate_images(evaluator, model, datamodule)
    iteration = int(getattr(model, "iteration", 0))
    results["iteration"] = iteration  # a count: JSON "7", not "7.0"
    path = save_json(results, cfg.output_file)
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values() if node]
    try:
        log_results(loggers, results, iteration)
    finally:
        finish_wandb(loggers, failed=sys.exc_info()[0] is not None)
    log.info("results: %s", path)
    return results


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; prints the JSON path; exits 1 with a one-line error."""
    from starganv2.cli.common import run_stoppable

    run_stoppable(run, cfg, log, "starganv2-eval")
    print(Path(cfg.output_file).resolve())


if __name__ == "__main__":
    main()
