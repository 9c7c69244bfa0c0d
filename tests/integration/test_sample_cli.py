"""The inference entry points on the real conf/ tree: sample, translate, convert, export."""

from __future__ import annotations

import re

import pytest
import torch
from PIL import Image

from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY
from tests.integration.conftest import compose_train, make_folder_dataset, run_cli

SHAPES = ["data.img_size=32", "data.n_train=3", "data.n_val=2", "data.num_workers=0"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny 3-domain StarGAN v2 checkpoint (the shapes data's default domain count)."""
    from tests.helpers import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def test_sample_writes_grids_and_videos(ckpt, shapes_cache, tmp_path):
    from starganv2.cli.sample import run
    from starganv2.synthesis.video import count_video_frames

    cfg = compose_train(
        [
            f"ckpt_path={ckpt}",
            f"data.cache_dir={shapes_cache}",
            *SHAPES,
            "num_sources=2",
            "num_latents=2",
            "psi=0.7",
            "outputs=[reference_grid,latent_grid,video_ref,video_latent]",
            "video.frames_per_transition=1",
            "video.num_codes=2",
        ],
        tmp_path / "run",
        config_name="sample",
    )
    written = run(cfg)
    assert sorted(written) == [
        "latent_grid/circle",
        "latent_grid/square",
        "latent_grid/triangle",
        "reference_grid",
        "video_latent",
        "video_ref",
    ]
    # 2 sources + corner across, 3 domains x 2 refs + header down; 32 px tiles, padding 2
    assert Image.open(written["reference_grid"]).size == (3 * 34 + 2, 7 * 34 + 2)
    assert Image.open(written["latent_grid/circle"]).size == (3 * 34 + 2, 2 * 34 + 2)
    assert count_video_frames(written["video_ref"]) == 3 * (1 + 1)
    assert count_video_frames(written["video_latent"]) == 3 * (1 + 1)


def test_sample_from_folders_with_a_single_reference_fails_clearly(ckpt, tmp_path):
    from starganv2.cli.sample import run

    root = make_folder_dataset(tmp_path / "data", ["a", "b", "c"], n=1, size=32)
    cfg = compose_train(
        [
            f"ckpt_path={ckpt}",
            f"src_dir={root / 'val'}",
            f"ref_dir={root / 'val'}",
            "outputs=[video_ref]",
        ],
        tmp_path / "run",
        config_name="sample",
    )
    with pytest.raises(ValueError, match=r"domain\(s\) \['a', 'b', 'c'\] have a single reference"):
        run(cfg)
    assert not list(tmp_path.rglob("*.mp4"))


def test_video_ref_with_one_reference_per_domain_names_the_setting(ckpt, tmp_path):
    from starganv2.cli.sample import run

    root = make_folder_dataset(tmp_path / "data", ["a", "b", "c"], n=2, size=32)
    overrides = [f"ckpt_path={ckpt}", f"src_dir={root / 'val'}", f"ref_dir={root / 'val'}"]
    cfg = compose_train(
        [*overrides, "outputs=[video_ref]", "num_refs_per_domain=1"],
        tmp_path / "run",
        config_name="sample",
    )
    with pytest.raises(ValueError, match=r"set num_refs_per_domain=2 or more"):
        run(cfg)
    assert not list(tmp_path.rglob("*.mp4")) and not list((tmp_path / "run").rglob("*.png"))


@pytest.mark.parametrize(
    ("override", "shown"), [("outputs=[]", "[]"), ("outputs=null", "None"), ("outputs=5", "5")]
)
def test_outputs_with_nothing_to_write_are_refused_before_the_model_loads(
    tmp_path, override, shown
):
    """``outputs=[]`` wrote nothing and exited 0, as if sampling had worked; ``null`` and a
    number were tracebacks (``TypeError: ... is not iterable``)."""
    from starganv2.cli.sample import run

    cfg = compose_train(
        [f"ckpt_path={tmp_path / 'nope.ckpt'}", override], tmp_path / "run", "sample"
    )
    with pytest.raises(ValueError, match=re.escape(f"outputs={shown}: nothing to write; choose")):
        run(cfg)


@pytest.mark.parametrize(
    ("override", "key", "minimum"),
    [
        ("video.frames_per_transition=0", "video.frames_per_transition", 1),
        ("video.num_codes=1", "video.num_codes", 2),
    ],
)
def test_video_settings_are_named_by_their_keys_before_the_model_loads(
    tmp_path, override, key, minimum
):
    """The library's check named ``num_codes`` / ``frames_per_transition`` without their
    ``video.`` prefix, and only once the model was loaded."""
    from starganv2.cli.sample import run

    cfg = compose_train(
        [f"ckpt_path={tmp_path / 'nope.ckpt'}", "outputs=video_latent", override],
        tmp_path / "run",
        "sample",
    )
    with pytest.raises(
        ValueError,
        match=re.escape(f"{key}={override[-1]} is invalid: expected an integer >= {minimum}"),
    ):
        run(cfg)


def test_auto_listed_with_a_video_writes_the_grids_too(ckpt, tmp_path):
    """``outputs=[auto,video_ref]`` wrote only the video: ``auto`` was expanded only alone."""
    from starganv2.cli.sample import run

    root = make_folder_dataset(tmp_path / "data", ["a", "b", "c"], n=2, size=32)
    cfg = compose_train(
        [f"ckpt_path={ckpt}", f"src_dir={root / 'val'}", f"ref_dir={root / 'val'}",
         "outputs=[auto,video_ref,reference_grid]", "video.frames_per_transition=1",
         "num_sources=2", "num_latents=1"],
        tmp_path / "run",
        config_name="sample",
    )  # fmt: skip
    written = run(cfg)
    assert list(written) == [
        "reference_grid", "latent_grid/a", "latent_grid/b", "latent_grid/c", "video_ref",
    ]  # fmt: skip
    assert all(path.is_file() for path in written.values())


@pytest.mark.slow
def test_sample_cli_exits_with_one_line_error(tmp_path):
    proc = run_cli(
        [
            "starganv2.cli.sample",
            f"ckpt_path={tmp_path / 'nope.ckpt'}",
            f"paths.log_dir={tmp_path}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "no such checkpoint file" in proc.stdout + proc.stderr


def test_translate_cli_uses_data_domain_names(ckpt, tmp_path):
    from starganv2.cli.translate import run

    root = make_folder_dataset(tmp_path / "data", ["cat", "dog", "fox"], n=1, size=40)
    out = tmp_path / "aug"
    cfg = compose_train(
        [
            f"ckpt_path={ckpt}",
            f"input_dir={root / 'val'}",
            f"output_dir={out}",
            "data=folder",
            f"data.root={root}",
            "data.num_domains=3",
            "domains=[dog,2]",
            "progress=false",
        ],
        tmp_path / "run",
        config_name="translate",
    )
    report = run(cfg)
    assert report.written == 6 and not report.failed
    assert (out / "dog" / "cat" / "0_0.png").is_file()
    assert (out / "fox" / "fox" / "0_0.png").is_file()
    assert Image.open(out / "fox" / "fox" / "0_0.png").size == (40, 40)


def test_convert_cli_reports_the_mismatch(tmp_path):
    from starganv2.cli.convert import main
    from starganv2.models.stargan_v2.module import EMA_NETS

    module = StarGANv2Module(**TINY)
    torch.save({n: module.nets_ema[n].state_dict() for n in EMA_NETS}, tmp_path / "5_nets_ema.ckpt")
    args = [str(tmp_path / "5_nets_ema.ckpt"), str(tmp_path / "out.ckpt")]
    assert main([*args, "--expect", "num_domains=4"]) == 1
    assert not (tmp_path / "out.ckpt").exists()
    assert main([*args, "--set", "lambda_ds=2.0"]) == 0
    loaded = StarGANv2Module.load_from_checkpoint(tmp_path / "out.ckpt", map_location="cpu")
    assert loaded.hparams.lambda_ds == 2.0 and loaded.iteration == 5
