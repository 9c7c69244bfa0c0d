"""Translate a folder of images into other domains, e.g. to make varied training data.

Every image under ``input_dir`` (any depth) is translated into each target domain with
``num_styles`` styles, either from random latent codes or from reference images, and written to
``output_dir`` at the mirrored relative path::

    input_dir/a/b/img.jpg  ->  output_dir/<domain>/a/b/img_<k>.jpg      (k = 0 .. num_styles - 1)

The default layout can be changed with ``name_template`` (fields ``domain``, ``rel_dir``,
``stem``, ``k``). Sidecar files next to an image with the same stem and a non-image suffix
(YOLO ``img.txt``, Pascal VOC ``img.xml``, ...) are copied next to each output under the output's
stem, so annotation tools pair them again. With ``resize_back`` each output is resized to its
input's original size (the geometry maps linearly, so box annotations stay valid).

Files are written to a temporary name and renamed when complete; existing outputs are skipped
unless ``overwrite``, so an interrupted run can be restarted. Images that fail to load are logged,
skipped, listed in the returned report and in ``output_dir/translate_failures.tsv``.
"""

from __future__ import annotations

import logging
import numbers
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from starganv2.data.folders import (
    IMAGE_SUFFIXES_TEXT,
    eval_transform,
    image_sizes,
    is_image_file,
    list_domain_files,
    load_image,
    unread_image_files,
    walk_files,
    warn_unread_formats,
)
from starganv2.models.encoded_sources import encode_once
from starganv2.models.interface import StyleTranslator, Translator, require_styles
from starganv2.models.prediction import latent_codes
from starganv2.synthesis.requests import reference_index, style_seed
from starganv2.synthesis.styles import check_psi, latent_styles, seeded_style_means
from starganv2.utils.checks import check_int
from starganv2.utils.files import atomic_write, write_failures
from starganv2.utils.images import COMMON_SUFFIXES, pil_format, save_picture, to_pil

__all__ = ["TranslateReport", "translate_folder", "find_sidecars", "DEFAULT_TEMPLATE"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "{domain}/{rel_dir}/{stem}_{k}"
FAILURES_FILE = "translate_failures.tsv"


@dataclass
class TranslateReport:
    """What :func:`translate_folder` did.

    Attributes:
        written: output images written.
        skipped_existing: outputs left alone because they already existed (``overwrite=False``).
        sidecars: sidecar files copied.
        failed: ``(input path, reason)`` for every image that could not be translated.
    """

    written: int = 0
    skipped_existing: int = 0
    sidecars: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def find_sidecars(image: Path, extensions: Sequence[str] | None = None) -> list[Path]:
    """Files next to ``image`` with the same stem and a non-image suffix (sorted).

    ``extensions`` (e.g. ``[".txt", ".xml"]``, case-insensitive, the dot optional: ``txt`` is
    ``.txt``) restricts the suffixes; ``None`` accepts any non-image suffix.
    """
    wanted = None if extensions is None else {_dotted(e).lower() for e in extensions}
    out = []
    for p in image.parent.glob(f"{_glob_escape(image.stem)}.*"):
        if p == image or p.stem != image.stem or not p.is_file() or is_image_file(p):
            continue
        if unread_image_files([p]):  # a.gif beside a.png is another picture, no annotation
            continue
        if wanted is None or p.suffix.lower() in wanted:
            out.append(p)
    return sorted(out)


def _glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in s)


def _dotted(suffix: str) -> str:
    """``suffix`` with its leading dot (``png`` -> ``.png``): the configs' examples have one, a
    value without it means the same."""
    return suffix if suffix.startswith(".") else f".{suffix}"


def _image_format(suffix: str) -> str:
    """The PIL format that ``suffix`` names (``.tif`` -> ``TIFF``), or ``ValueError`` naming
    ``output_suffix`` when PIL cannot write RGB images under it."""
    fmt = pil_format(suffix)
    if fmt is None:
        known = Image.registered_extensions().get(suffix.lower())
        raise ValueError(
            f"output_suffix={suffix!r} is invalid: PIL cannot write RGB images as {suffix} "
            f"({known or 'unknown suffix'}); choose e.g. one of {list(COMMON_SUFFIXES)} or null "
            "(each input's suffix)"
        )
    return fmt


def _check_folder_name(name: object, y: int) -> None:
    """``ValueError`` unless ``name`` (domain ``y``'s) is one plain folder name: outputs go to
    ``output_dir/<name>/``, and ``..`` or ``x/y`` would put them elsewhere."""
    seps = {"/", os.sep, os.altsep or "/"}
    if str(name) in ("", ".", "..") or any(c in str(name) for c in seps):
        raise ValueError(
            f"domain_names[{y}]={name!r} is invalid: expected a plain folder name (no path "
            "separators, not '.' or '..'), as outputs go to output_dir/<domain name>/"
        )


def _check_plan(
    outputs: dict[Path, tuple[Path, int, int]],
    dst: Path,
    src: Path,
    y: int,
    k: int,
    output_dir: Path,
    name_template: str,
    output_suffix: str | None,
) -> None:
    """Add ``dst`` (output of ``src`` in domain ``y``, style ``k``) to ``outputs``; ``ValueError``
    naming both sources and the setting to change when another output already has that path (it
    would be skipped as "existing", or replace the first), or when ``dst`` is outside
    ``output_dir``."""
    dst, root = Path(os.path.normpath(dst)), Path(os.path.normpath(output_dir))  # no file system
    if not dst.is_relative_to(root) or dst == root:  # calls: a/./b and a/x/../b are a/b
        raise ValueError(
            f"name_template={name_template!r} puts the output of {src} at {dst}, outside "
            f"output_dir={output_dir}: remove '..' and absolute parts from it"
        )
    if dst not in outputs:
        outputs[dst] = (src, y, k)
        return
    src0, y0, k0 = outputs[dst]
    if src0 != src:
        change = (
            "rename one, or set output_suffix=null to keep each input's suffix"
            if output_suffix and src0.stem == src.stem and src0.parent == src.parent
            else f"change name_template={name_template!r} to keep {{rel_dir}} and {{stem}}"
        )
    elif y0 != y:
        change = f"give domains {y0} and {y} distinct domain_names"
        if "{domain}" not in name_template:  # else two domains of one name are the cause
            change += f", or put {{domain}} in name_template={name_template!r}"
    else:
        change = f"put {{k}} in name_template={name_template!r}"
    raise ValueError(
        f"two outputs would be written to {dst}: {src0} (domain {y0}, k={k0}) and {src} "
        f"(domain {y}, k={k}); nothing was written: {change}"
    )


PIXEL_SIDECARS = (".xml", ".json")
"""Sidecar suffixes whose annotations are usually in pixels of the image (Pascal VOC ``.xml``
with its ``<size>``, LabelMe ``.json``), unlike YOLO ``.txt`` (normalized to the image size)."""


def _warn_pixel_sidecars(
    files: Sequence[Path], extensions: Sequence[str] | None, img_size: int
) -> None:
    """Warn once when ``resize_back=false`` would copy sidecars in pixel coordinates
    (:data:`PIXEL_SIDECARS`) unchanged next to ``img_size`` square outputs of inputs of another
    size: their boxes and sizes are the original image's, so they no longer fit. A warning, not an
    error: sidecars are copied as they are and never parsed, so the caller may rewrite them or
    not use them."""
    for src in files:
        found = [p for p in find_sidecars(src, extensions) if p.suffix.lower() in PIXEL_SIDECARS]
        if found and image_sizes([src]).get(src) not in (None, (img_size, img_size)):
            log.warning(
                "resize_back=false: outputs are %dx%d squares, but sidecars such as %s (Pascal "
                "VOC .xml / LabelMe .json: boxes and size in pixels of the original image) are "
                "copied unchanged, so their boxes will not fit the outputs: set "
                "resize_back=true to keep them valid (YOLO .txt is normalized and stays valid), "
                "or leave them out with sidecar_extensions=[.txt]",
                img_size,
                img_size,
                found[0],
            )
            return


def _reference_styles(
    module: StyleTranslator,
    ref_dir: Path,
    target_domains: Sequence[int],
    domain_names: Sequence[str],
    batch_size: int,
) -> dict[int, torch.Tensor]:
    """Style codes of every reference image per target domain: ``{y: (R_y, style_dim)}``."""
    files = list_domain_files(ref_dir)
    transform = eval_transform(module.img_size)
    device = module.device
    styles: dict[int, torch.Tensor] = {}
    for y in target_domains:
        name = domain_names[y]
        paths = files.get(name, [])
        if not paths:
            raise FileNotFoundError(
                f"ref_dir={ref_dir} has no images for target domain {name!r} (expected "
                f"{ref_dir / name}/*.jpg|png...); found domain folders {sorted(files)}"
            )
        codes = []
        for i in range(0, len(paths), batch_size):
            x = torch.stack([transform(_load_reference(p)) for p in paths[i : i + batch_size]])
            y_ref = torch.full((x.size(0),), y, dtype=torch.long, device=device)
            x = x.to(device, getattr(module, "dtype", torch.float32))
            codes.append(module.style_from_reference(x, y_ref))
        styles[y] = torch.cat(codes)  # (R_y, style_dim)
        log.info("%d reference style(s) for domain %s from %s", len(paths), name, ref_dir / name)
    return styles


def _load_reference(path: Path) -> Image.Image:
    """``load_image(path)``; an unreadable reference is bad input (``ValueError`` naming it)."""
    try:
        return load_image(path)
    except OSError as err:
        raise ValueError(
            f"ref_dir: cannot read reference image {path} ({err}); remove or replace it"
        ) from err


def _style_draws(
    module: Translator,
    ref_styles: dict[int, torch.Tensor] | None,
    todo: Sequence[tuple[int, int]],
    keys: Sequence[str],
    seed: int,
) -> dict[tuple[int, int], torch.Tensor | None]:
    """What each ``(domain y, style k)`` in ``todo`` of the images ``keys`` (their paths relative
    to ``input_dir``) takes: ``None`` (deterministic model), latent codes ``(n, latent_dim)``, or
    reference indices ``(n,)``.

    As in ``Trainer.predict`` (:mod:`starganv2.synthesis.requests`), an output's draw depends on
    ``(seed, key, y, k)`` only (:func:`style_seed`, :func:`reference_index`), never on the batch,
    the other target domains or the images that failed, so a run resumed with another
    ``batch_size`` makes the outputs the first run would have made. An image's styles take
    references without replacement: drawn independently, two of its ``num_styles`` outputs could
    take one reference and be the same image.
    """
    if not module.has_styles:
        return {(y, k): None for y, k in todo}
    if ref_styles is None:
        return {
            (y, k): latent_codes(
                torch.tensor([style_seed(seed, key, y, k) for key in keys], dtype=torch.long),
                module.latent_dim,
            )
            for y, k in todo
        }
    return {
        (y, k): torch.tensor(
            [reference_index(seed, key, y, k, len(ref_styles[y])) for key in keys],
            dtype=torch.long,
        )
        for y, k in todo
    }


@torch.no_grad()
def translate_folder(
    module: Translator,
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    target_domains: Sequence[int] | None = None,
    domain_names: Sequence[str] | None = None,
    num_styles: int = 1,
    ref_dir: str | os.PathLike | None = None,
    psi: float = 1.0,
    resize_back: bool = True,
    batch_size: int = 8,
    sidecar_extensions: Sequence[str] | None = None,
    name_template: str = DEFAULT_TEMPLATE,
    output_suffix: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> TranslateReport:
    """Translate every image under ``input_dir`` into ``target_domains`` (see the module doc).

    Args:
        module: a :class:`~starganv2.models.interface.Translator` (e.g. a ``StarGANv2Module``,
            whose EMA nets are used), on any device.
        input_dir: folder searched recursively for images.
        output_dir: where outputs (and sidecars) are written.
        target_domains: domain indices (default: all).
        domain_names: a name per domain index, used in output paths and to find reference
            folders (default: ``domain0, domain1, ...``).
        num_styles: styles per image and target domain (``k`` in the output name); 1 for a
            deterministic model, which makes one output per image and domain.
        ref_dir: folder with one sub-folder of reference images per domain name; each output
            takes the style of a reference drawn at random (seeded). ``None``: random latent codes.
        psi: truncation of latent styles towards the domain mean (1 = none; latent mode only:
            refused with ``ref_dir``, whose reference styles are never truncated).
        resize_back: resize each output to its input's original size (else ``img_size``; with
            Pascal VOC ``.xml`` or LabelMe ``.json`` sidecars, whose boxes are in pixels and are
            copied unchanged, a warning says so).
        batch_size: images translated per forward pass.
        sidecar_extensions: suffixes of sidecar files to copy (``None``: any non-image suffix;
            ``[]``: none).
        name_template: output path without suffix, relative to ``output_dir``. Two outputs that
            would get one path (inputs ``a.png`` and ``a.jpg`` with ``output_suffix=".png"``, a
            template without ``{k}`` for ``num_styles > 1``, two domains of one name) are an
            error before anything is written.
        output_suffix: output image suffix such as ``.png`` or ``png`` (default: the input's);
            the image is written in the format PIL registers for it (``.tif``: TIFF).
        quality: JPEG / WebP quality.
        overwrite: replace existing outputs (default: skip them, which makes runs resumable).
        seed: base seed of the latent codes / reference draws: an output's draw is a hash of
            ``(seed, its input's path relative to input_dir, domain, k)``, as in
            :func:`~starganv2.synthesis.requests.style_seed`, so it does not depend on
            ``batch_size``, ``target_domains`` or the other images.
        progress: show a tqdm progress bar.

    Returns: a :class:`TranslateReport`; every failed image is in ``report.failed``.

    Raises ``ValueError`` / ``FileNotFoundError`` / ``FileExistsError`` naming the argument for bad
    settings, before anything is written.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input_dir={input_dir} is not a folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"output_dir={output_dir} is a file: expected a folder")
    if num_styles < 1:
        raise ValueError(f"num_styles={num_styles!r} is invalid: expected >= 1")
    check_int(batch_size, "batch_size")
    if output_suffix is not None:
        output_suffix = _dotted(output_suffix)
        _image_format(output_suffix)
    num_domains = module.num_domains
    if not module.has_styles:
        if num_styles != 1:
            raise ValueError(
                f"num_styles={num_styles} but {type(module).__name__} is deterministic (one "
                "output per image and domain): set num_styles=1"
            )
        given = [f"ref_dir={str(ref_dir)!r} (reference styles)"] if ref_dir is not None else []
        given += [f"psi={psi} (truncation of latent styles)"] if psi != 1.0 else []
        if given:  # named as given: one of them alone is not the other's mistake
            require_styles(module, " and ".join(given))
    if ref_dir is not None and psi != 1.0:  # else psi would be ignored without a word
        raise ValueError(
            f"psi={check_psi(psi)} truncates latent styles only, but ref_dir={ref_dir} gives "
            "reference styles: expected psi=1 with ref_dir (or ref_dir=null for truncated latent "
            "styles)"
        )
    target_domains = list(range(num_domains)) if target_domains is None else list(target_domains)
    bad = [
        y
        for y in target_domains
        if isinstance(y, bool) or not isinstance(y, numbers.Integral) or not 0 <= y < num_domains
    ]
    if bad or not target_domains:
        raise ValueError(
            f"target_domains={target_domains} is invalid: expected domain indices in "
            f"[0, {num_domains}), at least one (None: every domain)"
        )
    target_domains = [int(y) for y in target_domains]
    twice = sorted({y for y in target_domains if target_domains.count(y) > 1})
    if twice:
        raise ValueError(f"target_domains={target_domains} lists {twice} more than once")
    if domain_names is None:
        domain_names = [f"domain{i}" for i in range(num_domains)]
    if len(domain_names) != num_domains:
        raise ValueError(
            f"domain_names has {len(domain_names)} names {list(domain_names)} but the model has "
            f"num_domains={num_domains}"
        )
    for y in target_domains:
        _check_folder_name(domain_names[y], y)

    every = walk_files(input_dir)
    found = [p for p in every if is_image_file(p)]
    files = [p for p in found if output_dir.resolve() not in p.resolve().parents]  # not outputs
    warn_unread_formats(every, input_dir, "translate them", log)
    if not files:
        raise FileNotFoundError(
            f"all {len(found)} images under input_dir={input_dir} are under "
            f"output_dir={output_dir}, so they count as outputs: choose an output_dir outside "
            "input_dir"
            if found
            else f"no images ({IMAGE_SUFFIXES_TEXT}) found under {input_dir}"
        )
    if not resize_back:
        _warn_pixel_sidecars(files, sidecar_extensions, module.img_size)
    device = module.device
    dtype = getattr(module, "dtype", torch.float32)  # a model converted with .half() wants half
    ref_styles = None
    s_mean = None
    if ref_dir is not None:
        ref_styles = _reference_styles(
            module, Path(ref_dir), target_domains, domain_names, batch_size
        )
    elif psi != 1.0:
        s_mean = seeded_style_means(module, seed)
    transform = eval_transform(module.img_size)
    report = TranslateReport()

    def out_path(src: Path, y: int, k: int) -> Path:
        rel = src.relative_to(input_dir)
        name = name_template.format(
            domain=domain_names[y], rel_dir=rel.parent.as_posix(), stem=src.stem, k=k
        )
        return output_dir / (name + (output_suffix or src.suffix))

    planned: dict[Path, tuple[Path, int, int]] = {}
    for p in files:  # every path before any is written: two outputs must never share one
        for y in target_domains:
            for k in range(num_styles):
                dst = out_path(p, y, k)
                _check_plan(planned, dst, p, y, k, output_dir, name_template, output_suffix)
    del planned

    bar = tqdm(total=len(files), desc="translate", unit="img", disable=not progress)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        loaded: list[tuple[Path, tuple[int, int], torch.Tensor]] = []
        for p in chunk:
            try:
                img = load_image(p)
            except OSError as e:
                log.warning("skipping %s: %s", p, e)
                report.failed.append((p, str(e)))
                continue
            loaded.append((p, img.size, transform(img)))
        if not loaded:
            bar.update(len(chunk))
            continue
        todo = [
            (y, k)
            for y in target_domains
            for k in range(num_styles)
            if overwrite or any(not out_path(p, y, k).exists() for p, _, _ in loaded)
        ]
        keys = [p.relative_to(input_dir).as_posix() for p, _, _ in loaded]
        draws = _style_draws(module, ref_styles, todo, keys, seed)  # per output, not per chunk
        x = torch.stack([t for _, _, t in loaded]).to(device, dtype)  # (B, 3, S, S)
        if todo:
            x = encode_once(module, x)  # one encoding for every domain and style
        for y, k in todo:
            y_trg = torch.full((len(loaded),), y, dtype=torch.long, device=device)
            if not module.has_styles:
                x_fake = module.translate(x, y_trg).cpu()  # (B, 3, S, S)
            else:
                if ref_styles is None:
                    z = draws[y, k].to(device, dtype)  # (B, latent_dim)
                    s = latent_styles(module, z, y_trg, psi, s_mean)
                else:
                    s = ref_styles[y][draws[y, k].to(ref_styles[y].device)]  # (B, style_dim)
                x_fake = module.translate(x, y_trg, s=s).cpu()  # (B, 3, S, S)
            for (src, size, _), out in zip(loaded, x_fake):
                dst = out_path(src, y, k)
                if dst.exists() and not overwrite:
                    report.skipped_existing += 1
                    continue
                # sidecars first: an existing image, which a rerun skips, has its annotations
                for side in find_sidecars(src, sidecar_extensions):
                    side_dst = dst.with_suffix(side.suffix)
                    atomic_write(side_dst, lambda tmp, side=side: shutil.copyfile(side, tmp))
                    report.sidecars += 1
                img = to_pil(out)
                if resize_back and img.size != size:
                    img = img.resize(size, Image.Resampling.BICUBIC)
                save_picture(img, dst, quality)
                report.written += 1
        skipped_all = len(target_domains) * num_styles - len(todo)
        report.skipped_existing += skipped_all * len(loaded)
        bar.update(len(chunk))
    bar.close()

    log.info(
        "translated %d image(s) into %d output(s) under %s (%d existing skipped, %d sidecars)",
        len(files) - len(report.failed),
        report.written,
        output_dir,
        report.skipped_existing,
        report.sidecars,
    )
    write_failures(output_dir / FAILURES_FILE, report.failed, "translated", log)
    return report
