"""The demo's web page (Gradio): upload, pick a domain or a reference, move through styles.

:func:`build_app` lays out a :class:`gradio.Blocks` page around a
:class:`~starganv2.synthesis.demo.engine.DemoEngine`. The controls follow the model: style models
(StarGAN v2) get latent-guided controls (target domain, ``K`` styles from a seed, re-roll, style
strength ``psi``, a slider between two styles, a video through the styles) and reference-guided
ones (a reference and its domain, chosen or predicted); deterministic models (StarGAN v1) get a
target domain, or one check box per attribute when the engine has ``attributes``; models with a
mask provider (faces) can show the masks.

The page's main function is also the API endpoint ``translate`` (``gradio_client``): called with
only an image, every other input takes its default (latent-guided, a domain other than the
source's, one style, seed 0, ``psi = 1``). Bad uploads (no image, too large, undecodable) end in
a message in the page (:class:`gradio.Error`), never in a server error; each request keeps its
results in its own browser session (``gr.State``) and its own folder for the zip and the video.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from starganv2.models.interface import MODE_LABEL, MODE_LATENT, MODE_REFERENCE
from starganv2.synthesis.demo.engine import AUTO, MODE_ATTRIBUTE, DemoEngine, write_zip
from starganv2.synthesis.demo.inputs import MAX_PIXELS, Picture, PictureError, read_picture
from starganv2.synthesis.fit import FIT_MODES

__all__ = ["API_NAME", "build_app", "import_gradio"]

log = logging.getLogger(__name__)

API_NAME = "translate"
"""Name of the main function's API endpoint (``client.predict(image, api_name="/translate")``)."""
_AUTO = "auto"
_MAX_STYLES = 16
_SCRATCH_AGE_S = 3600
SEED_MAX = 2**53 - 1
"""The largest seed: a browser keeps integers exactly up to it; larger ones overflowed torch's
64-bit seed with a bare "Overflow when unpacking long long"."""


def import_gradio() -> Any:
    """``gradio``, or an ``ImportError`` saying which extra installs it."""
    # no usage reports leave the machine (Gradio sends them by default)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the demo needs Gradio, which is not installed: pip install 'starganv2[demo]' "
            '(from a clone: pip install -e ".[demo]")'
        ) from e
    return gradio


def page_error(gr: Any, message: str) -> Exception:
    """The ``gr.Error`` that shows ``message`` in the user's page, logged on the server as one
    warning line: Gradio would print the whole traceback of a page's own message, which is the
    user's input (a file that is no picture, no source yet), not a fault of the server."""
    log.warning("page: %s", message)
    return gr.Error(message, print_exception=False)


def _upload_image(gr: Any, **kwargs: Any) -> Any:
    """A ``gr.Image`` upload whose own check of the file (Gradio opens it with PIL before the
    page's function runs) ends in a message in the page instead of an internal error.

    The check is wrapped on the instance: a subclass would make Gradio write a ``.pyi`` stub
    next to this file at run time."""
    component = gr.Image(**kwargs)
    checked = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return checked(payload)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            name = getattr(payload, "orig_name", None) or "the file"
            raise page_error(
                gr,
                f"{component.label}: {name} is not an image this app can read ({type(e).__name__})",
            ) from e

    component.preprocess = preprocess
    return component


class _Scratch:
    """One folder per request for the files the page offers (zip, video); folders older than
    an hour are removed when a new one is made, and all of them when the app closes."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="starganv2-demo-"))

    def new(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)  # again after remove(): the app may reopen
        now = time.time()
        for old in self.root.iterdir():
            if now - old.stat().st_mtime > _SCRATCH_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.root))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _domain(value: str | None, names: Sequence[str]) -> int:
    """A dropdown value (``"auto"`` or a domain name) as an index (``AUTO`` for auto)."""
    if value in (None, "", _AUTO):
        return AUTO
    if value in names:
        return list(names).index(value)
    raise ValueError(f"domain {value!r} is not one of {list(names)} (or {_AUTO!r})")


def build_app(
    engine: DemoEngine,
    examples: Sequence[tuple[str, str]] = (),
    title: str = "StarGAN v2",
    max_pixels: int = MAX_PIXELS,
    max_styles: int = _MAX_STYLES,
    frames_per_transition: int = 12,
    fps: int = 24,
) -> Any:
    """The demo page for ``engine``.

    Args:
        engine: the model and its computations.
        examples: ``(path, domain name)`` of pictures offered as sources and references (e.g.
            validation images); a picked reference gets its known domain.
        title: shown at the top of the page and in the browser tab.
        max_pixels: largest upload accepted (width x height).
        max_styles: upper end of the number-of-styles slider.
        frames_per_transition, fps: the style video's pace.

    Returns: a ``gradio.Blocks``; ``.launch(server_name=..., server_port=...)`` serves it,
    ``.scratch.remove()`` deletes its files once it is closed, and ``.controls`` names its main
    components (``source``, ``target``, ``latent``, ``reference``, ``attributes``, ...).
    """
    gr = import_gradio()
    names = engine.domain_names
    styles = engine.has_styles
    labels_by_attribute = engine.attributes is not None
    # a label model's one mode: "label" (domains), or "attribute" (multi-hot vectors)
    label_mode = MODE_ATTRIBUTE if MODE_ATTRIBUTE in engine.model.guidance_modes else MODE_LABEL
    scratch = _Scratch()
    upload_image = functools.partial(_upload_image, gr)

    def picture(path: str | None, what: str) -> Picture | None:
        if not path:
            return None
        try:
            found = read_picture(path, max_pixels)
        except PictureError as e:
            raise page_error(gr, f"{what}: {e}") from e
        if found.note:
            gr.Warning(found.note)
        return found

    def preview(path: str | None, fit: str) -> Any:
        found = picture(path, "source")
        return None if found is None else engine.prepare(found.image, fit).view

    def translate(
        source: str | None,
        fit: str = engine.fit,
        mode: str = MODE_LATENT if styles else label_mode,
        target: str = _AUTO,
        num_styles: float = 1,
        seed: float = 0,
        psi: float = 1.0,
        reference: str | None = None,
        reference_domain: str = _AUTO,
        attributes: list[str] | None = None,
        show_masks: bool = False,
    ) -> tuple[Any, ...]:
        """Translate the source image: latent-guided (target domain, number of styles, seed,
        psi), reference-guided (reference image and its domain) or by label (StarGAN v1).
        Returns the outputs at the source's size, a zip of them, the model's view of the source,
        the masks (face models), a status line with the time taken, and the session's state."""
        if not source:
            raise page_error(gr, "upload a source image first (or pick one of the examples)")
        try:
            src_pic = picture(source, "source")
            src = engine.prepare(src_pic.image, fit)
            ref = None
            if mode == MODE_REFERENCE:
                ref_pic = picture(reference, "reference")
                if ref_pic is None:
                    raise page_error(gr, "reference-guided: upload a reference image (or pick one)")
                ref = engine.prepare(ref_pic.image, fit)
            labels = None
            if mode in (MODE_LABEL, MODE_ATTRIBUTE) and labels_by_attribute:
                labels = [engine.attributes.index(a) for a in (attributes or [])]
            result = engine.translate(
                src,
                mode=mode,
                y_trg=_domain(target, names),
                num_styles=int(num_styles),
                seed=int(seed),
                psi=float(psi),
                ref=ref,
                y_ref=_domain(reference_domain, names),
                labels=labels,
                masks=bool(show_masks),
            )
        except gr.Error:
            raise
        except (ValueError, PictureError) as e:
            raise page_error(gr, str(e)) from e
        target_name = "attributes" if result.y_trg is None else names[result.y_trg]
        files = [f"{target_name}_{k + 1}.png" for k in range(len(result.images))]
        zipped = write_zip(result.images, files, scratch.new() / "results.zip")
        h, w = src.fit.out_height, src.fit.out_width
        status = (
            f"{len(result.images)} image(s) of {target_name}, {w}x{h} px, in "
            f"{result.seconds:.2f} s ({engine.img_size} px model on {engine.model.device})"
        )
        if result.notes:
            status += " | " + "; ".join(result.notes)
        gallery = [(img, name) for img, name in zip(result.images, files)]
        masks = [(m, f"mask {i + 1}") for i, m in enumerate(result.masks)]
        state = {
            "src": src,
            "y": result.y_trg,
            "styles": None if result.styles is None else result.styles.cpu(),
            "seed": int(seed),
            "psi": float(psi),
        }
        return gallery, str(zipped), src.view, masks, status, state

    def blend(state: dict | None, a: float, b: float, alpha: float) -> Any:
        if not state or state.get("styles") is None:
            raise page_error(
                gr, "translate with a style model first; the slider moves between its styles"
            )
        codes = engine.styles_to_move_through(
            state["styles"], state["y"], max(int(a), int(b)), state["seed"], state["psi"]
        )
        k = codes.size(0)
        if not (1 <= int(a) <= k and 1 <= int(b) <= k):
            raise page_error(gr, f"styles are numbered 1 to {k}; got {int(a)} and {int(b)}")
        return engine.blend(state["src"], state["y"], codes[int(a) - 1], codes[int(b) - 1], alpha)

    def video(state: dict | None) -> str:
        if not state or state.get("styles") is None:
            raise page_error(
                gr, "translate with a style model first; the video moves through its styles"
            )
        # one style shown: it, then the next three of the same seed
        codes = engine.styles_to_move_through(
            state["styles"], state["y"], 4, state["seed"], state["psi"]
        )
        path = scratch.new() / "styles.mp4"
        try:
            engine.video(state["src"], state["y"], codes, path, frames_per_transition, fps)
        except ImportError as e:
            raise page_error(gr, str(e)) from e
        return str(path)

    def mode_changed(mode: str) -> tuple[Any, Any, Any]:
        latent = mode == MODE_LATENT
        return (
            gr.update(visible=latent),
            gr.update(visible=mode == MODE_REFERENCE),
            gr.update(visible=mode != MODE_REFERENCE and not labels_by_attribute),
        )

    sources = [[p] for p, _ in examples]
    references = [[p, d] for p, d in examples]
    info = f"**{type(engine.model).__name__}**, {engine.img_size} px, domains: " + ", ".join(
        f"`{n}`" for n in names
    )
    with gr.Blocks(title=f"{title} demo", analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\n{info}")
        state = gr.State()
        with gr.Row():
            with gr.Column(scale=1):
                source = upload_image(
                    type="filepath", image_mode=None, label="Source", elem_id="source",
                    sources=["upload", "clipboard"], height=240,
                )  # fmt: skip
                if sources:
                    gr.Examples(sources, inputs=[source], label="Validation images (source)")
                fit = gr.Radio(list(FIT_MODES), value=engine.fit, label="Fit to the model's square")
                view = gr.Image(
                    label="What the model sees",
                    interactive=False,
                    elem_id="view",
                    format="png",
                    height=240,
                )
                modes = [MODE_LATENT, MODE_REFERENCE] if styles else [label_mode]
                mode = gr.Radio(modes, value=modes[0], label="Guidance", visible=styles)
                choices = [("auto: a domain other than the source's", _AUTO)] + [
                    (n, n) for n in names
                ]
                target = gr.Dropdown(
                    choices, value=_AUTO, label="Target domain", elem_id="target",
                    visible=not labels_by_attribute,
                )  # fmt: skip
                attribute_boxes = gr.CheckboxGroup(
                    engine.attributes or [], label="Target attributes", visible=labels_by_attribute
                )
                with gr.Group(visible=styles) as latent_controls:
                    num_styles = gr.Slider(1, max_styles, value=1, step=1, label="Styles (K)")
                    with gr.Row():
                        seed = gr.Number(
                            value=0, precision=0, label="Seed", minimum=0, maximum=SEED_MAX
                        )
                        reroll = gr.Button("Re-roll styles", elem_id="reroll")
                    psi = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Style strength psi")
                with gr.Group(visible=False) as reference_controls:
                    reference = upload_image(
                        type="filepath", image_mode=None, label="Reference", elem_id="reference",
                        sources=["upload", "clipboard"],
                    )  # fmt: skip
                    reference_domain = gr.Dropdown(
                        [("auto: predicted from the reference", _AUTO)] + [(n, n) for n in names],
                        value=_AUTO, label="Reference domain",
                    )  # fmt: skip
                    if references:
                        gr.Examples(
                            references, inputs=[reference, reference_domain],
                            label="Validation images (reference, with their domain)",
                        )  # fmt: skip
                show_masks = gr.Checkbox(
                    False, label="Show the face masks", visible=engine.has_masks
                )
                button = gr.Button("Translate", variant="primary", elem_id="translate")
            with gr.Column(scale=2):
                gallery = gr.Gallery(
                    label="Results (at the source's size)", format="png", columns=4,
                    elem_id="results", buttons=["download", "download_all", "fullscreen"],
                )  # fmt: skip
                status = gr.Markdown(elem_id="status")
                zipped = gr.File(label="All results (zip)", elem_id="zip")
                masks = gr.Gallery(
                    label="Masks of the high-pass skip", format="png", columns=2,
                    visible=engine.has_masks,
                )  # fmt: skip
                with gr.Accordion("Move through styles", open=True, visible=styles) as styles_panel:
                    with gr.Row():
                        style_a = gr.Number(value=1, precision=0, minimum=1, label="From style")
                        style_b = gr.Number(value=2, precision=0, minimum=1, label="To style")
                    alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Blend")
                    blended = gr.Image(label="Blended style", interactive=False, format="png")
                    make_video = gr.Button("Make a video through the styles")
                    video_out = gr.Video(label="Style video", interactive=False)

        inputs = [
            source, fit, mode, target, num_styles, seed, psi, reference, reference_domain,
            attribute_boxes, show_masks,
        ]  # fmt: skip
        outputs = [gallery, zipped, view, masks, status, state]
        button.click(translate, inputs, outputs, api_name=API_NAME)
        source.change(preview, [source, fit], view, api_visibility="private")
        fit.change(preview, [source, fit], view, api_visibility="private")
        mode.change(
            mode_changed, mode, [latent_controls, reference_controls, target],
            api_visibility="private",
        )  # fmt: skip
        reroll.click(lambda: random.randrange(2**31), None, seed, api_visibility="private").then(
            translate, inputs, outputs, api_visibility="private"
        )
        for trigger in (alpha.release, style_a.submit, style_b.submit):
            trigger(blend, [state, style_a, style_b, alpha], blended, api_visibility="private")
        make_video.click(video, state, video_out, api_name="video")
    app.queue(default_concurrency_limit=1)
    app.scratch = scratch
    app.controls = {
        "source": source, "fit": fit, "mode": mode, "target": target, "attributes": attribute_boxes,
        "latent": latent_controls, "reference": reference_controls, "masks": show_masks,
        "styles": styles_panel, "results": gallery, "status": status,
    }  # fmt: skip
    return app
