"""Small image folders for data tests: solid-colour files in the public layout."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from starganv2.data.datamodule import ImageDomainDataModule

SIZE = 8


def save_image(
    path: Path, color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (SIZE, SIZE)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}[
        path.suffix.lower()
    ]
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def make_root(root: Path, counts: dict[str, int], val: int | None = 1, ext: str = ".png") -> Path:
    """root/{train,val}/<domain>/NNN<ext>, each image a unique solid colour (r = domain, g/b = index)."""
    for d_idx, (domain, n) in enumerate(counts.items()):
        for i in range(n):
            save_image(
                root / "train" / domain / f"{i:03d}{ext}", (40 * d_idx + 20, i % 256, i // 256)
            )
        for i in range(val or 0):
            save_image(root / "val" / domain / f"{i:03d}{ext}", (40 * d_idx + 20, 255, i))
    return root


def small_datamodule(root: Path, **kwargs: object) -> ImageDomainDataModule:
    kwargs = {
        "img_size": SIZE,
        "batch_size": 4,
        "num_workers": 0,
        "pin_memory": False,
        "scan_workers": 1,
        **kwargs,
    }
    return ImageDomainDataModule(root, **kwargs)
