"""Pascal VOC detection folders: ``Annotations/*.xml`` (one per image), ``JPEGImages/``, and
optional ``ImageSets/**/*.txt`` lists of image ids.

Each XML file is kept whole: a translated image's file (``x.xml`` -> ``x_night_0.xml``, named
after the source's XML) is its source's with ``<filename>`` (and
``<path>``, where there is one) naming the new image; every other tag (``difficult``,
``truncated``, ``pose``, ``segmented``, parts, tags of other tools, comments) stays as it was.
Boxes are VOC's ``xmin ymin xmax ymax`` pixel corners (1-based, as written). Image-set lists get
one line per output image, with the rest of its source's line (``id  1`` in the class lists);
a line whose id names no XML file is a problem line. Segmentation masks
(``SegmentationClass/<id>.png``, ``SegmentationObject/<id>.png``) are copied under each output's
id, so the segmentation lists name images whose masks exist.
The input may be the folder holding ``Annotations/`` or a ``VOCdevkit`` with one such folder.

Images in sub-folders of ``JPEGImages/``: an XML file's image is ``<filename>`` (a name, or a
path such as ``site1/a.jpg``) looked for in the sub-folder of ``JPEGImages/`` that mirrors the
XML's under ``Annotations/`` (``Annotations/site1/a.xml`` -> ``JPEGImages/site1/``), then in
``JPEGImages/`` itself, then in ``<folder>`` (LabelImg writes the image's folder there); failing
that, the XML's stem with any image suffix, in the same places. Two XML files that find the same
image are a problem line naming both; the later one is left out.
A translation lands beside its source, so its XML keeps the source's way of naming it: the same
``<folder>``, ``<filename>`` with its directory part (``site1/a_night_0.jpg`` or
``a_night_0.jpg``, as the source had it) and ``<path>`` the written image's absolute path.
Image-set ids are the XML's path under ``Annotations/`` without ``.xml`` (``site1/a``); a list
that names a nested image by its bare stem is matched too, when that stem is unique.
"""

from __future__ import annotations

import copy
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from PIL import Image

from starganv2.data.folders import IMG_EXTENSIONS
from starganv2.synthesis.detection.dataset import (
    Box,
    DetectionDataset,
    DetectionFormatError,
    DetectionImage,
    OutputImage,
    Problem,
    box_problem,
    upright_size,
)
from starganv2.utils.files import atomic_write, atomic_write_text

__all__ = ["output_files", "read_voc", "refuse_several_voc", "write_voc", "voc_root"]


def voc_root(path: Path) -> Path | None:
    """The folder holding ``Annotations/``: ``path`` itself or its only child that has one."""
    if (path / "Annotations").is_dir():
        return path
    found = _voc_children(path)
    return found[0] if len(found) == 1 else None


def refuse_several_voc(path: Path) -> None:
    """``DetectionFormatError`` when the folder ``path`` holds several VOC folders (a
    ``VOCdevkit`` with ``VOC2007/`` and ``VOC2012/``), naming them: which one is meant is the
    user's choice, one run each."""
    found = _voc_children(path) if path.is_dir() else []
    if len(found) > 1:
        raise DetectionFormatError(
            f"input={path} holds {len(found)} Pascal VOC folders "
            f"({', '.join(c.name for c in found)}): expected one of them as the input "
            f"(input={found[0]}), one run each"
        )


def _voc_children(path: Path) -> list[Path]:
    """``path``'s sub-folders that hold ``Annotations/``."""
    return [c for c in sorted(path.iterdir()) if c.is_dir() and (c / "Annotations").is_dir()]


def _parse(path: Path) -> ET.ElementTree:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    return ET.parse(path, parser=parser)


def _inside(text: str) -> str:
    """``text`` as a relative POSIX path; ``""`` when it is empty, ``.``, absolute or climbs out
    (``..``)."""
    rel = PurePosixPath(text.replace("\\", "/"))
    return "" if not rel.parts or rel.is_absolute() or ".." in rel.parts else rel.as_posix()


def _find_image(
    img_dir: Path, filename: str | None, stem: str, sub: str, folder: str | None
) -> Path | None:
    """The image of an XML file: ``filename`` (``<filename>``, maybe with sub-folders), else the
    XML's ``stem`` with an image suffix; each looked for under the sub-folder ``sub`` of
    ``img_dir`` (mirroring the XML's under ``Annotations/``), ``img_dir`` itself, then its
    sub-folder ``folder`` (``<folder>``): the mirrored folder first, so that
    ``Annotations/site1/a.xml`` finds ``JPEGImages/site1/a.jpg`` even where a
    ``JPEGImages/a.jpg`` exists."""
    name = _inside((filename or "").strip())
    folder = _inside((folder or "").strip())
    bases = ([img_dir / sub] if sub else []) + [img_dir] + ([img_dir / folder] if folder else [])
    for base in bases if name else ():
        if (base / name).is_file():
            return base / name
    for base in bases:
        for ext in sorted(IMG_EXTENSIONS):
            for cand in (base / f"{stem}{ext}", base / f"{stem}{ext.upper()}"):
                if cand.is_file():
                    return cand
    return None


def _size(root: ET.Element, file: Path) -> tuple[int, int] | None:
    try:
        w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
        if w > 0 and h > 0:
            return w, h
    except (TypeError, ValueError):
        pass
    try:
        with Image.open(file) as img:
            return upright_size(img)
    except Exception:  # noqa: BLE001 - any decoder error means the same: unreadable
        return None


def read_voc(path: str | Path) -> DetectionDataset:
    """Read the VOC folder ``path`` (see the module docstring)."""
    path = Path(path)
    root = voc_root(path) if path.is_dir() else None
    if root is None:
        refuse_several_voc(path)
        raise DetectionFormatError(
            f"input={path} is not a Pascal VOC folder: expected Annotations/ and JPEGImages/ in "
            "it (or in its only sub-folder)"
        )
    ann_dir, img_dir = root / "Annotations", root / "JPEGImages"
    problems: list[Problem] = []
    images: list[DetectionImage] = []
    categories: list[str] = []
    annotated: dict[Path, Path] = {}  # image file -> the XML file that named it first
    for xml_file in sorted(ann_dir.rglob("*.xml")):
        try:
            tree = _parse(xml_file)
        except ET.ParseError as err:
            problems.append(Problem(str(xml_file), f"not an XML file ({err}); left out"))
            continue
        top = tree.getroot()
        filename = top.findtext("filename")
        sub = xml_file.parent.relative_to(ann_dir).as_posix()
        file = _find_image(img_dir, filename, xml_file.stem, sub, top.findtext("folder"))
        if file is None:
            problems.append(
                Problem(
                    str(xml_file),
                    f"image {filename or xml_file.stem!r} not found in {img_dir}; left out",
                )
            )
            continue
        if file in annotated:
            problems.append(
                Problem(
                    str(xml_file),
                    f"its image {file} is that of {annotated[file]} too; left out (one XML file "
                    "per image: merge the two, or give this one its own image)",
                )
            )
            continue
        annotated[file] = xml_file
        size = _size(top, file)
        if size is None:
            problems.append(Problem(str(file), "unreadable image; left out"))
            continue
        boxes = []
        for n, obj in enumerate(top.findall("object")):
            name = (obj.findtext("name") or "").strip()
            where = f"{xml_file}: object {n} ({name})"
            try:
                xyxy = tuple(
                    float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")
                )
            except (TypeError, ValueError):
                problems.append(
                    Problem(where, "no numeric bndbox xmin/ymin/xmax/ymax (kept as it is)")
                )
                xyxy = (0.0, 0.0, 0.0, 0.0)
            else:
                why = box_problem(xyxy, *size)
                if why:
                    problems.append(Problem(where, why))
            if name not in categories:
                categories.append(name)
            boxes.append(Box(name, xyxy, raw=obj))
        raw = {
            "xml": xml_file.relative_to(root).as_posix(),
            "tree": tree,
            "declaration": xml_file.read_bytes().lstrip().startswith(b"<?xml"),
        }
        rel = file.relative_to(root).as_posix()
        images.append(DetectionImage(file, rel, size[0], size[1], boxes, raw=raw))
    sets = (
        {
            p.relative_to(root).as_posix(): p.read_text(encoding="utf-8").splitlines()
            for p in sorted((root / "ImageSets").rglob("*.txt"))
        }
        if (root / "ImageSets").is_dir()
        else {}
    )
    problems += _unknown_set_ids(sets, sorted(ann_dir.rglob("*.xml")), ann_dir)
    return DetectionDataset("voc", root, categories, images, {"image_sets": sets}, problems)


def _unknown_set_ids(
    sets: dict[str, list[str]], xml_files: Sequence[Path], ann_dir: Path
) -> list[Problem]:
    """One problem per image-set line whose id names no XML file (by its path under
    ``Annotations/`` or a unique bare stem): the output's list leaves it out."""
    ids = {f.relative_to(ann_dir).with_suffix("").as_posix() for f in xml_files}
    stems = defaultdict(int)
    for f in xml_files:
        stems[f.stem] += 1
    problems = []
    for rel, lines in sets.items():
        for n, line in enumerate(lines, 1):
            parts = line.split(maxsplit=1)
            if parts and parts[0] not in ids and stems.get(parts[0]) != 1:
                problems.append(
                    Problem(
                        f"{rel}: line {n}",
                        f"id {parts[0]!r} has no Annotations/{parts[0]}.xml; left out of the "
                        "output's list",
                    )
                )
    return problems


def _xml_rel(out: OutputImage) -> str:
    """The XML file of ``out``: its source's, or for a translation the source's XML name with
    the domain and style added (``Annotations/x.xml`` -> ``Annotations/x_night_0.xml``). Named
    after the XML, not the image, so two images of one name in two folders (``s1/a.jpg`` and
    ``s2/a.jpg``, from ``x.xml`` and ``y.xml``) never share an XML file."""
    src = PurePosixPath(out.source.raw["xml"])
    if out.is_source:
        return src.as_posix()
    return (src.parent / f"{src.stem}_{out.domain}_{out.k}.xml").as_posix()


def output_files(out: OutputImage) -> list[str]:
    """The files :func:`write_voc` writes for the translation ``out`` beside its image, relative
    to the output folder: its XML and the masks of its id (those that exist are deleted with a
    dropped output, so no XML names an image that is gone)."""
    xml = _xml_rel(out)
    return [xml, *(f"{folder}/{_set_id(xml)}.png" for folder in MASK_FOLDERS)]


def _set_id(xml_rel: str) -> str:
    """An image-set id: the XML's path under ``Annotations/`` without ``.xml``."""
    return PurePosixPath(xml_rel).relative_to("Annotations").with_suffix("").as_posix()


def _renamed(text: str, name: str) -> str:
    """``text`` (a file name or path, ``/`` or ``\\`` separated) with its last part ``name``."""
    cut = max(text.rfind("/"), text.rfind("\\")) + 1
    return text[:cut] + name


MASK_FOLDERS = ("SegmentationClass", "SegmentationObject")
"""VOC's segmentation masks, ``<folder>/<image id>.png``: a translation changes pixels, not
geometry, so an output's masks are its source's."""


def _copy_masks(source: Path, outputs: Sequence[OutputImage], root: Path) -> None:
    """Copy the source's masks of every output under the output's id, so the image-set lists of
    ``ImageSets/Segmentation`` name images whose masks exist."""
    for out in outputs:
        src_id, out_id = _set_id(out.source.raw["xml"]), _set_id(_xml_rel(out))
        for folder in MASK_FOLDERS:
            mask = source / folder / f"{src_id}.png"
            if mask.is_file():
                dst = root / folder / f"{out_id}.png"
                atomic_write(dst, lambda tmp, m=mask: shutil.copyfile(m, tmp))


def write_voc(ds: DetectionDataset, outputs: Sequence[OutputImage], root: str | Path) -> Path:
    """Write the XML file of every output and the image-set lists under ``root``; returns
    ``root``. Image files are not written here."""
    root = Path(root)
    for out in outputs:
        dst = root / _xml_rel(out)
        if out.is_source:
            src = ds.source / out.source.raw["xml"]
            atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))
            continue
        top = copy.deepcopy(out.source.raw["tree"].getroot())
        node = top.find("filename")
        if node is not None:
            node.text = _renamed((node.text or "").strip(), PurePosixPath(out.rel).name)
        node = top.find("path")
        if node is not None:
            node.text = str(root.absolute() / out.rel)
        tree = ET.ElementTree(top)
        decl = out.source.raw["declaration"]
        atomic_write(
            dst, lambda tmp, t=tree, d=decl: t.write(tmp, encoding="utf-8", xml_declaration=d)
        )
    _copy_masks(ds.source, outputs, root)
    by_id: dict[str, list[str]] = defaultdict(list)
    by_stem: dict[str, list[str]] = defaultdict(list)
    for out in outputs:
        by_id[_set_id(out.source.raw["xml"])].append(_set_id(_xml_rel(out)))
        by_stem[PurePosixPath(out.source.raw["xml"]).stem].append(PurePosixPath(_xml_rel(out)).stem)
    stem_sources = defaultdict(set)
    for image in ds.images:
        stem_sources[PurePosixPath(image.raw["xml"]).stem].add(image.raw["xml"])
    for rel, lines in ds.meta["image_sets"].items():
        new = []
        for line in lines:
            parts = line.split(maxsplit=1)
            if not parts:
                continue
            rest = line.lstrip()[len(parts[0]) :]
            if parts[0] in by_id:
                new += [i + rest for i in by_id[parts[0]]]
            elif len(stem_sources.get(parts[0], ())) == 1:  # a nested image by its bare stem
                new += [i + rest for i in by_stem[parts[0]]]
        atomic_write_text(root / rel, "".join(f"{line}\n" for line in new))
    return root
