"""Interpolation videos: frame counts, streamed writing, the single-reference error."""

from __future__ import annotations

import weakref

import pytest
import torch

from starganv2.models.prediction import MEAN_STYLE_SEED
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.styles import style_means
from starganv2.synthesis.video import (
    VideoWriter,
    check_fps,
    count_video_frames,
    video_latent,
    video_latent_frames,
    video_ref,
    video_ref_frames,
    write_video,
)
from starganv2.utils.images import to_unit as denormalize
from tests.helpers import TINY

pytest.importorskip("av")


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


def _images(n):
    return torch.rand(n, 3, 32, 32) * 2 - 1


def test_video_ref_file_has_the_expected_frame_count(module, tmp_path):
    x_ref, y_ref = _images(5), torch.tensor([0, 1, 0, 1, 0])  # domain 0: 3 refs, domain 1: 2
    n = video_ref(module, _images(2), x_ref, y_ref, tmp_path / "ref.mp4", frames_per_transition=3)
    assert n == (2 * 3 + 1) + (1 * 3 + 1)
    assert count_video_frames(tmp_path / "ref.mp4") == n
    assert [p.name for p in tmp_path.iterdir()] == ["ref.mp4"]  # no temporary file left


def test_video_ref_frames_layout_and_endpoints(module):
    x_src, x_ref, y_ref = _images(2), _images(2), torch.tensor([1, 1])
    frames = list(video_ref_frames(module, x_src, x_ref, y_ref, frames_per_transition=2))
    assert len(frames) == 3 and all(f.shape == (3, 64, 96) for f in frames)
    first, last = frames[0], frames[-1]
    torch.testing.assert_close(first[:, :32, :32], denormalize(x_ref[0]))  # panel: ref 0
    torch.testing.assert_close(last[:, :32, :32], denormalize(x_ref[1]))  # ... slides to ref 1
    torch.testing.assert_close(first[:, :32, 32:64], denormalize(x_src[0]))
    expected = module.translate(x_src, 1, x_ref=x_ref[1:].expand(2, -1, -1, -1))
    torch.testing.assert_close(last[:, 32:, 64:96], denormalize(expected[1]))
    assert first[:, 32:, :32].max() == 0  # blank under the panel


def test_single_reference_domain_gives_a_clear_error_before_writing(module, tmp_path):
    y_ref = torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match=r"domain\(s\) \['dog'\] have a single reference"):
        video_ref(
            module, _images(1), _images(3), y_ref, tmp_path / "v.mp4", domain_names=["cat", "dog"]
        )
    assert list(tmp_path.iterdir()) == []


def test_videos_name_the_argument_they_refuse_before_writing(module, tmp_path):
    """Labels as a list failed on ``.tolist``, one label too few was reported as a domain with a
    single reference, and 8-bit sources failed inside ``full_like``, naming nothing."""
    x, x_ref, out = _images(1), _images(4), tmp_path / "v.mp4"
    with pytest.raises(TypeError, match=r"y_ref=\[0, 0, 1, 1\] is a list: expected an int"):
        video_ref(module, x, x_ref, [0, 0, 1, 1], out)
    with pytest.raises(ValueError, match=r"y_ref has shape \(3,\): expected \(4,\)"):
        video_ref(module, x, x_ref, torch.tensor([0, 0, 1]), out)
    x8 = ((x + 1) * 127.5).to(torch.uint8)
    with pytest.raises(TypeError, match=r"x_src has dtype torch.uint8"):
        video_ref(module, x8, x_ref, torch.tensor([0, 0, 1, 1]), out)
    with pytest.raises(TypeError, match=r"x_src has dtype torch.uint8"):
        video_latent(module, x8, out, num_codes=2, frames_per_transition=1)
    with pytest.raises(ValueError, match=r"domains\[0\]=9 is out of range"):
        video_latent_frames(module, x, domains=[9], num_codes=2, frames_per_transition=1)
    assert list(tmp_path.iterdir()) == []


def test_video_latent_frame_count(module, tmp_path):
    gen = torch.Generator().manual_seed(0)
    n = video_latent(
        module,
        _images(2),
        tmp_path / "lat.mp4",
        domains=[1],
        num_codes=3,
        frames_per_transition=2,
        generator=gen,
    )
    assert n == 1 * ((3 - 1) * 2 + 1)
    assert count_video_frames(tmp_path / "lat.mp4") == n
    frames = list(video_latent_frames(module, _images(1), num_codes=2, frames_per_transition=4))
    assert len(frames) == 2 * (1 * 4 + 1)


def test_writer_streams_one_frame_at_a_time(tmp_path):
    """The writer pulls frames lazily and keeps none of them: memory stays flat."""
    produced, alive = [], []

    def frames():
        for i in range(12):
            frame = torch.rand(3, 31, 45)  # odd sides are padded to even
            alive.append(weakref.ref(frame))
            produced.append(i)
            yield frame
            # the writer has taken frame i; the generator is resumed only when it wants frame i+1
            del frame  # tensors are freed by reference counting: no gc pass needed
            assert sum(r() is not None for r in alive) == 0, "the writer kept a frame"

    with VideoWriter(tmp_path / "s.mp4", fps=10) as writer:
        i = 0
        for frame in frames():  # (not enumerate: its cached result tuple would keep the frame)
            assert len(produced) == i + 1  # nothing was read ahead
            writer.write(frame)
            del frame
            i += 1
    assert writer.frames_written == 12
    assert count_video_frames(tmp_path / "s.mp4") == 12


def test_a_fractional_frame_rate_is_logged_as_written(tmp_path, caplog):
    """``video.fps=2.5`` writes a 5/2 fps video; the log line said "2 fps"."""
    with caplog.at_level("INFO", logger="starganv2.synthesis.video"):
        write_video(iter([torch.rand(3, 16, 16)] * 2), tmp_path / "v.mp4", fps=2.5)
    assert "(2 frames, 2.5 fps)" in caplog.text


@pytest.mark.parametrize("fps, rate", [(29.97, "2997/100"), (30000 / 1001, "30000/1001")])
def test_an_ntsc_frame_rate_is_written(tmp_path, fps, rate):
    """``video.fps=29.97`` stopped with ``OverflowError: value too large to convert to int``:
    the float's exact fraction (denominator 2**48) was given to the encoder."""
    import av

    write_video(iter([torch.rand(3, 16, 16)] * 3), tmp_path / "v.mp4", fps=fps)
    with av.open(str(tmp_path / "v.mp4")) as container:
        assert str(container.streams.video[0].average_rate) == rate
    assert count_video_frames(tmp_path / "v.mp4") == 3


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 1e-4])
def test_an_infinite_or_vanishing_frame_rate_is_refused_by_name(fps):
    with pytest.raises(ValueError, match="video.fps=.* is invalid"):
        check_fps(fps, "video.fps")


def test_failed_write_leaves_existing_file_untouched(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"old video")

    def frames():
        yield torch.rand(3, 16, 16)
        yield torch.rand(3, 8, 8)  # wrong size -> error mid-video

    with pytest.raises(ValueError, match="all frames must have the same size"):
        write_video(frames(), path)
    assert path.read_bytes() == b"old video"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_latent_frames_of_a_model_converted_to_bfloat16():
    torch.manual_seed(0)
    model = StarGANv2Module(**TINY).eval().to(torch.bfloat16)
    frames = list(
        video_latent_frames(model, _images(1).bfloat16(), num_codes=2, frames_per_transition=2)
    )
    assert len(frames) == 2 * (1 * 2 + 1) and torch.isfinite(frames[-1].float()).all()


def test_video_latent_means_leave_the_generator_and_the_global_rng(module):
    """psi < 1 and no s_mean: the means were drawn from ``generator`` (torch's global random
    state without one), so the latent codes after them were not psi=1's, and two calls without a
    generator truncated toward different means."""
    x = _images(2)

    def frames(psi, generator=None):
        return list(video_latent_frames(module, x, [1], 2, 2, psi=psi, generator=generator))

    plain_gen, gen = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    plain = frames(1.0, plain_gen)
    torch.manual_seed(1)
    truncated = frames(0.999999, gen)
    after = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(after, torch.rand(3)), "the global random state moved"
    assert torch.equal(gen.get_state(), plain_gen.get_state()), "the means used the generator"
    assert all(torch.allclose(p, t, atol=1e-3) for p, t in zip(plain, truncated))
    means = style_means(module, generator=torch.Generator().manual_seed(MEAN_STYLE_SEED))
    given = frames(0.5, torch.Generator().manual_seed(3))
    again = list(
        video_latent_frames(
            module, x, [1], 2, 2, psi=0.5, s_mean=means, generator=torch.Generator().manual_seed(3)
        )
    )
    assert all(torch.equal(a, b) for a, b in zip(given, again))
