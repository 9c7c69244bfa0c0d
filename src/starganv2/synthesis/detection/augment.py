"""Augment a detection dataset: every image translated into other domains, its boxes kept.

``augment_dataset(module, "train.json", "augmented/", domain_names=["day", "night"])`` reads
the dataset (COCO, YOLO or VOC; :mod:`.detect`), translates each image into every target domain
with ``styles`` styles (:mod:`.translate`), and writes a dataset of the same format under
``output``: the translations (with ``include_source`` the sources too) and their annotations.
An output sits beside its source's path with the domain and style in its name::

    images/train/a.jpg  ->  images/train/a_night_0.jpg     ({stem}_{domain}_{k}{suffix})

An output is written in the format its suffix names (``.tif`` TIFF, ``.gif`` GIF...); a source
whose suffix names no format Pillow writes (``.heic``, ``.dng``) gets a ``.png`` output. With
``ref_dir``, the ``K`` styles of a source and domain take ``K`` different references when the
domain has that many (:func:`reference_index`).

The input is never written to. Outputs that exist already are skipped (a rerun finishes an
interrupted one; each file lands whole). ``augment_report.json`` in ``output`` lists every output
with its status and label check (``check``: ``null`` with ``check=none``), and every problem of
the input, one line each.

The label check (:mod:`.check`, ``check=detector|scene``) looks at each translation as written and
records per box whether it was re-found; with ``drop_failed`` an output that fails is deleted and
left out of the dataset (status ``dropped``), but stays in the report. A rerun with the same check
settings remembers the report's results: a dropped output is not translated again, an existing one
is not checked again; with other settings every existing output is checked anew.

``augment_settings.json`` in ``output`` records what makes an output's pixels (the input
dataset's path, a digest of the model's weights, ``fit`` and its tile options, ``psi``,
``seed``, ``ref_dir``, ``styles``, ``targets``, and ``quality`` where outputs are JPEG or WebP),
written before the first output. A rerun with other settings is refused, since it would keep
outputs made the old way (or from another dataset's images of the same names) beside new ones;
a setting the file does not hold (written by an earlier version) is not compared.
``overwrite=True`` replaces them: the
outputs of the earlier run (those its report lists, YOLO label files included) and the existing
planned ones are deleted first, then everything is translated anew.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from starganv2.data.folders import list_domain_files
from starganv2.models.interface import require_mode
from starganv2.synthesis.detection.check import CHECKS, CheckOptions, LabelCheck, build_check
from starganv2.synthesis.detection.dataset import (
    DetectionDataset,
    DetectionImage,
    OutputImage,
    Problem,
)
from starganv2.synthesis.detection.detect import read_dataset, write_dataset
from starganv2.synthesis.detection.translate import (
    DETECTION_FITS,
    AnnotatedSource,
    Devices,
    Reference,
    output_format,
    prediction_device,
    translate_requests,
)
from starganv2.synthesis.detection.voc import output_files as voc_output_files
from starganv2.synthesis.detection.yolo import label_rel
from starganv2.synthesis.requests import TranslationRequest, reference_index, style_seed
from starganv2.synthesis.styles import check_psi
from starganv2.synthesis.tiles import check_tile_options
from starganv2.utils.files import atomic_link_or_copy, save_json
from starganv2.utils.images import pil_format

__all__ = [
    "AugmentReport",
    "augment_dataset",
    "domain_index",
    "output_rel",
    "REPORT_FILE",
    "SETTINGS_FILE",
    "CHECKS",
    "STATUSES",
]

log = logging.getLogger(__name__)

REPORT_FILE = "augment_report.json"
SETTINGS_FILE = "augment_settings.json"
STATUSES = ("written", "skipped", "failed", "copied", "dropped")


def domain_index(value: Any, names: Sequence[str], key: str) -> int:
    """A domain given by name or index, as its index; ``ValueError`` naming ``key`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    if isinstance(value, str) and value in names:
        return list(names).index(value)
    raise ValueError(
        f"{key}: {value!r} is not one of {list(names)} nor an index below {len(names)}"
    )


def output_rel(rel: str, domain: str, k: int) -> str:
    """Where the translation of ``rel`` into ``domain`` with style ``k`` goes (same folder, same
    suffix, or ``.png`` where the suffix names no format an output is written in)."""
    p = PurePosixPath(rel)
    suffix = p.suffix if output_format(p.suffix) else ".png"
    return (p.parent / f"{p.stem}_{domain}_{k}{suffix}").as_posix()


@dataclass
class AugmentReport:
    """What :func:`augment_dataset` did (also written as ``augment_report.json``).

    Attributes:
        format: the dataset format.
        outputs: one record per planned output: ``image`` (path in the output), ``source``,
            ``domain`` and ``style`` (``null`` for a copied source), ``status`` (``written``,
            ``skipped``: it existed, ``failed``, ``copied``: a source, ``dropped``: failed the
            label check and left out) and ``check`` (``null`` unchecked, else ``{"passed": bool,
            "boxes": [{"index", "category", "iou", "matched", "required"}]}``).
        problems: every problem found in the input, one :class:`Problem` each.
        path: the report file; ``None`` on the ranks but 0 of a DDP run (rank 0 writes the
            dataset files and the report, and returns the run's report).
    """

    format: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None

    def count(self, status: str) -> int:
        return sum(o["status"] == status for o in self.outputs)

    @property
    def written(self) -> int:
        return self.count("written")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def dropped(self) -> int:
        return self.count("dropped")

    @property
    def kept(self) -> int:
        """Outputs in the written dataset (written, skipped and copied)."""
        return self.written + self.skipped + self.count("copied")


def _check_output_place(
    input_path: Path, output: Path, images_dir: Path | None, images: Sequence[DetectionImage]
) -> None:
    """Refuse an output folder that is an input folder (the YOLO/VOC folder; a COCO file's
    folder, its ``images_dir`` or the folder of one of its images) or lies inside one (where
    outputs would be written among the input's files, and a later read would find them), and
    one that is a file."""
    if output.exists() and not output.is_dir():
        raise ValueError(
            f"output={output} is a file: expected a folder (a new one, or an earlier run's)"
        )
    out = output.resolve()
    if input_path.is_file():
        folders = {input_path.resolve().parent, *([images_dir.resolve()] if images_dir else [])}
        folders |= {img.path.resolve().parent for img in images}
    else:
        folders = {input_path.resolve()}
    inside = sorted(f for f in folders if f == out or f in out.parents)
    if inside:
        # a COCO file's folders are named: the output may lie in images= or an image's folder
        where = f" (in its folder {inside[-1]})" if input_path.is_file() else ""
        raise ValueError(
            f"output={output} lies in the input {input_path}{where}: expected a folder outside "
            "it (the input is never written to)"
        )


def augment_dataset(
    module: Any,
    input: str | Path,
    output: str | Path,
    domain_names: Sequence[str],
    format: str = "auto",
    images_dir: str | Path | None = None,
    targets: Sequence[int | str] | None = None,
    source_domain: int | str | None = None,
    styles: int = 1,
    ref_dir: str | Path | None = None,
    psi: float = 1.0,
    seed: int = 0,
    fit: str = "letterbox",
    include_source: bool = False,
    check: str = "none",
    detector: str | None = None,
    check_iou: float = 0.5,
    check_score: float = 0.3,
    check_class: bool = True,
    check_labels: dict[str, int] | None = None,
    detector_input: str = "list",
    drop_failed: bool = False,
    batch_size: int = 8,
    quality: int = 95,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    progress: bool = False,
    tile_size: int | None = None,
    tile_overlap: float = 0.25,
    overwrite: bool = False,
    id_offset: int = 0,
) -> AugmentReport:
    """Translate the detection dataset ``input`` into ``output`` (see the module docstring).

    Args:
        module: a translation LightningModule (any of the library's, with ``predict_step``).
        input: a COCO JSON file, a YOLO folder or a Pascal VOC folder.
        output: the output folder (created; outside the input).
        domain_names: one name per model domain, used in output names and to find references.
        format: ``auto``, ``coco``, ``yolo`` or ``voc``.
        images_dir: COCO only: where the ``file_name``s are (default: beside the JSON).
        targets: target domains, by name (of ``domain_names``) or index (one name or index
            alone: that domain); ``None``: every domain but ``source_domain``.
        source_domain: the domain the input's images are from, by name or index (``None``:
            unknown).
        styles: outputs per image and target domain (``K``).
        ref_dir: ``ref_dir/<domain name>/`` reference images give the styles; ``None``: latent.
        psi: truncation toward the target domain's mean style in [0, 1] (1 = none; latent only:
            refused with ``ref_dir``).
        seed: base seed; an output's style depends on it, its source and its (domain, k) only.
        fit: ``letterbox`` (boxes stay exactly), ``stretch`` or ``tile`` (overlapping tiles at
            the source's resolution, blended; :mod:`starganv2.synthesis.tiles`).
        include_source: copy the sources, with their annotations and ids, into the output too.
        check: the label check, a name in :data:`~.check.CHECKS` (``none``, ``detector``,
            ``scene``: the built-in scenes, :mod:`.scene_check`).
        detector: ``check=detector``: ``package.module:name`` of a callable or a TorchScript
            file (the contract is in :mod:`.check`).
        check_iou: a box passes when a detection overlaps it at IoU >= ``check_iou``.
        check_score: detections scoring below this are ignored.
        check_class: the detection's label must be the box's (see ``check_labels``).
        check_labels: ``{category name: detector label}``; ``None``: the dataset's ids (COCO
            ``category_id``, YOLO class index).
        detector_input: ``list`` of ``(3, H, W)`` images or one ``tensor`` ``(N, 3, H, W)``.
        drop_failed: leave outputs that fail the check out of the dataset (kept in the report).
        batch_size: images per forward pass.
        quality: JPEG / WebP quality of the outputs, an int in [0, 100].
        accelerator: Lightning accelerator of the prediction run.
        devices, num_nodes, strategy: the prediction ``Trainer``'s; several devices or nodes
            make a DDP run: every rank runs this call, translates and writes its share of the
            outputs, and rank 0 alone, once all ranks have finished, copies the sources, runs
            the label check, writes the dataset files and the report (the other ranks return
            a report with ``path=None``). The output folder must be one all nodes see.
        progress: show Lightning's progress bar.
        tile_size: ``fit=tile``: a tile's side in source pixels; ``None``: the model's
            ``img_size`` (no resampling).
        tile_overlap: ``fit=tile``: the share of a tile's side it shares with its neighbour,
            in [0, 0.5].
        overwrite: replace the outputs of an earlier run into ``output`` made with other
            settings (see the module docstring), or write into a folder holding other files
            (no settings file nor report); without it either is refused.
        id_offset: COCO only: added to the new image and annotation ids (which count up from
            the input's largest), so that runs from one input given offsets further apart than
            the ids each adds have no id in common and their files can be merged.

    Raises :class:`~.dataset.DetectionFormatError` (a ``ValueError``) for a wrong format or an
    empty dataset, ``ValueError`` for bad options; problems of single records and unreadable
    images are in the report.
    """
    input_path, root = Path(input), Path(output)
    if check not in CHECKS:
        raise ValueError(f"check={check!r} is invalid: expected one of {list(CHECKS)}")
    if drop_failed and check == "none":
        raise ValueError(
            "drop_failed=true but check=none: expected a check (check=detector or check=scene)"
        )
    options = CheckOptions(
        check_iou, check_score, check_class, check_labels, detector, detector_input, batch_size
    )
    if fit not in DETECTION_FITS:
        raise ValueError(f"fit={fit!r} is invalid: expected one of {list(DETECTION_FITS)}")
    check_tile_options(tile_size, tile_overlap)
    if tile_size is not None and fit != "tile":
        raise ValueError(
            f"tile_size={tile_size} is set but fit={fit}: expected fit=tile (or tile_size=null)"
        )
    if isinstance(styles, bool) or not isinstance(styles, int) or styles < 1:
        raise ValueError(f"styles={styles!r} is invalid: expected an int >= 1")
    psi = check_psi(psi)
    if isinstance(id_offset, bool) or not isinstance(id_offset, int) or id_offset < 0:
        raise ValueError(f"id_offset={id_offset!r} is invalid: expected an int >= 0")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise ValueError(f"quality={quality!r} is invalid: expected an int in [0, 100]")
    if not module.has_styles and styles != 1:
        raise ValueError(
            f"styles={styles} but {type(module).__name__} is deterministic (one output per image "
            "and domain): set styles=1"
        )
    if ref_dir is not None:
        require_mode(module, "reference", f"ref_dir={ref_dir}")
        if psi != 1.0:
            raise ValueError(
                f"psi={psi} truncates latent styles only, but ref_dir={ref_dir} gives reference "
                "styles: expected psi=1 with ref_dir (or ref_dir=null for truncated latent styles)"
            )
    elif psi != 1.0:
        require_mode(module, "latent", f"psi={psi}")
    names = list(domain_names)
    if len(names) != module.num_domains:
        raise ValueError(
            f"domain_names={names} has {len(names)} names but the model has "
            f"num_domains={module.num_domains}"
        )
    if source_domain is not None:
        source_domain = domain_index(source_domain, names, "source_domain")
    if targets is None:
        targets = [y for y in range(len(names)) if y != source_domain]
    elif isinstance(targets, (str, int)):  # one domain, e.g. targets=night on the command line
        targets = [targets]
    targets = [domain_index(y, names, "targets") for y in targets]
    if not targets:
        raise ValueError(
            f"targets is empty (source_domain={source_domain}, domains {names}): expected at "
            "least one target domain"
        )

    ds = read_dataset(input_path, format, images_dir)
    _offset_ids(ds, id_offset)
    _check_output_place(
        input_path, root, None if images_dir is None else Path(images_dir), ds.images
    )
    log.info(
        "%s dataset %s: %d image(s), %d problem(s)",
        ds.format,
        input_path,
        len(ds.images),
        len(ds.problems),
    )

    where = Devices(accelerator, devices, num_nodes, strategy)
    refs = None if ref_dir is None else _references(Path(ref_dir), targets, names)
    if refs is not None:
        few = {names[y]: len(files) for y, files in refs.items() if len(files) < styles}
        if few:
            log.warning(
                "styles=%d but ref_dir=%s has fewer references for %s: some outputs of an "
                "image share a reference (they differ only where the model is not "
                "deterministic); add references or lower styles",
                styles,
                ref_dir,
                ", ".join(f"{d} ({n})" for d, n in few.items()),
            )
    planned, requests, clashes = _plan(
        ds.images, targets, names, styles, seed, refs, psi, include_source
    )
    ds.problems.extend(clashes)
    made_by = {
        "input": str(Path(input_path).resolve()),
        "model": _weights_digest(module),
        "fit": fit,
        "tile_size": tile_size,
        "tile_overlap": tile_overlap if fit == "tile" else None,
        "psi": psi,
        "seed": seed,
        "ref_dir": None if ref_dir is None else str(Path(ref_dir).resolve()),
        "styles": styles,
        "targets": [names[y] for y in targets],
        # JPEG and WebP pixels depend on it; other formats' do not, so it is not compared there
        "quality": quality if _lossy(planned) else None,
    }
    checker = None
    if check != "none":
        checker = build_check(check, ds, prediction_device(where), options)
    settings = None if checker is None else {"name": check, **options.settings()}
    several = int(num_nodes) > 1 or str(devices) not in ("1", "auto")
    replaced = _claim_output(root, made_by, overwrite, planned, ds.format, several)
    remembered = {} if replaced else _remembered(root, settings)
    gone = (
        {rel for rel, o in remembered.items() if o["status"] == "dropped"} if drop_failed else set()
    )
    requests = [r for r in requests if r.key not in gone]

    existed = {o.rel for o in planned if not o.is_source and (root / o.rel).is_file()}
    result = translate_requests(
        module,
        requests,
        root,
        fit,
        batch_size,
        quality,
        where,
        progress,
        tile_size=tile_size,
        tile_overlap=tile_overlap,
    )
    if result.rank != 0:  # rank 0 writes the dataset and the report for every rank
        return AugmentReport(ds.format, problems=list(ds.problems))
    done, failed = set(result.written), result.failed
    failed_sources: dict[str, str] = {}
    for out in planned:
        if out.rel in failed:
            failed_sources.setdefault(out.source.rel, failed[out.rel])

    report = AugmentReport(ds.format, problems=list(ds.problems))
    for src_rel, reason in failed_sources.items():
        report.problems.append(Problem(src_rel, f"unreadable image ({reason}); left out"))
    resized: dict[str, str] = {}
    sizes = {**_sizes_on_disk(root, planned, existed), **result.resized}
    for out in planned:
        if out.rel in sizes and out.source.rel not in resized:
            w, h = sizes[out.rel]
            resized[out.source.rel] = (
                f"the image is {w}x{h} (EXIF orientation applied) but its annotation says "
                f"{out.source.width}x{out.source.height}; translated at {w}x{h}, boxes unchanged"
            )
    report.problems += [Problem(rel, what) for rel, what in resized.items()]
    statuses: list[str] = []
    for out in planned:
        if out.source.rel in failed_sources:
            status = "failed"
        elif out.is_source:
            dst = root / out.rel
            if not dst.is_file():
                atomic_link_or_copy(out.source.path, dst)
            status = "copied"
        elif out.rel in gone:
            status = "dropped"
        elif out.rel in existed:
            status = "skipped"
        else:
            status = "written" if out.rel in done else "failed"
        statuses.append(status)
    checks = _check_outputs(checker, root, planned, statuses, remembered)
    kept: list[OutputImage] = []
    for out, status, result in zip(planned, statuses, checks):
        if drop_failed and result is not None and not result["passed"]:
            _drop(root, out, ds.format)
            status = "dropped"
        if status not in ("failed", "dropped"):
            kept.append(out)
        report.outputs.append(
            {
                "image": out.rel,
                "source": out.source.rel,
                "domain": out.domain,
                "style": out.k,
                "status": status,
                "check": result,
            }
        )
    write_dataset(ds, kept, root)
    report.path = save_json(
        {
            "format": ds.format,
            "input": str(input_path),
            "output": str(root),
            "counts": {s: report.count(s) for s in STATUSES},
            "check_settings": settings,
            "problems": [p.line() for p in report.problems],
            "outputs": report.outputs,
        },
        root / REPORT_FILE,
    )
    for p in report.problems:
        log.warning("%s", p.line())
    checked = [o["check"] for o in report.outputs if o["check"] is not None]
    label_check = ""
    if checked:  # "0 failed" counts translations; the label check's verdict is its own
        passed = sum(bool(c["passed"]) for c in checked)
        label_check = f"; label check ({check}): {passed} of {len(checked)} passed"
    log.info(
        "%d written, %d skipped (existed), %d failed; %d kept, %d dropped%s; report %s",
        report.written,
        report.skipped,
        report.failed,
        report.kept,
        report.dropped,
        label_check,
        report.path,
    )
    return report


def _offset_ids(ds: DetectionDataset, id_offset: int) -> None:
    """Start the new COCO ids ``id_offset`` above the input's largest, so two runs from one
    input (two targets, two seeds) write ids that do not collide when their files are merged.
    Other formats have no ids: an offset there is refused rather than silently ignored."""
    if not id_offset:
        return
    if ds.format != "coco":
        raise ValueError(
            f"id_offset={id_offset} but input={ds.source} is {ds.format.upper()}, which has no "
            "ids: id_offset is for COCO only (drop it)"
        )
    ds.meta["next_image_id"] += id_offset
    ds.meta["next_annotation_id"] += id_offset


def _weights_digest(module: Any) -> str:
    """A SHA-256 of the module's weights (names and bytes): the same for the same checkpoint,
    another for any other (further trained, another run)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode("utf-8"))
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    """``path``'s JSON, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _claim_output(
    root: Path,
    made_by: dict[str, Any],
    overwrite: bool,
    planned: Sequence[OutputImage],
    fmt: str,
    several: bool = False,
) -> bool:
    """Record ``made_by`` in ``root/SETTINGS_FILE``, after checking that the outputs already in
    ``root`` were made the same way; returns whether earlier outputs were deleted to be made
    anew (``overwrite`` with other settings, or into a folder of other files). ``ValueError``
    naming the settings that differ otherwise, or for a folder that holds files but neither
    settings nor report (not an earlier run's: its files would be replaced, or skipped as
    finished outputs), before anything is written, and with ``overwrite`` on ``several``
    processes (they would delete outputs another one has just written)."""
    path = root / SETTINGS_FILE
    replaced = False
    # looked for before the settings file: a run writes that first, so a file found while it is
    # missing is not another node's output of this run but someone else's
    foreign = _holds_files(root)
    # a setting the file does not hold was not recorded by the version that wrote it: not a change
    earlier = _read_json(path)
    foreign = foreign and earlier is None and not (root / REPORT_FILE).is_file()
    if foreign and not overwrite:
        raise ValueError(
            f"output={root} holds files but no {SETTINGS_FILE} (it is not the output of an "
            "earlier starganv2-augment run): its files would be overwritten or taken for "
            "finished outputs; expected a new or empty folder, or overwrite=true to write into "
            "it (files of the outputs' names are replaced)"
        )
    if foreign and several:
        raise ValueError(
            f"overwrite=true on several processes: output={root} holds files that are not "
            "an earlier run's; replace them with one process (devices=1) or use an empty "
            "folder, then run on several"
        )
    if foreign:
        _delete_outputs(root, [o.rel for o in planned], fmt)
        log.warning("overwrite=true: deleted the files of the outputs' names in %s", root)
        replaced = True
    earlier = earlier if isinstance(earlier, dict) else {}
    changed = [k for k, value in made_by.items() if earlier.get(k, value) != value]
    if changed:
        if not overwrite:
            what = "; ".join(f"{k}: {earlier.get(k)!r} -> {made_by[k]!r}" for k in changed)
            raise ValueError(
                f"output={root} holds outputs made with other settings ({what}; see {path}): "
                "expected the same settings (to finish that run), another output folder, or "
                "overwrite=true to replace its outputs"
            )
        if several:  # each process would delete while another already translates
            raise ValueError(
                f"overwrite=true on several processes: output={root} holds outputs made with "
                f"other settings ({', '.join(changed)}); replace them with one process "
                "(devices=1) or delete the folder, then run on several"
            )
        old = _read_json(root / REPORT_FILE)
        stale = [
            o["image"]
            for o in (old.get("outputs", []) if isinstance(old, dict) else [])
            if isinstance(o, dict) and o.get("domain") is not None and "image" in o
        ]
        _delete_outputs(root, stale, fmt)
        translations = [o for o in planned if not o.is_source]
        for out in [*_earlier_outputs(earlier, planned), *translations]:
            _drop(root, out, fmt)
        log.warning(
            "overwrite=true: deleted the outputs of the earlier run in %s (made with other %s)",
            root,
            ", ".join(changed),
        )
        replaced = True
    save_json(made_by, path)
    return replaced


def _earlier_outputs(earlier: dict[str, Any], planned: Sequence[OutputImage]) -> list[OutputImage]:
    """The translations of ``planned``'s sources that the run which recorded the settings
    ``earlier`` planned (its ``targets`` and ``styles``). A run stopped before its report
    leaves its outputs listed nowhere else; left in a YOLO folder, they would be read as
    background images, objects without labels; a VOC output's XML file would name an image
    that is gone."""
    targets, styles = earlier.get("targets"), earlier.get("styles")
    if not isinstance(targets, list) or isinstance(styles, bool) or not isinstance(styles, int):
        return []
    sources = {o.source.rel: o.source for o in planned}
    return [
        OutputImage(source, output_rel(rel, str(d), k), str(d), k)
        for rel, source in sources.items()
        for d in targets
        for k in range(styles)
    ]


def _delete_outputs(root: Path, rels: Sequence[str], fmt: str) -> None:
    """Delete the outputs ``rels`` under ``root`` that exist, with their YOLO label files."""
    for rel in dict.fromkeys(rels):
        (root / rel).unlink(missing_ok=True)
        if fmt == "yolo" and "images" in PurePosixPath(rel).parts[:-1]:
            (root / label_rel(rel)).unlink(missing_ok=True)


def _drop(root: Path, out: OutputImage, fmt: str) -> None:
    """Delete the translation ``out`` under ``root`` with the files its format writes for it
    (YOLO label file, VOC XML and masks), which an earlier run (without ``drop_failed``, or
    with other settings) wrote: none may name an image that is gone."""
    _delete_outputs(root, [out.rel], fmt)
    if fmt == "voc":
        for rel in voc_output_files(out):
            (root / rel).unlink(missing_ok=True)


def _holds_files(root: Path) -> bool:
    """Whether the folder ``root`` holds any file, at any depth, not counting dot-named ones:
    on several processes, another rank's half-written settings file (an atomic write's
    ``.augment_settings.*`` temp file) must not make the folder look like someone else's."""
    return root.is_dir() and any(
        p.is_file() and not p.name.startswith(".") for p in root.rglob("*")
    )


def _sizes_on_disk(
    root: Path, planned: Sequence[OutputImage], existed: set[str]
) -> dict[str, tuple[int, int]]:
    """``{rel: (width, height)}`` of the outputs a rerun skipped (``existed``) whose size on
    disk differs from their annotation's, so that a rerun reports them as the run that wrote them
    did (read from the files' headers)."""
    from PIL import Image

    found = {}
    for out in planned:
        if out.rel not in existed:
            continue
        try:
            with Image.open(root / out.rel) as img:
                size = img.size
        except OSError:
            continue
        if size != (out.source.width, out.source.height):
            found[out.rel] = size
    return found


def _lossy(planned: Sequence[OutputImage]) -> bool:
    """Whether any translation in ``planned`` is written as JPEG or WebP (whose pixels depend on
    ``quality``)."""
    return any(
        not o.is_source and pil_format(PurePosixPath(o.rel).suffix) in ("JPEG", "WEBP")
        for o in planned
    )


def _remembered(root: Path, settings: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The checked outputs of the last report in ``root`` (``{image: record}``) when it was made
    with the same check ``settings``; empty otherwise (no report, other settings, no check)."""
    path = root / REPORT_FILE
    if settings is None or not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s cannot be read: every existing output is checked anew", path)
        return {}
    if not isinstance(doc, dict) or doc.get("check_settings") != settings:
        return {}
    return {
        o["image"]: o
        for o in doc.get("outputs", [])
        if isinstance(o, dict) and isinstance(o.get("check"), dict) and "image" in o
    }


def _check_outputs(
    checker: LabelCheck | None,
    root: Path,
    planned: Sequence[OutputImage],
    statuses: Sequence[str],
    remembered: dict[str, dict[str, Any]],
) -> list[dict[str, Any] | None]:
    """Each output's check result: ``None`` for copied sources, failures and ``check=none``;
    the remembered one for outputs that existed or stay dropped; the checker's for the rest."""
    results: list[dict[str, Any] | None] = [None] * len(planned)
    if checker is None:
        return results
    todo: list[int] = []
    for i, (out, status) in enumerate(zip(planned, statuses)):
        if status in ("skipped", "dropped") and out.rel in remembered:
            results[i] = remembered[out.rel]["check"]
        elif status in ("written", "skipped"):
            todo.append(i)
    if todo:
        log.info("checking the labels of %d output(s)", len(todo))
        found = checker([(root / planned[i].rel, planned[i].source) for i in todo])
        for i, result in zip(todo, found):
            results[i] = result
    return results


def _references(
    ref_dir: Path, targets: Sequence[int], names: Sequence[str]
) -> dict[int, list[Path]]:
    """The reference images of every target domain: ``ref_dir/<name>/`` (each must have one)."""
    found = list_domain_files(ref_dir)
    refs = {y: found.get(names[y], []) for y in targets}
    empty = [names[y] for y, files in refs.items() if not files]
    if empty:
        raise ValueError(
            f"ref_dir={ref_dir} has no images for target domain(s) {empty}: expected "
            f"{ref_dir}/<domain>/*.jpg|png...; found folders {sorted(found)}"
        )
    return refs


def _plan(
    images: Sequence[DetectionImage],
    targets: Sequence[int],
    names: Sequence[str],
    styles: int,
    seed: int,
    refs: dict[int, list[Path]] | None,
    psi: float,
    include_source: bool,
) -> tuple[list[OutputImage], list[TranslationRequest], list[Problem]]:
    """Every output image (sources first where included), a translation request for each
    translated one, and a problem for each image left out because one of its outputs would land
    on the path of an earlier image's output (``a.png`` and ``a.heic`` both make
    ``a_night_0.png``; the source ``a_night_0.jpg`` and the translation of ``a.jpg``)."""
    planned: list[OutputImage] = []
    requests: list[TranslationRequest] = []
    clashes: list[Problem] = []
    seen: dict[str, OutputImage] = {}
    for img in images:
        mine: list[OutputImage] = [OutputImage(img, img.rel)] if include_source else []
        wanted: list[TranslationRequest] = []
        for y in targets:
            for k in range(styles):
                out = OutputImage(img, output_rel(img.rel, names[y], k), names[y], k)
                s = style_seed(seed, img.rel, y, k)
                ref = None
                if refs is not None:
                    ref = Reference(refs[y][reference_index(seed, img.rel, y, k, len(refs[y]))])
                truncation = None if psi == 1.0 else psi
                size = {"size": (img.width, img.height)}  # the annotation's, checked by the writer
                wanted.append(
                    TranslationRequest(
                        AnnotatedSource(img.path, (img.width, img.height)),
                        y,
                        s,
                        out.rel,
                        k,
                        ref,
                        truncation,
                        extra=size,
                    )
                )
                mine.append(out)
        clash = next((o for o in mine if o.rel in seen), None)
        if clash is not None:
            other = seen[clash.rel].source
            clashes.append(
                Problem(
                    img.rel,
                    f"its output {clash.rel} would overwrite that of {other.rel} ({other.path}); "
                    f"left out: rename {img.path} (or {other.path}) and run again",
                )
            )
            continue
        seen.update((o.rel, o) for o in mine)
        planned += mine
        requests += wanted
    return planned, requests, clashes
