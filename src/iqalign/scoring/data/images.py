"""Decode any image file into 8-bit RGB, or say exactly why it cannot be.

Real folders hold more than clean 8-bit RGB JPEGs: greyscale and palette PNGs, RGBA with
transparency, 16-bit scans, CMYK JPEGs from print workflows, phone photos that rely on
the EXIF orientation tag, thumbnails, panoramas, half-copied files and stray text files.
:func:`decode_image` turns each readable one into the RGB picture a person would see, and
raises :class:`~iqalign.errors.ImageDecodeError` with a short reason for the rest, so the
engine can record it in ``skipped.csv`` and go on.

Choices, and why:

- EXIF orientation is applied (``ImageOps.exif_transpose``): the label describes the
  upright picture.
- Transparency is flattened onto white, not dropped: dropping alpha exposes whatever
  colour the transparent pixels happen to store (often black or garbage).
- 16-bit and 32-bit integer images are scaled by their bit depth (not min-max stretched),
  so a dark 16-bit image stays dark.
- Large JPEGs are decoded at a reduced DCT scale (``Image.draft``) that still leaves at
  least 4x the 256-px working size: identical in practice, far faster, and a 100-megapixel
  JPEG never needs its full-size buffer.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iqalign.errors import ImageDecodeError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "CROP",
    "MAX_IMAGE_PIXELS",
    "RESIZE",
    "center_crop",
    "decode_image",
    "jpeg_roundtrip",
    "resize_center_crop",
]

#: Images with more pixels than this are skipped (PIL's decompression-bomb guard, 2x).
MAX_IMAGE_PIXELS = 178_956_970

# Reduced-scale JPEG decoding keeps at least this many pixels on the short side.
_DRAFT_MIN_SIDE = 1024


def decode_image(
    source: str | os.PathLike[str] | bytes, *, max_pixels: int = MAX_IMAGE_PIXELS
) -> PILImage.Image:
    """Decode a file (path or bytes) into an upright 8-bit RGB PIL image.

    Parameters
    ----------
    source
        A file path or the file's bytes.
    max_pixels
        The largest image accepted, in pixels.

    Returns
    -------
    PIL.Image.Image
        The RGB image, EXIF orientation applied.

    Raises
    ------
    ImageDecodeError
        Not an image, truncated or corrupt data, or more than ``max_pixels`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = "<bytes>" if isinstance(source, bytes) else str(source)
    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with Image.open(stream) as image:
            if image.width * image.height > max_pixels:
                raise ImageDecodeError(
                    f"{name}: too large ({image.width}x{image.height} pixels > {max_pixels})"
                )
            if image.format == "JPEG" and min(image.size) > 2 * _DRAFT_MIN_SIDE:
                image.draft(image.mode, (_DRAFT_MIN_SIDE, _DRAFT_MIN_SIDE))
            image.load()  # decode now: truncated data fails here, not later
            return _to_rgb8(ImageOps.exif_transpose(image))
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as err:
        raise ImageDecodeError(f"{name}: not an image file PIL can read") from err
    except Image.DecompressionBombError as err:
        raise ImageDecodeError(f"{name}: too large ({err})") from err
    except FileNotFoundError as err:
        raise ImageDecodeError(f"{name}: file not found") from err
    except (OSError, ValueError, SyntaxError) as err:
        reason = "truncated file" if "truncated" in str(err).lower() else f"unreadable ({err})"
        raise ImageDecodeError(f"{name}: {reason}") from err


def _to_rgb8(image: PILImage.Image) -> PILImage.Image:
    """Convert any PIL mode to 8-bit RGB (see the module notes for the choices)."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _scale_wide_grey(image).convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _scale_wide_grey(image: PILImage.Image) -> PILImage.Image:
    """16/32-bit integer or float greyscale -> 8-bit by bit depth (float: [0, 1] assumed)."""
    from PIL import Image

    array = np.asarray(image)
    if image.mode == "F":
        scaled = np.clip(array, 0.0, 1.0) * 255.0
    else:
        top = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) <= 65535 else None
        top = top or float(np.iinfo(np.int32).max)
        scaled = np.clip(array.astype(np.float64), 0, top) * (255.0 / top)
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")


RESIZE, CROP = 256, 224  # torchvision's Resize(256) + CenterCrop(224), as ImageNet-C


def resize_center_crop(image: PILImage.Image) -> np.ndarray:
    """torchvision's Resize(256) + CenterCrop(224) on a PIL image -> ``(224, 224, 3)`` uint8."""
    from PIL import Image

    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(RESIZE * long / short)  # torchvision truncates, as ImageNet-C did
    size = (RESIZE, new_long) if width <= height else (new_long, RESIZE)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    left = round((size[0] - CROP) / 2.0)
    top = round((size[1] - CROP) / 2.0)
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8)


def center_crop(image: PILImage.Image) -> tuple[np.ndarray, bool]:
    """A pre-corrupted file as released: CenterCrop(224) only, when its short side is 224.

    Returns the ``(224, 224, 3)`` crop and whether the file had to be resized first (a
    short side other than 224: then Resize(256)+CenterCrop(224), as for clean images).
    """
    if min(image.size) != CROP:
        return resize_center_crop(image), True
    width, height = image.size
    left = round((width - CROP) / 2.0)  # torchvision's CenterCrop
    top = round((height - CROP) / 2.0)
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8), False


def jpeg_roundtrip(array: np.ndarray, quality: int = 85) -> np.ndarray:
    """Encode as JPEG (ImageNet-C's quality 85) and decode again."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)
