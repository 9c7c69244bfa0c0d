"""The judge of ``shapes/target_accuracy_<mode>``: a small CNN that tells the shapes apart.

It sees only each pixel's distance to the background colour
(:func:`~starganv2.data.shape_masks.silhouette`), so it judges the *shape*, not the domain's
colour palette, which a reference-guided translation is meant to change. It is trained once on the
dataset's training images (deterministic, a few seconds on a CPU), with augmentations that mimic a
young generator's artefacts (:func:`degrade`), and cached next to the dataset as
:data:`CLASSIFIER_FILE`.

    net, info = load_or_train_classifier("data/shapes")   # trains on first use, then the file
    labels = classify(net, x_fake)                         # (N,) domain indices
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from starganv2.data.folders import eval_transform, list_domain_files, load_image
from starganv2.data.shape_masks import silhouette
from starganv2.utils.files import save_torch

__all__ = [
    "CLASSIFIER_FILE",
    "CLASSIFIER_SIZE",
    "CLASSIFIER_VERSION",
    "ShapeClassifier",
    "classify",
    "degrade",
    "load_or_train_classifier",
    "train_classifier",
]

log = logging.getLogger(__name__)

CLASSIFIER_VERSION = 2
CLASSIFIER_FILE = f"quality_classifier-v{CLASSIFIER_VERSION}.pt"
CLASSIFIER_SIZE = 32  # the classifier sees every image resized to this side (shape is clear at 32)


class ShapeClassifier(nn.Module):
    """A small CNN on :func:`silhouette`: ``(N, 3, S, S)`` in [-1, 1] -> ``(N, num_domains)``."""

    def __init__(self, num_domains: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in (width, width * 2, width * 2, width * 4):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_domains)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(silhouette(x)).mean(dim=(2, 3)))  # (N, num_domains)


def classify(classifier: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted domain indices ``(N,)`` (CPU) of images ``x (N, 3, H, W)`` (roughly [-1, 1]):
    clamped, resized to :data:`CLASSIFIER_SIZE` when needed, and classified."""
    if x.shape[-1] != CLASSIFIER_SIZE:
        size = (CLASSIFIER_SIZE, CLASSIFIER_SIZE)
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
    return classifier(x.clamp(-1, 1)).argmax(1).cpu()


def _load_split(files: dict[str, list[Path]], img_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All images ``(N, 3, S, S)`` of ``files`` and their domain indices ``(N,)``."""
    transform = eval_transform(img_size)
    xs, ys = [], []
    for y, paths in enumerate(files.values()):
        xs += [transform(load_image(p)) for p in paths]
        ys += [y] * len(paths)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    net.eval()
    pred = torch.cat([net(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    return float((pred == y).float().mean())


def degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Training augmentation of the classifier: the artefacts of generated images.

    ``x`` (N, 3, H, W) in [-1, 1]. Per image, with probability 1/2 each: a blur (3x3 box), pixel
    noise (Gaussian, std up to 0.3) and a speckle of the shape's interior (noise only where the
    image differs from its background). Without it a classifier trained on the clean synthetic
    images put every slightly noisy output of a young generator in one class, however clearly a
    person saw the target shape.
    """
    n = x.size(0)

    def pick() -> torch.Tensor:
        return (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]

    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    x = torch.where(pick(), blurred, x)
    std = 0.3 * torch.rand(n, 1, 1, 1, generator=gen)
    x = torch.where(pick(), x + std * torch.randn(x.shape, generator=gen), x)
    inside = (silhouette(x) > 0.3).float()  # (N, 1, H, W)
    speckle = 0.4 * torch.randn(x.shape, generator=gen) * inside
    x = torch.where(pick(), x + speckle, x)
    return x.clamp(-1, 1)


def train_classifier(
    root: str | os.PathLike,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
) -> tuple[ShapeClassifier, dict[str, Any]]:
    """Train a :class:`ShapeClassifier` on ``root/train`` at :data:`CLASSIFIER_SIZE` px for
    ``steps`` Adam steps (whole shuffled passes over the data, the last one cut short).

    Deterministic for a seed (own generators; the global RNG state is left untouched). Returns the
    net (eval mode, CPU) and its info: ``domains``, ``train_accuracy``, ``val_accuracy`` (on
    ``root/val`` when present).
    """
    root = Path(root)
    train_files = list_domain_files(root / "train")
    domains = list(train_files)
    x, y = _load_split(train_files, CLASSIFIER_SIZE)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # callers may be in no_grad
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = ShapeClassifier(len(domains))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        step = 0
        while step < steps:
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                if step == steps:
                    break
                step += 1
                idx = order[i : i + batch_size]
                xb = x[idx]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                xb = degrade(xb, gen)
                loss = F.cross_entropy(net(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            log.info("shape classifier step %d/%d: loss %.4f", step, steps, loss.item())
    net.eval()
    info: dict[str, Any] = {"domains": domains, "version": CLASSIFIER_VERSION, "steps": steps}
    info["train_accuracy"] = _accuracy(net, x, y)
    if (root / "val").is_dir():
        x_val, y_val = _load_split(list_domain_files(root / "val"), CLASSIFIER_SIZE)
        info["val_accuracy"] = _accuracy(net, x_val, y_val)
    return net, info


def _load_cached(
    path: Path, domains: list[str], seed: int, steps: int
) -> tuple[ShapeClassifier, dict[str, Any]] | None:
    """The classifier cached at ``path`` when it was trained for ``domains``, ``seed`` and
    ``steps``; ``None`` (with a warning) when it was not or the file cannot be read (damaged,
    truncated): it is a cache, so the caller retrains rather than stopping the evaluation."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        info = saved["info"]
        if (info["domains"], info.get("seed"), info.get("steps")) != (domains, seed, steps):
            log.warning("%s: other domains, seed or steps; retraining", path)
            return None
        net = ShapeClassifier(len(domains))
        net.load_state_dict(saved["state_dict"])
    except Exception as err:  # torch.load fails in many ways on damaged bytes
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("%s: unreadable (%s); retraining", path, reason)
        return None
    return net.eval(), info


def load_or_train_classifier(
    root: str | os.PathLike, seed: int = 0, steps: int = 300
) -> tuple[ShapeClassifier, dict[str, Any]]:
    """The cached classifier of a shapes dataset (``root/`` :data:`CLASSIFIER_FILE`), trained on
    first use (see :func:`train_classifier`). The file is written atomically, and the net
    retrained when its domains, seed or steps do not match or the file is unreadable; a folder
    that cannot be written (a read-only dataset) only costs the cache, with a warning."""
    root = Path(root)
    path = root / CLASSIFIER_FILE
    domains = list(list_domain_files(root / "train"))
    if path.is_file():
        cached = _load_cached(path, domains, seed, steps)
        if cached is not None:
            return cached
    log.info("training the shapes quality classifier (cached at %s)", path)
    net, info = train_classifier(root, steps=steps, seed=seed)
    info["seed"] = seed
    state = {"state_dict": net.state_dict(), "info": info}
    try:
        save_torch(state, path)
    except OSError as err:
        log.warning(
            "%s: cannot cache the shape classifier (%s); it is trained again on next use",
            path,
            err.strerror or err,
        )
    log.info("shape classifier: val accuracy %.4f", info.get("val_accuracy", float("nan")))
    return net, info
