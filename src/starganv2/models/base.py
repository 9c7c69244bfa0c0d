"""``TranslationModule``: what the LightningModules of every translation model share.

A model's module builds its nets and optimizers and runs one iteration in ``training_step``;
this base holds the rest, so that a new model is its training logic only:

- **the iteration counter.** One iteration runs several optimizer steps, so Lightning's
  ``global_step`` is not the paper's count. The module counts ``iteration`` itself (saved in
  checkpoints as ``checkpoint["starganv2"] = {"iteration": ..., "model": MODEL_NAME}``, which
  :func:`~starganv2.models.registry.load_model` reads), stops at ``hparams.total_iters`` and
  restores the counter on resume. Trainer settings counted in optimizer steps are refused.
- **the NaN stop.** Loss terms are tracked on the device and checked every
  ``hparams.finite_check_every`` iterations and always before a checkpoint is written, so no
  checkpoint is saved after a non-finite loss.
- **manual optimization.** ``_update(loss, names)`` back-propagates once and steps the named
  nets' optimizers, with one GradScaler update (:func:`~starganv2.utils.amp.one_scaler_update`),
  clipping each stepped net's gradients first when ``hparams.gradient_clip_val`` is set. A
  strategy that cannot train several nets this way (DDP without ``find_unused_parameters``) is
  refused when fitting starts.
- **logging** on Lightning's logging steps and the last iteration only (other iterations read
  nothing back from the device).
- **inference and export.** Inference uses the averaged (EMA) copy of a net where the model keeps
  one (:meth:`inference_net`); :meth:`translation_inputs` checks ``translate``'s inputs;
  ``num_domains``, ``img_size``, the export graphs' ``(x, y)``
  inputs and parameter counts are answered here for every model.
- **checkpoint migration.** :meth:`migrate_checkpoint` brings an older checkpoint up to date
  before its state dict is loaded.
- **the configured optimizer settings on resume.** Lightning restores each optimizer's
  ``param_groups`` from the checkpoint, learning rate and betas included; the module's
  :meth:`optimizer_settings` (from its hyperparameters, as the run was configured) replace
  those values in the checkpoint before they are restored. The Adam moments stay restored.
- **the data.** When fitting starts, a data module whose ``img_size`` or ``num_domains`` is
  not the model's is refused (:func:`~starganv2.models.training_checks.check_data_fits`), and
  so is one without reference images when the model trains on them (``NEEDS_REFERENCES``,
  :func:`~starganv2.models.training_checks.check_data_references`).
- **frozen nets.** Lightning warns about every submodule in eval mode when training starts. The
  nets named in ``FROZEN_NETS`` (EMA copies, the FAN) are so on purpose, so the base hides that
  warning while they are the only ones; any other module in eval mode is still reported.

A subclass sets ``MODEL_NAME``, ``OPTIMIZER_ORDER`` (the names of ``self.nets`` in the order of
``configure_optimizers``), ``TERMS`` (the loss terms of each update) and, where it has them,
``EMA_NETS``, ``FROZEN_NETS`` and ``NEEDS_REFERENCES``; calls ``self.save_hyperparameters()`` and :meth:`set_nets`;
and ends ``training_step`` with :meth:`end_iteration`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.fabric.utilities.warnings import PossibleUserWarning
from torch import nn

from starganv2.models.batch_layout import batch_layout, warn_batch_change
from starganv2.models.domain_names import saved_domain_names
from starganv2.models.ema import make_ema
from starganv2.models.lightning_steps import EvaluationSteps
from starganv2.models.prediction import PredictionMixin
from starganv2.models.registry import (
    CheckpointError,
    check_checkpoint_fits,
    checkpoint_model_name,
    read_checkpoint,
)
from starganv2.models.training_checks import (
    NonFiniteTracker,
    check_data_fits,
    check_data_references,
    check_images,
    check_strategy,
    check_trainer_counts,
    check_training_batch,
    domain_labels,
)
from starganv2.utils.amp import one_scaler_update

__all__ = ["TranslationModule", "Stats"]

log = logging.getLogger(__name__)

Stats = dict[str, dict[str, torch.Tensor]]
"""``{update name: {term: detached scalar}}``, what a model's ``train_iteration`` returns."""

_EVAL_MODE_WARNING = r"Found \d+ module\(s\) in eval mode at the start of training"


RNG_KEY = "starganv2_rng"
"""Checkpoint entry holding torch's random state when the checkpoint was written (``{"cpu":
ByteTensor, "cuda": [ByteTensor per device], "device": ByteTensor}``, ``"device"`` the state of
the GPU the writing process trained on, absent off CUDA and in older checkpoints), restored when
a fit resumes from it."""

IMPLEMENTATION_KEYS = ("fused", "foreach")
"""Optimizer param-group keys that choose how a step runs, not what it computes."""


class TranslationModule(EvaluationSteps, PredictionMixin, L.LightningModule):
    """The shared base of this library's LightningModules (see the module docstring)."""

    MODEL_NAME: ClassVar[str]
    """The model's name in checkpoints (``checkpoint["starganv2"]["model"]``) and configs."""
    OPTIMIZER_ORDER: ClassVar[tuple[str, ...]]
    """Names of ``self.nets`` in the order of ``configure_optimizers``."""
    TERMS: ClassVar[Mapping[str, tuple[str, ...]]]
    """Loss terms of each update, logged as ``train/<update>/<term>``."""
    EMA_NETS: ClassVar[tuple[str, ...]] = ()
    """Nets with an averaged copy in ``self.nets_ema``; inference uses that copy."""
    FROZEN_NETS: ClassVar[tuple[str, ...]] = ()
    """Submodules (attribute names) kept in eval mode on purpose."""
    NEEDS_REFERENCES: ClassVar[bool] = False
    """Whether training batches must hold reference images (``x_ref``, ``x_ref2``)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.iteration = 0
        self._nonfinite = NonFiniteTracker(
            [f"{update}/{term}" for update, terms in self.TERMS.items() for term in terms]
        )
        self._eval_mode_filter: tuple[Any, ...] | None = None
        self._batch_checked = False

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Lightning's ``load_from_checkpoint``; a file that is no checkpoint of this library (an
        original StarGAN v2 file, a text or empty file) is a one-line
        :class:`~starganv2.models.registry.CheckpointError` that says what the file is and what to
        do, as :func:`~starganv2.models.registry.load_model` says it, not Lightning's
        ``KeyError: 'pytorch-lightning_version'`` from deep inside."""
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        except Exception:
            if isinstance(checkpoint_path, (str, os.PathLike)) and os.path.isfile(checkpoint_path):
                try:
                    read_checkpoint(checkpoint_path, key="checkpoint_path")
                except CheckpointError as err:  # a foreign file: this says what it is
                    raise err from None
            raise

    def set_nets(
        self, nets: Mapping[str, nn.Module], init: Callable[[nn.Module], None] | None = None
    ) -> None:
        """Install the online nets as ``self.nets``, apply ``init`` to them, then copy the
        ``EMA_NETS`` into ``self.nets_ema`` (frozen, eval mode): initialise first, then copy."""
        self.nets = nn.ModuleDict(dict(nets))
        if init is not None:
            self.nets.apply(init)
        if self.EMA_NETS:
            self.nets_ema = nn.ModuleDict({n: make_ema(self.nets[n]) for n in self.EMA_NETS})

    def train(self, mode: bool = True) -> TranslationModule:
        """``nn.Module.train``, with the ``FROZEN_NETS`` (EMA copies, the FAN) left in eval mode:
        ``model.train()`` in a user's loop put them in train mode, where the FAN's batch norms
        would update their statistics from the training images and change the masks."""
        super().train(mode)
        for name in self.FROZEN_NETS:
            net = getattr(self, name, None)
            if isinstance(net, nn.Module):
                net.eval()
        return self

    # ------------------------------------------------------------------ Translator protocol
    @property
    def num_domains(self) -> int:
        """Number of domains."""
        return int(self.hparams.num_domains)

    @property
    def img_size(self) -> int:
        """Square image side."""
        return int(self.hparams.img_size)

    def inference_net(self, name: str) -> nn.Module:
        """The net that inference uses: the EMA copy of ``name`` if there is one, else the net."""
        return self.nets_ema[name] if name in self.EMA_NETS else self.nets[name]

    @property
    def input_dtype(self) -> torch.dtype | None:
        """The dtype ``translate`` wants its float inputs in: the model's (float64 images would
        fail deep inside a conv), or ``None`` (any float) under autocast, which casts them."""
        return None if torch.is_autocast_enabled(self.device.type) else self.dtype

    def translation_inputs(self, x: torch.Tensor, y_trg: torch.Tensor | int) -> torch.Tensor:
        """Check ``translate``'s inputs: ``x`` a float ``(N, 3, img_size, img_size)`` in [-1, 1],
        ``y_trg`` an int or an integer ``(N,)`` tensor in ``[0, num_domains)``. Returns ``y_trg``
        as a long ``(N,)`` tensor on ``x``'s device; the errors name the argument and show the
        value (8-bit images, a list of labels and a wrong size would otherwise translate
        silently into garbage)."""
        check_images(x, self.img_size, "x", self.input_dtype, self.device)
        return domain_labels(y_trg, x.size(0), self.num_domains, x.device)

    def check_mode(self, mode: str) -> None:
        """``ValueError`` unless ``mode`` is one of ``self.guidance_modes``."""
        if mode not in self.guidance_modes:
            raise ValueError(f"mode={mode!r}: expected one of {list(self.guidance_modes)}")

    def graph_input_names(self, mode: str) -> list[str]:
        """``["x", "y"]``; models whose graphs take more inputs add theirs."""
        return ["x", "y"]

    def graph_inputs(
        self, mode: str, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Random ``(x, y)`` on the CPU (``x (n, 3, S, S)`` in [-1, 1], ``y (n,)``), then the
        model's :meth:`extra_graph_inputs`, for :meth:`inference_graph`."""
        size = self.img_size
        x = torch.rand(n, 3, size, size, generator=generator) * 2 - 1
        y = torch.randint(0, self.num_domains, (n,), generator=generator)
        return x, y, *self.extra_graph_inputs(mode, n, generator)

    def extra_graph_inputs(
        self, mode: str, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Inputs of ``mode``'s graph after ``(x, y)``, drawn after them; none by default."""
        return ()

    def param_counts(self) -> dict[str, int]:
        """Parameter count of each online net."""
        return {k: sum(p.numel() for p in v.parameters()) for k, v in self.nets.items()}

    # ------------------------------------------------------------------ training
    def optimizers_by_name(self) -> dict[str, Any]:
        """The optimizers (Lightning's wrappers) by net name."""
        optimizers = self.optimizers()
        if not isinstance(optimizers, list):  # Lightning unwraps a single optimizer
            optimizers = [optimizers]
        return dict(zip(self.OPTIMIZER_ORDER, optimizers))

    def _update(self, loss: torch.Tensor, names: tuple[str, ...]) -> None:
        """Back-propagate ``loss`` once and step the optimizers of the nets ``names``.

        With ``hparams.gradient_clip_val`` each of these nets' gradients is clipped before its
        optimizer steps, by :meth:`on_before_optimizer_step`, which Lightning calls inside
        ``step()``: in true gradient units under any precision (after a ``16-mixed``
        GradScaler's unscale)."""
        optimizers = self.optimizers_by_name()
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        with one_scaler_update(getattr(self.trainer.precision_plugin, "scaler", None)):
            for name in names:
                optimizers[name].step()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the gradients of ``optimizer``'s net: their norm to ``hparams.gradient_clip_val``
        (``gradient_clip_algorithm="norm"``) or each element to within +-it (``"value"``).

        Lightning calls this inside ``step()``; under ``16-mixed`` it has unscaled the gradients
        already, except for a fused optimizer, which would unscale them inside its step: those
        are unscaled here (its step then leaves them as they are). The clipping is torch's
        ``clip_grad_norm_``/``clip_grad_value_``, which Lightning's ``clip_gradients`` runs too;
        that one refuses fused optimizers under any mixed precision, even where clipping is
        sound."""
        value = self.hparams.get("gradient_clip_val")
        if value is None:
            return
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        # the attribute by which torch's GradScaler (and Lightning) know a fused optimizer
        if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
            scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.hparams.get("gradient_clip_algorithm", "norm") == "value":
            torch.nn.utils.clip_grad_value_(params, value)
        else:
            torch.nn.utils.clip_grad_norm_(params, value)

    def end_iteration(self, stats: Stats, batch_size: int, **scalars: float) -> None:
        """Close an iteration: track its loss terms, count it, check for NaN every
        ``finite_check_every`` iterations, log on logging steps and the last iteration (the
        terms, :meth:`progress_bar_values` and ``train/<name>`` for each of ``scalars``), and
        stop at ``total_iters``."""
        hp = self.hparams
        self._nonfinite.track(stats, self.iteration)
        self.iteration += 1
        if self.iteration % hp.finite_check_every == 0:
            self.check_finite()
        last = self.iteration >= hp.total_iters
        if last or self.log_now():
            self._log_iteration(stats, batch_size, scalars)
        if last:
            self.trainer.should_stop = True

    def progress_bar_values(self, stats: Stats) -> dict[str, torch.Tensor]:
        """The few terms shown in the progress bar; none by default."""
        return {}

    def _log_iteration(self, stats: Stats, batch_size: int, scalars: Mapping[str, float]) -> None:
        # Loss terms: mean over DDP ranks (one all-reduce per term, on logging steps only).
        logged = {f"train/{u}/{t}": v for u, terms in stats.items() for t, v in terms.items()}
        kw = {"on_step": True, "on_epoch": False, "batch_size": batch_size, "sync_dist": True}
        self.log_dict(logged, **kw)
        bar = self.progress_bar_values(stats)
        if bar:
            self.log_dict(bar, prog_bar=True, logger=False, **kw)
        kw["sync_dist"] = False  # the same on every rank: no reduction needed
        values = {f"train/{k}": float(v) for k, v in scalars.items()}
        # "step": the loggers' x-axis is the iteration, as for evaluations and sample grids
        # (Lightning would use its batch count, one behind: losses of iteration 10 at step 9)
        it = float(self.iteration)
        self.log_dict({**values, "train/iteration": it, "step": it}, **kw)

    def log_now(self) -> bool:
        """True on the iterations whose logged values Lightning writes to the loggers."""
        connector = getattr(self.trainer, "_logger_connector", None)
        return True if connector is None else bool(connector.should_update_logs)

    def check_finite(self) -> None:
        """Raise :class:`~starganv2.models.training_checks.NonFiniteLossError` if any loss term
        was NaN/inf since training began."""
        self._nonfinite.check()

    def optimizer_settings(self) -> dict[str, dict[str, Any]]:
        """The param-group values each net's optimizer takes from the hyperparameters,
        ``{net name: {"lr": ..., "betas": ..., ...}}``: applied on resume in place of the
        checkpoint's (:meth:`on_load_checkpoint`). None by default."""
        return {}

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str) -> None:
        """Before fitting (and before a checkpoint is restored): refuse a data module whose
        images or domains the model was not built for (:func:`check_data_fits`), or without
        the reference images the model trains on (:func:`check_data_references`)."""
        if stage == "fit" and self._trainer is not None:
            check_data_fits(self.img_size, self.num_domains, self._trainer.datamodule)
            if self.NEEDS_REFERENCES:
                check_data_references(self.MODEL_NAME, self._trainer.datamodule)

    def on_fit_start(self) -> None:
        """Refuse, before the first iteration, what would fail or mislead later: trainer
        counts in optimizer steps, a strategy that cannot train several nets with several
        backward passes (plain DDP would stop at the second one on every rank)."""
        check_trainer_counts(self.trainer, "model.total_iters")
        check_strategy(self.trainer)
        self._batch_checked = False
        if self.trainer.fast_dev_run:
            # fast_dev_run=N sets max_steps=N optimizer steps, which one iteration exceeds; its
            # limit of N batches (one epoch) is what makes it N iterations.
            self.trainer.fit_loop.epoch_loop.max_steps = -1
        self._hide_frozen_nets_warning()

    def on_train_start(self) -> None:
        self._restore_warning_filters()
        self._restore_rng()

    def on_train_end(self) -> None:
        """Say so when a trainer limit (``max_epochs``, ``max_time``...) ended training before
        ``total_iters``: the run looks finished otherwise. ``fast_dev_run`` is meant to; an
        ``EarlyStopping`` stop is said with its reason (one info line)."""
        total = self.hparams.total_iters
        trainer = self.trainer
        if self.iteration >= total or trainer.interrupted or trainer.fast_dev_run:
            return
        early = _early_stopping_reason(trainer)
        if early is not None:  # meant to stop: say why, without advice on the length
            log.info(
                "training stopped early at iteration %d of model.total_iters=%d by EarlyStopping: %s",
                self.iteration,
                total,
                early,
            )
            return
        if trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs:
            reason = f"trainer.max_epochs={trainer.max_epochs} (epochs are passes over the data)"
        else:
            reason = "a trainer limit (max_time, limit_train_batches, a callback)"
        log.warning(
            "training stopped at iteration %d of model.total_iters=%d: %s ended it first; set the "
            "length with model.total_iters and leave trainer.max_epochs=-1",
            self.iteration,
            total,
            reason,
        )

    def teardown(self, stage: str) -> None:
        self._restore_warning_filters()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        """Stop before a batch once ``iteration`` has reached ``total_iters``; check the first
        batch of a fit (:meth:`training_batch_keys`, :func:`check_training_batch`), so that a
        dataloader of one's own that yields something else fails in one line naming the key."""
        if self.iteration >= self.hparams.total_iters:
            self.trainer.should_stop = True
            return -1
        if not self._batch_checked:
            self.check_first_batch(batch)
            self._batch_checked = True
        return None

    def check_first_batch(self, batch: Any) -> None:
        """Refuse the first training batch of a fit unless it holds :meth:`training_batch_keys`
        as the model trains on them (:func:`check_training_batch`)."""
        image_keys, label_keys = self.training_batch_keys()
        check_training_batch(batch, image_keys, label_keys, self.img_size, self.num_domains)

    def training_batch_keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The image keys and the domain-label keys a training batch must hold: the source
        (and the references where ``NEEDS_REFERENCES``), its domain and the target domain."""
        refs = ("x_ref", "x_ref2") if self.NEEDS_REFERENCES else ()
        return ("x_real", *refs), ("y_org", "y_trg")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite()
        checkpoint["starganv2"] = {
            "iteration": self.iteration,
            "model": self.MODEL_NAME,
            **batch_layout(self._trainer),
        }
        checkpoint[RNG_KEY] = {
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        }
        if self.device.type == "cuda" and torch.cuda.is_initialized():
            checkpoint[RNG_KEY]["device"] = torch.cuda.get_rng_state(self.device)

    FIXED_SETTINGS: tuple[str, ...] = ()
    """Hyperparameters a run cannot change on resume (they change what the weights mean while
    the tensors keep their shapes); :meth:`on_load_checkpoint` refuses a checkpoint of others."""

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_checkpoint_fits(checkpoint)
        self._check_fixed_settings(checkpoint)
        self.iteration = int(checkpoint.get("starganv2", {}).get("iteration", 0))
        if self._trainer is not None and self._trainer.is_global_zero:
            saved = checkpoint.get("starganv2", {})
            warn_batch_change(saved, batch_layout(self._trainer), self.iteration)
        self._resumed_rng = checkpoint.get(RNG_KEY)
        self.trained_domains = saved_domain_names(checkpoint, self.num_domains)
        self.migrate_checkpoint(checkpoint)
        self._configured_optimizer_settings(checkpoint)
        # Lightning builds the optimizers after this hook and loads these states into them
        # after that: configure_optimizers gives them the built ones' implementation.
        self._restored_optimizer_states = checkpoint.get("optimizer_states") or None

    def adopt_implementation(
        self, optimizers: list[torch.optim.Optimizer]
    ) -> list[torch.optim.Optimizer]:
        """``optimizers`` as built, after giving the checkpoint states this fit resumes from
        (if any) their implementation (``fused``, ``foreach``), in the order of
        ``OPTIMIZER_ORDER``. Loading a state dict replaces an optimizer's param-group values with
        the saved ones, so a resumed run would keep the implementation it was written with
        (e.g. ``model.fused_adam`` changed on resume, ignored); done before the load, the
        state's ``step`` is placed as the configured implementation needs. One info line
        names what changed. Called by ``configure_optimizers``."""
        states, self._restored_optimizer_states = (
            getattr(self, "_restored_optimizer_states", None),
            None,
        )
        values = {
            name: {k: opt.defaults[k] for k in IMPLEMENTATION_KEYS if k in opt.defaults}
            for name, opt in zip(self.OPTIMIZER_ORDER, optimizers)
        }
        changed = _set_group_values(states or (), self.OPTIMIZER_ORDER, values)
        if changed:
            log.info(
                "optimizer implementation differs from the checkpoint's; training with the "
                "configured one: %s",
                changed,
            )
        return optimizers

    def _check_checkpoint_fits(self, checkpoint: dict[str, Any]) -> None:
        """:class:`~starganv2.models.registry.CheckpointError` in one line when ``checkpoint``
        holds another model (``load_from_checkpoint`` of the other class) or, when a fit resumes
        from it (``trainer.fit(ckpt_path=...)``), nets of other sizes, as ``starganv2-train``
        says it: Lightning's own error lists every key of the state dict. Outside a fit the sizes
        are not compared: that would read deferred weights (the FAN) the checkpoint brings."""
        trainer = self._trainer
        fitting = trainer is not None and trainer.state.fn == "fit"
        theirs = checkpoint_model_name(checkpoint)
        if theirs != self.MODEL_NAME:
            where = f"ckpt_path={str(trainer.ckpt_path)!r}" if fitting else "the checkpoint"
            raise CheckpointError(
                f"{where} holds a {theirs} model, not {self.MODEL_NAME} "
                f"({type(self).__name__}): starganv2.load_model(path) builds the model a "
                "checkpoint holds; resume it with a module of that model"
            )
        if fitting:
            check_checkpoint_fits(checkpoint, self, trainer.ckpt_path)

    def resolved_settings(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hparams`` with each setting as the nets take it: a model whose ``None`` stands for a
        value it fills in, or that takes two spellings of one value, gives that value, so a
        checkpoint and a run that build the same nets do not read as different (on resume,
        :attr:`FIXED_SETTINGS`; in the size error, every setting). ``hparams`` as they are by
        default."""
        return dict(hparams)

    def _check_fixed_settings(self, checkpoint: dict[str, Any]) -> None:
        """``ValueError`` naming the key when ``checkpoint`` was written with another value of
        one of :attr:`FIXED_SETTINGS` (a checkpoint that does not record it is not compared;
        the values are compared as :meth:`resolved_settings` gives them)."""
        saved = checkpoint.get("hyper_parameters") or {}
        theirs, ours = self.resolved_settings(saved), self.resolved_settings(self.hparams)
        for key in self.FIXED_SETTINGS:
            if key in theirs and theirs[key] != ours.get(key):
                raise ValueError(
                    f"the checkpoint was trained with model.{key}={saved[key]!r} but this run has "
                    f"model.{key}={self.hparams.get(key)!r}: the weights would be trained on "
                    f"another meaning of their inputs; set {_override(key, saved[key])}, or "
                    "start a new run without the checkpoint"
                )

    def _restore_rng(self) -> None:
        """Put back torch's random state saved with the checkpoint this fit resumes from, once
        Lightning has made the epoch's loader iterator: the latent codes (and, without loader
        workers, the crops and flips) continue as in the uninterrupted run. Under DDP rank 0's
        state is saved; ``seed_everything`` gave every rank the same stream, and every rank makes
        the same draws (:meth:`_latents` of the models), so rank 0's state is every rank's.

        On a GPU each rank's own device takes the state of the device rank 0 trained on
        (``"device"``): restoring rank 0's per-device list gave rank ``r`` the state rank 0's
        process held for device ``r``, which it never drew from (the seeded start of the stream).
        Older checkpoints without it restore the list as before."""
        saved, self._resumed_rng = getattr(self, "_resumed_rng", None), None
        if not isinstance(saved, dict) or not isinstance(saved.get("cpu"), torch.Tensor):
            return
        torch.set_rng_state(saved["cpu"])
        device = saved.get("device")
        if isinstance(device, torch.Tensor) and self.device.type == "cuda":
            torch.cuda.set_rng_state(device, self.device)
            return
        cuda = saved.get("cuda") or []
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)

    def _configured_optimizer_settings(self, checkpoint: dict[str, Any]) -> None:
        """Put :meth:`optimizer_settings` into the checkpoint's optimizer states (in the order
        of ``OPTIMIZER_ORDER``), which Lightning restores after this hook: a resumed run trains
        with the configured ``lr``, betas and weight decay, not those the checkpoint was
        written with; the Adam moments (``state``) are left as they are. One info line names
        what changed."""
        states = checkpoint.get("optimizer_states") or ()
        changed = _set_group_values(states, self.OPTIMIZER_ORDER, self.optimizer_settings())
        if changed:
            log.info(
                "optimizer settings differ from the checkpoint's; training with the configured "
                "ones (Adam moments restored): %s",
                changed,
            )

    def migrate_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Bring ``checkpoint`` (written by an older version) up to date in place before its
        state dict is loaded; nothing to do by default."""

    # ------------------------------------------------------------------ frozen nets
    def _hide_frozen_nets_warning(self) -> None:
        """Ignore Lightning's "module(s) in eval mode" warning until training starts, if the only
        modules in eval mode lie in ``FROZEN_NETS`` (a user cannot act on it then)."""
        frozen = tuple(self.FROZEN_NETS)
        others = [
            name
            for name, module in self.named_modules()
            if not module.training and name.split(".")[0] not in frozen
        ]
        if others or self._eval_mode_filter is not None:
            return
        warnings.filterwarnings("ignore", message=_EVAL_MODE_WARNING, category=PossibleUserWarning)
        self._eval_mode_filter = warnings.filters[0]

    def _restore_warning_filters(self) -> None:
        entry, self._eval_mode_filter = self._eval_mode_filter, None
        if entry is not None and entry in warnings.filters:
            warnings.filters.remove(entry)


def _set_group_values(
    states: Sequence[dict[str, Any]], order: Sequence[str], values: Mapping[str, Mapping[str, Any]]
) -> str:
    """Set ``values[net][key]`` in every param group of the saved optimizer ``states`` (one per
    net, in ``order``). Returns what changed, ``"lr 0.0001 -> 0.0003 (generator, ...); ..."``,
    or ``""``."""
    changed: dict[tuple[str, str, str], list[str]] = {}
    for name, state in zip(order, states):
        for group in state.get("param_groups", ()):
            for key, value in values.get(name, {}).items():
                if group.get(key) != value:
                    nets = changed.setdefault((key, repr(group.get(key)), repr(value)), [])
                    nets += [] if name in nets else [name]
                group[key] = value
    return "; ".join(
        f"{key} {old} -> {new} ({', '.join(nets)})" for (key, old, new), nets in changed.items()
    )


def _early_stopping_reason(trainer: L.Trainer) -> str | None:
    """Why an ``EarlyStopping`` callback of ``trainer`` stopped training (its own message, e.g.
    ``Monitored metric val/fid/latent did not improve in the last 3 records. ...``), or ``None``
    when none did. Lightning logs it only with ``verbose=True``, and the run would otherwise end
    with advice on its length, as if a limit had cut it short."""
    for callback in trainer.early_stopping_callbacks:
        reason = getattr(callback, "stopping_reason_message", None)  # Lightning >= 2.5
        if reason:
            return reason
    return None


def _override(key: str, value: Any) -> str:
    """``model.<key>=<value>`` as a Hydra override that works pasted into a shell: ``null``,
    ``true``, ``[16,32]``, ``'model.downsample={generator: strided}'`` (quoted where the shell
    would split or expand it)."""

    def hydra(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k}: {hydra(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(hydra(x) for x in v) + "]"
        return str(v)

    text = f"model.{key}={hydra(value)}"
    return f"'{text}'" if any(c in text for c in " {}[]") else text
