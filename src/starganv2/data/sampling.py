"""Datasets of checked image files and the domain-balanced sampler of training triples.

Training item (dict, the contract with the models)::

    x_real (3, H, W) float in [-1, 1]   source image
    y_org  int                          its domain
    x_ref  (3, H, W) float in [-1, 1]   reference image of the target domain
    x_ref2 (3, H, W) float in [-1, 1]   another image (a different file) of the same domain
    y_trg  int                          target domain, drawn independently of the source

(``x_ref`` and ``x_ref2`` are left out when the data module's ``load_references`` is off.)

Validation / test item: ``{"x": (3, H, W) float in [-1, 1], "y": int}``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from torchvision import transforms

from starganv2.data.folders import load_image

__all__ = [
    "ImageDomainDataset",
    "EvalDataset",
    "SourceReferenceDataset",
    "BalancedDomainSampler",
    "UniformSampler",
    "UniformSourceSampler",
    "uniform_order",
    "resume_position",
    "place_sampler",
    "loader_generator",
    "SAMPLERS",
    "UnreadableDataError",
    "eval_dataloader",
    "require_full_batch",
]

SAMPLERS = ("balanced", "uniform")
"""How training sources are drawn: ``balanced`` (:class:`BalancedDomainSampler`, StarGAN v2's
default) or ``uniform`` (:class:`UniformSampler`: the original StarGAN's shuffle without
replacement)."""

log = logging.getLogger(__name__)


class ImageDomainDataset(Dataset):
    """One split as a flat list of ``(path, label)``; item ``i`` is ``(x (3, H, W), y int)``.

    Args:
        files: image paths.
        labels: domain index of each file (same length as ``files``).
        transform: PIL RGB image -> tensor; ``None`` returns the PIL image.
    """

    def __init__(
        self,
        files: Sequence[Path],
        labels: Sequence[int],
        transform: transforms.Compose | None = None,
    ):
        if len(files) != len(labels):
            raise ValueError(
                f"files has {len(files)} entries but labels has {len(labels)}: expected equal lengths"
            )
        self.files = [Path(f) for f in files]
        self.labels = [int(y) for y in labels]
        self.transform = transform

    @classmethod
    def from_domain_files(
        cls,
        domain_files: dict[str, list[Path]],
        domains: Sequence[str],
        transform: transforms.Compose | None = None,
    ) -> ImageDomainDataset:
        """Build from :func:`list_domain_files` output; label = index of the domain in ``domains``."""
        files, labels = [], []
        for y, d in enumerate(domains):
            files += domain_files.get(d, [])
            labels += [y] * len(domain_files.get(d, []))
        return cls(files, labels, transform)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> torch.Tensor | Image.Image:
        """Image ``index`` loaded and transformed."""
        img = load_image(self.files[index])
        return self.transform(img) if self.transform is not None else img

    def __getitem__(self, index: int) -> tuple[torch.Tensor | Image.Image, int]:
        return self.load(index), self.labels[index]


class EvalDataset(ImageDomainDataset):
    """:class:`ImageDomainDataset` whose items are dicts ``{"x": (3, H, W), "y": int}`` (val/test batches)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:  # type: ignore[override]
        return {"x": self.load(index), "y": self.labels[index]}


class UnreadableDataError(OSError):
    """Too many training images in a row could not be read (storage gone, network file system
    down...). The run stops; the checkpoint callback writes a checkpoint first."""


class SourceReferenceDataset(Dataset):
    """Training items indexed by ``(src, ref, ref2)`` index triples from :class:`BalancedDomainSampler`.

    Item: ``{"x_real", "y_org", "x_ref", "x_ref2", "y_trg"}`` (images (3, H, W), labels int), where
    ``src``, ``ref``, ``ref2`` index the wrapped ``ImageDomainDataset``.

    A file that cannot be read any more (deleted, truncated, a storage hiccup: all checked files
    were fine when training started) is replaced by the next readable image of the same domain, with
    a warning that counts the failures of this process (each DataLoader worker is one). After
    ``max_consecutive_failures`` failed reads in a row :class:`UnreadableDataError` stops the run.

    Args:
        images: the training images.
        max_consecutive_failures: failed reads in a row that stop the run (``>= 1``).
        load_references: ``False`` leaves ``x_ref`` and ``x_ref2`` out of the items (models that
            use no reference images, such as StarGAN v1: one image read per item instead of three).
    """

    def __init__(
        self,
        images: ImageDomainDataset,
        max_consecutive_failures: int = 50,
        load_references: bool = True,
    ):
        if max_consecutive_failures < 1:
            raise ValueError(
                f"max_consecutive_failures={max_consecutive_failures!r}: expected an int >= 1"
            )
        self.images = images
        self.max_consecutive_failures = max_consecutive_failures
        self.load_references = load_references
        self.failures = 0  # in this process
        self._in_a_row = 0
        by_domain: dict[int, list[int]] = {}
        for i, y in enumerate(images.labels):
            by_domain.setdefault(y, []).append(i)
        self._by_domain = by_domain
        self._pos = {i: k for members in by_domain.values() for k, i in enumerate(members)}

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int, avoid: int | None = None) -> tuple[torch.Tensor, int]:
        """Image ``index``, or the next readable image of its domain (never ``avoid``)."""
        members = self._by_domain[self.images.labels[index]]
        start = self._pos[index]
        for k in range(len(members)):
            candidate = members[(start + k) % len(members)]
            if candidate == avoid:
                continue
            try:
                x = self.images.load(candidate)
            except OSError as err:
                self.failures += 1
                self._in_a_row += 1
                if self._in_a_row >= self.max_consecutive_failures:
                    raise UnreadableDataError(
                        f"{self._in_a_row} training images in a row could not be read (the last: "
                        f"{err}); is the storage under {self.images.files[candidate].parent} "
                        "still available? Training stops here; resume with resume=auto (or "
                        "ckpt_path=...) once the files are back."
                    ) from err
                log.warning(
                    "skipping an unreadable training image (%d so far in this process): %s",
                    self.failures,
                    err,
                )
                continue
            self._in_a_row = 0
            return x, candidate
        pair = "" if avoid is None else ", the reference pair's other image aside"
        raise UnreadableDataError(
            f"no readable image left in the domain of {self.images.files[index]} "
            f"({len(members)} files{pair}; the unreadable ones are named in the warnings "
            "above): replace or remove them, or check the storage, and resume with resume=auto"
        )

    def __getitem__(self, index: tuple[int, int, int]) -> dict[str, torch.Tensor | int]:
        src, ref, ref2 = (int(i) for i in index)
        labels = self.images.labels
        assert labels[ref] == labels[ref2] and ref != ref2, f"bad reference pair {index}"
        x_real, _ = self._load(src)
        if not self.load_references:
            return {"x_real": x_real, "y_org": labels[src], "y_trg": labels[ref]}
        x_ref, ref = self._load(ref, avoid=ref2)
        x_ref2, _ = self._load(ref2, avoid=ref)
        return {
            "x_real": x_real,
            "y_org": labels[src],
            "x_ref": x_ref,
            "x_ref2": x_ref2,
            "y_trg": labels[ref],
        }


class _Resumable:
    """Mid-epoch resume, shared by the training samplers: a run continued from a checkpoint
    saved within an epoch draws on from where that epoch's draw stopped (see
    :func:`resume_position`), not from its start again."""

    num_replicas: int
    rank: int
    epoch: int
    _resume: tuple[int, int] = (-1, 0)  # (epoch, draws of this rank's share already trained)

    def resume(self, epoch: int, done: int) -> None:
        """Leave out the first ``done`` draws of this rank's share of epoch ``epoch``: those the
        run had trained on before its checkpoint. Other epochs are whole, and ``len()`` stays
        the whole epoch's (Lightning counts the batches already done as part of the epoch)."""
        if epoch < 0 or done < 0:
            raise ValueError(f"resume(epoch={epoch}, done={done}): expected both >= 0")
        self._resume = (int(epoch), int(done))

    def _share(self, draws: np.ndarray) -> np.ndarray:
        """This rank's draws ``r, r + num_replicas, ...`` of the epoch, less those already done."""
        share = draws[self.rank :: self.num_replicas]
        epoch, done = self._resume
        return share[done:] if self.epoch == epoch else share


class BalancedDomainSampler(_Resumable, Sampler[tuple[int, int, int]]):
    """Domain-balanced ``(src, ref, ref2)`` index triples, sharded across DDP ranks.

    Each epoch draws ``num_replicas * num_samples`` triples from a generator seeded by
    ``(seed, epoch)``: ``src`` and ``ref`` independently with weight ``1 / count(domain)`` (with
    replacement), ``ref2`` uniformly among the *other* images of ``ref``'s domain. Rank ``r`` yields
    draws ``r, r + num_replicas, ...``: shares are disjoint, their union is the whole epoch draw, and
    everything depends only on seed and epoch. Call :meth:`set_epoch` each epoch (Lightning does it
    for the DataLoader's sampler), and :meth:`resume` when a run continues within an epoch.

    Because the sampler shards by itself, the Trainer must run with ``use_distributed_sampler=False``,
    or Lightning wraps it in a DistributedSampler in DDP.

    Args:
        labels: domain of each image; every domain must have at least 2 images.
        num_samples: triples per rank and epoch; ``None`` = ceil(len(labels) / num_replicas).
        seed: base seed.
        num_replicas, rank: ``None`` = read from ``torch.distributed`` when initialised, else 1 and 0.
    """

    def __init__(
        self,
        labels: Sequence[int],
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if num_replicas is None:
            num_replicas = (
                dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
            )
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank={rank} with num_replicas={num_replicas}: expected 0 <= rank < num_replicas"
            )
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.ndim != 1 or len(self.labels) == 0:
            raise ValueError(
                f"labels has shape {self.labels.shape}: expected a non-empty 1-d sequence"
            )
        counts = np.bincount(self.labels)
        small = [int(d) for d in np.flatnonzero(counts < 2) if counts[d] > 0]
        if small:
            raise ValueError(
                f"domains {small} have fewer than 2 images: expected >= 2 (a reference pair needs 2)"
            )
        self.num_replicas, self.rank, self.seed, self.epoch = num_replicas, rank, int(seed), 0
        self.num_samples = (
            int(num_samples) if num_samples is not None else -(-len(self.labels) // num_replicas)
        )
        if self.num_samples < 1:
            raise ValueError(f"num_samples={num_samples}: expected >= 1")
        self.weights = 1.0 / counts[self.labels]  # (num_images,)
        self.weights /= self.weights.sum()
        self.order = np.argsort(self.labels, kind="stable")  # image indices grouped by domain
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # (num_domains,)
        self.counts = counts
        self.pos_in_domain = np.empty_like(self.order)
        self.pos_in_domain[self.order] = (
            np.arange(len(self.order)) - self.starts[self.labels[self.order]]
        )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's draw (all ranks must use the same epoch)."""
        self.epoch = int(epoch)

    def epoch_draws(self) -> np.ndarray:
        """All ranks' triples of the current epoch, (num_replicas * num_samples, 3) int64."""
        rng = np.random.default_rng([self.seed, self.epoch])
        total = self.num_replicas * self.num_samples
        src = rng.choice(len(self.labels), size=total, p=self.weights)
        ref = rng.choice(len(self.labels), size=total, p=self.weights)
        d = self.labels[ref]
        k = (rng.random(total) * (self.counts[d] - 1)).astype(np.int64)  # 0 .. count-2
        k += k >= self.pos_in_domain[ref]  # skip ref itself
        ref2 = self.order[self.starts[d] + k]
        return np.stack([src, ref, ref2], axis=1)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter([tuple(map(int, t)) for t in self._share(self.epoch_draws())])

    def __len__(self) -> int:
        return self.num_samples


def _world(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``, read from ``torch.distributed`` where not given."""
    if num_replicas is None:
        num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if rank is None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    if not 0 <= rank < num_replicas:
        raise ValueError(
            f"rank={rank} with num_replicas={num_replicas}: expected 0 <= rank < num_replicas"
        )
    return num_replicas, rank


def uniform_order(num_items: int, total: int, seed: int, epoch: int) -> np.ndarray:
    """``total`` item indices: random permutations of ``range(num_items)`` one after another
    (each item once per pass, no replacement within a pass), from a generator seeded by
    ``(seed, epoch, 1)`` (a stream of its own: the balanced draws use ``(seed, epoch)``).
    ``(total,)`` int64."""
    rng = np.random.default_rng([seed, epoch, 1])
    passes = -(-total // num_items)
    return np.concatenate([rng.permutation(num_items) for _ in range(passes)])[:total]


class UniformSampler(_Resumable, Sampler[int]):
    """Item indices shuffled uniformly without replacement (the original StarGAN's
    ``DataLoader(shuffle=True)``), sharded across DDP ranks.

    Each epoch takes ``num_replicas * num_samples`` indices from :func:`uniform_order` (one
    permutation when that is at most the number of items; the next permutation continues
    where it ends, as DistributedSampler pads); rank ``r`` yields indices ``r, r +
    num_replicas, ...``. Everything depends only on seed and epoch (:meth:`set_epoch`;
    :meth:`resume` within an epoch). The Trainer must run with ``use_distributed_sampler=False``.

    Args:
        num_items: items in the dataset.
        num_samples: indices per rank and epoch; ``None`` = ``ceil(num_items / num_replicas)``.
        seed: base seed.
        num_replicas, rank: ``None`` = read from ``torch.distributed`` when initialised.
    """

    def __init__(
        self,
        num_items: int,
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if num_items < 1:
            raise ValueError(f"num_items={num_items}: expected at least one training item")
        self.num_replicas, self.rank = _world(num_replicas, rank)
        self.num_items, self.seed, self.epoch = int(num_items), int(seed), 0
        self.num_samples = (
            int(num_samples) if num_samples is not None else -(-num_items // self.num_replicas)
        )
        if self.num_samples < 1:
            raise ValueError(f"num_samples={num_samples}: expected >= 1")

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order (all ranks must use the same epoch)."""
        self.epoch = int(epoch)

    def epoch_order(self) -> np.ndarray:
        """All ranks' indices of the current epoch, ``(num_replicas * num_samples,)``."""
        total = self.num_replicas * self.num_samples
        return uniform_order(self.num_items, total, self.seed, self.epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self._share(self.epoch_order()).tolist())

    def __len__(self) -> int:
        return self.num_samples


class UniformSourceSampler(BalancedDomainSampler):
    """:class:`BalancedDomainSampler` whose sources are shuffled uniformly without replacement
    (:func:`uniform_order`) instead of drawn domain-balanced with replacement; the references
    (and so ``y_trg``) stay domain-balanced. For StarGAN v1 on domain folders, whose original
    shuffles the images uniformly (its targets are the batch's own labels shuffled)."""

    def epoch_draws(self) -> np.ndarray:
        draws = super().epoch_draws()  # (total, 3)
        draws[:, 0] = uniform_order(len(self.labels), len(draws), self.seed, self.epoch)
        return draws


def resume_position(trainer: Any, batches_per_epoch: int) -> tuple[int, int]:
    """``(epoch, batches of it already trained)`` where the training of ``trainer`` continues.

    ``(trainer.current_epoch, 0)`` unless the fit restarts from a checkpoint saved within an
    epoch: then the batches its training loop had finished, counted as Lightning counts them
    on a restart (a checkpoint written in ``on_train_batch_end`` includes the batch of that
    hook), so the sampler's epoch ends where Lightning ends it. Read from the loop state that
    Lightning restores from every checkpoint before it asks for the training loader, so
    checkpoints written before the samplers could resume continue where they stopped too. An
    epoch whose every batch was trained continues as the next epoch's start.
    """
    epoch = int(trainer.current_epoch)
    fit_loop = trainer.fit_loop
    if not fit_loop.restarting:  # a fresh fit, or a later epoch's reload of the loader
        return epoch, 0
    batches = fit_loop.epoch_loop.batch_progress.current
    done = batches.completed
    if batches.ready == batches.started == batches.processed == batches.completed + 1:
        done += 1  # saved in on_train_batch_end: that batch is trained, not yet counted completed
    if done >= batches_per_epoch:
        return epoch + 1, 0
    return epoch, done


def place_sampler(
    sampler: BalancedDomainSampler | UniformSampler, trainer: Any, batch_size: int, drop_last: bool
) -> None:
    """Set ``sampler`` to the epoch where ``trainer``'s fit continues and, on a resume within
    an epoch, leave out the draws of the batches already trained (:func:`resume_position`), so
    the run goes on with the batches the uninterrupted run would have drawn."""
    per_epoch = len(sampler) // batch_size if drop_last else -(-len(sampler) // batch_size)
    epoch, done = resume_position(trainer, per_epoch)
    sampler.set_epoch(epoch)
    sampler.resume(epoch, done * batch_size)
    if done:
        log.info(
            "resuming within epoch %d of the training draws: its first %d of %d batches were "
            "trained before the checkpoint, the run goes on with batch %d",
            epoch,
            done,
            per_epoch,
            done,
        )


def loader_generator(seed: int) -> torch.Generator:
    """The training DataLoader's own generator, seeded with the data ``seed``: the loader draws
    its worker seed from it each time an epoch's iterator is made, instead of from torch's global
    random stream. That stream (the latent codes; the augmentations too when images load in the
    main process) then advances with the training steps only, the same in a resumed run as in
    the uninterrupted one, wherever an epoch starts."""
    return torch.Generator().manual_seed(int(seed))


def eval_dataloader(dataset: Dataset, batch_size: int, loader_kwargs: dict) -> DataLoader:
    """The loader of an evaluation split: in order, nothing dropped; under DDP each rank takes
    its share (``DistributedSampler`` without shuffling), which pads the split to a multiple of
    the world size by repeating its first images (14 images on 4 ranks: 16, two seen twice).
    The evaluator builds its own data, so the library's metrics are not affected."""
    sampler = None
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        sampler = DistributedSampler(dataset, shuffle=False, drop_last=False)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        drop_last=False,
        **loader_kwargs,
    )


def require_full_batch(
    samples_per_rank: int, batch_size: int, drop_last: bool, world: int, root: Path | str
) -> None:
    """Raise if an epoch holds no full batch while the last partial one is dropped.

    Lightning would then run an epoch of zero batches, over and over, and end the fit at
    iteration 0 with status 0: a run that trained nothing would look finished. Raised before
    the first iteration, with the keys that fix it.
    """
    if not drop_last or samples_per_rank >= batch_size:
        return
    per = f"{samples_per_rank} training samples per epoch"
    if world > 1:
        per += f" per process ({world} processes)"
    raise ValueError(
        f"{root}: {per}, fewer than data.batch_size={batch_size}, and data.drop_last=true drops "
        "the only, partial batch, so training would run 0 iterations; set data.batch_size<="
        f"{samples_per_rank}, data.drop_last=false, or data.samples_per_epoch>="
        f"{batch_size * world} (draws repeat images), or add images"
    )
