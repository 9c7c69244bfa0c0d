"""Reading pictures people upload: any format PIL decodes, checked before it is decoded.

:func:`read_picture` turns a file into an 8-bit RGB ``PIL.Image`` with its EXIF orientation
applied (:func:`starganv2.data.folders.to_rgb` converts CMYK, palette, 16-bit and alpha images),
or raises :class:`PictureError` with a sentence a person can act on: a file that is no image, a
picture above ``max_pixels`` (checked from the header, before the pixels are decoded), a
truncated file. An animated image gives its first frame and says so in :attr:`Picture.note`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from starganv2.data.folders import to_rgb

__all__ = ["MAX_PIXELS", "PictureError", "Picture", "read_picture"]

MAX_PIXELS = 50_000_000
"""Largest picture accepted by default (50 megapixels, e.g. 8660 x 5773)."""


class PictureError(ValueError):
    """An uploaded file cannot be used as a picture; the message says why and what to do."""


@dataclass(frozen=True)
class Picture:
    """A decoded picture: ``image`` (RGB, EXIF orientation applied) and an optional ``note``
    for the user (e.g. that only the first frame of an animation is used)."""

    image: Image.Image
    note: str | None = None


def read_picture(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Picture:
    """Decode ``path`` into an RGB picture, or raise :class:`PictureError` (see the module
    docstring). ``max_pixels`` bounds ``width * height`` before decoding."""
    name = os.path.basename(os.fspath(path))
    try:
        with warnings.catch_warnings():
            # the size is checked below against max_pixels; PIL's own bomb warning is noise here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise PictureError(
                f"{name} is too large to decode safely ({e}); the limit is {max_pixels:,} pixels: "
                "resize it first"
            ) from e
        raise PictureError(
            f"{name} is not an image this app can read (PNG, JPEG, WebP, BMP, GIF, TIFF, ...)"
        ) from e
    except OSError as e:
        raise PictureError(f"{name} could not be opened: {e}") from e
    with img:
        w, h = img.size
        if w < 1 or h < 1:
            raise PictureError(f"{name} is empty ({w}x{h} pixels)")
        if w * h > max_pixels:
            raise PictureError(
                f"{name} is {w}x{h} = {w * h:,} pixels; the limit is {max_pixels:,} "
                "(starganv2-demo max_pixels=N sets it): resize it first"
            )
        frames = getattr(img, "n_frames", 1)
        note = None
        if frames > 1:
            img.seek(0)
            note = f"{name} is animated ({frames} frames): its first frame is used"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img.load()
                out = to_rgb(ImageOps.exif_transpose(img))
        except (OSError, ValueError, SyntaxError) as e:
            raise PictureError(f"{name} could not be decoded ({type(e).__name__}: {e})") from e
        if out is img:  # still tied to the file being closed
            out = out.copy()
    return Picture(out, note)
