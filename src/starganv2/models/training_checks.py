"""Guards every model of this library applies: while training, loss terms stay finite and trainer
settings that count optimizer steps are refused; at inference (``translate``), images are float
``(N, 3, img_size, img_size)`` in [-1, 1] and domain labels are ints or integer tensors in range;
in constructors, loss weights are >= 0 and the Adam settings valid; when fitting starts, the data
module's images and domains are those the model was built for.

These models count *iterations* themselves (``module.iteration``, saved in checkpoints): one
iteration runs several optimizer steps (six for StarGAN v2, one to two for StarGAN v1), so
Lightning's ``global_step`` and every trainer setting expressed in it mean something else than a
reader expects.

They optimize manually: each update back-propagates one loss and steps the optimizers of some of
the nets, so the other nets' parameters get no gradient from it. DDP accepts that only with
``find_unused_parameters=True`` (:func:`check_strategy`); Lightning's gradient accumulation has
no single step to accumulate for (:func:`check_manual_optimization`); gradient clipping is done
by the module itself (``gradient_clip_val``, :func:`check_gradient_clipping`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

__all__ = [
    "NonFiniteLossError",
    "NonFiniteTracker",
    "check_trainer_counts",
    "check_checkpoint_steps",
    "check_strategy",
    "check_strategy_name",
    "strategy_problem",
    "check_manual_optimization",
    "check_gradient_clipping",
    "FIND_UNUSED_STRATEGY",
    "CLIP_ALGORITHMS",
    "check_images",
    "check_codes",
    "check_loss_weights",
    "check_learning_rates",
    "check_adam",
    "check_data_fits",
    "check_data_references",
    "check_training_batch",
    "domain_labels",
    "check_domain",
    "domain_list",
    "RANGE_TOLERANCE",
]

RANGE_TOLERANCE = 0.1
"""How far outside [-1, 1] an input image may reach (resampling overshoots a little) before
:func:`check_images` refuses it as being in another range (0-255, or unnormalised)."""


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the iteration and the term."""


class NonFiniteTracker:
    """Remembers, on the device, the first iteration at which each loss term was not finite.

    :meth:`track` costs no host synchronisation; :meth:`check` reads the flags back and raises.

    Args:
        term_names: every ``"<update>/<term>"`` that :meth:`track` may be given.
    """

    def __init__(self, term_names: Sequence[str]) -> None:
        self.term_names = list(term_names)
        self._index = {name: i for i, name in enumerate(self.term_names)}
        self._first: torch.Tensor | None = None  # (num_terms,) first bad iteration or -1

    def track(self, stats: Mapping[str, Mapping[str, torch.Tensor]], iteration: int) -> None:
        """Record ``stats`` (``{update: {term: scalar}}``) of ``iteration``: all the terms, or
        some of them (an iteration that skips an update, as StarGAN v1's G update)."""
        names = [f"{update}/{term}" for update, terms in stats.items() for term in terms]
        values = torch.stack([v.float() for terms in stats.values() for v in terms.values()])
        if self._first is None or self._first.device != values.device:
            self._first = torch.full(
                (len(self.term_names),), -1, dtype=torch.long, device=values.device
            )
        bad = ~torch.isfinite(values)
        if names == self.term_names:
            self._first = torch.where((self._first < 0) & bad, iteration, self._first)
            return
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise ValueError(f"loss terms {unknown} are not tracked: expected {self.term_names}")
        at = torch.tensor([self._index[n] for n in names], device=values.device)
        first = self._first[at]
        self._first[at] = torch.where((first < 0) & bad, iteration, first)

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad iteration and its terms."""
        if self._first is None:
            return
        flags = self._first.tolist()  # host sync
        bad = [(it, name) for it, name in zip(flags, self.term_names) if it >= 0]
        if bad:
            it, _ = min(bad)
            names = ", ".join(name for i, name in bad if i == it)
            raise NonFiniteLossError(
                f"non-finite loss at iteration {it} in term(s) {names}; training stopped and no "
                "checkpoint was written after it. Lower the learning rates or the regulariser "
                "weight, or check the data; resume from the last good checkpoint."
            )


_STEP_COUNTED = {
    "max_steps": (-1, None),
    "min_steps": (None, -1, 0),
}


def check_trainer_counts(trainer: Any, iterations_key: str) -> None:
    """Refuse trainer settings that count optimizer steps, pointing to ``iterations_key``.

    ``trainer.max_steps``/``min_steps`` are in Lightning's ``global_step`` units (optimizer
    steps, several per iteration here). The ``max_steps`` that ``fast_dev_run=N`` sets is
    accepted: the module runs N iterations then (see
    :meth:`~starganv2.models.base.TranslationModule.on_fit_start`). An integer
    ``val_check_interval`` counts training batches, one per iteration here, so it is accepted:
    it is the validation interval in iterations.
    """
    fast_dev_run = getattr(trainer, "fast_dev_run", False)
    for name, neutral in _STEP_COUNTED.items():
        value = getattr(trainer, name, None)
        if name == "max_steps" and fast_dev_run and value == int(fast_dev_run):
            continue  # set by fast_dev_run=N, which the module turns into N iterations
        if value not in neutral:
            raise ValueError(
                f"trainer.{name}={value} counts optimizer steps, and one iteration of this model "
                f"takes several; set the training length in iterations with {iterations_key}=... "
                f"and leave trainer.{name} unset"
            )
    check_checkpoint_steps(trainer)
    every = getattr(trainer, "log_every_n_steps", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(  # Lightning takes 0 and writes no metrics at all, -1 logs every step
            f"trainer.log_every_n_steps={every!r} is invalid: expected an int >= 1 (iterations "
            "between logged losses)"
        )


def check_checkpoint_steps(trainer: Any) -> None:
    """Refuse a ``ModelCheckpoint(every_n_train_steps=N)`` among the trainer's callbacks: it
    counts optimizer steps, several per iteration, so it would save every ``N / 6`` iterations
    of StarGAN v2 under names that count optimizer steps (the final one under the iteration).
    ``IterationCheckpoint`` counts iterations."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    for callback in getattr(trainer, "callbacks", None) or []:
        steps = getattr(callback, "_every_n_train_steps", 0)
        if isinstance(callback, ModelCheckpoint) and steps:
            raise ValueError(
                f"ModelCheckpoint(every_n_train_steps={steps}) counts optimizer steps, and one "
                "iteration of this model takes several; checkpoint every N iterations with "
                "starganv2.callbacks.checkpoint.IterationCheckpoint(dirpath, every_n_iters=N)"
            )


FIND_UNUSED_STRATEGY = "ddp_find_unused_parameters_true"
"""The Lightning strategy that trains these models on several processes (``trainer=ddp`` and
``trainer=ddp_cpu`` use it): DDP that lets an update leave parameters without gradients."""


def strategy_problem(strategy: Any) -> str | None:
    """Why a Lightning ``strategy`` cannot train these models, or ``None`` when it can: one
    process, or DDP with ``find_unused_parameters=True`` (without ``static_graph``)."""
    from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

    if isinstance(strategy, SingleDeviceStrategy):
        return None
    if isinstance(strategy, DDPStrategy):
        # the arguments DDPStrategy hands to DistributedDataParallel; it shows them nowhere else
        ddp_kwargs = getattr(strategy, "_ddp_kwargs", None) or {}
        if not ddp_kwargs.get("find_unused_parameters"):
            return (
                "DDP without find_unused_parameters=True stops at the second backward pass of an "
                "iteration (each update leaves the other nets' parameters without gradients)"
            )
        if ddp_kwargs.get("static_graph"):
            return (
                "DDP with static_graph=True fails on these updates (each backward pass gives "
                "gradients to another set of nets)"
            )
        return None
    return _unsupported(type(strategy).__name__)


def _unsupported(class_name: str) -> str:
    """Why a strategy other than DDP or one device cannot train these models."""
    return (
        f"{class_name} is not supported (several nets with an optimizer each, several backward "
        "passes per iteration and a gradient penalty's double backward: only DDP is tested with "
        "these models)"
    )


def check_strategy_name(name: object) -> None:
    """``ValueError`` in :func:`check_strategy`'s line for a strategy named by a string that is
    registered as neither plain DDP nor one device (``fsdp``, ``deepspeed_stage_2``, ...), before a
    ``Trainer`` is built: building one needs what these strategies need (FSDP a GPU, DeepSpeed
    its package), so Lightning's own error came first and the fix was never named. DDP names are
    checked on the built trainer (their arguments decide)."""
    from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy, StrategyRegistry

    if not isinstance(name, str) or name not in StrategyRegistry:
        return
    cls = StrategyRegistry[name]["strategy"]
    if cls is DDPStrategy or issubclass(cls, SingleDeviceStrategy):  # DeepSpeed subclasses DDP
        return
    raise ValueError(_strategy_refusal(name, _unsupported(cls.__name__)))


def _strategy_refusal(shown: str, problem: str) -> str:
    """The one line that refuses strategy ``shown`` for ``problem``, naming the one that works."""
    return (
        f"trainer.strategy={shown} cannot train this model: {problem}; use "
        f"trainer.strategy={FIND_UNUSED_STRATEGY} or trainer=ddp "
        f'(in Python: Trainer(strategy="{FIND_UNUSED_STRATEGY}"))'
    )


def check_strategy(trainer: Any, given: object = None) -> None:
    """``ValueError`` in one line when ``trainer.strategy`` cannot train these models
    (:func:`strategy_problem`), naming the strategy that can.

    Args:
        trainer: a Lightning ``Trainer``.
        given: the strategy as the user typed it (``trainer.strategy`` of a config); without it,
            the message names the strategy's class.
    """
    problem = strategy_problem(trainer.strategy)
    if problem is None:
        return
    shown = given if isinstance(given, str) else type(trainer.strategy).__name__
    raise ValueError(_strategy_refusal(shown, problem))


def check_manual_optimization(trainer: Any, batch_size: int | None = None) -> None:
    """Refuse ``trainer.accumulate_grad_batches`` other than 1 in one line: one iteration is
    several updates of different nets, so there is no single optimizer step whose gradients
    could be accumulated; larger batches are the way to train on more images per update.
    ``batch_size``: the configured ``data.batch_size``, to suggest the equivalent one."""
    n = getattr(trainer, "accumulate_grad_batches", 1)
    if n == 1:
        return
    hint = f" (data.batch_size={n * batch_size} for {n} x {batch_size})" if batch_size else ""
    raise ValueError(
        f"trainer.accumulate_grad_batches={n} cannot apply to this model: one iteration is "
        "several updates of different nets (manual optimization), with no single optimizer "
        f"step to accumulate gradients for; use a larger data.batch_size instead{hint}"
    )


CLIP_ALGORITHMS = ("norm", "value")
"""Lightning's gradient clipping algorithms: ``norm`` (each net's gradient norm at most the
value) and ``value`` (each gradient element within +-value)."""


def check_gradient_clipping(value: object, algorithm: object, key: str = "model") -> None:
    """``ValueError`` naming ``<key>.gradient_clip_val``/``<key>.gradient_clip_algorithm`` unless
    ``value`` is ``None`` or a finite number > 0 and ``algorithm`` one of
    :data:`CLIP_ALGORITHMS`."""
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"{key}.gradient_clip_val={value!r} is invalid: expected a number > 0, or null for "
            "no clipping"
        )
    if algorithm not in CLIP_ALGORITHMS:
        raise ValueError(
            f"{key}.gradient_clip_algorithm={algorithm!r} is invalid: expected one of "
            f"{list(CLIP_ALGORITHMS)}"
        )


def check_loss_weights(**weights: float) -> None:
    """``ValueError`` naming the first weight that is negative or not a finite number (a negative
    weight turns a loss term into one that training maximises)."""
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"model.{key}={value!r} is invalid: expected a number >= 0")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"model.{key}={value!r} is invalid: expected a weight >= 0")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_learning_rates(**rates: float) -> None:
    """``ValueError`` naming the first learning rate that is not a finite number > 0 (``inf``
    would turn every weight into NaN at the first step; 0 trains nothing)."""
    for key, value in rates.items():
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"model.{key}={value!r} is invalid: expected a finite learning rate > 0"
            )


def check_adam(beta1: float, beta2: float, weight_decay: float = 0.0) -> None:
    """``ValueError`` naming ``model.beta1``, ``model.beta2`` or ``model.weight_decay`` unless
    ``0 <= beta < 1`` and ``weight_decay`` is a finite number >= 0, before torch's ``Adam``
    refuses them without the key when the optimizers are built (after the run folder exists)."""
    for key, value in (("beta1", beta1), ("beta2", beta2)):
        if not _is_number(value) or not 0 <= value < 1:
            raise ValueError(
                f"model.{key}={value!r} is invalid: expected 0 <= {key} < 1 (an Adam decay rate)"
            )
    if not _is_number(weight_decay) or not math.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(
            f"model.weight_decay={weight_decay!r} is invalid: expected a finite number >= 0"
        )


def check_data_fits(img_size: int, num_domains: int, datamodule: object) -> None:
    """``ValueError`` in one line when ``datamodule`` (read after its ``setup``) yields images of
    another side than ``img_size`` or another number of domains than ``num_domains``, the
    model's: the nets would fail deep inside a conv (a smaller image), index a domain head that
    does not exist, or train heads no image ever reaches. A data module without ``img_size`` or
    ``num_domains`` attributes (or none at all: plain dataloaders) is not checked."""
    data_size = getattr(datamodule, "img_size", None)
    if _is_number(data_size) and data_size != img_size:
        raise ValueError(
            f"model.img_size={img_size} but data.img_size={data_size}: the model's nets are built "
            "for another image size than the data's; set the size once, data.img_size (the model "
            "configs follow it: img_size: ${data.img_size}), and drop a model.img_size override "
            "(in Python, build the module with the data module's img_size)"
        )
    try:
        data_domains = getattr(datamodule, "num_domains", None)
    except RuntimeError:  # a data module that does not know its domains yet
        return
    if _is_number(data_domains) and data_domains != num_domains:
        names = getattr(datamodule, "domains", None)
        shown = f" ({list(names)})" if names else ""
        raise ValueError(
            f"model.num_domains={num_domains} but data.num_domains={data_domains}{shown}: the "
            "model needs one output per domain of the data; set the count once, data.num_domains "
            "(the model configs follow it: num_domains: ${data.num_domains}), and drop a "
            "model.num_domains override (in Python, build the module with the data module's "
            "num_domains)"
        )


def check_data_references(model_name: str, datamodule: object) -> None:
    """``ValueError`` in one line when ``datamodule`` leaves the reference images out of its
    training items (``load_references=False``, meant for StarGAN v1) but the model named
    ``model_name`` trains on them: otherwise the first iteration fails with a bare
    ``KeyError: 'x_ref'`` deep in the training step. A data module without ``load_references``
    is not checked."""
    if getattr(datamodule, "load_references", True) is False:
        raise ValueError(
            f"data.load_references=false, but {model_name} trains on reference images "
            "(x_ref, x_ref2); set data.load_references=true (false is for StarGAN v1, "
            "model=stargan_v1)"
        )


def check_training_batch(
    batch: object,
    image_keys: Sequence[str],
    label_keys: Sequence[str],
    img_size: int,
    num_domains: int,
) -> None:
    """``TypeError``/``ValueError`` in one line when a training batch is not the dict the model
    trains on: ``image_keys`` float ``(N, 3, img_size, img_size)`` in [-1, 1] and ``label_keys``
    integer ``(N,)`` domain indices in ``[0, num_domains)``, as
    :class:`~starganv2.data.datamodule.ImageDomainDataModule` yields them. A dataloader of one's
    own (``(x, y)`` tuples, a missing reference, another image size) otherwise fails deep in the
    nets with a bare ``KeyError``, an ``IndexError`` or a matrix-shape error. Reads the value
    ranges back from the device: meant for the first batch of a fit."""
    keys = [*image_keys, *label_keys]
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"a training batch is a {type(batch).__name__}: expected a dict with keys {keys}, "
            "as starganv2.ImageDomainDataModule's train_dataloader yields"
        )
    missing = [k for k in keys if k not in batch]
    if missing:
        raise ValueError(
            f"the training batch has no {missing} (it has {sorted(map(str, batch))}): expected "
            f"keys {keys}, as starganv2.ImageDomainDataModule's train_dataloader yields"
        )
    n = None
    for key in image_keys:
        x = check_images(batch[key], img_size, key=f"batch[{key!r}]")
        if n is not None and x.size(0) != n:
            raise ValueError(
                f"batch[{key!r}] has {x.size(0)} images but batch[{image_keys[0]!r}] has {n}: "
                "expected one per source image"
            )
        n = x.size(0)
    for key in label_keys:
        y = batch[key]
        domain_labels(y, n or 0, num_domains, getattr(y, "device", "cpu"), key=f"batch[{key!r}]")


def check_images(
    x: object,
    img_size: int,
    key: str = "x",
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``x`` if it is a float tensor ``(N, 3, img_size, img_size)`` with values in [-1, 1] (up to
    :data:`RANGE_TOLERANCE`), else a ``TypeError``/``ValueError`` naming ``key``. With ``dtype``
    (the model's), ``x`` must have it: torch's own error for float64 images names no argument.
    With ``device`` (the model's), ``x`` must be there (:func:`check_device`).

    Catches the usual slips: 8-bit images (uint8, or floats in 0-255), a missing batch dimension,
    channels last, another image size. Reads the value range back from the device (one sync).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{key} is a {type(x).__name__}: expected a float tensor (N, 3, {img_size}, {img_size})"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{key} has dtype {x.dtype}: expected a float tensor in [-1, 1]; convert 8-bit "
            "images with starganv2.utils.images.from_uint8"
        )
    _check_dtype(x, dtype, key)
    check_device(x, device, key)
    if x.dim() != 4 or x.size(1) != 3 or tuple(x.shape[2:]) != (img_size, img_size):
        raise ValueError(
            f"{key} has shape {tuple(x.shape)}: expected (N, 3, {img_size}, {img_size}), the "
            f"model's img_size={img_size}; resize the images first"
        )
    if x.numel():
        low, high = torch.aminmax(x.detach())
        low, high = float(low), float(high)  # host sync
        if not (low >= -1 - RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE):
            raise ValueError(
                f"{key} has values in [{low:.4g}, {high:.4g}]: expected images in [-1, 1]; "
                "convert 8-bit images with starganv2.utils.images.from_uint8"
            )
    return x


def check_device(t: torch.Tensor, device: torch.device | None, key: str) -> None:
    """``ValueError`` naming ``key`` unless ``t`` is on ``device`` (the model's; ``None``: not
    checked): torch's own error for CUDA images and a CPU model comes from deep inside a conv and
    names no argument. A device without an index (``cuda``) matches any index of its type."""
    if device is None:
        return
    device = torch.device(device)
    here = t.device
    if here.type != device.type or (
        here.index is not None and device.index is not None and here.index != device.index
    ):
        raise ValueError(
            f"{key} is on {here} but the model is on {device}: move it with "
            f"{key}.to(model.device) (or the model with model.to({key}.device))"
        )


def _check_dtype(x: torch.Tensor, dtype: torch.dtype | None, key: str) -> None:
    """``TypeError`` naming ``key`` unless ``x`` has the model's ``dtype``; with ``None`` (the
    model takes any float: under autocast) float64, which autocast leaves as it is and the
    lower-precision weights then refuse deep inside a conv."""
    if dtype is None and x.dtype == torch.float64 and torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{key} has dtype torch.float64, which autocast does not cast: expected float32 "
            f"(or float16, bfloat16); convert it with {key}.float()"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{key} has dtype {x.dtype}: expected {dtype}, the model's; convert it with "
            f"{key}.to({dtype})"
        )


def check_codes(
    t: object,
    n: int | None,
    dim: int,
    key: str,
    dim_name: str,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``t`` if it is a float tensor ``(n, dim)`` (one latent or style code per image; any number
    of rows with ``n=None``) of ``dtype`` on ``device`` (``None``: any), else a
    ``TypeError``/``ValueError`` naming ``key`` and the expected shape."""
    rows = "N" if n is None else n
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        shown = f"dtype {t.dtype}" if isinstance(t, torch.Tensor) else f"a {type(t).__name__}"
        raise TypeError(f"{key} is {shown}: expected a float tensor ({rows}, {dim})")
    _check_dtype(t, dtype, key)
    check_device(t, device, key)
    if t.dim() != 2 or t.size(1) != dim or (n is not None and t.size(0) != n):
        per = "one code per row" if n is None else "one code per row of x"
        raise ValueError(
            f"{key} has shape {tuple(t.shape)}: expected ({rows}, {dim}), {per} ({dim_name}={dim})"
        )
    return t


def _is_int(y: object) -> bool:
    """Whether ``y`` is one integer (a Python int or a NumPy integer scalar; not a bool)."""
    return isinstance(y, numbers.Integral) and not isinstance(y, bool)


def _check_range(values: Sequence[int], num_domains: int | None, key: str) -> None:
    """``ValueError`` naming ``key`` unless every domain index lies in ``[0, num_domains)``
    (``num_domains=None``: the caller does not know the count; only ``>= 0``)."""
    high = math.inf if num_domains is None else num_domains
    if values and (min(values) < 0 or max(values) >= high):
        bounds = ">= 0" if num_domains is None else f"in [0, {num_domains})"
        raise ValueError(f"{key} values must be {bounds}, got {sorted(set(values))}")


def check_domain(y: object, num_domains: int | None, key: str) -> int:
    """``y`` as an int if it is one domain index (an int or a NumPy integer, not a bool) in
    ``[0, num_domains)`` (only ``>= 0`` when ``num_domains`` is ``None``), else a
    ``TypeError``/``ValueError`` naming ``key``. A domain name says how to get its index."""
    if not _is_int(y):
        hint = ""
        if isinstance(y, str):
            hint = (
                "; domains are given by index, the position of the name in the model's domain "
                f"names (its sorted domain folders), e.g. names.index({y!r})"
            )
        raise TypeError(f"{key}={y!r} is a {type(y).__name__}: expected an int domain index{hint}")
    if y < 0 or (num_domains is not None and y >= num_domains):
        bounds = ">= 0" if num_domains is None else f"in [0, {num_domains})"
        raise ValueError(f"{key}={int(y)} is out of range: expected a domain index {bounds}")
    return int(y)


def domain_list(domains: object, num_domains: int | None, key: str = "domains") -> list[int]:
    """``domains`` (one int, a sequence of ints or a 1-D integer tensor) as a list of domain
    indices in ``[0, num_domains)`` (only ``>= 0`` when ``num_domains`` is ``None``), else a
    ``TypeError``/``ValueError`` naming ``key`` (or ``key[i]``, the entry at fault)."""
    if _is_int(domains):
        return [check_domain(domains, num_domains, key)]
    if isinstance(domains, torch.Tensor):
        if domains.dim() > 1 or domains.is_floating_point() or domains.dtype == torch.bool:
            raise TypeError(
                f"{key} is a {domains.dtype} tensor of shape {tuple(domains.shape)}: expected "
                "domain indices, an int, a sequence of ints or a 1-D integer tensor"
            )
        domains = domains.reshape(-1).tolist()
    if isinstance(domains, (str, bytes)) or not isinstance(domains, Iterable):
        raise TypeError(
            f"{key}={domains!r} is a {type(domains).__name__}: expected domain indices, an int, "
            "a sequence of ints or a 1-D integer tensor"
        )
    return [check_domain(d, num_domains, f"{key}[{i}]") for i, d in enumerate(domains)]


def domain_labels(
    y: torch.Tensor | int, n: int, num_domains: int, device: torch.device, key: str = "y_trg"
) -> torch.Tensor:
    """``y`` (an int for every row, or an integer tensor ``(n,)``) as a long tensor on ``device``,
    checked to lie in ``[0, num_domains)``; ``TypeError``/``ValueError`` naming ``key`` otherwise
    (a Python list, float labels, one-hot rows, a length other than ``n``). NumPy integer
    scalars count as ints; an int is checked without reading anything back from the device."""
    if not _is_int(y) and not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{key}={y!r} is a {type(y).__name__}: expected an int (one domain for every row) "
            f"or an integer tensor of shape ({n},)"
        )
    if _is_int(y):
        _check_range([int(y)], num_domains, key)
        return torch.full((n,), int(y), dtype=torch.long, device=device)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{key} has dtype {y.dtype}: expected an integer tensor of domain indices")
    if tuple(y.shape) != (n,):
        raise ValueError(
            f"{key} has shape {tuple(y.shape)}: expected ({n},), one domain index per image"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_domains):
        _check_range(y.tolist(), num_domains, key)
    return y.to(device=device, dtype=torch.long)
