"""The LightningDataModules: image folders and the built-in shapes data.

Training batches are dicts ``x_real, y_org, x_ref, x_ref2, y_trg`` (see
:mod:`starganv2.data.sampling`); validation and test batches ``{"x", "y"}``.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch.distributed as dist
from torch.utils.data import DataLoader

from starganv2.data.folders import (
    IMG_EXTENSIONS,
    TRANSFORMS,
    eval_transform,
    image_sizes,
    list_domain_files,
    list_domains,
    scan_images,
    train_transform,
    v1_eval_transform,
    v1_train_transform,
    walk_files,
    warn_unread_formats,
)
from starganv2.data.pinning import check_pin_memory, resolve_pin_memory
from starganv2.data.sampling import (
    SAMPLERS,
    BalancedDomainSampler,
    EvalDataset,
    ImageDomainDataset,
    SourceReferenceDataset,
    UniformSourceSampler,
    eval_dataloader,
    loader_generator,
    place_sampler,
    require_full_batch,
)
from starganv2.data.shapes import REGENERATE
from starganv2.data.workers import capped_workers, worker_init
from starganv2.models.domain_names import describe_domains, moved_domains

__all__ = ["ImageDomainDataModule", "ShapesDataModule", "ON_BAD_IMAGE"]

log = logging.getLogger(__name__)

ON_BAD_IMAGE = ("error", "skip")


def _missing_train_message(root: Path) -> str:
    """Why ``root/train`` is needed, and where the user's folders went instead: ``Train/`` (named
    on a system that ignores case: rename it), ``root`` set to a split folder (its parent holds
    ``train/``: set that), or domain folders straight under ``root`` (move them into
    ``root/train``)."""
    train_dir = root / "train"
    msg = (
        f"{train_dir}: folder not found; data.root={root} should hold train/<domain>/ images "
        "(and optionally val/<domain>/)"
    )
    others = [d for d in list_domains(root) if d != "val"]
    cased = [d for d in others if d.lower() in ("train", "val")]
    if any(d.lower() == "train" for d in cased):  # Train/ from a case-insensitive system
        msg += f"; found {cased} under data.root={root}: split folder names are lower-case, " + (
            "rename " + " and ".join(f"{d} to {d.lower()}" for d in cased)
        )
    elif (root.parent / "train").is_dir() and root.resolve() != root.parent.resolve():
        msg += f"; {root.parent} holds train/: set data.root={root.parent}"
    elif others:
        msg += (
            f"; found the folders {others} directly under data.root={root}: if they are the "
            f"domains, move them into {train_dir}"
        )
    return msg


def _normalization_hint(val: list[str], train: list[str]) -> str:
    """For names that differ only in Unicode normalization (``ö`` composed under one split,
    decomposed under the other, as copies from macOS make), which print alike: say so."""
    nfc = {unicodedata.normalize("NFC", t): t for t in train}
    same = [nfc[n] for v in val if v not in train and (n := unicodedata.normalize("NFC", v)) in nfc]
    if not same:
        return ""
    return (
        f"; {', '.join(repr(t) for t in same)} is spelled with other Unicode code points under "
        "val/ than under train/ (NFD and NFC, as copies from macOS make): rename one of them"
    )


class ImageDomainDataModule(L.LightningDataModule):
    """StarGAN v2 data from ``root/train/<domain>/...`` and ``root/val/<domain>/...``.

    Training batches are dicts ``x_real, y_org, x_ref, x_ref2, y_trg`` (see the module docstring),
    sampled domain-balanced by :class:`BalancedDomainSampler`, which shards itself across ranks:
    **the Trainer must use** ``use_distributed_sampler=False``. Validation and test batches are
    ``{"x", "y"}`` from ``root/val`` (sharded with a non-shuffling DistributedSampler under DDP, as
    Lightning would). Without ``root/val`` a warning is logged and there are no validation or test
    batches (``val_dataloader`` returns an empty list).

    ``setup()`` checks everything before the first step and raises ``FileNotFoundError`` /
    ``ValueError`` naming the path: missing ``root`` or ``root/train``, ``num_domains`` mismatch,
    empty domains, domains with fewer than 2 training images, val domains that differ from train,
    and unreadable / truncated files (all listed; or left out with one warning when
    ``on_bad_image="skip"``). Files without an image extension are ignored.

    Args:
        root: dataset folder.
        img_size: output side in pixels (images are resized to squares).
        batch_size: training batch size per process.
        num_domains: expected number of domain folders; ``None`` accepts what is found.
        val_batch_size: validation/test batch size; ``None`` = ``batch_size``.
        num_workers: DataLoader worker processes (0 = load in the main process).
        pin_memory: pin host memory for faster copies to a CUDA device; ``"auto"``: only when the
            run trains on one (see :mod:`starganv2.data.pinning`).
        persistent_workers: keep workers between epochs (only used when ``num_workers > 0``).
        drop_last: drop the last incomplete training batch.
        seed: seed of the balanced sampler (the draw of each epoch depends on seed and epoch).
        randcrop_prob: probability of the random resized crop in the training transform.
        on_bad_image: ``"error"`` (fail listing every bad file) or ``"skip"`` (leave them out, warn once).
        scan_workers: threads for the file check in ``setup()``.
        samples_per_epoch: training samples per epoch over all ranks; ``None`` = number of training images.
        max_consecutive_failures: training images that may fail to load in a row (files that became
            unreadable after the start are replaced by other images of their domain, with a
            warning) before the run stops, after a checkpoint.
        transform: ``"stargan_v2"`` (random resized crop with ``randcrop_prob``, resize, flip) or
            ``"stargan_v1"`` (flip, center crop to ``crop_size``, resize; validation: center crop
            and resize), see :mod:`starganv2.data.folders`.
        crop_size: center crop of the ``"stargan_v1"`` transform (the original: 178 for CelebA,
            256 for RaFD); ``None``: no crop.
        load_references: ``False`` leaves the two reference images out of the training items
            (``x_real, y_org, y_trg`` only), for models that use none (StarGAN v1).
        sampler: how training sources are drawn: ``"balanced"`` (domain-balanced with
            replacement, StarGAN v2's way) or ``"uniform"`` (shuffled without replacement, each
            image once per pass: the original StarGAN's way; references stay balanced), see
            :mod:`starganv2.data.sampling`.
    """

    def __init__(
        self,
        root: str | Path,
        img_size: int = 256,
        batch_size: int = 8,
        num_domains: int | None = None,
        val_batch_size: int | None = None,
        num_workers: int = 4,
        pin_memory: bool | Literal["auto"] = "auto",
        persistent_workers: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        randcrop_prob: float = 0.5,
        on_bad_image: Literal["error", "skip"] = "error",
        scan_workers: int = 8,
        samples_per_epoch: int | None = None,
        max_consecutive_failures: int = 50,
        transform: Literal["stargan_v2", "stargan_v1"] = "stargan_v2",
        crop_size: int | None = None,
        load_references: bool = True,
        sampler: Literal["balanced", "uniform"] = "balanced",
    ):
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"data.sampler={sampler!r}: expected one of {list(SAMPLERS)}")
        if transform not in TRANSFORMS:
            raise ValueError(f"data.transform={transform!r}: expected one of {list(TRANSFORMS)}")
        if crop_size is not None and transform != "stargan_v1":
            raise ValueError(
                f"data.crop_size={crop_size!r} is an option of the stargan_v1 transform, but "
                f"data.transform={transform!r}; set data.transform=stargan_v1 or crop_size=null"
            )
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(
                f"data.on_bad_image={on_bad_image!r}: expected one of {list(ON_BAD_IMAGE)}"
            )
        for key, value, low in (
            ("img_size", img_size, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("max_consecutive_failures", max_consecutive_failures, 1),
            *([] if samples_per_epoch is None else [("samples_per_epoch", samples_per_epoch, 1)]),
            *([] if val_batch_size is None else [("val_batch_size", val_batch_size, 1)]),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"data.{key}={value!r}: expected an int >= {low}")
        if num_domains is not None and num_domains < 2:
            raise ValueError(
                f"data.num_domains={num_domains} is invalid: expected at least 2 domains (a "
                "translation needs a source and a target domain) or None"
            )
        if not 0.0 <= randcrop_prob <= 1.0:
            raise ValueError(
                f"data.randcrop_prob={randcrop_prob}: expected a probability in [0, 1]"
            )
        self.root = Path(root).expanduser()
        self.img_size = img_size
        self.batch_size = batch_size
        self.expected_num_domains = num_domains
        self.val_batch_size = val_batch_size if val_batch_size is not None else batch_size
        self.num_workers = num_workers
        check_pin_memory(pin_memory)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.drop_last = drop_last
        self.seed = seed
        self.randcrop_prob = randcrop_prob
        self.on_bad_image = on_bad_image
        self.scan_workers = scan_workers
        self.samples_per_epoch = samples_per_epoch
        self.max_consecutive_failures = max_consecutive_failures
        self.transform = transform
        self.crop_size = crop_size
        self.load_references = load_references
        self.sampler = sampler
        if transform == "stargan_v1":
            v1_eval_transform(img_size, crop_size)  # checks crop_size now, not at setup()
        self.domains: list[str] = []
        self.train_files: dict[str, list[Path]] = {}
        self.val_files: dict[str, list[Path]] | None = None
        self.train_set: ImageDomainDataset | None = None
        self.val_set: EvalDataset | None = None
        self._sampler: BalancedDomainSampler | None = None

    @property
    def num_domains(self) -> int:
        """Number of domains: found ones after ``setup()``, else the constructor's ``num_domains``."""
        if self.domains:
            return len(self.domains)
        if self.expected_num_domains is None:
            raise RuntimeError("num_domains is unknown before setup() when data.num_domains=None")
        return self.expected_num_domains

    bad_image_advice = "use 'skip' to leave them out"
    """What the error for unreadable images tells the user to do (generated data say more)."""

    def _drop_bad(self, files: dict[str, list[Path]]) -> dict[str, list[Path]]:
        """Scan ``files``; raise listing bad ones, or drop them with one warning in skip mode."""
        all_files = [p for ps in files.values() for p in ps]
        bad = scan_images(all_files, self.scan_workers)
        if not bad:
            return files
        listing = "\n".join(f"  {p}: {r}" for p, r in sorted(bad.items()))
        if self.on_bad_image == "error":
            raise ValueError(
                f"{len(bad)} unreadable or corrupt image file(s) under {self.root} "
                f"(data.on_bad_image='error'; expected every image to decode; "
                f"{self.bad_image_advice}):\n{listing}"
            )
        log.warning(
            "skipping %d unreadable or corrupt image file(s) under %s (data.on_bad_image='skip'):\n%s",
            len(bad),
            self.root,
            listing,
        )
        return {d: [p for p in ps if p not in bad] for d, ps in files.items()}

    def _warn_small(self, files: dict[str, list[Path]], split_dir: Path) -> None:
        """One warning with counts per domain if images have a side below ``img_size``: the
        transforms upscale them, so the nets learn blurred images the user may not expect."""
        sizes = image_sizes([p for ps in files.values() for p in ps], self.scan_workers)
        side = self.img_size
        small = {
            d: [p for p in ps if min(sizes.get(p, (side, side))) < side] for d, ps in files.items()
        }
        total = sum(len(ps) for ps in small.values())
        if not total:
            return
        smallest = min((p for ps in small.values() for p in ps), key=lambda p: min(sizes[p]))
        counts = ", ".join(f"{d}: {len(small[d])} of {len(files[d])}" for d in files if small[d])
        log.warning(
            "%d of %d images under %s are smaller than data.img_size=%d and will be upscaled "
            "(%s; the smallest, %dx%d: %s); use larger images or a smaller data.img_size",
            total,
            sum(len(ps) for ps in files.values()),
            split_dir,
            side,
            counts,
            *sizes[smallest],
            smallest,
        )

    def _scan_train(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root={self.root}: folder not found; expected root/train/<domain>/ images"
            )
        train_dir = self.root / "train"
        if not train_dir.is_dir():
            raise FileNotFoundError(_missing_train_message(self.root))
        files = list_domain_files(train_dir)
        warn_unread_formats(walk_files(train_dir), train_dir, "train on them", log)
        domains = list(files)
        if not domains:
            raise ValueError(
                f"no domain folders under {train_dir}: expected one sub-folder per domain"
            )
        if self.expected_num_domains is not None and self.expected_num_domains != len(domains):
            raise ValueError(
                f"data.num_domains={self.expected_num_domains} but found {len(domains)} domain "
                f"folders under {train_dir}: {domains}"
            )
        if len(domains) < 2:
            raise ValueError(
                f"found {len(domains)} domain folder under {train_dir}: {domains}; expected at "
                "least 2 (a translation needs a source and a target domain)"
            )
        for d, ps in files.items():
            if not ps:
                raise ValueError(
                    f"{train_dir / d}: empty domain, expected image files "
                    f"({', '.join(sorted(IMG_EXTENSIONS))})"
                )
        files = self._drop_bad(files)
        for d, ps in files.items():
            if len(ps) < 2:
                raise ValueError(
                    f"{train_dir / d}: {len(ps)} usable image(s), expected at least 2 "
                    "(a reference pair needs 2 different images of a domain)"
                )
        self.domains, self.train_files = domains, files
        self._warn_small(files, train_dir)

    def _scan_val(self) -> None:
        val_dir = self.root / "val"
        if not val_dir.is_dir():
            log.warning("%s not found: no validation or test batches", val_dir)
            self.val_files = None
            return
        files = list_domain_files(val_dir)
        if list(files) != self.domains:
            raise ValueError(
                f"domain folders under {val_dir}: {list(files)}, expected the training "
                f"domains {self.domains}{_normalization_hint(list(files), self.domains)}"
            )
        for d, ps in files.items():
            if not ps:
                raise ValueError(f"{val_dir / d}: empty domain, expected image files")
        self.val_files = self._drop_bad(files)
        self._warn_small(self.val_files, val_dir)
        for d, ps in self.val_files.items():
            if not ps:
                raise ValueError(f"{val_dir / d}: no usable image left after skipping bad files")

    def setup(self, stage: str | None = None) -> None:
        """Discover and check the files (once), then build the datasets."""
        if self.train_set is not None:
            return
        self._scan_train()
        self._scan_val()
        if self.transform == "stargan_v1":
            train_t = v1_train_transform(self.img_size, self.crop_size)
            eval_t = v1_eval_transform(self.img_size, self.crop_size)
        else:
            train_t = train_transform(self.img_size, self.randcrop_prob)
            eval_t = eval_transform(self.img_size)
        self.train_set = ImageDomainDataset.from_domain_files(
            self.train_files, self.domains, train_t
        )
        if self.val_files is not None:
            self.val_set = EvalDataset.from_domain_files(self.val_files, self.domains, eval_t)
        log.info(
            "data %s: domains %s, %d train and %d val images",
            self.root,
            self.domains,
            len(self.train_set),
            len(self.val_set) if self.val_set is not None else 0,
        )

    def state_dict(self) -> dict[str, Any]:
        """Saved in each checkpoint: the domain folder names in label order."""
        return {"domains": list(self.domains)} if self.domains else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """On resume (after :meth:`setup`): compare the checkpoint's domains with the folders.

        A domain whose label changed (a folder renamed so that the sorted order moved) would
        have the nets go on learning it under another domain's label: refused. Other changes
        of names (a folder renamed in place, a domain replaced) may be meant, as in fine-tuning
        on new domains: a warning names both lists."""
        saved = [str(d) for d in state_dict.get("domains", [])]
        if not saved or not self.domains or saved == self.domains:
            return
        moved = moved_domains(saved, self.domains)
        pairs, now = describe_domains(saved), describe_domains(self.domains)
        if moved:
            raise ValueError(
                f"{self.root}: the checkpoint was trained with the domains ({pairs}) and the "
                f"folders now give ({now}): {moved} would change label, so the nets would learn "
                "them as other domains; name the folders as when the run started, or start a "
                "new run (another run_name, no resume)"
            )
        log.warning(
            "%s: the checkpoint was trained with the domains (%s), the folders now give (%s); "
            "each label keeps its place, so a renamed folder continues its domain",
            self.root,
            pairs,
            now,
        )

    def _loader_kwargs(self) -> dict:
        return {
            "num_workers": capped_workers(self.num_workers),
            "pin_memory": resolve_pin_memory(self.pin_memory, self.trainer),
            "persistent_workers": self.persistent_workers,
            "worker_init_fn": worker_init,  # a SIGTERM to the whole job reaches the main process
        }

    def train_dataloader(self) -> DataLoader:
        """Balanced, self-sharding loader of training dicts (see the module docstring); a run
        resumed within an epoch continues that epoch's draws (:func:`~.sampling.place_sampler`);
        making an epoch's iterator draws nothing from torch's global random stream
        (:func:`~.sampling.loader_generator`)."""
        if self.train_set is None:
            raise RuntimeError("train_dataloader() called before setup()")
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        num_samples = (
            None if self.samples_per_epoch is None else -(-self.samples_per_epoch // world)
        )
        sampler_class = UniformSourceSampler if self.sampler == "uniform" else BalancedDomainSampler
        self._sampler = sampler_class(
            self.train_set.labels, num_samples=num_samples, seed=self.seed
        )
        trainer = self.trainer
        if trainer is not None:
            if world > 1 and getattr(
                trainer._accelerator_connector, "use_distributed_sampler", False
            ):
                raise ValueError(
                    "trainer.use_distributed_sampler=true under DDP: Lightning would wrap the "
                    "balanced sampler, which shards itself, so each process would see a sliver "
                    "of the data and the same draw every epoch; set "
                    "trainer.use_distributed_sampler=false (the trainer configs do)"
                )
        require_full_batch(len(self._sampler), self.batch_size, self.drop_last, world, self.root)
        if trainer is not None:
            place_sampler(self._sampler, trainer, self.batch_size, self.drop_last)
        return DataLoader(
            SourceReferenceDataset(
                self.train_set, self.max_consecutive_failures, self.load_references
            ),
            batch_size=self.batch_size,
            sampler=self._sampler,
            drop_last=self.drop_last,
            generator=loader_generator(self.seed),
            **self._loader_kwargs(),
        )

    def _eval_loader(self) -> DataLoader | list:
        if self.train_set is None:
            raise RuntimeError("val_dataloader() / test_dataloader() called before setup()")
        if self.val_set is None:
            log.warning(
                "%s: not found, so validation and test measure nothing (expected "
                "root/val/<domain>/ images)",
                Path(self.root) / "val",
            )
            return []
        return eval_dataloader(self.val_set, self.val_batch_size, self._loader_kwargs())

    def val_dataloader(self) -> DataLoader | list:
        """``{"x", "y"}`` batches of ``root/val`` in file order; ``[]`` if there is no ``val/``."""
        return self._eval_loader()

    def test_dataloader(self) -> DataLoader | list:
        """Same as :meth:`val_dataloader` (the public datasets ship train and val only)."""
        return self._eval_loader()


class ShapesDataModule(ImageDomainDataModule):
    """:class:`ImageDomainDataModule` over the built-in synthetic ``shapes`` dataset.

    The dataset is generated on first use (``prepare_data`` on rank 0, and ``setup`` for use without
    a Trainer) into ``cache_dir`` (``None``: ``$STARGANV2_CACHE`` or ``~/.cache/starganv2``), see
    :func:`starganv2.data.shapes.ensure_shapes_dataset`. ``num_domains`` defaults to ``len(domains)``.

    Args:
        cache_dir: parent folder of the generated dataset.
        img_size: image side, also the generated size.
        domains: shape classes (subset of ``circle, square, triangle, diamond, star, cross``).
        n_train, n_val: images per domain and split.
        shapes_seed: seed of the generator (``seed`` is the sampler's).
        textures, background_gray, background_tint: the look of the images, see
            :func:`starganv2.data.shapes.make_shapes_dataset` (``None``: the library defaults,
            every texture on varied backgrounds).
        num_workers: as :class:`ImageDomainDataModule` (default 2 here).
        **kwargs: any other :class:`ImageDomainDataModule` argument (``batch_size``, ``seed``...).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        img_size: int = 64,
        domains: Sequence[str] = ("circle", "square", "triangle"),
        n_train: int = 500,
        n_val: int = 50,
        shapes_seed: int = 0,
        textures: Sequence[str] | None = None,
        background_gray: Sequence[float] | None = None,
        background_tint: float | None = None,
        num_domains: int | None = None,
        num_workers: int = 2,
        **kwargs: Any,
    ):
        from starganv2.data import shapes

        if "root" in kwargs:
            raise ValueError(
                "data.root is not an argument of the shapes data (it lives in data.cache_dir); "
                "for your own images use data=folder data.root=..."
            )
        domains = tuple(domains)
        look = {
            "textures": tuple(shapes.TEXTURES if textures is None else textures),
            "background_gray": tuple(
                shapes.BACKGROUND_GRAY_RANGE if background_gray is None else background_gray
            ),
            "background_tint": shapes.BACKGROUND_TINT
            if background_tint is None
            else float(background_tint),
        }
        shapes.check_params(img_size, n_train, n_val, domains, **look)
        self.shapes_params = {
            "cache_dir": cache_dir,
            "img_size": img_size,
            "n_train": n_train,
            "n_val": n_val,
            "seed": shapes_seed,
            "domains": domains,
            **look,
        }
        super().__init__(
            root=shapes.shapes_dataset_path(**self.shapes_params),
            img_size=img_size,
            num_domains=num_domains if num_domains is not None else len(domains),
            num_workers=num_workers,
            **kwargs,
        )

    bad_image_advice = f"{REGENERATE}; or use 'skip' to leave them out"

    def prepare_data(self) -> None:
        """Generate the dataset if it is not cached yet (Lightning calls this on one process)."""
        from starganv2.data.shapes import ensure_shapes_dataset

        self.root = ensure_shapes_dataset(**self.shapes_params)

    def setup(self, stage: str | None = None) -> None:
        """Make sure the dataset exists (idempotent), then as :meth:`ImageDomainDataModule.setup`."""
        self.prepare_data()
        super().setup(stage)
