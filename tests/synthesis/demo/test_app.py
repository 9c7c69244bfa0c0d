"""The page's API as a Python user calls it (``gradio_client``), and which controls each model
gets. The server listens on 127.0.0.1 on a free port and is stopped by each test."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from starganv2.models.registry import load_model
from starganv2.synthesis.demo.engine import DemoEngine, predict_domains
from tests.synthesis.demo.conftest import write_picture
from tests.synthesis.demo.serve import served

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from starganv2.synthesis.demo.app import build_app  # noqa: E402


@pytest.fixture(scope="module")
def engine(v2_ckpt):
    return DemoEngine(load_model(v2_ckpt), ["cat", "dog"], mean_codes=200)


def client(url, tmp_path):
    """A Python user of the page; files it receives are downloaded under ``tmp_path``."""
    return gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))


def result_paths(out) -> list[str]:
    return [item["image"] for item in out[0]]


def test_translate_endpoint_with_only_an_image(engine, tmp_path):
    src = write_picture(tmp_path / "src.png", 60, 40)
    with served(build_app(engine)) as url:
        out = client(url, tmp_path).predict(
            gradio_client.handle_file(str(src)), api_name="/translate"
        )
    (path,) = result_paths(out)
    got = Image.open(path)
    assert got.size == (60, 40)
    source = np.asarray(Image.open(src), dtype=np.int16)
    assert np.abs(np.asarray(got, dtype=np.int16) - source).mean() > 5
    prepared = engine.prepare(Image.open(src))
    y_src = int(predict_domains(engine.model, prepared.x.unsqueeze(0))[0])
    status = out[4]
    assert f"of {engine.domain_names[1 - y_src]}" in status and " s (32 px model" in status


def test_the_endpoint_takes_every_control_by_name(engine, tmp_path):
    src = write_picture(tmp_path / "src.png", 50, 50)
    ref = write_picture(tmp_path / "ref.png", 32, 32, seed=3)
    with served(build_app(engine)) as url:
        c = client(url, tmp_path)
        latent = c.predict(
            gradio_client.handle_file(str(src)), target="dog", num_styles=3, seed=7, psi=0.5,
            fit="crop", api_name="/translate",
        )  # fmt: skip
        by_ref = c.predict(
            gradio_client.handle_file(str(src)), mode="reference",
            reference=gradio_client.handle_file(str(ref)), reference_domain="cat",
            api_name="/translate",
        )  # fmt: skip
    assert len(result_paths(latent)) == 3 and latent[4].startswith("3 image(s) of dog, 50x50")
    assert len(result_paths(by_ref)) == 1 and by_ref[4].startswith("1 image(s) of cat")
    want = engine.translate(
        engine.prepare(Image.open(src)), y_trg=1, num_styles=3, seed=7, psi=0.5
    ).images[2]
    got = np.asarray(Image.open(result_paths(latent)[2]), dtype=np.int16)
    assert np.abs(got - np.asarray(want, dtype=np.int16)).max() <= 1


def test_bad_uploads_give_a_message_and_the_server_keeps_serving(engine, tmp_path, capfd, caplog):
    """The page's messages are one warning line each on the server, not Gradio's traceback."""
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    src = write_picture(tmp_path / "src.png", 40, 40)
    with served(build_app(engine, max_pixels=1000)) as url:
        c = client(url, tmp_path)
        capfd.readouterr()
        with caplog.at_level("WARNING", logger="starganv2.synthesis.demo.app"):
            with pytest.raises(gradio_client.exceptions.AppError, match="notes.png is not an im"):
                c.predict(gradio_client.handle_file(str(text)), api_name="/translate")
            with pytest.raises(gradio_client.exceptions.AppError, match="limit is 1,000"):
                c.predict(gradio_client.handle_file(str(src)), api_name="/translate")
        server = capfd.readouterr()
        assert "Traceback" not in server.out + server.err, server.err
        pages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("page: ")]
        assert len(pages) == 2 and "notes.png is not an image" in pages[0], pages
        small = write_picture(tmp_path / "small.png", 30, 30)
        with pytest.raises(gradio_client.exceptions.AppError, match="greater than maximum"):
            c.predict(gradio_client.handle_file(str(small)), seed=2**70, api_name="/translate")
        assert (
            len(
                result_paths(
                    c.predict(gradio_client.handle_file(str(small)), api_name="/translate")
                )
            )
            == 1
        )


def test_tabs_at_the_same_time_get_their_own_results(engine, tmp_path):
    src = write_picture(tmp_path / "src.png", 40, 40)
    want = {
        seed: np.asarray(
            engine.translate(engine.prepare(Image.open(src)), y_trg=0, seed=seed).images[0],
            dtype=np.int16,
        )
        for seed in range(4)
    }
    got: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}
    with served(build_app(engine)) as url:
        # one client per tab, connected first; their requests then run at the same time
        clients = [client(url, tmp_path) for _ in range(4)]

        def tab(seed):
            try:
                out = clients[seed].predict(
                    gradio_client.handle_file(str(src)),
                    target="cat",
                    seed=seed,
                    api_name="/translate",
                )
                got[seed] = np.asarray(Image.open(result_paths(out)[0]), dtype=np.int16)
            except BaseException as err:  # reported below: a thread's exception is otherwise lost
                errors[seed] = err

        threads = [threading.Thread(target=tab, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    assert sorted(got) == [0, 1, 2, 3]
    for seed in range(4):
        assert np.abs(got[seed] - want[seed]).max() <= 1, seed
    assert np.abs(got[0] - got[1]).mean() > 0.5  # the seeds do differ


def test_a_label_model_shows_label_controls_and_hides_style_controls(v1_ckpt, tmp_path):
    model = load_model(v1_ckpt)
    plain = build_app(DemoEngine(model, ["a", "b", "c"]))
    assert plain.controls["target"].visible and not plain.controls["attributes"].visible
    assert not plain.controls["latent"].visible and not plain.controls["styles"].visible
    assert not plain.controls["mode"].visible and not plain.controls["masks"].visible
    src = write_picture(tmp_path / "src.png", 40, 30)
    with served(plain) as url:
        out = client(url, tmp_path).predict(
            gradio_client.handle_file(str(src)), target="c", api_name="/translate"
        )
    assert Image.open(result_paths(out)[0]).size == (40, 30) and out[4].startswith(
        "1 image(s) of c"
    )
    boxes = build_app(DemoEngine(model, attributes=["black", "blond", "male"]))
    assert boxes.controls["attributes"].visible and not boxes.controls["target"].visible
    with served(boxes) as url:
        out = client(url, tmp_path).predict(
            gradio_client.handle_file(str(src)), attributes=["blond", "male"], api_name="/translate"
        )
    assert out[4].startswith("1 image(s) of attributes")


def test_a_multi_label_model_gets_check_boxes_by_default(tmp_path):
    from starganv2.models.stargan_v1.module import StarGANv1Module
    from tests.synthesis.demo.conftest import TINY_V1

    class AttributeModel(StarGANv1Module):
        guidance_modes = ("attribute",)
        attribute_names = ["warm", "large", "outline"]

    app = build_app(DemoEngine(AttributeModel(**TINY_V1).eval()))
    assert app.controls["attributes"].visible and not app.controls["target"].visible
    assert app.controls["mode"].value == "attribute"
    src = write_picture(tmp_path / "src.png", 40, 30)
    with served(app) as url:
        out = client(url, tmp_path).predict(
            gradio_client.handle_file(str(src)), attributes=["large"], api_name="/translate"
        )
    assert out[4].startswith("1 image(s) of attributes, 40x30 px")


def test_a_style_model_shows_style_controls(engine):
    app = build_app(engine)
    assert app.controls["latent"].visible and app.controls["styles"].visible
    assert app.controls["mode"].visible and not app.controls["masks"].visible
    app.scratch.remove()


def test_the_zip_and_the_video(engine, tmp_path):
    pytest.importorskip("av")
    import zipfile

    src = write_picture(tmp_path / "src.png", 40, 40)
    with served(build_app(engine, frames_per_transition=2)) as url:
        c = client(url, tmp_path)
        out = c.predict(gradio_client.handle_file(str(src)), num_styles=2, api_name="/translate")
        with zipfile.ZipFile(out[1]) as archive:
            assert len(archive.namelist()) == 2
        video = c.predict(api_name="/video")
    path = video["video"] if isinstance(video, dict) else video
    from starganv2.synthesis.video import count_video_frames

    assert path.endswith(".mp4") and count_video_frames(path) == 2 * 2  # two styles, looped
