"""Bad input to the inference entry points (sample, translate, export, convert): one error line
naming the file or key, exit status 1, nothing written."""

from __future__ import annotations

import logging

import pytest


def test_export_names_the_file_that_is_no_checkpoint(tmp_path, caplog):
    from starganv2.cli.export import main

    bad = tmp_path / "text.ckpt"
    bad.write_text("hello\n")
    with caplog.at_level(logging.ERROR):
        assert main([str(bad), str(tmp_path / "onnx")]) == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith(f"ckpt_path={str(bad)!r} is a text file") and "\n" not in line


def test_export_psi_names_the_flag(tmp_path, caplog):
    from starganv2.cli.export import main

    with caplog.at_level(logging.ERROR):
        assert main([str(tmp_path / "m.ckpt"), str(tmp_path / "o"), "--psi", "-3"]) == 1
    assert "--psi=-3.0 is invalid: expected a truncation in [0, 1]" in caplog.text


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny 3-domain StarGAN v2 checkpoint (the shapes data's default domain count)."""
    from tests.helpers import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture
def folders(tmp_path):
    from tests.integration.conftest import make_folder_dataset

    return make_folder_dataset(tmp_path / "data", ["a", "b", "c"], n=2, size=32) / "val"


def _cfg(name, overrides, tmp_path):
    from tests.integration.conftest import compose_train

    return compose_train(overrides, tmp_path / "run", config_name=name)


@pytest.mark.parametrize(
    ("domains", "expected"), [("1", [1]), ("b", [1]), ("[c,0]", [2, 0]), ("null", None)]
)
def test_translate_domains_takes_one_value_as_a_list_of_one(tmp_path, domains, expected):
    from starganv2.cli.translate import target_domains

    cfg = _cfg(
        "translate", ["ckpt_path=m", "input_dir=i", "output_dir=o", f"domains={domains}"], tmp_path
    )
    assert target_domains(cfg, ["a", "b", "c"]) == expected


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        ("[]", r"domains=\[\] selects no domain"),
        ("[true]", "domains: True is not one of"),
        ("[b,1]", r"names \['b'\] more than once"),
        ("[b,b]", r"names \['b'\] more than once"),
    ],
)
def test_translate_domains_refuses_empty_bool_and_repeated(tmp_path, domains, message):
    from starganv2.cli.translate import target_domains

    cfg = _cfg(
        "translate", ["ckpt_path=m", "input_dir=i", "output_dir=o", f"domains={domains}"], tmp_path
    )
    with pytest.raises(ValueError, match=message):
        target_domains(cfg, ["a", "b", "c"])


def test_translate_domains_refuses_a_name_two_domains_share(tmp_path):
    """domain_names=[x,x,y] domains=[x] translated into domain 0 alone, silently, though the
    name also stands for domain 1."""
    from starganv2.cli.translate import target_domains

    cfg = _cfg("translate", ["ckpt_path=m", "input_dir=i", "output_dir=o", "domains=x"], tmp_path)
    with pytest.raises(ValueError, match=r"'x' names domains \[0, 1\]"):
        target_domains(cfg, ["x", "x", "y"])
    assert target_domains(cfg, ["x", "y", "y"]) == [0]


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("batch_size=0", ValueError, "batch_size=0 is invalid: expected an integer >= 1"),
        ("ref_dir=/nonexistent", FileNotFoundError, "ref_dir=/nonexistent is not a folder"),
        ("device=gpu", ValueError, "device='gpu' is invalid: expected auto, cpu, cuda"),
    ],
)
def test_translate_settings_are_checked_before_the_model_loads(tmp_path, override, error, message):
    from starganv2.cli.translate import run

    missing = tmp_path / "nope.ckpt"  # never read: the setting is refused first
    overrides = [f"ckpt_path={missing}", "input_dir=i", "output_dir=o", override]
    with pytest.raises(error, match=message):
        run(_cfg("translate", overrides, tmp_path))


def test_a_device_this_machine_lacks_is_one_line(monkeypatch):
    import torch

    from starganv2.cli.common import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' is not available on this machine"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["num_sources=0"], "num_sources=0 is invalid"),
        (["num_sources=-2"], "num_sources=-2 is invalid"),
        (["num_refs_per_domain=0"], "num_refs_per_domain=0 is invalid"),
        (["num_latents=0"], "num_latents=0 is invalid"),
        (["video.fps=0", "outputs=[video_latent]"], "video.fps=0 is invalid"),
        (["psi=1.5"], r"psi=1.5 is invalid: expected a truncation in \[0, 1\]"),
        (
            ["num_refs_per_domain=1", "outputs=[reference_grid,video_ref]"],
            "num_refs_per_domain=1: video_ref interpolates",
        ),
        (
            ["video.num_codes=1", "outputs=[reference_grid,latent_grid,video_latent]"],
            "num_codes=1 is invalid",
        ),
    ],
)
def test_sample_settings_are_checked_before_any_file_is_written(
    ckpt, folders, tmp_path, overrides, message
):
    from starganv2.cli.sample import run

    cfg = _cfg(
        "sample",
        [f"ckpt_path={ckpt}", f"src_dir={folders}", f"ref_dir={folders}", *overrides],
        tmp_path,
    )
    with pytest.raises(ValueError, match=message):
        run(cfg)
    assert not [p for p in (tmp_path / "run").rglob("*") if p.is_file()]


def test_sample_without_pyav_writes_no_grid_before_refusing_videos(
    ckpt, folders, tmp_path, monkeypatch
):
    """Videos need PyAV (an extra): its absence stops the run before the grids are written."""
    import sys

    from starganv2.cli.sample import run

    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    cfg = _cfg(
        "sample",
        [f"ckpt_path={ckpt}", f"src_dir={folders}", f"ref_dir={folders}", "outputs=auto"],
        tmp_path,
    )
    run(cfg)  # grids only: PyAV is not needed
    assert list((tmp_path / "run").rglob("*.png"))
    out = tmp_path / "videos"
    cfg = _cfg(
        "sample",
        [f"ckpt_path={ckpt}", f"src_dir={folders}", f"ref_dir={folders}"]
        + ["outputs=[reference_grid,video_latent]"],
        out,
    )
    with pytest.raises(ImportError, match=r"writing videos needs PyAV.*pip install"):
        run(cfg)
    assert not [p for p in (out / "run").rglob("*") if p.is_file()]


def test_sample_names_an_unreadable_image(ckpt, folders, tmp_path):
    from starganv2.cli.sample import run

    for p in (folders / "b").iterdir():
        p.write_bytes(b"\xff\xd8\xff\xe0garbage")
    cfg = _cfg(
        "sample", [f"ckpt_path={ckpt}", f"src_dir={folders}", f"ref_dir={folders}"], tmp_path
    )
    with pytest.raises(ValueError, match=r"src_dir: cannot read image .*b/.*\.png"):
        run(cfg)


def test_sample_from_data_root_names_data_root_not_src_dir(ckpt, folders, tmp_path):
    """An empty domain folder of data.root's split: the error names data.root and the split,
    not src_dir, which the user did not set."""
    from starganv2.cli.sample import run

    root = folders.parent
    for p in (folders / "b").iterdir():
        p.unlink()
    overrides = ["data=folder", f"data.root={root}", "data.num_domains=3"]
    cfg = _cfg("sample", [f"ckpt_path={ckpt}", *overrides], tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        run(cfg)
    msg = str(err.value)
    assert msg.startswith(f"{folders} (data.root={root}, split=val): expected one sub-folder")
    assert "src_dir" not in msg and "(empty: ['b'])" in msg


def test_sample_from_a_missing_data_root_names_data_root(ckpt, tmp_path):
    from starganv2.cli.sample import run

    root = tmp_path / "nowhere"
    overrides = ["data=folder", f"data.root={root}", "data.num_domains=3"]
    with pytest.raises(FileNotFoundError) as err:
        run(_cfg("sample", [f"ckpt_path={ckpt}", *overrides], tmp_path))
    assert str(err.value) == (
        f"data.root={root}: no val/ or train/ folder found; expected "
        f"{root}/val/<domain>/ (or train/<domain>/) images, or src_dir and ref_dir"
    )


def test_convert_refuses_a_negative_iteration_a_folder_and_our_own_checkpoint(
    ckpt, tmp_path, caplog
):
    import torch

    from starganv2.cli.convert import main
    from starganv2.models.stargan_v2.module import EMA_NETS, StarGANv2Module
    from tests.helpers import TINY

    module = StarGANv2Module(**TINY)
    src = tmp_path / "5_nets_ema.ckpt"
    torch.save({n: module.nets_ema[n].state_dict() for n in EMA_NETS}, src)
    (tmp_path / "existing").mkdir()
    ours = tmp_path / "ours.ckpt"
    torch.save({**torch.load(ckpt, weights_only=True), "epoch": 0}, ours)
    cases = [
        ([str(src), str(tmp_path / "o.ckpt"), "--iteration", "-5"], "--iteration=-5 is invalid"),
        ([str(src), str(tmp_path / "existing"), "--overwrite"], "existing' is a folder"),
        ([str(src), f"{tmp_path / 'outdir'}/"], "outdir/' is a folder"),
        ([str(ours), str(tmp_path / "o.ckpt")], "ours.ckpt is already a checkpoint of this"),
    ]
    for argv, message in cases:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert main(argv) == 1
        assert message in caplog.text
    assert not (tmp_path / "o.ckpt").exists() and not (tmp_path / "outdir").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--batch-size", "0", "argument --batch-size: '0': expected an int >= 1"),
        ("--batch-size", "-1", "argument --batch-size: '-1': expected an int >= 1"),
        ("--quality", "500", "argument --quality: '500': expected an int in [0, 100]"),
        ("--quality", "-5", "argument --quality: '-5': expected an int in [0, 100]"),
        ("--img-size", "100", "argument --img-size: '100': expected a multiple of 64 >= 64"),
        ("--img-size", "0", "argument --img-size: '0': expected a multiple of 64 >= 64"),
        ("--img-size", "big", "argument --img-size: 'big': expected a multiple of 64 >= 64"),
    ],
)
def test_align_checks_its_numbers_before_anything_loads(tmp_path, capsys, flag, value, message):
    """--batch-size -1 aligned nothing and said it succeeded; 0 failed inside range(); an
    --img-size that is no multiple of 64 was refused as ``img_size=...`` (not the flag's name)
    only after the FAN's weights and the mean landmarks were read, or their errors."""
    from starganv2.cli.align import main

    with pytest.raises(SystemExit) as stop:
        main(
            [
                str(tmp_path),
                str(tmp_path / "out"),
                "--fan",
                "x",
                "--mean-landmarks",
                "y",
                flag,
                value,
            ]
        )
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "--device='gpu' is invalid"),
        ("cuda:99", "use --device=auto or --device=cpu"),
    ],
)
def test_align_names_its_device_flag_before_the_fan_is_read(tmp_path, caplog, device, message):
    """starganv2-align said ``device=... : use device=auto``, which its argparse command line
    does not accept, and only after reading the FAN's weights (here: a missing file's error)."""
    from starganv2.cli.align import main

    args = [str(tmp_path), str(tmp_path / "out"), "--fan", "missing.ckpt"]
    with caplog.at_level(logging.ERROR):
        assert main([*args, "--mean-landmarks", "y", "--device", device]) == 1
    assert message in caplog.text and "missing.ckpt" not in caplog.text
