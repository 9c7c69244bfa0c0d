"""Per-attribute accuracy of multi-attribute translations (StarGAN v1 on CelebA-style data).

An attribute classifier is trained on the real training images (a small CNN, 1,500 steps of
batch 64: it only has to read the attributes, not to generalise far), checked on the real test
images, and then judges the translations of the test images into the original's test labels
(:func:`~starganv2.models.stargan_v1.step.original_test_labels`: per attribute, one output with
that attribute set or switched). Figures, per attribute ``a`` (``mean`` over the attributes):

- ``attr/real/<a>``: the classifier's accuracy on the real test images (how far it can be
  trusted; on the built-in shapes attribute data 1.00 for colour, size and outline, about 0.9
  for circle and square, which the small size class makes hard to tell apart at 32 px);
- ``attr/target/<a>``: in the outputs whose target changes ``a``, the share where the classifier
  reads the target value of ``a`` (the edit happened);
- ``attr/kept/<a>``: in the outputs whose target changes another attribute, the share where
  it reads ``a``'s target (= source) value (the rest was kept).

On the built-in shapes attribute data (where the ground truth is known) the geometry too:
``attr/position_error_px`` (mean distance between the centroid of each output's shape pixels
and the source's true centre, over every output), ``attr/position_error_px_real`` (the same
estimator on the real test images: the floor) and ``attr/empty_share`` (outputs with no shape
pixel at all, left out of the position error).

The StarGAN paper judges its CelebA results by such a classifier (its Table 1 reports
classification error); the figures are comparable only for the same classifier.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from starganv2.evaluation.protocol import EvalData, EvalProtocol, as_model_input, rank_world
from starganv2.evaluation.registry import MetricRunner
from starganv2.evaluation.shapes_estimators import mask_centroid, shape_mask, to_255
from starganv2.models.interface import MODE_ATTRIBUTE, GuidanceModeError
from starganv2.models.stargan_v1.step import original_test_labels
from starganv2.utils.checks import check_int

__all__ = [
    "AttributeClassifier",
    "train_attribute_classifier",
    "attribute_accuracy",
    "require_attribute_guidance",
    "metric",
]

log = logging.getLogger(__name__)


class AttributeClassifier(nn.Module):
    """A small CNN: four stride-2 3x3 convs (widths ``width`` to ``8 * width``) with ReLU, a
    global average, a linear layer to ``num_attributes`` logits.

    Shapes: ``(N, 3, S, S)`` in [-1, 1] -> ``(N, num_attributes)`` logits.
    """

    def __init__(self, num_attributes: int, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim_in = 3
        for k in range(4):
            layers += [nn.Conv2d(dim_in, width * 2**k, 3, 2, 1), nn.ReLU()]
            dim_in = width * 2**k
        self.main = nn.Sequential(*layers)
        self.fc = nn.Linear(dim_in, num_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.main(x).mean(dim=(2, 3)))  # (N, C) -> (N, num_attributes)


def _stack(dataset: Dataset, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(x, y)`` of a dataset whose items are ``{"x", "y"}`` or ``{"x_real", "y_org"}``."""
    xs, ys = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        xs.append(batch.get("x", batch.get("x_real")))
        ys.append(batch.get("y", batch.get("y_org")))
    return torch.cat(xs), torch.cat(ys).float()


def train_attribute_classifier(
    x: torch.Tensor,
    c: torch.Tensor,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    width: int = 16,
) -> AttributeClassifier:
    """Train an :class:`AttributeClassifier` on images ``x (N, 3, S, S)`` and their attributes
    ``c (N, A)`` (1.0 / 0.0) with binary cross-entropy and Adam, on ``x``'s device; returns it in
    eval mode. Batches are drawn with a generator seeded by ``seed`` (same inputs, same net)."""
    check_int(steps, "steps", 1)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AttributeClassifier(c.size(1), width).to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
        loss = F.binary_cross_entropy_with_logits(net(x[idx]), c[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def require_attribute_guidance(model: nn.Module) -> None:
    """Raise unless ``model`` is driven by attribute vectors: ``ValueError`` without
    ``translate_labels(x, c_trg)``, :class:`GuidanceModeError` when its ``guidance_modes`` (if
    it has them) lack ``"attribute"``. A StarGAN v1 model of domain labels has
    ``translate_labels`` too, but its label vectors are one-hot domains: the figures would
    read its outputs as attributes it never learnt."""
    if not hasattr(model, "translate_labels"):
        raise ValueError(
            f"{type(model).__name__} has no translate_labels(x, c_trg): the attribute accuracy "
            "needs a model driven by attribute vectors (StarGAN v1, model.label_mode=multi)"
        )
    modes = getattr(model, "guidance_modes", None)
    if modes is not None and MODE_ATTRIBUTE not in tuple(modes):
        raise GuidanceModeError(
            f"attribute_accuracy needs {MODE_ATTRIBUTE!r} guidance (a model trained on "
            f"attribute vectors: StarGAN v1 with model.label_mode=multi), but "
            f"{type(model).__name__} supports only {list(modes)}; evaluate a model of domains "
            "on its domain folders with metrics=[fid_lpips]"
        )


def groups_for_test_labels(
    model: nn.Module, names: Sequence[str], data_groups: Sequence[Sequence[int]]
) -> list[tuple[int, ...]]:
    """The exclusive groups the test labels keep: ``model``'s own (``exclusive_groups``, saved in
    its checkpoint: the groups its training targets and ``starganv2-sample``'s test grid keep),
    else the data's ``data_groups``. Data groups other than the model's are a warning naming
    both: the figures would otherwise judge other targets than the grid shows (a hair colour
    switched off instead of set)."""
    own = getattr(model, "exclusive_groups", None)
    data = [tuple(g) for g in data_groups]
    if own is None:
        return data
    own = [tuple(g) for g in own]
    if sorted(own) != sorted(data):

        def named(groups: list[tuple[int, ...]]) -> list[list[str]]:
            return [[names[i] for i in g] for g in groups]

        log.warning(
            "data.exclusive=%s but the model was trained with exclusive groups %s: the test "
            "labels keep the model's, as its sample grid does",
            named(data),
            named(own),
        )
    return own


@torch.no_grad()
def _predict(net: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([net(x[i : i + batch_size]) > 0 for i in range(0, len(x), batch_size)]).float()


@torch.no_grad()
def attribute_accuracy(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    attributes: Sequence[str],
    exclusive: Sequence[Sequence[int]] = (),
    classifier_steps: int = 1500,
    batch_size: int = 32,
    seed: int = 0,
    max_images: int | None = None,
    classifier: nn.Module | None = None,
    classifier_images: int | None = 10_000,
    centres: torch.Tensor | None = None,
    background: Sequence[float] | None = None,
) -> dict[str, float]:
    """The figures of the module docstring for ``model`` (anything with ``translate_labels(x,
    c_trg)`` and, if it lists its ``guidance_modes``, ``"attribute"`` among them, e.g. a StarGAN
    v1 module with ``label_mode="multi"``; see :func:`require_attribute_guidance`).

    Args:
        train_set, val_set: items ``{"x", "y"}`` or ``{"x_real", "y_org"}`` with ``y (A,)``
            float attribute vectors (an :class:`~starganv2.data.attributes.AttributeDataset`).
        attributes: the attribute names, in label order (the keys of the figures).
        exclusive: exclusive groups as index tuples (the test labels keep them).
        classifier_steps: training steps of the attribute classifier.
        max_images: use only the first N test images (``None``: all).
        classifier: a trained attribute classifier (``(N, 3, S, S) -> (N, A)`` logits) to use
            instead of training one on ``train_set`` (to judge several models by the same one).
        classifier_images: train the classifier on the first N training images (they are held
            in memory; ``None``: all).
        centres: ``(len(val_set), 2)`` the true ``(x, y)`` centre in pixels of each test image's
            shape, with ``background`` (its RGB, 0-255): also the geometry figures.
    """
    require_attribute_guidance(model)
    device = next(model.parameters()).device
    x_val, c_val = _stack(val_set, batch_size)
    if max_images is not None:
        x_val, c_val = x_val[:max_images], c_val[:max_images]
    if c_val.size(1) != len(attributes):
        raise ValueError(
            f"the data has {c_val.size(1)} attributes but {len(attributes)} names: {attributes}"
        )
    if classifier is None:
        if classifier_images is not None and classifier_images < len(train_set):
            train_set = Subset(train_set, range(classifier_images))
        with torch.random.fork_rng(devices=[]):  # the training transform's flips: seeded
            torch.manual_seed(seed)
            x_train, c_train = _stack(train_set, batch_size)
        with torch.enable_grad():
            classifier = train_attribute_classifier(
                x_train.to(device), c_train.to(device), classifier_steps, seed=seed
            )
    net = classifier.to(device).eval()
    x_val, c_val = x_val.to(device), c_val.to(device)
    results: dict[str, float] = {}
    real = (_predict(net, x_val, batch_size) == c_val).float().mean(0)  # (A,)
    hits = torch.zeros(len(attributes), len(attributes), device=device)  # (column, attribute)
    outputs = []
    for i, c_trg in enumerate(original_test_labels(c_val, exclusive)):
        fakes = torch.cat(
            [
                model.translate_labels(
                    as_model_input(model, x_val[k : k + batch_size]), c_trg[k : k + batch_size]
                )
                for k in range(0, len(x_val), batch_size)
            ]
        ).float()
        hits[i] = (_predict(net, fakes, batch_size) == c_trg).float().mean(0)
        if centres is not None:
            outputs.append(fakes.cpu())
    target = hits.diagonal()  # (A,): column i judged on attribute i
    off = ~torch.eye(len(attributes), dtype=torch.bool, device=device)
    kept = (hits * off).sum(0) / off.sum(0)  # (A,): the other columns
    for name, values in (("real", real), ("target", target), ("kept", kept)):
        for a, v in zip(attributes, values.tolist(), strict=True):
            results[f"attr/{name}/{a}"] = float(v)
        results[f"attr/{name}/mean"] = float(values.mean())
    if centres is not None:
        if background is None:
            raise ValueError("centres need the background colour of the images")
        truth = centres[: len(x_val)].float()  # (N, 2)
        results.update(_geometry(x_val.cpu(), outputs, truth, torch.tensor(background)))
    log.info(
        "attribute accuracy on %d test images: real %.3f, target %.3f, kept %.3f",
        len(x_val),
        results["attr/real/mean"],
        results["attr/target/mean"],
        results["attr/kept/mean"],
    )
    return results


def _geometry(
    x_real: torch.Tensor,
    outputs: Sequence[torch.Tensor],
    centres: torch.Tensor,
    background: torch.Tensor,
) -> dict[str, float]:
    """Position figures of the real images ``(N, 3, S, S)`` and of every output batch (each
    ``(N, 3, S, S)``) against the true centres ``(N, 2)``, on a plain ``background (3,)``."""

    def errors(x: torch.Tensor) -> torch.Tensor:
        mask = shape_mask(to_255(x), background.float().expand(x.size(0), 3))
        return (mask_centroid(mask) - centres).norm(dim=1)  # (N,), NaN where empty

    real = errors(x_real)
    fake = torch.cat([errors(x) for x in outputs])
    found = ~fake.isnan()
    return {
        "attr/position_error_px": float(fake[found].mean()) if found.any() else float("nan"),
        "attr/position_error_px_real": float(real[~real.isnan()].mean()),
        "attr/empty_share": float(1 - found.float().mean()),
    }


def _shapes_truth(root: Path, files: Sequence[Path]) -> tuple[torch.Tensor, list[float]] | None:
    """The true centres of ``files`` and the background, if ``root`` holds the built-in shapes
    attribute data (its ``metadata.json`` lists every image); else ``None``."""
    from starganv2.data.shapes import ATTRIBUTE_BACKGROUND, METADATA_FILE

    meta_path = root / METADATA_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if "attributes" not in meta.get("params", {}):
        return None
    by_path = {r["path"]: (r["cx"], r["cy"]) for r in meta["images"]}
    rel = [Path(f).relative_to(root).as_posix() for f in files]
    if not all(r in by_path for r in rel):
        return None
    return torch.tensor([by_path[r] for r in rel]), [float(v) for v in ATTRIBUTE_BACKGROUND]


def metric(
    protocol: EvalProtocol, *, classifier_steps: int = 1500, classifier_images: int = 10_000
) -> MetricRunner:
    """Registry factory of ``attribute_accuracy`` (settings ``metrics.attribute_accuracy.<key>``):
    :func:`attribute_accuracy` on rank 0 (other ranks return nothing) with the protocol's seed,
    batch size and image limit (the first ``max_images_per_domain`` test images).

    Args:
        protocol: the evaluation protocol.
        classifier_steps: training steps of the attribute classifier.
        classifier_images: training images the classifier learns from (held in memory).
    """
    check_int(classifier_steps, "metrics.attribute_accuracy.classifier_steps", 1)
    check_int(classifier_images, "metrics.attribute_accuracy.classifier_images", 1)

    def run(model: nn.Module, data: EvalData, modes: Sequence[str]) -> dict[str, float]:
        if data.attributes is None:
            raise ValueError(
                "attribute_accuracy needs attribute data (data=attributes or "
                "data=shapes_attributes), not domain folders"
            )
        require_attribute_guidance(model)  # on every rank: none goes on alone
        if rank_world()[0] != 0:
            return {}
        a = data.attributes
        truth = None
        if data.root is not None and hasattr(a.val_set, "files"):
            truth = _shapes_truth(Path(data.root), a.val_set.files)
        centres, background = truth if truth is not None else (None, None)
        return attribute_accuracy(
            model,
            a.train_set,
            a.val_set,
            a.names,
            groups_for_test_labels(model, a.names, a.exclusive),
            classifier_steps=classifier_steps,
            batch_size=protocol.batch_size,
            seed=protocol.seed,
            max_images=protocol.max_images_per_domain,
            classifier_images=classifier_images,
            centres=centres,
            background=background,
        )

    return run
