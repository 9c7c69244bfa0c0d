"""``EvaluationSteps``: ``forward``, ``validation_step`` and ``test_step`` of every module.

- ``forward(x, y_trg, **style)`` is :meth:`translate`: ``x (N, 3, S, S)`` float in [-1, 1],
  ``y_trg (N,)`` long or one int -> ``(N, 3, S, S)`` in [-1, 1], with the inference (EMA) nets.
- **Validation and test run the evaluator's metrics over the whole split.** FID compares all
  outputs of a task with all training images of its target domain, and LPIPS diversity pairs the
  outputs of one source image, so neither is a mean of per-batch values. What happens where:

  * ``validation_step`` / ``test_step`` receive the data module's ``{"x", "y"}`` batches of the
    validation images and use nothing from them (returns ``None``): the loop only marks that a
    validation is due. One batch is enough (``limit_val_batches: 1`` in the trainer config).
  * ``on_validation_epoch_end`` / ``on_test_epoch_end`` run ``self.evaluator`` once over the
    trainer's data module (:meth:`evaluate_split`): validation images are the sources and
    references, training images the FID reals, exactly as ``starganv2-eval``. Under DDP every rank
    takes part (the evaluator splits the images by rank and syncs the metric states); the figures
    of rank 0 are then broadcast, so every rank logs the same values (figures computed on rank 0
    only, the shapes ones, reach every rank that way).
  * The figures are logged with ``self.log`` under stable names (:func:`logged_name`):
    ``val/fid/latent`` (the mean over tasks), ``val/fid/latent/cat2dog``, ``val/lpips/reference``,
    ``val/shapes/target_accuracy_latent``, ``test/...``; during training at the logger step of
    the iteration's own training logs (``step=iteration``, as the training logs set it:
    Lightning would use its count of finished batches, which does not yet include the iteration
    that triggered the validation). Lightning's ``EarlyStopping`` and
    ``ModelCheckpoint(monitor=...)`` watch them; ``Trainer.validate`` / ``Trainer.test`` return
    them.

The evaluator is an object with ``evaluate(model, datamodule) -> {key: float}``
(:class:`ModelEvaluator`; :class:`starganv2.evaluation.evaluator.Evaluator` is one), set as
``module.evaluator``. It is not a hyperparameter and not saved in checkpoints. Without one,
``Trainer.validate`` and ``Trainer.test`` stop with a message saying how to set it, and a
validation during ``fit`` measures nothing. The sanity check and ``fast_dev_run`` do not run it
(they check the loop, not the model). ``module.trained_domains``, the domain names the model was
trained with when known (``None`` by default), is a plain attribute too: the evaluator compares
the data's domain folders with it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["EvaluationSteps", "ModelEvaluator", "logged_name"]

log = logging.getLogger(__name__)

_PER_MODE = re.compile(r"^([A-Z]+)_([a-z]+)/(.+)$")  # "FID_latent/cat2dog", "LPIPS_reference/mean"


@runtime_checkable
class ModelEvaluator(Protocol):
    """What validation and test need of an evaluator (the models layer cannot import
    :mod:`starganv2.evaluation`; :class:`~starganv2.evaluation.evaluator.Evaluator` fits)."""

    def evaluate(self, model: Any, datamodule: Any) -> dict[str, float]:
        """The figures of ``model`` on ``datamodule`` (the same dict on every DDP rank, except
        figures some metrics compute on rank 0 only)."""
        ...


def logged_name(key: str, stage: str) -> str:
    """The logged name of evaluator key ``key`` in ``stage`` (``val`` or ``test``).

    Per-mode metrics become ``<stage>/<metric in lower case>/<mode>[/<task>]``, the mean over
    tasks without a task: ``FID_latent/mean -> val/fid/latent``, ``FID_latent/cat2dog ->
    val/fid/latent/cat2dog``, ``LPIPS_reference/mean -> val/lpips/reference``. Other keys are
    prefixed: ``shapes/target_accuracy_latent -> val/shapes/target_accuracy_latent``,
    ``attr/target/mean -> val/attr/target/mean``.
    """
    match = _PER_MODE.match(key)
    if match is None:
        return f"{stage}/{key}"
    metric, mode, task = match.groups()
    name = f"{stage}/{metric.lower()}/{mode}"
    return name if task == "mean" else f"{name}/{task}"


class EvaluationSteps:
    """``forward``, ``validation_step``, ``test_step`` and the evaluator behind them, for
    :class:`~starganv2.models.base.TranslationModule` (see the module docstring)."""

    # ------------------------------------------------------------------ the evaluator
    @property
    def evaluator(self) -> ModelEvaluator | None:
        """What validation and test run: an object with ``evaluate(model, datamodule)`` such as
        ``starganv2.Evaluator(metrics=["shapes_quality"])``; ``None``: none set."""
        return self.__dict__.get("_evaluator")

    @evaluator.setter
    def evaluator(self, evaluator: ModelEvaluator | None) -> None:
        if evaluator is not None and not callable(getattr(evaluator, "evaluate", None)):
            raise TypeError(
                f"evaluator is a {type(evaluator).__name__}: expected None or an object with "
                "evaluate(model, datamodule) -> dict[str, float], e.g. starganv2.Evaluator()"
            )
        self.__dict__["_evaluator"] = evaluator  # a plain attribute: no submodule, no state

    @property
    def trained_domains(self) -> list[str] | None:
        """The domain names the model was trained with, in label order; ``None``: unknown.
        When set, :class:`~starganv2.evaluation.evaluator.Evaluator` refuses data whose domain
        folders put one of them at another label (its figures would be another domain's, under
        its name). Loading a checkpoint (``load_model``, a resumed fit) sets it from the names
        training saved with the data module's state
        (:func:`~starganv2.models.domain_names.saved_domain_names`); converted checkpoints hold
        none."""
        return self.__dict__.get("_trained_domains")

    @trained_domains.setter
    def trained_domains(self, names: list[str] | None) -> None:
        if names is not None:
            names = list(names)
            if len(names) != self.num_domains or not all(isinstance(n, str) for n in names):
                raise ValueError(
                    f"trained_domains={names}: expected None or {self.num_domains} domain "
                    "names (num_domains), in label order"
                )
        self.__dict__["_trained_domains"] = names  # a plain attribute, as the evaluator

    # ------------------------------------------------------------------ Lightning steps
    def forward(
        self, x: torch.Tensor, y_trg: torch.Tensor | int, **style: torch.Tensor
    ) -> torch.Tensor:
        """``translate(x, y_trg, **style)``: ``x (N, 3, S, S)`` float in [-1, 1] into domains
        ``y_trg`` (``(N,)`` long or one int) -> ``(N, 3, S, S)`` in [-1, 1], with the inference
        (EMA) nets. Style models take at most one of ``z (N, latent_dim)``, ``x_ref (N, 3, S,
        S)``, ``s (N, style_dim)`` (none: fresh latent codes); deterministic models take none."""
        return self.translate(x, y_trg, **style)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Nothing per batch: the figures need the whole split, and
        :meth:`on_validation_epoch_end` computes them (see the module docstring)."""
        return None

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Nothing per batch: :meth:`on_test_epoch_end` computes the figures."""
        return None

    def on_validation_epoch_end(self) -> None:
        self.evaluate_split("val")

    def on_test_epoch_end(self) -> None:
        self.evaluate_split("test")

    # ------------------------------------------------------------------ the run
    def evaluate_split(self, stage: str) -> dict[str, float]:
        """Run :attr:`evaluator` on the trainer's data module and log its figures as
        ``<stage>/...`` (:func:`logged_name`); returns them under their evaluator keys (``{}``
        when nothing was measured: a sanity check, ``fast_dev_run``, a fit without evaluator)."""
        trainer = self.trainer
        if trainer.sanity_checking or trainer.fast_dev_run:
            return {}
        what = "Trainer.test" if stage == "test" else "validation"
        if self.evaluator is None:
            if trainer.state.fn == "fit":
                if not self.__dict__.get("_told_no_evaluator"):
                    self.__dict__["_told_no_evaluator"] = True
                    log.info("validation: no evaluator set (module.evaluator), nothing measured")
                return {}
            raise RuntimeError(
                f"{what} runs the evaluator's metrics, but {type(self).__name__}.evaluator is "
                "not set: set module.evaluator = starganv2.Evaluator() (the paper's FID/LPIPS; "
                "Evaluator(metrics=['shapes_quality']) on the built-in shapes data, offline)"
            )
        datamodule = trainer.datamodule
        if datamodule is None:
            raise ValueError(
                f"{what} without a data module: the evaluator reads the validation and training "
                "images of one; pass datamodule=... (e.g. Trainer.validate(module, datamodule=dm))"
            )
        # Lightning evaluates under inference mode; the metrics keep state across calls and
        # some train a helper net once (the shapes classifier), which inference tensors forbid.
        with torch.inference_mode(False), torch.no_grad():
            results = self.evaluator.evaluate(self, datamodule)
        results = trainer.strategy.broadcast(dict(results), src=0)  # rank-0-only figures too
        logged = {logged_name(k, stage): float(v) for k, v in results.items()}
        if trainer.state.fn == "fit":
            # the loggers' x-axis is the iteration, as for the training logs of this iteration
            # (Lightning would use its count of finished batches, one behind)
            logged["step"] = float(self.iteration)
        # identical on every rank: the mean over ranks (sync_dist) is the value itself
        self.log_dict(logged, on_step=False, on_epoch=True, sync_dist=True)
        return results
