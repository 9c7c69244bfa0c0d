"""Face alignment: the similarity transform, the mirrored padding, the warp, the mean landmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from starganv2.faces.align import (
    align_faces,
    load_mean_landmarks,
    pad_mirror,
    similarity_matrix,
    warp,
)
from tests.helpers.fan import mean_landmarks


def _similarity(angle: float, scale: float, shift: tuple[float, float]) -> torch.Tensor:
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return torch.tensor([[c, -s, shift[0]], [s, c, shift[1]], [0, 0, 1]], dtype=torch.float64)


def _apply(m: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    return (pts.double() @ m[:2, :2].T + m[:2, 2]).float()


# ---------------------------------------------------------------- the transform


def _original_matrix(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The original's composition T_ref S R T_origin, written out with numpy."""

    def axis(p):
        le = p[[*range(60, 68), 96]].mean(0)
        re = p[[*range(68, 76), 97]].mean(0)
        yp = (le + re) / 2 - (p[76] + p[82]) / 2
        v = (re - le) - np.array([yp[1], -yp[0]])
        return v / np.linalg.norm(v)

    def shift(v):
        t = np.eye(3)
        t[:2, 2] = v
        return t

    a, b = axis(lm), axis(ref)
    c = a @ b
    s = np.sqrt(1 - c * c) * np.sign(a[0] * b[1] - a[1] * b[0])
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    idx = [96, 97, 76, 82]
    ratio = np.linalg.norm(ref - ref.mean(0), axis=1) / np.linalg.norm(lm - lm.mean(0), axis=1)
    scale = np.diag([ratio[idx].mean(), ratio[idx].mean(), 1])
    return shift(ref.mean(0)) @ scale @ rot @ shift(-lm.mean(0))


def test_similarity_matrix_equals_the_original_composition():
    ref = mean_landmarks(0)
    lm = mean_landmarks(1) * 1.3 + 20
    got = similarity_matrix(torch.from_numpy(lm), torch.from_numpy(ref))
    # in float64: the original's float32 arithmetic moves the result by about 1e-4 px
    want = _original_matrix(lm.astype("float64"), ref.astype("float64"))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)


def test_similarity_matrix_undoes_a_similarity():
    ref = torch.from_numpy(mean_landmarks())
    m0 = _similarity(0.4, 1.7, (30.0, -12.0))
    m = similarity_matrix(_apply(m0, ref), ref)
    torch.testing.assert_close(m @ m0, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- padding and warp


def test_pad_mirror_keeps_the_centre_and_fades_the_border():
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (1, 3, 256, 256), generator=g).float()
    lm = torch.zeros(1, 98, 2)
    padded, moved = pad_mirror(pixels, lm)
    assert padded.shape == (1, 3, 512, 512)
    torch.testing.assert_close(padded[..., 128:384, 128:384], pixels)  # weight 1 inside
    torch.testing.assert_close(moved, lm + 128)
    assert padded[..., 0, :].std() < pixels.std() / 4  # the outer edge is the blurred copy


def test_warp_with_identity_and_integer_shift():
    g = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 64, 64, generator=g) * 255
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    torch.testing.assert_close(warp(pixels, eye, 64), pixels, atol=1e-3, rtol=0)
    move = _similarity(0.0, 1.0, (5.0, -3.0)).expand(2, 3, 3)  # source (x, y) -> (x+5, y-3)
    out = warp(pixels, move, 64)
    torch.testing.assert_close(out[..., 0:61, 5:64], pixels[..., 3:64, 0:59], atol=1e-3, rtol=0)
    assert out[..., :, :5].abs().max() == 0  # outside the source: black


class _StubFAN:
    """Stands in for the FAN with fixed landmarks."""

    def __init__(self, landmarks: torch.Tensor):
        self.points = landmarks

    def landmarks(self, x):
        return self.points.expand(x.size(0), -1, -1).clone()


def test_align_faces_puts_the_landmarks_on_the_reference():
    ref = torch.from_numpy(mean_landmarks())
    m0 = _similarity(-0.3, 0.8, (40.0, 10.0))
    seen = _apply(m0, ref)  # where the face's landmarks are in the photo
    x = -torch.ones(1, 3, 256, 256)
    for px, py in seen.round().long().tolist():
        x[0, :, py - 1 : py + 2, px - 1 : px + 2] = 1.0  # a bright dot on every landmark
    out = align_faces(_StubFAN(seen), x, ref)
    assert out.shape == (1, 3, 256, 256)
    at_ref = [out[0, 0, int(y), int(x_)].item() for x_, y in ref.round().tolist()]
    assert np.mean(at_ref) > 0.3  # the dots moved onto the reference positions
    assert out[0, 0].mean() < -0.8


def test_degenerate_landmarks_give_nan_rows():
    flat = torch.full((98, 2), 100.0)  # every landmark on one point: no scale, no axis
    out = align_faces(_StubFAN(flat), torch.zeros(2, 3, 64, 64), torch.rand(98, 2) * 64)
    assert torch.isnan(out).all()
    with pytest.raises(ValueError, match="multiple of 64"):
        align_faces(_StubFAN(flat), torch.zeros(1, 3, 100, 100), torch.rand(98, 2))


# ---------------------------------------------------------------- files and the command


def test_mean_landmarks_file(tmp_path):
    pts = mean_landmarks()
    np.savez(tmp_path / "celeba_lm_mean.npz", mean=pts)
    torch.testing.assert_close(
        load_mean_landmarks(tmp_path / "celeba_lm_mean.npz", 512), torch.from_numpy(pts) * 2
    )
    np.savez(tmp_path / "bad.npz", points=pts)
    with pytest.raises(ValueError, match=r"expected an array 'mean' of shape \(98, 2\)"):
        load_mean_landmarks(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="download.sh wing"):
        load_mean_landmarks(tmp_path / "nope.npz")


def test_a_checkpoint_given_as_mean_landmarks_is_a_short_line(tmp_path):
    """A torch checkpoint is a zip that numpy reads as an .npz of its entries: the error listed
    every one (5.8 KB for wing.ckpt); it names a few and the count."""
    torch.save({f"layer{i}.weight": torch.zeros(1) for i in range(300)}, tmp_path / "wing.ckpt")
    with pytest.raises(ValueError, match=r"expected an array 'mean'") as err:
        load_mean_landmarks(tmp_path / "wing.ckpt")
    assert len(str(err.value)) < 400
    assert "in all)" in str(err.value)


def test_a_npy_file_given_as_mean_landmarks_is_a_short_line(tmp_path):
    """``np.save`` writes a bare array that ``np.load`` returns as is: a TypeError traceback
    (an ndarray is no context manager) instead of the file's one-line error."""
    np.save(tmp_path / "lm.npy", mean_landmarks())
    with pytest.raises(ValueError, match=r"lm.npy' is not a readable .npz file: it is a .npy") as e:
        load_mean_landmarks(tmp_path / "lm.npy")
    assert "mean=array" in str(e.value)


@pytest.mark.parametrize("broken", ["zeros", "nan"])
def test_mean_landmarks_without_a_face_layout_are_refused(tmp_path, broken):
    """A reference of zeros or with a NaN made every photo "no face geometry could be fitted",
    after the FAN had run on the whole folder: the file is named instead, when it is read."""
    pts = np.zeros((98, 2), "float32") if broken == "zeros" else mean_landmarks()
    pts[5] = np.nan if broken == "nan" else pts[5]
    np.savez(tmp_path / "lm.npz", mean=pts)
    with pytest.raises(ValueError, match=r"lm.npz'.*holds no face layout"):
        load_mean_landmarks(tmp_path / "lm.npz")
