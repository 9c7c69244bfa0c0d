"""The face-landmark network FAN: architecture, frozen state, weight files, and its heatmaps,
masks and landmarks against a plain reference.

The reference below is written from the original code's published algorithm (StarGAN v2,
``core/wing.py``: ``FAN.forward``, ``get_heatmap``, ``preprocess``, ``get_landmark``), step by
step in the original's order and sign conventions, slowly and without the library's shortcuts
(it moves all 98 heatmaps one by one, sums all of them, and reads the weights from the state dict
with functional ops). The library must match it to 1e-4 (masks, heatmaps) or exactly (landmarks).
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from starganv2.faces.fan import FAN, FANWeightsError, heatmap_peaks, read_fan_state
from starganv2.faces.masks import face_masks
from tests.helpers.fan import fan_state, random_fan, write_wing_ckpt

# ---------------------------------------------------------------- the plain reference


def _ref_coords(size: int) -> torch.Tensor:
    i = torch.arange(size).float()
    rows = (i / (size - 1) * 2 - 1).view(size, 1).repeat(1, size)
    cols = (i / (size - 1) * 2 - 1).view(1, size).repeat(size, 1)
    r = torch.sqrt(rows**2 + cols**2)
    return torch.stack([rows, cols, r / r.max()])  # (3, size, size)


def _ref_forward(sd: dict, x01: torch.Tensor) -> torch.Tensor:
    """The original FAN's forward pass on ``(N, 3, 256, 256)`` in [0, 1], from its state dict."""

    def bn(t, p):
        return F.batch_norm(
            t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"]
        )

    def block(t, p):
        a = F.conv2d(F.relu(bn(t, p + ".bn1")), sd[p + ".conv1.weight"], padding=1)
        b = F.conv2d(F.relu(bn(a, p + ".bn2")), sd[p + ".conv2.weight"], padding=1)
        c = F.conv2d(F.relu(bn(b, p + ".bn3")), sd[p + ".conv3.weight"], padding=1)
        res = t
        if p + ".downsample.2.weight" in sd:
            res = F.conv2d(F.relu(bn(t, p + ".downsample.0")), sd[p + ".downsample.2.weight"])
        return torch.cat([a, b, c], 1) + res

    def with_coords(t):
        return torch.cat([t, _ref_coords(t.size(2)).expand(t.size(0), 3, -1, -1)], 1)

    def hourglass(level, t):
        up = block(t, f"m0.b1_{level}")
        low = block(F.avg_pool2d(t, 2, stride=2), f"m0.b2_{level}")
        low = hourglass(level - 1, low) if level > 1 else block(low, f"m0.b2_plus_{level}")
        low = block(low, f"m0.b3_{level}")
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    x = F.conv2d(
        with_coords(x01), sd["conv1.conv.weight"], sd["conv1.conv.bias"], stride=2, padding=3
    )
    x = F.relu(bn(x, "bn1"))
    x = F.avg_pool2d(block(x, "conv2"), 2, stride=2)
    x = block(block(x, "conv3"), "conv4")
    x = F.conv2d(with_coords(x), sd["m0.coordconv.conv.weight"], sd["m0.coordconv.conv.bias"])
    x = block(hourglass(4, x), "top_m_0")
    x = F.relu(bn(F.conv2d(x, sd["conv_last0.weight"], sd["conv_last0.bias"]), "bn_end0"))
    return F.conv2d(x, sd["l0.weight"], sd["l0.bias"])


def _ref_heatmaps(sd: dict, x: torch.Tensor) -> torch.Tensor:
    x = F.interpolate(x, size=256, mode="bilinear")
    return _ref_forward(sd, x * 0.5 + 0.5)[:, :-1]


def _move_up(t: torch.Tensor, n: int) -> torch.Tensor:
    """The original's shift: ``n > 0`` moves rows up by n, ``n < 0`` down, wrapping around."""
    h = t.size(2)
    order = [(i + n) % h for i in range(h)]
    return t[:, :, order, :]


def _ref_masks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's ``preprocess`` of the upsampled heatmaps, in its order."""
    x = F.interpolate(heatmaps, scale_factor=4, mode="bilinear", align_corners=True)
    x = torch.where(x < 0.1, torch.zeros_like(x), x)
    n, c, h, w = x.shape
    flat = x.reshape(n * c, -1)
    lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    x = ((flat - lo) / (hi - lo + 1e-6)).reshape(n, c, h, w)
    # part: (first, end, rows up, power), in the original's order
    for start, end, up, power in [
        (8, 25, 0, 3),  # chin
        (33, 51, -7, 2),  # eyebrows
        (55, 60, 8, 4),  # nostrils
        (77, 82, -8, 4),  # upper lip
        (83, 88, 8, 4),  # lower lip
        (88, 96, -2, 3),  # inner lips
    ]:
        x[:, start:end] = _move_up(x[:, start:end], up) ** power
    for ch in [*range(0, 8), *range(25, 33), 33, 46, 76, 82]:
        x[:, ch] = 0
    x[:, 52:55] = _move_up(x[:, 52:55], 4)
    x[:, 51:55] = x[:, 51:55] ** 1
    x[:, 60:76] = x[:, 60:76] ** 1
    eyes = x[:, 60:76].clone()
    x[:, 60:76] = _move_up(eyes, -8) ** 3 + _move_up(eyes, -24)
    x2 = x.clone()
    x2[:, 8:25] = 0
    x2[:, 76:96] = 0
    x2[:, 33:51] = 0
    a, b = x.sum(1, keepdim=True), x2.sum(1, keepdim=True)
    a[a != a] = 0
    b[a != a] = 0  # the original's guard tests the first mask again
    return a.clamp(0, 1), b.clamp(0, 1)


def _ref_landmarks(heatmaps: torch.Tensor, height: int) -> torch.Tensor:
    out = torch.zeros(heatmaps.size(0), heatmaps.size(1), 2)
    for i in range(heatmaps.size(0)):
        for j in range(heatmaps.size(1)):
            hm = heatmaps[i, j]
            _, k = torch.max(hm.reshape(-1), 0)
            k = int(k) + 1
            px, py = float((k - 1) % 64 + 1), float((k - 1) // 64 + 1)
            cx, cy = int(px) - 1, int(py) - 1
            if 0 < cx < 63 and 0 < cy < 63:
                dx = float(hm[cy, cx + 1] - hm[cy, cx - 1])
                dy = float(hm[cy + 1, cx] - hm[cy - 1, cx])
                px += 0.25 * (dx > 0) - 0.25 * (dx < 0)
                py += 0.25 * (dy > 0) - 0.25 * (dy < 0)
            out[i, j] = torch.tensor([px - 0.5, py - 0.5])
    return out * (height // 64)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fan() -> FAN:
    return random_fan(0)


def _images(n: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g) * 2 - 1


def _blob_heatmaps(n: int = 2, seed: int = 0) -> torch.Tensor:
    """Peaked 64x64 heatmaps like a trained FAN's: one Gaussian per landmark, some noise."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 98, 2, generator=g) * 48 + 8  # (N, 98, 2)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    d2 = (xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2
    return torch.exp(-d2 / 8) + 0.05 * torch.randn(n, 98, 64, 64, generator=g)


# ---------------------------------------------------------------- architecture


def test_parameter_and_state_dict_counts_match_the_release():
    net = FAN()
    state = net.state_dict()
    assert sum(p.numel() for p in net.parameters()) == 6_333_603
    assert len(state) == 336
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 55
    assert tuple(state["conv1.conv.weight"].shape) == (64, 6, 7, 7)
    assert tuple(state["m0.coordconv.conv.weight"].shape) == (256, 259, 1, 1)
    assert tuple(state["l0.weight"].shape) == (99, 256, 1, 1)
    for key in ("m0.b2_plus_1.conv3.weight", "conv4.downsample.2.weight", "m0.b3_4.bn3.bias"):
        assert key in state


def test_coordinate_grids_are_non_persistent_buffers_that_move():
    net = FAN()
    assert not any("coords" in k for k in net.state_dict())
    buffers = dict(net.named_buffers())
    assert tuple(buffers["conv1.coords"].shape) == (1, 3, 256, 256)
    assert tuple(buffers["m0.coordconv.coords"].shape) == (1, 3, 64, 64)
    torch.testing.assert_close(buffers["conv1.coords"][0], _ref_coords(256), rtol=0, atol=0)
    net.to(torch.float64)
    assert net.conv1.coords.dtype == torch.float64


def test_frozen_and_always_in_eval_mode(fan):
    assert not any(p.requires_grad for p in fan.parameters())
    fan.train()
    assert not fan.training and not any(m.training for m in fan.modules())
    before = {k: v.clone() for k, v in fan.state_dict().items()}
    fan(torch.rand(2, 3, 256, 256))
    for k, v in fan.state_dict().items():
        assert torch.equal(v, before[k]), k  # BatchNorm statistics never update


def test_forward_rejects_other_sizes(fan):
    with pytest.raises(ValueError, match="256, 256"):
        fan(torch.rand(1, 3, 128, 128))


# ---------------------------------------------------------------- equal to the reference


def test_forward_and_heatmaps_equal_the_reference(fan):
    sd = fan.state_dict()
    x = _images(2, 256, 256)
    with torch.no_grad():
        want = _ref_forward(sd, x * 0.5 + 0.5)
        torch.testing.assert_close(fan(x * 0.5 + 0.5), want, rtol=0, atol=1e-4)
        assert want.abs().max() > 0.1  # not a trivial comparison
        x = _images(2, 100, 150, seed=2)
        torch.testing.assert_close(fan.heatmaps(x), _ref_heatmaps(sd, x), rtol=0, atol=1e-4)


def test_mask_post_processing_equals_the_reference_on_peaked_heatmaps():
    heatmaps = _blob_heatmaps()
    a, b = face_masks(heatmaps)
    ra, rb = _ref_masks(heatmaps)
    assert a.shape == b.shape == (2, 1, 256, 256)
    torch.testing.assert_close(a, ra, rtol=0, atol=1e-5)
    torch.testing.assert_close(b, rb, rtol=0, atol=1e-5)
    assert 0.01 < (a > 0).float().mean() < 0.9 and (b > 0).float().mean() > 0.01
    assert (b <= a + 1e-6).all()  # the second mask keeps a subset of the parts


@pytest.mark.parametrize("size", [(64, 64), (256, 256), (100, 150)])
def test_masks_equal_the_reference_end_to_end(fan, size):
    x = _images(2, *size)
    a, b = fan.masks(x)
    with torch.no_grad():
        ra, rb = _ref_masks(_ref_heatmaps(fan.state_dict(), x))
    torch.testing.assert_close(a, ra, rtol=0, atol=1e-4)
    torch.testing.assert_close(b, rb, rtol=0, atol=1e-4)
    assert 0.05 < a.mean() < 0.95  # neither empty nor saturated


def test_the_second_masks_nans_survive_as_in_the_original():
    heatmaps = _blob_heatmaps(1)
    heatmaps[0, 65, 10:20, 10:20] = float("nan")  # an eye landmark, in both masks
    heatmaps[0, 10, 40:44, 40:44] = float("nan")  # the jaw, first mask only
    a, b = face_masks(heatmaps)
    ra, rb = _ref_masks(heatmaps)
    assert torch.isfinite(a).all()
    assert torch.isnan(b).any()
    torch.testing.assert_close(a, ra, rtol=0, atol=1e-5)
    torch.testing.assert_close(b, rb, rtol=0, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("size", [256, 128, 100])
def test_landmarks_equal_the_reference_exactly(fan, size):
    x = _images(2, size, size, seed=size)
    got = fan.landmarks(x)
    with torch.no_grad():
        want = _ref_landmarks(_ref_heatmaps(fan.state_dict(), x), size)
    assert got.shape == (2, 98, 2)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_heatmap_peaks_on_a_known_blob():
    hm = torch.zeros(1, 1, 64, 64)
    hm[0, 0, 20, 30] = 1.0
    hm[0, 0, 20, 31] = 0.5  # right neighbour higher: +0.25 in x
    hm[0, 0, 19, 30] = 0.5  # upper neighbour higher: -0.25 in y
    torch.testing.assert_close(heatmap_peaks(hm), torch.tensor([[[30.75, 20.25]]]))
    hm = torch.zeros(1, 1, 64, 64)
    hm[0, 0, 0, 5] = 1.0  # on the border: no nudge
    torch.testing.assert_close(heatmap_peaks(hm), torch.tensor([[[5.5, 0.5]]]))


def test_masks_are_float32_under_autocast(fan):
    x = _images(1, 64, 64)
    want = fan.masks(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = fan.masks(x)
    assert got[0].dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=0)


# ---------------------------------------------------------------- weight files


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loads_the_released_layouts(tmp_path, prefix):
    want = random_fan(3).state_dict()
    wing = write_wing_ckpt(tmp_path / "wing.ckpt", seed=3, prefix=prefix)
    torch.save({"generator": {}, "fan": fan_state(3, prefix)}, tmp_path / "100000_nets_ema.ckpt")
    torch.save(fan_state(3), tmp_path / "bare.pt")
    lightning = {"state_dict": {"nets.generator.w": torch.zeros(1), **fan_state(3, "fan.")}}
    torch.save(lightning, tmp_path / "last.ckpt")  # a checkpoint of this library
    for path in (
        wing,
        tmp_path / "100000_nets_ema.ckpt",
        tmp_path / "bare.pt",
        tmp_path / "last.ckpt",
    ):
        got = FAN.from_file(path).state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want), path


def test_files_without_batchnorm_counters_load(tmp_path):
    """Files saved before PyTorch 0.4.1 have no ``num_batches_tracked``; the frozen net never
    reads them, and the original's loader copies only the keys a file has."""
    state = {k: v for k, v in fan_state(5).items() if not k.endswith("num_batches_tracked")}
    assert len(state) == 336 - 55
    torch.save({"state_dict": state}, tmp_path / "wing.ckpt")
    got = FAN.from_file(tmp_path / "wing.ckpt").state_dict()
    want = random_fan(5).state_dict()
    assert all(torch.equal(got[k], want[k]) for k in state)
    counters = [k for k in got if k.endswith("num_batches_tracked")]
    assert len(counters) == 55 and all(int(got[k]) == 0 for k in counters)


def test_lists_unexpected_keys_and_fails_on_missing_ones(tmp_path, caplog):
    state = fan_state(0)
    state["m1.b1_4.conv1.weight"] = torch.zeros(1)
    with caplog.at_level(logging.WARNING, logger="starganv2.faces.fan"):
        FAN().load_weights(state)
    assert "ignoring 1 entries that are not FAN weights: m1.b1_4.conv1.weight" in caplog.text

    del state["m0.b2_plus_1.conv3.weight"], state["l0.bias"]
    torch.save({"state_dict": state}, tmp_path / "wing.ckpt")
    with pytest.raises(FANWeightsError, match=r"2 of the 336 FAN weights are missing") as err:
        FAN.from_file(tmp_path / "wing.ckpt", key="model.fan_weights")
    assert "m0.b2_plus_1.conv3.weight" in str(err.value) and "model.fan_weights=" in str(err.value)

    state = fan_state(0)
    state["l0.weight"] = torch.zeros(98, 256, 1, 1)
    with pytest.raises(FANWeightsError, match=r"l0.weight: \(98, 256, 1, 1\) in the file"):
        FAN().load_weights(state)


def test_bad_files_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.fan_weights='.*nope.ckpt': no such file"):
        read_fan_state(tmp_path / "nope.ckpt", key="model.fan_weights")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(FANWeightsError, match="could not be read"):
        read_fan_state(tmp_path / "junk.ckpt")
    torch.save({"generator": {"a": torch.zeros(1)}, "epoch": 3}, tmp_path / "other.ckpt")
    with pytest.raises(FANWeightsError, match=r"holds no FAN weights \(found \['epoch'"):
        read_fan_state(tmp_path / "other.ckpt")


def test_an_image_given_as_the_weights_is_one_line(tmp_path):
    """An image passed as model.fan_weights: torch's refusal runs over several paragraphs and
    advises weights_only=False; the error is one line that names the file and what it is."""
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "face.jpg")
    with pytest.raises(FANWeightsError, match=r"'.*face.jpg'.*not a plain file of weights") as err:
        read_fan_state(tmp_path / "face.jpg", key="model.fan_weights")
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
