"""``starganv2-demo``: composed from conf/demo.yaml, serving on 127.0.0.1 by default, printing its
address, with the examples and domain names of a folder; a missing checkpoint is one line."""

from __future__ import annotations

import pytest

from tests.integration.conftest import compose_train, run_cli
from tests.synthesis.demo.conftest import write_picture
from tests.synthesis.demo.serve import free_port

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")


def test_the_demo_serves_locally_and_prints_its_address(v2_ckpt, tmp_path, capsys):
    from starganv2.cli.demo import run

    for domain in ("cat", "dog"):
        (tmp_path / "ex" / domain).mkdir(parents=True)
        for i in range(3):
            write_picture(tmp_path / "ex" / domain / f"{i}.png", 40, 40, seed=i)
    port = free_port()
    cfg = compose_train(
        [f"ckpt_path={v2_ckpt}", f"examples_dir={tmp_path / 'ex'}", "examples_per_domain=2",
         f"port={port}"],
        tmp_path / "run", config_name="demo",
    )  # fmt: skip
    assert cfg.host == "127.0.0.1" and cfg.share is False  # never open to the network by default
    app = run(cfg, block=False)
    try:
        printed = capsys.readouterr().out
        assert f"on http://127.0.0.1:{port}/" in printed
        assert "domains: `cat`, `dog`" in app.config["components"][0]["props"]["value"]
        client = gradio_client.Client(app.local_url, verbose=False, download_files=str(tmp_path))
        src = tmp_path / "ex" / "cat" / "0.png"
        out = client.predict(
            gradio_client.handle_file(str(src)), target="dog", api_name="/translate"
        )
        assert out[4].startswith("1 image(s) of dog, 40x40 px")
    finally:
        app.close()
        app.scratch.remove()


def test_examples_come_from_the_folder_per_domain(tmp_path):
    from starganv2.cli.demo import examples

    for domain in ("cat", "dog", "owl"):
        (tmp_path / domain).mkdir()
        for i in range(3):
            write_picture(tmp_path / domain / f"{i}.png", 8, 8)
    found = examples(tmp_path, ["cat", "dog"], 2)
    assert [(p.rsplit("/", 2)[-2:], d) for p, d in found] == [
        (["cat", "0.png"], "cat"), (["cat", "1.png"], "cat"),
        (["dog", "0.png"], "dog"), (["dog", "1.png"], "dog"),
    ]  # fmt: skip
    assert examples(None, ["cat"], 2) == [] and examples(tmp_path, ["cat"], 0) == []


def test_a_missing_checkpoint_is_one_line_and_status_1(tmp_path):
    proc = run_cli(["starganv2.cli.demo", "ckpt_path=nope.ckpt"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "ckpt_path='nope.ckpt': no such checkpoint file" in proc.stdout + proc.stderr


def test_attribute_check_boxes_come_from_the_setting_the_data_or_the_model():
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from starganv2.cli.demo import attribute_names

    label = ("label",)
    v1 = SimpleNamespace(has_styles=False, num_domains=2, hparams={}, guidance_modes=label)
    multi = SimpleNamespace(
        has_styles=False, num_domains=2, hparams={"label_mode": "multi"}, guidance_modes=label
    )
    named = SimpleNamespace(
        has_styles=False, num_domains=2, hparams={}, guidance_modes=("attribute",),
        attribute_names=["warm", "large"],
    )  # fmt: skip
    v2 = SimpleNamespace(has_styles=True, num_domains=2, hparams={}, guidance_modes=("latent",))
    none = OmegaConf.create({"attributes": None, "data": None})
    data = OmegaConf.create({"attributes": None, "data": {"attributes": ["Blond", "Male"]}})
    given = OmegaConf.create({"attributes": ["x", "y"], "data": None})
    assert attribute_names(none, v1) is None and attribute_names(none, v2) is None
    assert attribute_names(data, v1) == ["Blond", "Male"] and attribute_names(data, v2) is None
    assert attribute_names(none, multi) == ["attribute0", "attribute1"]
    assert attribute_names(given, v1) == ["x", "y"]
    assert attribute_names(none, named) == ["warm", "large"] == attribute_names(data, named)


def test_a_data_config_gives_names_and_validation_examples(tmp_path):
    """``data=shapes``: the shapes' class names and its validation pictures, per domain."""
    import torch

    from starganv2.cli.demo import build
    from starganv2.models.stargan_v2.module import StarGANv2Module
    from tests.helpers import TINY
    from tests.synthesis.demo.conftest import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(StarGANv2Module(**{**TINY, "num_domains": 3}), tmp_path / "m.ckpt")
    cfg = compose_train(
        [f"ckpt_path={ckpt}", "data=shapes", f"data.cache_dir={tmp_path / 'cache'}",
         "data.n_train=2", "data.n_val=3", "examples_per_domain=2"],
        tmp_path / "run", config_name="demo",
    )  # fmt: skip
    app = build(cfg)
    try:
        assert (
            "domains: `circle`, `square`, `triangle`"
            in app.config["components"][0]["props"]["value"]
        )
        (sources, references) = [c for c in app.config["components"] if c["type"] == "dataset"]
        assert len(sources["props"]["samples"]) == 3 * 2 == len(references["props"]["samples"])
        assert [s[1] for s in references["props"]["samples"]][::2] == [
            "circle",
            "square",
            "triangle",
        ]
    finally:
        app.scratch.remove()


def test_a_taken_port_is_one_line_and_status_1(v2_ckpt, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli(
            ["starganv2.cli.demo", f"ckpt_path={v2_ckpt}", f"port={port}"],
            cwd=tmp_path,
            timeout=180,
        )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert f"{port}" in out and "Traceback" not in out and "Error executing job" not in out
    assert f"port={port} on host=127.0.0.1 cannot be opened" in out  # the key to change
    assert "GRADIO_SERVER_PORT" not in out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("port=abc", "port='abc' is invalid: expected a port number in [1, 65535]"),
        ("port=70000", "port=70000 is invalid: expected a port number in [1, 65535]"),
        ("max_styles=0", "max_styles=0 is invalid: expected an integer >= 2"),
        ("fps=0", "fps=0 is invalid: expected frames per second > 0"),
        ("frames_per_transition=0", "frames_per_transition=0 is invalid: expected an integer >= 1"),
    ],
)
def test_serving_values_are_checked_before_the_model_loads(tmp_path, override, message):
    """They were tracebacks (TypeError, OverflowError) or Gradio's words, after the model loaded;
    a bad video setting was accepted and showed only when someone asked for a video."""
    from starganv2.cli.demo import build
    from tests.integration.conftest import compose_train

    cfg = compose_train([f"ckpt_path={tmp_path}/missing.ckpt", override], tmp_path, "demo")
    with pytest.raises(ValueError) as err:
        build(cfg)
    assert message in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_and_removes_its_files(v2_ckpt, tmp_path, signum):
    """``kill`` (SIGTERM) ended the demo at once: its folder of zips and videos stayed under the
    temporary directory for good. Now it stops as Ctrl+C does (Gradio closes, the folder goes)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.integration.conftest import default_sigint

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**__import__("os").environ, "TMPDIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "starganv2.cli.demo", f"ckpt_path={v2_ckpt}", f"port={free_port()}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "press Ctrl+C to stop" in line or not line:
                break
        assert "press Ctrl+C to stop" in lines[-1], "".join(lines)
        assert list(tmp.glob("starganv2-demo-*")), "the demo made no folder: nothing to check"
        proc.send_signal(getattr(signal, signum))
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in out, out
    assert not list(tmp.glob("starganv2-demo-*")), out
