"""LightningDataModules of images with multi-hot attribute labels (StarGAN v1's CelebA setting).

Training batches are dicts ``{"x_real": (N, 3, H, W), "y_org": (N, A) float}``, labels 1.0 / 0.0
in the order of ``attributes``; validation and test batches ``{"x": (N, 3, H, W), "y": (N, A)}``.
Sources are shuffled uniformly without replacement (:class:`~.sampling.UniformSampler`), as
the original StarGAN's loader does; there are no domains to balance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader

from starganv2.data.attributes import (
    ORIGINAL_SPLIT_SEED,
    ORIGINAL_TEST_SIZE,
    SPLITS,
    AttributeDataset,
    exclusive_indices,
    exclusive_violations,
    original_split,
    read_attribute_table,
    select_attributes,
)
from starganv2.data.folders import (
    TRANSFORMS,
    eval_transform,
    scan_images,
    train_transform,
    v1_eval_transform,
    v1_train_transform,
)
from starganv2.data.pinning import check_pin_memory, resolve_pin_memory
from starganv2.data.sampling import (
    UniformSampler,
    eval_dataloader,
    loader_generator,
    place_sampler,
    require_full_batch,
)
from starganv2.data.shapes import REGENERATE
from starganv2.data.workers import capped_workers, worker_init
from starganv2.models.domain_names import describe_domains, moved_domains

__all__ = [
    "AttributeDataModule",
    "ShapesAttributeDataModule",
    "ATTRIBUTES_KEY",
    "saved_attribute_names",
]

log = logging.getLogger(__name__)

ON_BAD_IMAGE = ("error", "skip")
ATTRIBUTES_KEY = "attributes"
"""Key of the attribute names in the data module's part of a checkpoint
(``checkpoint["<DataModule class>"]["attributes"]``, :meth:`AttributeDataModule.state_dict`)."""
_MAX_LISTED = 20
"""Missing or unreadable images named one per line in the error or warning; the rest counted."""
_NOT_DATA = ("state_dict", "optimizer_states", "hyper_parameters", "callbacks", "loops")
"""Checkpoint entries that are not a data module's (the model's hyperparameters hold an
``attributes`` too: its own, which may be unset)."""


def saved_attribute_names(checkpoint: Mapping[str, Any]) -> list[str] | None:
    """The attribute names an attribute data module saved in ``checkpoint`` (a checkpoint dict)
    in label order, or ``None`` when it holds none (domain data, checkpoints written before the
    names were saved)."""
    for key, value in checkpoint.items():
        if key in _NOT_DATA or not isinstance(value, Mapping):
            continue
        names = value.get(ATTRIBUTES_KEY)
        if isinstance(names, list | tuple) and names and all(isinstance(n, str) for n in names):
            return list(names)
    return None


class AttributeDataModule(L.LightningDataModule):
    """An image folder plus an attribute table (CelebA's ``list_attr_celeba.txt`` or a CSV, see
    :mod:`starganv2.data.attributes`).

    ``setup()`` reads the table, splits its rows, and checks every listed image before the first
    step: rows naming missing or unreadable files are listed in one error (or left out with one
    warning listing them when ``on_bad_image="skip"``), as for the folder data. Rows that break
    an exclusive group are counted in a warning (CelebA has such rows; the original keeps them).
    Checkpoints save the attribute names (:meth:`state_dict`); a resume that would move one to
    another label is refused (:meth:`load_state_dict`).

    Args:
        root: image folder; the table's file names are relative to it.
        attr_file: the attribute table.
        attributes: the attributes to use, in label order; ``None``: all of the table's.
        exclusive: groups of ``attributes`` of which at most one is on (e.g. the hair colours);
            target labels keep them (see the model's ``label_mode="multi"``).
        num_domains: expected number of attributes (the label length the model is built
            with); ``None`` accepts ``len(attributes)``.
        img_size: output side in pixels.
        batch_size: training batch size per process.
        val_batch_size: validation/test batch size; ``None`` = ``batch_size``.
        num_workers, persistent_workers: DataLoader settings.
        pin_memory: pin host memory for faster copies to a CUDA device; ``"auto"``: only when the
            run trains on one (see :mod:`starganv2.data.pinning`).
        drop_last: drop the last incomplete training batch (the original keeps it).
        seed: seed of the training order (each epoch's order depends on seed and epoch).
        split: ``"original"``: the original code's split (rows shuffled with Python's
            ``random`` seeded ``split_seed``, the first ``test_size`` for validation/test);
            ``"none"``: every row trains, no validation.
        test_size: rows of the test split (the original: 1,999).
        split_seed: seed of the split's shuffle (the original: 1234).
        on_bad_image: ``"error"`` (fail listing every missing or bad file) or ``"skip"``.
        scan_workers: threads of the file check.
        samples_per_epoch: training samples per epoch over all ranks; ``None`` = the training rows.
        transform: ``"stargan_v1"`` (flip, center crop to ``crop_size``, resize) or
            ``"stargan_v2"`` (random resized crop with ``randcrop_prob``, resize, flip).
        crop_size: center crop of the ``"stargan_v1"`` transform (178 for CelebA); ``None``: none.
        randcrop_prob: crop probability of the ``"stargan_v2"`` transform.
        sampler: ``"uniform"`` only (kept as a setting so configs state it; there are no
            domains to balance).
        load_references: ``False`` only (the items hold no reference images; kept so the
            shared loader settings apply).
    """

    def __init__(
        self,
        root: str | Path,
        attr_file: str | Path,
        attributes: Sequence[str] | None = None,
        exclusive: Sequence[Sequence[str]] = (),
        num_domains: int | None = None,
        img_size: int = 128,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 4,
        pin_memory: bool | Literal["auto"] = "auto",
        persistent_workers: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        split: Literal["original", "none"] = "original",
        test_size: int = ORIGINAL_TEST_SIZE,
        split_seed: int = ORIGINAL_SPLIT_SEED,
        on_bad_image: Literal["error", "skip"] = "error",
        scan_workers: int = 8,
        samples_per_epoch: int | None = None,
        transform: Literal["stargan_v2", "stargan_v1"] = "stargan_v1",
        crop_size: int | None = None,
        randcrop_prob: float = 0.5,
        sampler: Literal["uniform"] = "uniform",
        load_references: bool = False,
    ):
        super().__init__()
        if load_references:
            raise ValueError(
                "data.load_references=true: attribute data has no reference images (StarGAN v1 "
                "uses none); expected false"
            )
        if sampler != "uniform":
            raise ValueError(
                f"data.sampler={sampler!r}: attribute data has no domains to balance; "
                "expected 'uniform'"
            )
        if split not in SPLITS:
            raise ValueError(f"data.split={split!r}: expected one of {list(SPLITS)}")
        if transform not in TRANSFORMS:
            raise ValueError(f"data.transform={transform!r}: expected one of {list(TRANSFORMS)}")
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(
                f"data.on_bad_image={on_bad_image!r}: expected one of {list(ON_BAD_IMAGE)}"
            )
        for key, value, low in (
            ("img_size", img_size, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("test_size", test_size, 0),
            *([] if samples_per_epoch is None else [("samples_per_epoch", samples_per_epoch, 1)]),
            *([] if val_batch_size is None else [("val_batch_size", val_batch_size, 1)]),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"data.{key}={value!r}: expected an int >= {low}")
        self.attributes = None if attributes is None else [str(a) for a in attributes]
        self.exclusive = [[str(a) for a in g] for g in exclusive]
        if self.attributes is not None:
            try:
                exclusive_indices(self.attributes, self.exclusive)  # checks the names now
            except ValueError:
                attr_path = Path(attr_file).expanduser()
                if attr_path.is_file():  # a name the table lacks is the first thing to fix
                    select_attributes(read_attribute_table(attr_path), self.attributes)
                raise
            if num_domains is not None and num_domains != len(self.attributes):
                raise ValueError(
                    f"data.num_domains={num_domains} but data.attributes has "
                    f"{len(self.attributes)} names: {self.attributes}; expected them to agree: "
                    f"add data.num_domains={len(self.attributes)}"
                )
        self.root = Path(root).expanduser()
        self.attr_file = Path(attr_file).expanduser()
        self.expected_num_domains = num_domains
        self.img_size = img_size
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size if val_batch_size is not None else batch_size
        self.num_workers = num_workers
        check_pin_memory(pin_memory)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.drop_last = drop_last
        self.seed = seed
        self.split = split
        self.test_size = test_size
        self.split_seed = split_seed
        self.on_bad_image = on_bad_image
        self.scan_workers = scan_workers
        self.samples_per_epoch = samples_per_epoch
        self.transform = transform
        self.crop_size = crop_size
        self.randcrop_prob = randcrop_prob
        self.train_set: AttributeDataset | None = None
        self.val_set: AttributeDataset | None = None
        self._sampler: UniformSampler | None = None

    @property
    def num_domains(self) -> int:
        """Number of attributes (the label length)."""
        if self.attributes is not None:
            return len(self.attributes)
        if self.expected_num_domains is None:
            raise RuntimeError("num_domains is unknown before setup() when data.attributes=None")
        return self.expected_num_domains

    bad_image_advice = "use 'skip' to leave them out"
    """What the error for unreadable images tells the user to do (generated data say more)."""

    def _keep_readable(self, rows: list[int], files: Sequence[str]) -> list[int]:
        """``rows`` whose image exists and decodes; the rest raise or are skipped with a warning."""
        paths = [self.root / files[r] for r in rows]
        bad = {p: "file not found" for p in paths if not p.is_file()}
        if paths and len(bad) == len(paths):
            raise FileNotFoundError(
                f"none of the {len(paths)} images listed in {self.attr_file} is under "
                f"data.root={self.root} (the first, {files[rows[0]]!r}, would be {paths[0]}): "
                "expected data.root to be the folder the table's file names are relative to"
            )
        bad.update(scan_images([p for p in paths if p not in bad], self.scan_workers))
        if not bad:
            return rows
        listing = "\n".join(f"  {p}: {why}" for p, why in sorted(bad.items())[:_MAX_LISTED])
        if len(bad) > _MAX_LISTED:  # one line each for a table of 200,000 rows is no message
            listing += f"\n  ... and {len(bad) - _MAX_LISTED} more"
        if self.on_bad_image == "error":
            raise ValueError(
                f"{len(bad)} image(s) listed in {self.attr_file} are missing or unreadable under "
                f"data.root={self.root} (data.on_bad_image='error'; expected every listed file to "
                f"decode; {self.bad_image_advice}):\n{listing}"
            )
        log.warning(
            "skipping %d missing or unreadable image(s) listed in %s (data.on_bad_image='skip'):\n%s",
            len(bad),
            self.attr_file,
            listing,
        )
        return [r for r, p in zip(rows, paths, strict=True) if p not in bad]

    def setup(self, stage: str | None = None) -> None:
        """Read, split and check the table (once), then build the datasets."""
        if self.train_set is not None:
            return
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root={self.root}: folder not found; expected the images named in "
                f"data.attr_file={self.attr_file}"
            )
        table = read_attribute_table(self.attr_file)
        values = select_attributes(table, self.attributes)
        names = list(self.attributes) if self.attributes is not None else list(table.names)
        if self.expected_num_domains is not None and self.expected_num_domains != len(names):
            raise ValueError(
                f"data.num_domains={self.expected_num_domains} but {self.attr_file} has "
                f"{len(names)} attributes: {names}; set data.attributes or data.num_domains"
            )
        groups = exclusive_indices(names, self.exclusive)
        if self.split == "original":
            if self.test_size >= len(table):
                raise ValueError(
                    f"data.test_size={self.test_size} but {self.attr_file} has {len(table)} rows: "
                    "expected fewer test rows than rows"
                )
            train_rows, val_rows = original_split(len(table), self.test_size, self.split_seed)
        else:
            train_rows, val_rows = list(range(len(table))), []
        kept = set(self._keep_readable(train_rows + val_rows, table.files))  # one listing
        had_val = bool(val_rows)
        train_rows = [r for r in train_rows if r in kept]
        val_rows = [r for r in val_rows if r in kept]
        if not train_rows:
            raise ValueError(f"no usable training image listed in {self.attr_file}")
        if had_val and not val_rows:
            raise ValueError(
                f"no usable test image listed in {self.attr_file} (data.test_size="
                f"{self.test_size}): every test row was left out as missing or unreadable (the "
                "warning above lists them); expected at least one test image that decodes"
            )
        broken = exclusive_violations(values[train_rows], groups)
        if len(broken):
            log.warning(
                "%d training images have more than one attribute of an exclusive group on "
                "(data.exclusive=%s); they are kept, as the original code does",
                len(broken),
                self.exclusive,
            )
        self.attributes = names
        if self.transform == "stargan_v1":
            train_t = v1_train_transform(self.img_size, self.crop_size)
            eval_t = v1_eval_transform(self.img_size, self.crop_size)
        else:
            train_t = train_transform(self.img_size, self.randcrop_prob)
            eval_t = eval_transform(self.img_size)

        def dataset(rows: list[int], t: Any, eval_items: bool) -> AttributeDataset:
            files = [self.root / table.files[r] for r in rows]
            return AttributeDataset(files, values[rows], t, eval_items)

        self.train_set = dataset(train_rows, train_t, False)
        self.val_set = dataset(val_rows, eval_t, True) if val_rows else None
        on = np.asarray(self.train_set.labels.mean(0))
        log.info(
            "data %s: %d train and %d val images; attributes on in training: %s",
            self.attr_file,
            len(self.train_set),
            len(val_rows),
            ", ".join(f"{a} {f:.2f}" for a, f in zip(names, on, strict=True)),
        )

    def state_dict(self) -> dict[str, Any]:
        """Saved in each checkpoint: the attribute names in label order, under ``"attributes"``
        (not ``"domains"``: :func:`~starganv2.models.domain_names.saved_domain_names` would take
        them for domain names, and tools that translate between domains would accept them)."""
        return {ATTRIBUTES_KEY: list(self.attributes)} if self.attributes else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """On resume (after :meth:`setup`): compare the checkpoint's attributes with
        ``attributes``.

        An attribute whose label changed (``data.attributes`` in another order) would have the
        nets go on learning it under another attribute's label: refused. Other changes of names
        (an attribute replaced at its label) may be meant, as in fine-tuning on new attributes:
        a warning names both lists."""
        saved = [str(a) for a in state_dict.get(ATTRIBUTES_KEY, [])]
        if not saved or not self.attributes or saved == self.attributes:
            return
        pairs, now = describe_domains(saved), describe_domains(self.attributes)
        moved = moved_domains(saved, self.attributes)
        if moved:
            raise ValueError(
                f"data.attributes: the checkpoint was trained with the attributes ({pairs}) and "
                f"data.attributes now gives ({now}): {moved} would change label, so the nets "
                "would learn them as other attributes; give data.attributes in the checkpoint's "
                f"order, 'data.attributes=[{','.join(saved)}]', or start a new run (another "
                "run_name, no resume)"
            )
        log.warning(
            "data.attributes: the checkpoint was trained with the attributes (%s), "
            "data.attributes now gives (%s); each label keeps its place, so a replaced "
            "attribute is learnt at the label of the one it replaces",
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
        """Uniformly shuffled, self-sharding loader of ``{"x_real", "y_org"}`` batches; a run
        resumed within an epoch continues that epoch's order (:func:`~.sampling.place_sampler`);
        making an epoch's iterator draws nothing from torch's global random stream
        (:func:`~.sampling.loader_generator`)."""
        if self.train_set is None:
            raise RuntimeError("train_dataloader() called before setup()")
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        num_samples = (
            None if self.samples_per_epoch is None else -(-self.samples_per_epoch // world)
        )
        self._sampler = UniformSampler(len(self.train_set), num_samples, self.seed)
        trainer = self.trainer
        if trainer is not None:
            if world > 1 and getattr(
                trainer._accelerator_connector, "use_distributed_sampler", False
            ):
                raise ValueError(
                    "trainer.use_distributed_sampler=true under DDP: the uniform sampler shards "
                    "itself; set trainer.use_distributed_sampler=false (the trainer configs do)"
                )
        require_full_batch(len(self._sampler), self.batch_size, self.drop_last, world, self.root)
        if trainer is not None:
            place_sampler(self._sampler, trainer, self.batch_size, self.drop_last)
        return DataLoader(
            self.train_set,
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
                "%s: no test split (data.split=%r), so validation and test measure nothing "
                "(expected data.split=original)",
                self.attr_file,
                self.split,
            )
            return []
        return eval_dataloader(self.val_set, self.val_batch_size, self._loader_kwargs())

    def val_dataloader(self) -> DataLoader | list:
        """``{"x", "y"}`` batches of the test split in split order; ``[]`` with ``split="none"``."""
        return self._eval_loader()

    def test_dataloader(self) -> DataLoader | list:
        """Same as :meth:`val_dataloader` (the original has one test split)."""
        return self._eval_loader()


class ShapesAttributeDataModule(AttributeDataModule):
    """:class:`AttributeDataModule` over the built-in shapes in attribute mode
    (:func:`starganv2.data.shapes.ensure_shapes_attribute_dataset`): one image folder and a
    CelebA-format table, generated on first use into ``cache_dir``.

    Attributes: one per shape (an exclusive group), ``warm`` (fill colour family: warm or
    cool), ``large`` (size class) and ``outline`` (a dark outline or none), each on for about
    half the images, independently. The test split is the first ``n_val`` rows of the
    original's shuffle.

    Args:
        cache_dir: parent folder of the generated dataset (``None``: ``$STARGANV2_CACHE`` or
            ``~/.cache/starganv2``).
        img_size: image side, also the generated size.
        shapes: the shape attributes (subset of ``circle, square, triangle, diamond, star, cross``).
        n_train, n_val: training and test images.
        shapes_seed: seed of the generator (``seed`` is the sampler's).
        attributes: the attributes to use (``None``: all); exclusive: defaults to the shapes.
        **kwargs: any other :class:`AttributeDataModule` argument (``batch_size``...).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        img_size: int = 32,
        shapes: Sequence[str] = ("circle", "square", "triangle"),
        n_train: int = 1500,
        n_val: int = 150,
        shapes_seed: int = 0,
        attributes: Sequence[str] | None = None,
        exclusive: Sequence[Sequence[str]] | None = None,
        num_workers: int = 0,
        **kwargs: Any,
    ):
        from starganv2.data import shapes as shapes_data

        for key in ("root", "attr_file", "split", "test_size"):
            if key in kwargs:
                raise ValueError(
                    f"data.{key} is fixed by the built-in shapes attribute data; for your own "
                    "images use data=attributes data.root=... data.attr_file=..."
                )
        shapes = tuple(shapes)
        self.shapes_params = {
            "cache_dir": cache_dir,
            "img_size": img_size,
            "n_images": n_train + n_val,
            "seed": shapes_seed,
            "shapes": shapes,
        }
        shapes_data.check_attribute_params(img_size, n_train + n_val, shapes)
        root = shapes_data.shapes_attribute_dataset_path(**self.shapes_params)
        super().__init__(
            root=root,
            attr_file=root / shapes_data.ATTRIBUTE_TABLE,
            attributes=attributes,
            exclusive=[list(shapes)] if exclusive is None else exclusive,
            img_size=img_size,
            split="original",
            test_size=n_val,
            num_workers=num_workers,
            **kwargs,
        )

    bad_image_advice = f"{REGENERATE}; or use 'skip' to leave them out"

    def prepare_data(self) -> None:
        """Generate the dataset if it is not cached yet (Lightning calls this on one process)."""
        from starganv2.data.shapes import ATTRIBUTE_TABLE, ensure_shapes_attribute_dataset

        self.root = ensure_shapes_attribute_dataset(**self.shapes_params)
        self.attr_file = self.root / ATTRIBUTE_TABLE

    def setup(self, stage: str | None = None) -> None:
        """Make sure the dataset exists (idempotent), then as :meth:`AttributeDataModule.setup`."""
        self.prepare_data()
        super().setup(stage)
