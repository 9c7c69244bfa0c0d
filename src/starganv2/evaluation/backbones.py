"""Pretrained feature networks of the metrics, read from local files only.

- FID features (``fid_features``): ``standard``, the TF-Inception weights of the usual FID
  (``pytorch-fid``/``torch-fidelity`` file :data:`STANDARD_INCEPTION_FILE`, 8-bit input),
  comparable with FIDs reported by most papers; or ``torchvision``, torchvision's ImageNet
  Inception-v3 pool features (:data:`TORCHVISION_INCEPTION_FILE`) with ImageNet normalisation, as
  the original StarGAN v2 code computed FID (to compare with the paper's table). The two scales
  are not comparable with each other.
- LPIPS (:class:`AlexNetLPIPS`): the AlexNet LPIPS of Zhang et al. (2018), the network
  torchmetrics' ``LearnedPerceptualImagePatchSimilarity(net_type="alex")`` computes, built here
  so that it reads the ImageNet AlexNet backbone (:data:`ALEXNET_FILE`) from a file we name
  (torchmetrics takes no path for it); the linear layers are the file that ships inside the
  torchmetrics wheel (:func:`lpips_linear_file`).

Weights come from an explicit path or the torch hub cache ``torch.hub.get_dir()/checkpoints/``
(``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch/hub/checkpoints/``). Missing files
raise one :class:`MissingWeightsError` at once that lists every missing file, where it was looked
for and where to put it (:func:`find_all_weights`); a file that is there but holds no weights of
its network (a web page saved by a failed download, foreign bytes, another network's state dict)
raises :class:`WeightsFileError` saying what it holds (:func:`load_weights`). Both name the setting
that takes the path: the Python argument (``weights_path``) when a class is built directly, the
config key (``metrics.fid_lpips.fid_weights``, with a command-line override) on the config path.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ALEXNET_FILE",
    "FID_FEATURES",
    "FID_WEIGHT_FILES",
    "STANDARD_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_FILE",
    "WEIGHT_URLS",
    "AlexNetLPIPS",
    "MissingWeightsError",
    "StandardInceptionFeatures",
    "TorchvisionInceptionFeatures",
    "WeightRequest",
    "WeightsFileError",
    "build_fid_feature_extractor",
    "find_all_weights",
    "find_weights",
    "load_weights",
    "lpips_linear_file",
    "read_weights",
]

FID_FEATURES: tuple[str, ...] = ("standard", "torchvision")
STANDARD_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCHVISION_INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
FID_WEIGHT_FILES: dict[str, str] = {
    "standard": STANDARD_INCEPTION_FILE,
    "torchvision": TORCHVISION_INCEPTION_FILE,
}
"""The weight file each ``fid_features`` choice reads."""
WEIGHT_URLS: dict[str, str] = {
    STANDARD_INCEPTION_FILE: "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    + STANDARD_INCEPTION_FILE,
    TORCHVISION_INCEPTION_FILE: "https://download.pytorch.org/models/" + TORCHVISION_INCEPTION_FILE,
    ALEXNET_FILE: "https://download.pytorch.org/models/" + ALEXNET_FILE,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weight files are not on disk; the message names each one and where to put it.

    ``files`` holds the canonical names of the missing files, in the order they were asked for.
    """

    def __init__(self, message: str, files: Sequence[str] = ()):
        super().__init__(message)
        self.files = tuple(files)


class WeightsFileError(ValueError):
    """A weight file is on disk but holds no weights of the network that reads it: a text file (a
    web page saved by a failed download), foreign or truncated bytes, a pickled object, or the
    state dict of another network. The message names the setting, the file, what it holds and
    what to do."""


class WeightRequest(NamedTuple):
    """One weight file a metric needs: its canonical name, an explicit path (``None``: the torch
    hub cache) and the setting that takes that path, named in the error message: a config key
    (dotted, ``metrics.fid_lpips.fid_weights``: the message shows the command-line override) or a
    Python argument (``weights_path``: the message shows the keyword argument)."""

    filename: str
    path: str | os.PathLike | None = None
    key: str = ""


def _pass_hint(key: str, filename: str) -> str:
    """How to pass the file's path to the setting ``key``: the Hydra override
    ``'++<key>=/path/to/<file>'`` for a config key (dotted; ``++`` sets the key whether or not the
    composed config has it: ``metrics=auto`` has no ``fid_lpips`` entry and a plain ``key=...`` is
    rejected), the keyword argument ``<key>='/path/to/<file>'`` for a Python argument."""
    placeholder = f"/path/to/{filename}"
    return f"'++{key}={placeholder}'" if "." in key else f"{key}={placeholder!r}"


def _fetch(filename: str) -> str:
    url = WEIGHT_URLS.get(filename, "")
    return f"download it from {url} on a machine with network" if url else "obtain it"


def _missing_reason(request: WeightRequest) -> tuple[Path | None, str]:
    """``(path, "")`` when the file is on disk, else ``(None, why and what to do)``."""
    filename, path, key = request
    fetch = _fetch(filename)
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p, ""
        return None, (
            f"{key + '=' if key else ''}{p}: weight file not found (expected {filename}); "
            f"{fetch} and pass its path."
        )
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    p = hub / filename
    if p.is_file():
        return p, ""
    origin = "set by $TORCH_HOME" if os.environ.get("TORCH_HOME") else "$TORCH_HOME moves it"
    return None, (
        f"weight file {filename} not found in the torch hub cache {hub} ({origin}). "
        f"Evaluation runs offline: {fetch} and put it at {p}"
        + (f", or pass its path with {_pass_hint(key, filename)}" if key else "")
        + "."
    )


def find_all_weights(requests: Sequence[WeightRequest]) -> list[Path]:
    """Locate every requested weight file on disk (never downloads), in order.

    Raises one :class:`MissingWeightsError` listing **every** missing file, each with where it
    was looked for (the explicit path, or ``torch.hub.get_dir()/checkpoints``), the exact path
    to put it at and the config key that takes its path, so that one round trip to a machine
    with network fetches all of them.
    """
    found: list[Path] = []
    reasons: list[str] = []
    missing: list[str] = []
    for request in requests:
        path, reason = _missing_reason(WeightRequest(*request))
        if path is None:
            reasons.append(reason)
            missing.append(request[0])
        else:
            found.append(path)
    if len(reasons) == 1:
        raise MissingWeightsError(reasons[0], missing)
    if reasons:
        raise MissingWeightsError(
            f"{len(reasons)} weight files are missing ({', '.join(missing)}):\n"
            + "\n".join(f"- {r}" for r in reasons),
            missing,
        )
    return found


def find_weights(filename: str, path: str | os.PathLike | None = None, key: str = "") -> Path:
    """Locate one weight file on disk (never downloads).

    Args:
        filename: the file's canonical name (e.g. :data:`ALEXNET_FILE`).
        path: explicit file; ``None`` looks in the torch hub cache ``$TORCH_HOME/hub/checkpoints``.
        key: the setting that takes ``path``, named in the error message (see
            :class:`WeightRequest`).

    Raises :class:`MissingWeightsError` naming the file, where it was looked for and what to do.
    """
    return find_all_weights([WeightRequest(filename, path, key)])[0]


# models.registry describes files that are no checkpoint; here the file should hold weights
_WEIGHTS_WORDING = (
    ("not a checkpoint of this library", "not a state dict of weights"),
    ("not a PyTorch checkpoint", "not a PyTorch file"),
    ("not a checkpoint", "not a PyTorch file"),
    ("truncated checkpoint", "truncated PyTorch file"),
)


def _file_problem(path: Path, err: BaseException) -> str:
    """What the unreadable weight file ``path`` holds (``is a text file, not a PyTorch file (it
    begins '<!DOCTYPE html>'), likely a web page ...``): the checkpoint reader's description
    (:func:`starganv2.models.registry._what_it_is`), in the words of weight files."""
    from starganv2.models.registry import _what_it_is

    with open(path, "rb") as fh:
        head = fh.read(2)
    if isinstance(err, pickle.UnpicklingError) and not head.startswith((b"PK", b"\x80")):
        # torch's weights-only refusal of bytes that are no pickle at all (a web page, junk):
        # judged by the bytes, not as a pickle of Python objects
        err = RuntimeError(str(err).splitlines()[0])
    what = _what_it_is(path, err)
    for old, new in _WEIGHTS_WORDING:
        what = what.replace(old, new)
    if what.startswith("is a text file"):
        what += ", likely a web page or error message saved by a failed download"
    elif what.startswith(("is empty", "is a damaged")):
        what += ", likely an interrupted download or copy"
    return what


def _bad_file(request: WeightRequest, path: Path, what: str) -> WeightsFileError:
    """The :class:`WeightsFileError` of ``path`` (found for ``request``): the setting and the
    file, ``what`` it holds, and what to do (fetch the file again; where to put it or pass it)."""
    filename, given, key = request
    if given is not None:
        return WeightsFileError(
            f"{key + '=' if key else ''}{path} {what}. Expected {filename}: "
            f"{_fetch(filename)} and pass its path."
        )
    hint = f", or pass its path with {_pass_hint(key, filename)}" if key else ""
    return WeightsFileError(
        f"weight file {filename} in the torch hub cache ({path}) {what}. Replace it: "
        f"{_fetch(filename)} and put it at {path}{hint}."
    )


def read_weights(request: WeightRequest) -> Mapping[str, Any]:
    """The state dict of the weight file of ``request`` (located as :func:`find_weights` does,
    read with ``torch.load(weights_only=True)`` on the CPU).

    Raises :class:`MissingWeightsError` when the file is absent and :class:`WeightsFileError`
    when it is no PyTorch file (a web page, junk, truncated bytes), holds Python objects, or holds
    no state dict, each naming the setting (``request.key``) and the file.
    """
    request = WeightRequest(*request)
    path = find_all_weights([request])[0]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on foreign bytes; each is described
        raise _bad_file(request, path, _file_problem(path, err)) from err
    if not isinstance(state, Mapping):
        raise _bad_file(
            request,
            path,
            f"is a PyTorch file but no state dict (it holds a {type(state).__name__})",
        )
    return state


def _mismatch(err: RuntimeError, examples: int = 3) -> str:
    """A short account of ``load_state_dict``'s error (keys missing, unexpected, of other shapes:
    how many, and the first few), instead of its dump of every key."""
    text = str(err)
    parts = []
    for label, heading in (("missing", "Missing key(s)"), ("unexpected", "Unexpected key(s)")):
        line = next((ln for ln in text.splitlines() if heading in ln), "")
        keys = re.findall(r'"([^"]+)"', line)
        if keys:
            shown = ", ".join(repr(k) for k in keys[:examples])
            parts.append(f"{len(keys)} {label} key{'s' * (len(keys) != 1)} (e.g. {shown})")
    sizes = re.findall(
        r"size mismatch for ([^:]+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) "
        r"from checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)",
        text,
    )
    if sizes:
        shown = ", ".join(f"{k!r} is ({a}), expected ({b})" for k, a, b in sizes[:examples])
        parts.append(f"{len(sizes)} of other shapes (e.g. {shown})")
    return "; ".join(parts) if parts else text.splitlines()[0]


def load_weights(net: nn.Module, request: WeightRequest) -> None:
    """Load the weight file of ``request`` into ``net`` (strictly: every key, every shape).

    Raises :class:`MissingWeightsError` or :class:`WeightsFileError` (see :func:`read_weights`);
    a state dict of another network is a :class:`WeightsFileError` that counts the missing,
    unexpected and reshaped keys and shows a few of each, not torch's dump of every key.
    """
    request = WeightRequest(*request)
    state = read_weights(request)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        path = find_weights(*request)
        raise _bad_file(
            request, path, f"is a PyTorch file holding other weights: {_mismatch(err)}"
        ) from err


class TorchvisionInceptionFeatures(nn.Module):
    """2048-d pool features of torchvision's ImageNet Inception-v3, as the original StarGAN v2 FID.

    Input: ``(N, 3, H, W)`` float in [0, 1] (or uint8). Images are resized to 299 x 299 (bilinear,
    antialiased; the original resized PNGs with PIL's bilinear filter, which differs by a few grey
    levels) and normalised with the ImageNet mean and std. Always in eval mode.

    Args:
        weights_path: torchvision's ``inception_v3_google-0cc3c7bd.pth`` (or a state dict of the same
            architecture); ``None`` looks in the torch hub cache.
        key: the setting that takes ``weights_path``, named in errors (see
            :class:`WeightRequest`): this argument by default; the metrics pass their own
            (``fid_weights``, ``metrics.fid_lpips.fid_weights``).
    """

    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None, *, key: str = "weights_path"):
        super().__init__()
        from torchvision.models import inception_v3

        request = WeightRequest(TORCHVISION_INCEPTION_FILE, weights_path, key)
        find_weights(*request)  # a missing file fails before the network is built
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        load_weights(net, request)
        self.blocks = nn.Sequential(
            net.Conv2d_1a_3x3,
            net.Conv2d_2a_3x3,
            net.Conv2d_2b_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1,
            net.Conv2d_4a_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b,
            net.Mixed_5c,
            net.Mixed_5d,
            net.Mixed_6a,
            net.Mixed_6b,
            net.Mixed_6c,
            net.Mixed_6d,
            net.Mixed_6e,
            net.Mixed_7a,
            net.Mixed_7b,
            net.Mixed_7c,
            nn.AdaptiveAvgPool2d(1),
        )
        self.register_buffer(
            "mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TorchvisionInceptionFeatures:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        return self.blocks(x).flatten(1)  # (N, 2048)


class StandardInceptionFeatures(nn.Module):
    """2048-d features of the standard FID Inception (torchmetrics / torch-fidelity), 8-bit input.

    Input: ``(N, 3, H, W)`` float in [0, 1] (rounded to 8 bit: this network takes uint8) or uint8.

    Args:
        weights_path: ``weights-inception-2015-12-05-6726825d.pth``; ``None`` looks in the torch hub
            cache.
        key: the setting that takes ``weights_path``, named in errors (see
            :class:`WeightRequest`): this argument by default; the metrics pass their own.
    """

    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None, *, key: str = "weights_path"):
        super().__init__()
        request = WeightRequest(STANDARD_INCEPTION_FILE, weights_path, key)
        path = find_weights(*request)
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "fid_features=standard needs torch-fidelity: pip install 'starganv2[metrics]'"
            ) from e
        # read here first: a foreign file is described (torch-fidelity reads it unrestricted,
        # weights_only=False, and would fail with pickle's own error or run what it holds)
        read_weights(request)
        try:
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=[str(self.num_features)],
                feature_extractor_weights_path=str(path),
            )
        except RuntimeError as err:
            if "state_dict" not in str(err):
                raise
            raise _bad_file(
                request, path, f"is a PyTorch file holding other weights: {_mismatch(err)}"
            ) from err
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            x = x.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        return self.net(x)  # (N, 2048)


def build_fid_feature_extractor(
    fid_features: str = "standard",
    weights_path: str | os.PathLike | None = None,
    *,
    key: str = "weights_path",
) -> nn.Module:
    """The FID feature network for ``fid_features`` (``standard`` or ``torchvision``); ``key``
    is the setting that takes ``weights_path``, named in errors (see :class:`WeightRequest`)."""
    if fid_features == "standard":
        return StandardInceptionFeatures(weights_path, key=key)
    if fid_features == "torchvision":
        return TorchvisionInceptionFeatures(weights_path, key=key)
    raise ValueError(f"fid_features={fid_features!r}: expected one of {list(FID_FEATURES)}")


def lpips_linear_file(net: str = "alex") -> Path:
    """The LPIPS linear-layer weights that ship inside the torchmetrics wheel
    (``torchmetrics/functional/image/lpips_models/<net>.pth``, about 6 KB for ``alex``)."""
    package = resources.files("torchmetrics.functional.image")
    p = Path(str(package.joinpath("lpips_models", f"{net}.pth")))
    if not p.is_file():
        raise MissingWeightsError(
            f"LPIPS linear layers {p} not found: they ship with torchmetrics; reinstall it "
            "(pip install --force-reinstall torchmetrics).",
            [p.name],
        )
    return p


def _unit_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each position's feature vector to unit length: ``(N, C, H, W)`` -> same shape."""
    return x / torch.sqrt(eps + torch.sum(x**2, dim=1, keepdim=True))


class AlexNetLPIPS(nn.Module):
    """LPIPS distance with the AlexNet backbone, from local files only.

    The network of Zhang et al. (2018) as torchmetrics' ``LearnedPerceptualImagePatchSimilarity(
    net_type="alex")`` computes it (same layers, same order of operations, so the same values):
    both images are shifted and scaled per channel, passed through AlexNet's five conv stages;
    at each stage the features are scaled to unit length per position, their squared difference
    is weighted per channel by a learned 1x1 conv (no bias) and averaged over space; the five
    stage values are summed. The backbone is torchvision's ``alexnet()`` loaded with
    ``load_state_dict(torch.load(weights))``; the linear layers are the file torchmetrics ships.
    Always in eval mode, no gradients to its parameters.

    Args:
        weights_path: torchvision's ImageNet AlexNet file (:data:`ALEXNET_FILE`); ``None`` looks
            in the torch hub cache.
        linear_path: the LPIPS linear layers (keys ``lin<k>.model.1.weight``); ``None``: the
            file shipped with torchmetrics (:func:`lpips_linear_file`).
        key: the setting that takes ``weights_path``, named in errors (see
            :class:`WeightRequest`): this argument by default; the metrics pass their own
            (``lpips_weights``, ``metrics.fid_lpips.lpips_weights``).
    """

    channels = (64, 192, 384, 256, 256)
    stages = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
    """Index ranges of ``alexnet().features`` whose outputs LPIPS compares (after each ReLU)."""

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        linear_path: str | os.PathLike | None = None,
        *,
        key: str = "weights_path",
    ):
        super().__init__()
        from torchvision.models import alexnet

        request = WeightRequest(ALEXNET_FILE, weights_path, key)
        find_weights(*request)  # a missing file fails before the linear layers are looked for
        linear = Path(linear_path) if linear_path is not None else lpips_linear_file("alex")
        net = alexnet(weights=None)
        load_weights(net, request)
        self.slices = nn.ModuleList(net.features[a:b] for a, b in self.stages)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.channels)
        lin_state = torch.load(linear, map_location="cpu", weights_only=True)
        self.lins.load_state_dict(  # (1, C, 1, 1) each; torchmetrics' index 0 is a dropout
            {f"{k}.weight": lin_state[f"lin{k}.model.1.weight"] for k in range(len(self.lins))}
        )
        shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("scale", scale, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> AlexNetLPIPS:
        return super().train(False)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of image pairs: ``(N, 3, H, W)`` twice, in [-1, 1] -> ``(N,)``."""
        h0 = (x0 - self.shift) / self.scale
        h1 = (x1 - self.shift) / self.scale
        total = 0
        for stage, lin in zip(self.slices, self.lins):
            h0, h1 = stage(h0), stage(h1)
            diff = (_unit_normalize(h0) - _unit_normalize(h1)) ** 2  # (N, C, h, w)
            total = total + lin(diff).mean([2, 3], keepdim=True)  # (N, 1, 1, 1)
        return total.reshape(x0.size(0))  # (N,)
