"""Demo entry point: ``starganv2-demo ckpt_path=model.ckpt [host=127.0.0.1 port=7860]``.

Loads the checkpoint once, builds the page (:func:`starganv2.synthesis.demo.app.build_app`),
prints its address and serves until Ctrl+C (or SIGTERM). See ``conf/demo.yaml`` for the keys.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from starganv2.cli.overrides_check import checked_command_line

log = logging.getLogger("starganv2.demo")


def examples_folder(cfg: DictConfig) -> Path | None:
    """``examples_dir``, else ``<data root>/<examples_split>`` (``train`` when that split is
    missing) of the data config, else ``None``."""
    if cfg.get("examples_dir"):
        folder = Path(cfg.examples_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"examples_dir={cfg.examples_dir!r}: no such folder")
        return folder
    if not cfg.get("data"):
        return None
    from starganv2.cli.sample import _data_root

    root = _data_root(cfg)
    for split in (cfg.examples_split, "train"):
        if (root / split).is_dir():
            return root / split
    return None


def examples(folder: Path | None, names: list[str], per_domain: int) -> list[tuple[str, str]]:
    """The first ``per_domain`` pictures (sorted) of each domain folder of ``folder`` that is
    one of the model's domains ``names``: ``(path, domain name)``."""
    if folder is None or per_domain < 1:
        return []
    from starganv2.data.folders import list_domain_files

    found = list_domain_files(folder)
    unknown = sorted(set(found) - set(names))
    if unknown:
        log.warning(
            "examples under %s: folders %s are not model domains %s", folder, unknown, names
        )
    return [(str(p), d) for d in names for p in sorted(found.get(d, []))[:per_domain]]


def attribute_names(cfg: DictConfig, model: Any) -> list[str] | None:
    """Names of a label model's multi-hot entries (check boxes): ``attributes``, else the data
    config's ``attributes`` (e.g. ``data=attributes``), else the model's own (multi-label
    models: ``attribute_names``, or ``attribute0, ...`` for ``label_mode=multi``); ``None`` for
    single-domain labels."""
    if cfg.get("attributes"):
        return list(cfg.attributes)
    if model.has_styles:
        return None
    if "attribute" in tuple(model.guidance_modes) and getattr(model, "attribute_names", None):
        return list(model.attribute_names)  # a multi-label model names its attributes
    if cfg.get("data") and cfg.data.get("attributes"):
        return list(cfg.data.attributes)
    if getattr(model, "hparams", {}).get("label_mode") == "multi":
        return [f"attribute{i}" for i in range(model.num_domains)]
    return None


def check_serving(cfg: DictConfig) -> None:
    """``port`` (null, or 1-65535), ``max_styles`` (>= 2: the slider's range) and the style
    video's ``fps`` (> 0) and ``frames_per_transition`` (>= 1) before the model loads: Gradio's
    own errors are tracebacks or name its keys, not these, and a bad video setting would
    otherwise first show as an error in the page of whoever asks for a video."""
    from starganv2.synthesis.video import check_fps
    from starganv2.utils.checks import check_int

    port = cfg.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise ValueError(
            f"port={port!r} is invalid: expected a port number in [1, 65535], or port=null for "
            "the first free port from 7860"
        )
    check_int(cfg.max_styles, "max_styles", 2)
    check_int(cfg.frames_per_transition, "frames_per_transition")
    check_fps(cfg.fps, "fps")


def build(cfg: DictConfig) -> Any:
    """The engine and page of ``cfg`` (not yet serving)."""
    from starganv2.cli.common import load_module, resolve_device
    from starganv2.cli.translate import domain_names
    from starganv2.data.folders import list_domains
    from starganv2.synthesis.demo.app import build_app
    from starganv2.synthesis.demo.engine import DemoEngine

    check_serving(cfg)
    model = load_module(cfg.ckpt_path, resolve_device(cfg.device))
    folder = examples_folder(cfg)
    names = domain_names(cfg, model.num_domains)
    if names[0] == "domain0" and folder is not None and not cfg.get("domain_names"):
        found = list_domains(folder)
        names = found if len(found) == model.num_domains else names
    engine = DemoEngine(
        model,
        names,
        attributes=attribute_names(cfg, model),
        fit=cfg.fit,
        pad=cfg.pad,
        batch_size=cfg.batch_size,
    )
    return build_app(
        engine,
        examples=examples(folder, names, cfg.examples_per_domain),
        title=f"StarGAN demo: {Path(cfg.ckpt_path).name}",
        max_pixels=cfg.max_pixels,
        max_styles=cfg.max_styles,
        frames_per_transition=cfg.frames_per_transition,
        fps=cfg.fps,
    )


def run(cfg: DictConfig, block: bool = True) -> Any:
    """Build the page, start serving on ``host:port`` and print the address; with ``block``
    serve until interrupted. Returns the app (serving, when ``block=False``)."""
    app = build(cfg)
    try:
        app.launch(
            server_name=cfg.host,
            server_port=cfg.port,
            share=bool(cfg.share),
            prevent_thread_lock=True,
            quiet=True,
            show_error=True,
        )
    except OSError as err:  # Gradio's words name its own settings (GRADIO_SERVER_PORT...)
        app.scratch.remove()
        raise OSError(
            f"port={cfg.port} on host={cfg.host} cannot be opened ({str(err).split('. ')[0]}): "
            "start again with another port=N, or port=null for the first free one from 7860"
        ) from err
    print(f"starganv2-demo: {cfg.ckpt_path} on {app.local_url}", flush=True)
    if getattr(app, "share_url", None):
        print(f"starganv2-demo: public link {app.share_url}", flush=True)
    if block:
        with _sigterm_as_ctrl_c():
            try:
                print("starganv2-demo: press Ctrl+C to stop", flush=True)
                app.block_thread()  # returns after Ctrl+C, once Gradio has closed the server
            except KeyboardInterrupt:  # came before Gradio's wait began
                app.close()
            finally:
                app.scratch.remove()
    return app


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager, ``timeout``) stops the server as Ctrl+C does: Gradio
    closes it and the page's files (zips, videos) are removed. The default action ended the
    process at once and left its folder under the temporary directory for good."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up
        log.warning("stopped by SIGTERM")
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`."""
    from starganv2.cli.common import BAD_INPUT, run_or_exit

    # OSError: the port is taken (Gradio says which and how to choose another; here: port=...)
    run_or_exit(run, cfg, log, (*BAD_INPUT, OSError))


if __name__ == "__main__":
    main()
