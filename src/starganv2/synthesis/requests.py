"""Translation requests as a dataset, for ``Trainer.predict`` (see
:mod:`starganv2.models.prediction` for the batches it makes and what ``predict_step`` returns).

A request asks for one output: a source image, a target domain, a style index ``k`` and the
output's name (``key``, a path relative to the writer's folder). Its style seed is derived from
``(base seed, source key, target, k)`` by :func:`style_seed`, so an output is the same whatever
else is requested with it, however the data is batched and split over ranks, and on a rerun.

::

    requests = requests_for({"a.jpg": "photos/a.jpg"}, targets=[1, 2], num_styles=3, seed=0)
    data = TranslationRequests(requests, SquareLoader(model.img_size))
    loader = prediction_loader(data, batch_size=8, skip=writer.is_written)

- :class:`TranslationRequests` loads each request's images with a pluggable ``load_image``
  (default :class:`SquareLoader`: decode, resize to the model's square; a letterboxing loader can
  return extra keys, e.g. how the picture was fitted, which are passed through to the writer).
- :func:`collate_requests` stacks tensors and keeps every other value (names, annotations) as a
  list, one entry per item.
- :class:`RequestSampler` gives each DDP rank its own share of the requests (rank ``r`` of ``W``
  gets requests ``r, r + W, ...``; no request twice, unlike Lightning's padded
  ``DistributedSampler``), leaving out those already done (``skip``), before anything is read or
  translated. It works whether or not the trainer has ``use_distributed_sampler``: the project's
  trainer config turns that off for the training sampler.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torch.utils.data._utils.collate import default_collate

from starganv2.data.folders import eval_transform, load_image
from starganv2.models.training_checks import domain_list

__all__ = [
    "TranslationRequest",
    "TranslationRequests",
    "SquareLoader",
    "RequestSampler",
    "style_seed",
    "reference_index",
    "requests_for",
    "collate_requests",
    "prediction_loader",
    "DEFAULT_KEY",
]

DEFAULT_KEY = "{y_trg}/{stem}_{style}.png"
"""Output name of :func:`requests_for`: fields ``y_trg``, ``style``, ``source_key`` and
``stem`` (the source key without its suffix, folders kept)."""

ImageLoader = Callable[[Any], "torch.Tensor | Mapping[str, Any]"]
"""``load_image(source)`` -> ``(3, S, S)`` float in [-1, 1], or a mapping with that as ``"x"``
and other keys to pass through with the item."""


def style_seed(base_seed: int, source_key: str, y_trg: int, style: int) -> int:
    """The style seed of one request: a 63-bit hash of ``(base_seed, source_key, y_trg, style)``
    (the same on every machine and Python run; fits a long tensor). A key from a file name that
    is not UTF-8 (``os.fsdecode`` keeps its bytes as surrogates) hashes those bytes."""
    text = f"{int(base_seed)}\0{source_key}\0{int(y_trg)}\0{int(style)}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@dataclass(frozen=True)
class TranslationRequest:
    """One output to make.

    Attributes:
        source: what ``load_image`` reads for the source image (a path).
        y_trg: target domain in ``[0, num_domains)``.
        seed: the style seed (:func:`style_seed`); unused by reference-guided and label models.
        key: the output's name, a relative path under the writer's folder; unique per request.
        style: the style index ``k`` (``0 .. K-1``), for naming and reports.
        ref: what ``load_image`` reads for the reference image (reference-guided), or ``None``
            (latent-guided). Either every request of a dataset has one or none has.
        psi: truncation toward ``y_trg``'s mean style in [0, 1], or ``None`` (none).
        extra: passed through to the writer as they are (ids, annotations, file names).
    """

    source: Any
    y_trg: int
    seed: int
    key: str
    style: int = 0
    ref: Any = None
    psi: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _stem(source_key: str) -> str:
    path = PurePosixPath(source_key)
    return str(path.with_suffix("")) if path.suffix else source_key


def reference_index(base_seed: int, source_key: str, y_trg: int, style: int, num_refs: int) -> int:
    """Which of ``num_refs`` references (of domain ``y_trg``) style ``style`` of a source takes.

    Styles ``0, 1, ...`` of one source and domain draw without replacement: style ``k`` takes
    entry ``style_seed(..., k) % len(pool)`` of the references its styles ``0 .. k-1`` left
    (the pool refilled once all are used), so ``K <= num_refs`` styles use ``K`` different
    references. A choice depends on ``(base_seed, source_key, y_trg, style)`` and ``num_refs``
    only, never on the other requests, the batching or the ranks; style 0 takes
    ``style_seed % num_refs``, as before this rule.
    """
    if num_refs < 1:
        raise ValueError(f"num_refs={num_refs}: expected at least one reference")
    pool: list[int] = []
    for k in range(style + 1):
        if not pool:
            pool = list(range(num_refs))
        pick = pool.pop(style_seed(base_seed, source_key, y_trg, k) % len(pool))
    return pick


def requests_for(
    sources: Mapping[str, Any],
    targets: Sequence[int] | int | Callable[[str], Sequence[int] | int],
    num_styles: int = 1,
    seed: int = 0,
    psi: float | None = None,
    refs: Mapping[int, Sequence[Any]] | None = None,
    key: str = DEFAULT_KEY,
) -> list[TranslationRequest]:
    """Every (source, target, style) request, in that order.

    Args:
        sources: source key (a stable name such as a relative path; it enters the seed and the
            output name) -> what ``load_image`` reads.
        targets: target domains of every source, as domain indices (one int, a sequence or a
            1-D integer tensor), or a function of the source key giving them (e.g. every domain
            but the source's own). A domain name is a ``TypeError`` saying how to get its index.
        num_styles: outputs per source and target, ``K >= 1``.
        seed: the base seed of :func:`style_seed`.
        psi: truncation for every request, or ``None``.
        refs: for reference-guided requests, reference images per target domain; style ``k`` of
            a source takes ``refs[y][reference_index(...)]``: the ``K`` styles of a source use
            ``K`` different references where the domain has that many.
        key: the output name, a format string (see :data:`DEFAULT_KEY`).
    """
    if isinstance(num_styles, bool) or not isinstance(num_styles, int) or num_styles < 1:
        raise ValueError(f"num_styles={num_styles!r}: expected an int >= 1")
    fixed = None if callable(targets) else domain_list(targets, None, "targets")
    out = []
    for source_key, source in sources.items():
        if fixed is None:
            domains = domain_list(targets(source_key), None, f"targets({source_key!r})")
        else:
            domains = fixed
        for y in domains:
            for k in range(num_styles):
                s = style_seed(seed, source_key, y, k)
                ref = None
                if refs is not None:
                    choices = refs.get(int(y)) or []
                    if not choices:
                        raise ValueError(
                            f"refs has no reference image of target domain {y} (domains with "
                            f"references: {sorted(d for d, r in refs.items() if r)})"
                        )
                    ref = choices[reference_index(seed, source_key, int(y), k, len(choices))]
                name = key.format(
                    y_trg=int(y), style=k, source_key=source_key, stem=_stem(source_key)
                )
                out.append(TranslationRequest(source, int(y), s, name, k, ref, psi))
    return out


class SquareLoader:
    """Default ``load_image``: decode (EXIF orientation applied, RGB), resize to ``img_size``
    square ignoring the aspect ratio (the evaluation transform); ``(3, S, S)`` in [-1, 1]."""

    def __init__(self, img_size: int) -> None:
        self.img_size = int(img_size)
        self.transform = eval_transform(self.img_size)

    def __call__(self, source: str | os.PathLike) -> torch.Tensor:
        return self.transform(load_image(source))

    def __repr__(self) -> str:
        return f"SquareLoader(img_size={self.img_size})"


class TranslationRequests(Dataset):
    """The requests as items for :func:`collate_requests` and ``predict_step``.

    Item ``i``: ``x (3, S, S)``, ``y_trg`` and ``seed`` (long scalars), ``key`` (str),
    ``style`` (int), ``x_ref (3, S, S)`` if the requests have references, ``psi`` (float scalar;
    1.0 for requests without one) if any request has one, the loader's extra keys and the
    request's ``extra``.

    Args:
        requests: the requests; their keys must be unique (two would write one file).
        load_image: reads a request's ``source`` (and ``ref``), see :data:`ImageLoader`.
    """

    def __init__(self, requests: Sequence[TranslationRequest], load_image: ImageLoader) -> None:
        self.requests = list(requests)
        self.load_image = load_image
        seen: dict[str, int] = {}
        for i, r in enumerate(self.requests):
            if r.key in seen:
                raise ValueError(
                    f"requests {seen[r.key]} and {i} have the same key {r.key!r}: each output "
                    "needs its own name"
                )
            seen[r.key] = i
        with_ref = sum(r.ref is not None for r in self.requests)
        if 0 < with_ref < len(self.requests):
            raise ValueError(
                f"{with_ref} of {len(self.requests)} requests have a reference image: a dataset "
                "is either reference-guided (every request has ref) or latent-guided (none has)"
            )
        self.with_psi = any(r.psi is not None for r in self.requests)

    def __len__(self) -> int:
        return len(self.requests)

    def _load(self, source: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        loaded = self.load_image(source)
        if isinstance(loaded, torch.Tensor):
            return loaded, {}
        extra = dict(loaded)
        return extra.pop("x"), extra

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.requests[i]
        x, loaded = self._load(r.source)
        item: dict[str, Any] = {
            **r.extra,
            **loaded,
            "x": x,
            "y_trg": torch.tensor(r.y_trg, dtype=torch.long),
            "seed": torch.tensor(r.seed, dtype=torch.long),
            "key": r.key,
            "style": r.style,
        }
        if r.ref is not None:
            item["x_ref"] = self._load(r.ref)[0]
        if self.with_psi:
            item["psi"] = torch.tensor(1.0 if r.psi is None else float(r.psi))
        return item


def collate_requests(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Items -> one batch: tensors stacked (``(N, ...)``), every other value kept as a list of
    ``N`` (file names, annotations, fit records stay as they are).

    Lightning then moves the batch to the device through every list, dict and dataclass in it,
    rebuilding them: pass records as plain dicts, not frozen dataclasses (which it cannot rebuild).
    """
    if not items:
        return {}
    keys = list(items[0])
    for i, item in enumerate(items):
        if set(item) != set(keys):
            raise ValueError(
                f"item {i} has keys {sorted(item)} but item 0 has {sorted(keys)}: every item "
                "of a batch needs the same keys"
            )
    batch: dict[str, Any] = {}
    for k in keys:
        values = [item[k] for item in items]
        if all(isinstance(v, torch.Tensor) for v in values):
            batch[k] = default_collate(values)
        else:
            batch[k] = values
    return batch


def _world() -> tuple[int, int]:
    """``(world size, rank)`` of the default process group, ``(1, 0)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class RequestSampler(DistributedSampler):
    """Indices of this rank's pending requests, in order.

    Rank ``r`` of ``W`` takes requests ``r, r + W, r + 2W, ...`` of the whole list (so the share
    does not depend on what is already done, and no request goes to two ranks), then leaves out
    those for which ``skip(request)`` is true (outputs already written), before any image is
    read. Ranks may get different numbers of items (prediction does not synchronise per batch).

    World size and rank are read from ``torch.distributed`` each time the sampler is iterated
    (the process group exists only once ``Trainer.predict`` runs), unless given. It subclasses
    ``DistributedSampler`` so that Lightning, with ``use_distributed_sampler=True``, does not
    shard it a second time.

    Args:
        dataset: the :class:`TranslationRequests`.
        skip: ``skip(request) -> bool``: leave the request out (e.g.
            :meth:`~starganv2.synthesis.prediction_writer.PredictionWriter.is_written`).
        num_replicas, rank: fixed world size and rank (tests); ``None`` reads them.
    """

    def __init__(
        self,
        dataset: TranslationRequests,
        skip: Callable[[TranslationRequest], bool] | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__(dataset, num_replicas=1, rank=0, shuffle=False)
        self.requests = dataset.requests
        self.skip = skip
        self.fixed = (num_replicas, rank)

    def indices(self) -> list[int]:
        """This rank's pending request indices (checks ``skip`` now)."""
        world, rank = _world()
        world = world if self.fixed[0] is None else self.fixed[0]
        rank = rank if self.fixed[1] is None else self.fixed[1]
        share = range(rank, len(self.requests), world)
        if self.skip is None:
            return list(share)
        return [i for i in share if not self.skip(self.requests[i])]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())


def prediction_loader(
    dataset: TranslationRequests,
    batch_size: int,
    skip: Callable[[TranslationRequest], bool] | None = None,
    num_workers: int = 0,
    **kwargs: Any,
) -> DataLoader:
    """A ``DataLoader`` for ``Trainer.predict``: this rank's pending requests
    (:class:`RequestSampler`), batched by :func:`collate_requests`. ``kwargs`` go to
    ``DataLoader`` (``pin_memory``, ``persistent_workers``, ...)."""
    sampler = RequestSampler(dataset, skip=skip)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_requests,
        **kwargs,
    )
