"""Data layer: folder discovery and checks, image loading, datasets, balanced sampler, data modules.

Layout (the one the public StarGAN v2 datasets ship in)::

    root/train/<domain>/**/*.{jpg,jpeg,png,webp,bmp}   (any case, any depth)
    root/val/<domain>/...                              (optional)

Domains are the sorted folder names under ``root/train``; label ``i`` is ``domains[i]``.

Training batch (dict, the contract with the LightningModule)::

    x_real (N, 3, H, W) float in [-1, 1]   source image
    y_org  (N,)         long               its domain
    x_ref  (N, 3, H, W) float in [-1, 1]   reference image of the target domain
    x_ref2 (N, 3, H, W) float in [-1, 1]   another image (a different file) of the same domain
    y_trg  (N,)         long               target domain, drawn independently of the source

Validation / test batch: ``{"x": (N, 3, H, W) float in [-1, 1], "y": (N,) long}``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from torchvision import transforms

log = logging.getLogger(__name__)

IMG_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
ON_BAD_IMAGE = ("error", "skip")
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TAIL_BYTES = 64


# ----------------------------------------------------------------------------------------------
# Discovery and checks
# ----------------------------------------------------------------------------------------------


def is_image_file(path: Path) -> bool:
    """True if ``path`` has an image extension (case-insensitive) and is not hidden."""
    return path.suffix.lower() in IMG_EXTENSIONS and not path.name.startswith(".")


def list_domains(split_dir: str | Path) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``split_dir``."""
    split_dir = Path(split_dir)
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_domain_files(split_dir: str | Path) -> dict[str, list[Path]]:
    """Map each domain folder of ``split_dir`` (sorted) to its image files (sorted, recursive).

    Files without an image extension are ignored; a domain may map to an empty list.
    Raises ``FileNotFoundError`` naming ``split_dir`` if it is not a folder.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: expected a folder with one sub-folder per domain")
    return {
        d: sorted(p for p in (split_dir / d).rglob("*") if is_image_file(p) and p.is_file())
        for d in list_domains(split_dir)
    }


def _tail_ok(path: Path, fmt: str | None) -> str | None:
    """Cheap truncation check from the file's end; returns a reason if it looks truncated."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read()
        if fmt == "JPEG":
            if not tail.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9"):
                return "JPEG does not end with the EOI marker FFD9 (truncated?)"
        elif fmt == "PNG":
            if not tail.endswith(_PNG_IEND):
                return "PNG does not end with an IEND chunk (truncated?)"
        elif fmt == "WEBP":
            f.seek(4)
            riff_size = struct.unpack("<I", f.read(4))[0]
            if size < riff_size + 8:
                return f"WebP RIFF header says {riff_size + 8} bytes but the file has {size} (truncated?)"
        elif fmt == "BMP":
            f.seek(2)
            bmp_size = struct.unpack("<I", f.read(4))[0]
            if bmp_size and size < bmp_size:
                return f"BMP header says {bmp_size} bytes but the file has {size} (truncated?)"
    return None


def check_image(path: str | Path) -> str | None:
    """Fast validity check of one file: header parse plus a format-specific end-of-file check.

    Returns ``None`` when the file looks valid, else a short reason. A file whose end-of-file check
    fails (e.g. data appended after a JPEG's EOI) is fully decoded as a fallback, so only files that
    really fail to decode are reported. Cost: one ``open`` + header read per file.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            fmt = img.format
        reason = _tail_ok(path, fmt)
    except Exception as e:  # noqa: BLE001 - any failure to parse the header means a bad file
        return f"{type(e).__name__}: {e}"
    if reason is None:
        return None
    try:
        with Image.open(path) as img:  # rare slow path: decode to be sure
            img.load()
    except Exception:  # noqa: BLE001 - keep the cheap check's clearer reason
        return reason
    return None


def scan_images(paths: Sequence[Path], workers: int = 8) -> dict[Path, str]:
    """Run :func:`check_image` on ``paths`` with a thread pool; return ``{bad path: reason}``."""
    if workers <= 1 or len(paths) < 64:
        results = [check_image(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(check_image, paths))
    return {p: r for p, r in zip(paths, results, strict=True) if r is not None}


# ----------------------------------------------------------------------------------------------
# Loading and transforms
# ----------------------------------------------------------------------------------------------


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float single-channel image to 8-bit ``L`` by scaling, never clipping.

    ``I;16*`` is divided by 257 (65535 -> 255). For ``I`` and ``F`` the range is inferred from the
    data: max <= 1 (float) is scaled by 255, max <= 255 is kept, max <= 65535 is divided by 257,
    anything else is min-max normalised.
    """
    arr = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        out = arr / 257.0
    else:
        lo, hi = float(arr.min()), float(arr.max())
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            out = arr
        elif lo >= 0.0 and hi <= 65535.0:
            out = arr / 257.0
        else:
            out = (arr - lo) / max(hi - lo, 1e-12) * 255.0
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha is composited over white, 16-bit is scaled to 8-bit."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_bit_depth_to_l(img).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """Open ``path``, apply its EXIF orientation and return 8-bit RGB.

    Raises ``OSError`` naming the file if it cannot be decoded (e.g. truncated after the scan).
    """
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except Exception as e:
        raise OSError(f"failed to load image {path}: {type(e).__name__}: {e}") from e


def train_transform(img_size: int, randcrop_prob: float = 0.5) -> transforms.Compose:
    """The paper's training transform: PIL image -> (3, img_size, img_size) float in [-1, 1].

    With probability ``randcrop_prob`` a random resized crop (scale 0.8-1.0, ratio 0.9-1.1), then a
    square resize, a random horizontal flip and normalisation with mean = std = 0.5. Picklable.
    """
    if not 0.0 <= randcrop_prob <= 1.0:
        raise ValueError(f"data.randcrop_prob={randcrop_prob}: expected a probability in [0, 1]")
    crop = transforms.RandomResizedCrop(img_size, scale=(0.8, 1.0), ratio=(0.9, 1.1))
    return transforms.Compose(
        [
            transforms.RandomApply([crop], p=randcrop_prob),
            transforms.Resize([img_size, img_size]),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        ]
    )


def eval_transform(img_size: int) -> transforms.Compose:
    """Evaluation transform: square resize and normalisation to [-1, 1]; (3, img_size, img_size)."""
    return transforms.Compose(
        [
            transforms.Resize([img_size, img_size]),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        ]
    )


# ----------------------------------------------------------------------------------------------
# Datasets and sampler
# ----------------------------------------------------------------------------------------------


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


class SourceReferenceDataset(Dataset):
    """Training items indexed by ``(src, ref, ref2)`` index triples from :class:`BalancedDomainSampler`.

    Item: ``{"x_real", "y_org", "x_ref", "x_ref2", "y_trg"}`` (images (3, H, W), labels int), where
    ``src``, ``ref``, ``ref2`` index the wrapped ``ImageDomainDataset``.
    """

    def __init__(self, images: ImageDomainDataset):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: tuple[int, int, int]) -> dict[str, torch.Tensor | int]:
        src, ref, ref2 = (int(i) for i in index)
        labels = self.images.labels
        assert labels[ref] == labels[ref2] and ref != ref2, f"bad reference pair {index}"
        return {
            "x_real": self.images.load(src),
            "y_org": labels[src],
            "x_ref": self.images.load(ref),
            "x_ref2": self.images.load(ref2),
            "y_trg": labels[ref],
        }


class BalancedDomainSampler(Sampler[tuple[int, int, int]]):
    """Domain-balanced ``(src, ref, ref2)`` index triples, sharded across DDP ranks.

    Each epoch draws ``num_replicas * num_samples`` triples from a generator seeded by
    ``(seed, epoch)``: ``src`` and ``ref`` independently with weight ``1 / count(domain)`` (with
    replacement), ``ref2`` uniformly among the *other* images of ``ref``'s domain. Rank ``r`` yields
    draws ``r, r + num_replicas, ...``: shares are disjoint, their union is the whole epoch draw, and
    everything depends only on seed and epoch. Call :meth:`set_epoch` each epoch (Lightning does it
    for the DataLoader's sampler).

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
        draws = self.epoch_draws()[self.rank :: self.num_replicas]
        return iter([tuple(map(int, t)) for t in draws])

    def __len__(self) -> int:
        return self.num_samples


# ----------------------------------------------------------------------------------------------
# Data modules
# ----------------------------------------------------------------------------------------------


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
        pin_memory: pin host memory for faster transfer to the accelerator.
        persistent_workers: keep workers between epochs (only used when ``num_workers > 0``).
        drop_last: drop the last incomplete training batch.
        seed: seed of the balanced sampler (the draw of each epoch depends on seed and epoch).
        randcrop_prob: probability of the random resized crop in the training transform.
        on_bad_image: ``"error"`` (fail listing every bad file) or ``"skip"`` (leave them out, warn once).
        scan_workers: threads for the file check in ``setup()``.
        samples_per_epoch: training samples per epoch over all ranks; ``None`` = number of training images.
    """

    def __init__(
        self,
        root: str | Path,
        img_size: int = 256,
        batch_size: int = 8,
        num_domains: int | None = None,
        val_batch_size: int | None = None,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        randcrop_prob: float = 0.5,
        on_bad_image: Literal["error", "skip"] = "error",
        scan_workers: int = 8,
        samples_per_epoch: int | None = None,
    ):
        super().__init__()
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(
                f"data.on_bad_image={on_bad_image!r}: expected one of {list(ON_BAD_IMAGE)}"
            )
        for key, value, low in (
            ("img_size", img_size, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"data.{key}={value!r}: expected an int >= {low}")
        if num_domains is not None and num_domains < 1:
            raise ValueError(f"data.num_domains={num_domains}: expected a positive int or None")
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
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.drop_last = drop_last
        self.seed = seed
        self.randcrop_prob = randcrop_prob
        self.on_bad_image = on_bad_image
        self.scan_workers = scan_workers
        self.samples_per_epoch = samples_per_epoch
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
                f"(data.on_bad_image='error'; expected every image to decode; use 'skip' "
                f"to leave them out):\n{listing}"
            )
        log.warning(
            "skipping %d unreadable or corrupt image file(s) under %s (data.on_bad_image='skip'):\n%s",
            len(bad),
            self.root,
            listing,
        )
        return {d: [p for p in ps if p not in bad] for d, ps in files.items()}

    def _scan_train(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root={self.root}: folder not found; expected root/train/<domain>/ images"
            )
        train_dir = self.root / "train"
        if not train_dir.is_dir():
            raise FileNotFoundError(
                f"{train_dir}: folder not found; expected one sub-folder per domain "
                f"under data.root={self.root}"
            )
        files = list_domain_files(train_dir)
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
                f"domains {self.domains}"
            )
        for d, ps in files.items():
            if not ps:
                raise ValueError(f"{val_dir / d}: empty domain, expected image files")
        self.val_files = self._drop_bad(files)
        for d, ps in self.val_files.items():
            if not ps:
                raise ValueError(f"{val_dir / d}: no usable image left after skipping bad files")

    def setup(self, stage: str | None = None) -> None:
        """Discover and check the files (once), then build the datasets."""
        if self.train_set is not None:
            return
        self._scan_train()
        self._scan_val()
        self.train_set = ImageDomainDataset.from_domain_files(
            self.train_files, self.domains, train_transform(self.img_size, self.randcrop_prob)
        )
        if self.val_files is not None:
            self.val_set = EvalDataset.from_domain_files(
                self.val_files, self.domains, eval_transform(self.img_size)
            )
        log.info(
            "data %s: domains %s, %d train and %d val images",
            self.root,
            self.domains,
            len(self.train_set),
            len(self.val_set) if self.val_set is not None else 0,
        )

    def _loader_kwargs(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.persistent_workers,
        }

    def train_dataloader(self) -> DataLoader:
        """Balanced, self-sharding loader of training dicts (see the module docstring)."""
        if self.train_set is None:
            raise RuntimeError("train_dataloader() called before setup()")
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        num_samples = (
            None if self.samples_per_epoch is None else -(-self.samples_per_epoch // world)
        )
        self._sampler = BalancedDomainSampler(
            self.train_set.labels, num_samples=num_samples, seed=self.seed
        )
        trainer = self.trainer
        if trainer is not None:
            self._sampler.set_epoch(trainer.current_epoch)
            if world > 1 and getattr(
                trainer._accelerator_connector, "use_distributed_sampler", False
            ):
                log.warning(
                    "Trainer(use_distributed_sampler=True) in DDP wraps the balanced sampler in a "
                    "DistributedSampler; expected use_distributed_sampler=False"
                )
        return DataLoader(
            SourceReferenceDataset(self.train_set),
            batch_size=self.batch_size,
            sampler=self._sampler,
            drop_last=self.drop_last,
            **self._loader_kwargs(),
        )

    def _eval_loader(self) -> DataLoader | list:
        if self.train_set is None:
            raise RuntimeError("val_dataloader() / test_dataloader() called before setup()")
        if self.val_set is None:
            return []
        sampler = None
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            sampler = DistributedSampler(self.val_set, shuffle=False, drop_last=False)
        return DataLoader(
            self.val_set,
            batch_size=self.val_batch_size,
            shuffle=False,
            sampler=sampler,
            drop_last=False,
            **self._loader_kwargs(),
        )

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
    :func:`starganv2.shapes.ensure_shapes_dataset`. ``num_domains`` defaults to ``len(domains)``.

    Args:
        cache_dir: parent folder of the generated dataset.
        domains: shape classes (subset of ``circle, square, triangle, diamond, star, cross``).
        n_train, n_val: images per domain and split.
        shapes_seed: seed of the generator (``seed`` is the sampler's).
        textures, background_gray, background_tint: the look of the images, see
            :func:`starganv2.shapes.make_shapes_dataset` (``None``: the library defaults, every
            texture on varied backgrounds).
        Other arguments: as :class:`ImageDomainDataModule` (``img_size`` is also the generated size).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        img_size: int = 64,
        batch_size: int = 8,
        domains: Sequence[str] = ("circle", "square", "triangle"),
        n_train: int = 500,
        n_val: int = 50,
        shapes_seed: int = 0,
        textures: Sequence[str] | None = None,
        background_gray: Sequence[float] | None = None,
        background_tint: float | None = None,
        num_domains: int | None = None,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        randcrop_prob: float = 0.5,
        on_bad_image: Literal["error", "skip"] = "error",
        scan_workers: int = 8,
        samples_per_epoch: int | None = None,
    ):
        from starganv2 import shapes

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
        shapes._check_params(img_size, n_train, n_val, domains, **look)
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
            batch_size=batch_size,
            num_domains=num_domains if num_domains is not None else len(domains),
            val_batch_size=val_batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            drop_last=drop_last,
            seed=seed,
            randcrop_prob=randcrop_prob,
            on_bad_image=on_bad_image,
            scan_workers=scan_workers,
            samples_per_epoch=samples_per_epoch,
        )

    def prepare_data(self) -> None:
        """Generate the dataset if it is not cached yet (Lightning calls this on one process)."""
        from starganv2.shapes import ensure_shapes_dataset

        self.root = ensure_shapes_dataset(**self.shapes_params)

    def setup(self, stage: str | None = None) -> None:
        """Make sure the dataset exists (idempotent), then as :meth:`ImageDomainDataModule.setup`."""
        self.prepare_data()
        super().setup(stage)
