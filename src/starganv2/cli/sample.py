"""Sampling entry point: ``starganv2-sample ckpt_path=... [overrides]``.

Writes one grid per guidance mode of the model (``outputs=auto``: a reference-guided grid and one
latent-guided grid per target domain for StarGAN v2, a label grid for StarGAN v1) and, on request,
the ``video_ref`` / ``video_latent`` interpolation videos into the run folder. Sources and references
come from ``<data root>/<split>/<domain>/`` of the data config, or from ``src_dir`` / ``ref_dir``.
A StarGAN v1 model on attribute vectors (``label_mode=multi``) gets the original's test grid
(``attribute_grid``) of test images of its attribute data config with their own labels
(``data=attributes data.root=... data.attr_file=...``). See ``conf/sample.yaml`` for the keys.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from starganv2.cli.overrides_check import checked_command_line

log = logging.getLogger("starganv2.sample")

OUTPUTS = (
    "reference_grid",
    "latent_grid",
    "label_grid",
    "attribute_grid",
    "video_ref",
    "video_latent",
)
AUTO_OUTPUTS = {
    "reference": "reference_grid",
    "latent": "latent_grid",
    "label": "label_grid",
    "attribute": "attribute_grid",
}
"""``outputs=auto``: one grid per guidance mode of the model."""
OUTPUT_MODES = {
    "reference_grid": "reference",
    "video_ref": "reference",
    "latent_grid": "latent",
    "video_latent": "latent",
    "label_grid": "label",
    "attribute_grid": "attribute",
}
"""The guidance mode each output needs."""


def check_outputs_fit(outputs: list[str], psi: float, module: Any) -> None:
    """``ValueError`` naming the setting and what the model makes instead when an output needs a
    guidance mode the model lacks (StarGAN v1 has no latent or reference grids, StarGAN v2 no
    label grid) or ``psi`` truncates style codes it does not have, or that no output draws
    (reference grids and videos, never truncated); checked before any data is read, as the
    grids would otherwise fail one by one with advice in terms of modes."""
    modes = list(module.guidance_modes)
    instead = f"outputs=auto or outputs=[{','.join(AUTO_OUTPUTS[m] for m in modes)}]"
    name = type(module).__name__
    for output in outputs:
        if OUTPUT_MODES[output] not in modes:
            raise ValueError(
                f"outputs=[{output}] needs {OUTPUT_MODES[output]!r} guidance, but {name} has only "
                f"{modes}: use {instead}"
            )
    if psi != 1.0 and not module.has_styles:
        raise ValueError(
            f"psi={psi} truncates style codes, but {name} has none (it makes one output per "
            f"image and target domain, modes {modes}): leave psi at 1.0"
        )
    if psi != 1.0 and not {"latent_grid", "video_latent"} & set(outputs):  # else ignored
        raise ValueError(
            f"psi={psi} truncates latent styles only, but outputs=[{','.join(outputs)}] has "
            "none (reference styles are never truncated): add latent_grid or video_latent to "
            "outputs, or leave psi at 1.0"
        )


def requested_outputs(value: Any) -> list[str]:
    """``outputs`` as a list of names (one name or a list; ``auto`` is expanded once the model
    is loaded); anything else (null, a number, an empty list, an unknown name) is a
    ``ValueError`` with the choices: a run would write nothing, or fail with a traceback."""
    from omegaconf import ListConfig

    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, ListConfig)) or not names:
        problem = "nothing to write"
    else:
        names = list(names)
        unknown = [o for o in names if o not in (*OUTPUTS, "auto")]
        if not unknown:
            return names
        problem = f"unknown {unknown}"
    shown = list(value) if isinstance(value, ListConfig) else value
    raise ValueError(f"outputs={shown}: {problem}; choose auto or from {list(OUTPUTS)}")


def _data_root(cfg: DictConfig) -> Path:
    """The dataset folder of the data config (generating the built-in shapes data if needed)."""
    from starganv2.cli.config_check import instantiate

    datamodule = instantiate(cfg.data)
    if hasattr(datamodule, "shapes_params"):
        datamodule.prepare_data()
    return Path(datamodule.root)


def _domain_mismatch(cfg: DictConfig, num_domains: int, names: list[str], split: Any) -> str:
    """Why the reference domains do not fit the model, and where they came from: a ``ref_dir``
    given, or the data config (``data=shapes`` unless another was given, which a model trained
    on one's own folders does not match)."""
    from starganv2.cli.common import hydra_config
    from starganv2.cli.translate import checkpoint_domain_names

    if cfg.ref_dir:
        return (
            f"the model has num_domains={num_domains} but ref_dir={cfg.ref_dir} has "
            f"{len(names)} domain folders: {names}; give one folder per model domain"
        )
    hc = hydra_config()
    choice = hc.runtime.choices.get("data") if hc is not None else None
    saved = checkpoint_domain_names(cfg, num_domains)
    trained = f" ({', '.join(saved)})" if saved else ""
    return (
        f"the model has num_domains={num_domains}{trained} but the data config "
        f"(data={choice or 'shapes'}, the default unless given) has {len(names)} domain folders "
        f"in {split}: {names}; give the data the model was trained on, e.g. data=folder "
        f"data.root=<its folder> data.num_domains={num_domains}, or src_dir and ref_dir"
    )


def _check_domain_names(cfg: DictConfig, names: list[str], where: str) -> None:
    """Compare the reference domains ``names`` (folders of ``where``) with those saved in
    ``cfg.ckpt_path``: a saved domain at another label is refused, since its grid would show
    another domain's translations under its name; other renames keep every label: a warning
    naming both lists. Checkpoints without names (converted ones) are not compared."""
    from starganv2.cli.translate import checkpoint_domain_names
    from starganv2.models.domain_names import check_domain_order

    check_domain_order(
        names,
        where,
        checkpoint_domain_names(cfg, len(names)),
        f"ckpt_path={cfg.ckpt_path}",
        effect="drawn with another domain's label and their grids named after them",
        remedy="give reference folders named and sorted as the model's domains",
        kept="the grids are named after the folders",
        verb="gives",
    )


def _pick(files: dict[str, list[Path]], per_domain: int, seed: int) -> list[tuple[Path, int]]:
    """Up to ``per_domain`` files of each domain, drawn with ``seed``; ``(path, domain index)``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for y, paths in enumerate(files.values()):
        order = torch.randperm(len(paths), generator=gen)[:per_domain].tolist()
        out += [(paths[i], y) for i in sorted(order)]
    return out


def _load(items: list[tuple[Path, int]], img_size: int, device: Any, key: str) -> tuple[Any, Any]:
    """The images of ``items`` as a batch on ``device`` and their domains; an unreadable image is
    bad input: ``ValueError`` naming it and ``key`` (where it came from)."""
    import torch

    from starganv2.data.folders import eval_transform, load_image

    def read(path: Path) -> Any:
        try:
            return load_image(path)
        except OSError as err:
            raise ValueError(
                f"{key}: cannot read image {path} ({err}); remove or replace it"
            ) from err

    transform = eval_transform(img_size)
    x = torch.stack([transform(read(p)) for p, _ in items]).to(device)
    y = torch.tensor([y for _, y in items], dtype=torch.long, device=device)
    return x, y


def _split_files(folder: Path, where: str) -> dict[str, list[Path]]:
    """The image files of each domain folder of ``folder``; ``where`` is how the error names
    the folder (``src_dir=...``, or the data's root and split when the folder came from them)."""
    from starganv2.data.folders import list_domain_files

    files = list_domain_files(folder)
    empty = [d for d, paths in files.items() if not paths]
    if not files or empty:
        raise FileNotFoundError(
            f"{where}: expected one sub-folder of images per domain; "
            f"found {sorted(files)} (empty: {empty})"
        )
    return files


def _attribute_sources(cfg: DictConfig, module: Any, device: Any) -> tuple[Any, Any]:
    """``num_sources`` test images (training images without a test split) of the attribute data
    config, read at the model's image size and drawn with ``seed``, and their attributes
    ``(N, A)``; data whose attributes are not the model's (in its order) are refused."""
    import torch

    from starganv2.cli.eval import (
        attribute_datamodule,
        check_attribute_names,
        is_attribute_config,
    )

    if not is_attribute_config(cfg):
        raise ValueError(
            "outputs=[attribute_grid] needs attribute data and its labels: data=attributes "
            "data.root=... data.attr_file=... (or data=shapes_attributes)"
        )
    datamodule = attribute_datamodule(cfg, module.img_size)
    check_attribute_names(cfg, datamodule, module)
    dataset = datamodule.val_set or datamodule.train_set
    gen = torch.Generator().manual_seed(cfg.seed)
    idx = sorted(torch.randperm(len(dataset), generator=gen)[: cfg.num_sources].tolist())
    x = torch.stack([dataset.load(i) for i in idx]).to(device)
    return x, dataset.labels[idx].to(device)


def _refuse_attribute_data(cfg: DictConfig, outputs: list[str]) -> None:
    """``ValueError`` for domain outputs read from attribute data (``data=attributes``,
    ``data=shapes_attributes``): those hold a table of attribute labels, not the domain folders
    the grids need, which the folder lookup would report as a missing ``val/`` folder."""
    from starganv2.cli.eval import is_attribute_config

    if is_attribute_config(cfg):
        raise ValueError(
            f"outputs={outputs} translate into domains, but the data config is attribute data "
            f"({cfg.data._target_}: a table of attribute labels, no domain folders); sample "
            "with the data the model was trained on (data=shapes, data=folder data.root=...), "
            "or give src_dir and ref_dir"
        )


def run(cfg: DictConfig) -> dict[str, Path]:
    """Sample as configured by ``cfg``; returns ``{output name: path}``."""
    import torch

    from starganv2.cli.common import load_module, resolve_device
    from starganv2.cli.logs import quiet_third_party
    from starganv2.models.interface import require_styles
    from starganv2.synthesis.grids import label_grid, latent_grid, reference_grid, save_grid
    from starganv2.synthesis.styles import check_psi, seeded_style_means
    from starganv2.synthesis.video import (
        check_fps,
        require_pyav,
        video_latent_frames,
        video_ref_frames,
        write_video,
    )
    from starganv2.utils.checks import check_int

    quiet_third_party()
    outputs = requested_outputs(cfg.outputs)
    for key in ("num_sources", "num_refs_per_domain", "num_latents"):
        check_int(cfg[key], key)
    check_psi(cfg.psi)
    if "video_ref" in outputs and cfg.num_refs_per_domain < 2:
        raise ValueError(
            f"num_refs_per_domain={cfg.num_refs_per_domain}: video_ref interpolates between "
            "references of one domain, so it needs at least 2 per domain; set "
            "num_refs_per_domain=2 or more"
        )
    if {"video_ref", "video_latent"} & set(outputs):
        check_fps(cfg.video.fps, "video.fps")
        check_int(cfg.video.frames_per_transition, "video.frames_per_transition")
        if "video_latent" in outputs:  # interpolation between codes: at least 2
            check_int(cfg.video.num_codes, "video.num_codes", 2)
        require_pyav()  # before any grid is written
    device = resolve_device(cfg.device)
    module = load_module(cfg.ckpt_path, device)
    auto = [AUTO_OUTPUTS[m] for m in module.guidance_modes]
    outputs = list(dict.fromkeys(o for n in outputs for o in (auto if n == "auto" else [n])))
    check_outputs_fit(outputs, cfg.psi, module)
    if "attribute_grid" in outputs:  # attribute vectors: sources with their labels, no domains
        from starganv2.synthesis.grids import attribute_grid

        if outputs != ["attribute_grid"]:
            raise ValueError(f"outputs={outputs}: attribute_grid goes alone")
        x_src, c_src = _attribute_sources(cfg, module, device)
        grid = attribute_grid(module, x_src, c_src, module.exclusive_groups)
        path = save_grid(grid, Path(cfg.output_dir) / "attribute.png")
        log.info("attribute_grid: %s", path)
        return {"attribute_grid": path}

    root = None if cfg.src_dir and cfg.ref_dir else _data_root(cfg)
    if root is not None:
        _refuse_attribute_data(cfg, outputs)
    split_dir = None
    if root is not None:
        split_dir = root / cfg.split
        if not split_dir.is_dir() and (root / "train").is_dir():
            log.info("%s does not exist; sampling from %s", split_dir, root / "train")
            split_dir = root / "train"
        elif not split_dir.is_dir():
            raise FileNotFoundError(
                f"data.root={root}: no {cfg.split}/ or train/ folder found; expected "
                f"{split_dir}/<domain>/ (or train/<domain>/) images, or src_dir and ref_dir"
            )
    from_data = f"{split_dir} (data.root={root}, split={split_dir.name})" if root else ""
    src_files = (
        _split_files(Path(cfg.src_dir), f"src_dir={cfg.src_dir}")
        if cfg.src_dir
        else _split_files(split_dir, from_data)
    )
    ref_files = (
        _split_files(Path(cfg.ref_dir), f"ref_dir={cfg.ref_dir}")
        if cfg.ref_dir
        else _split_files(split_dir, from_data)
    )
    names = list(ref_files)
    if len(names) != module.num_domains:
        raise ValueError(_domain_mismatch(cfg, module.num_domains, names, split_dir))
    _check_domain_names(cfg, names, f"ref_dir={cfg.ref_dir}" if cfg.ref_dir else str(split_dir))
    per_domain = max(1, -(-cfg.num_sources // len(src_files)))
    sources = _pick(src_files, per_domain, cfg.seed)[: cfg.num_sources]
    x_src, _ = _load(sources, module.img_size, device, "src_dir" if cfg.src_dir else "data")
    x_ref, y_ref = _load(
        _pick(ref_files, cfg.num_refs_per_domain, cfg.seed + 1),
        module.img_size,
        device,
        "ref_dir" if cfg.ref_dir else "data",
    )

    out_dir = Path(cfg.output_dir)
    written: dict[str, Path] = {}
    gen = torch.Generator().manual_seed(cfg.seed)
    s_mean = None
    if cfg.psi != 1.0:  # own generator: the latent codes drawn from gen do not depend on psi
        s_mean = seeded_style_means(require_styles(module, f"psi={cfg.psi}"), cfg.seed)
    videos = {}  # frame iterators made before any file is written: they check their settings
    if "video_ref" in outputs:
        videos["video_ref"] = video_ref_frames(
            module, x_src, x_ref, y_ref, cfg.video.frames_per_transition, names
        )
    if "video_latent" in outputs:  # its latent codes are drawn from gen as frames are made
        videos["video_latent"] = video_latent_frames(
            module,
            x_src,
            num_codes=cfg.video.num_codes,
            frames_per_transition=cfg.video.frames_per_transition,
            psi=cfg.psi,
            s_mean=s_mean,
            generator=gen,
        )
    if "reference_grid" in outputs:
        grid = reference_grid(module, x_src, x_ref, y_ref)
        written["reference_grid"] = save_grid(grid, out_dir / "reference.png")
    if "latent_grid" in outputs:
        latent_dim = require_styles(module, "outputs=[latent_grid]").latent_dim
        z = torch.randn(cfg.num_latents, latent_dim, generator=gen).to(device)
        for y, name in enumerate(names):
            grid = latent_grid(module, x_src, z, [y], psi=cfg.psi, s_mean=s_mean)
            written[f"latent_grid/{name}"] = save_grid(grid, out_dir / f"latent_{name}.png")
    if "label_grid" in outputs:
        written["label_grid"] = save_grid(label_grid(module, x_src), out_dir / "label.png")
    for key, frames in videos.items():
        path = out_dir / f"{key}.mp4"
        write_video(frames, path, fps=cfg.video.fps)
        written[key] = path
    for key, path in written.items():
        log.info("%s: %s", key, path)
    return written


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; exits with status 1 and a one-line error on bad input."""
    from starganv2.cli.common import run_stoppable

    run_stoppable(run, cfg, log, "starganv2-sample")


if __name__ == "__main__":
    main()
