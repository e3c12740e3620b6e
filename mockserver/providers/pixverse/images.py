"""Checks PixVerse applies to an uploaded image, by content rather than by name.

Limits (the Upload Image reference page; the "Image to video" guide): JPEG, PNG or
WebP, at most 20 MB and at most 10000 px per side (the reference page says 4000; both
limits are settings).  ErrCodes from PixVerse's error-code page.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from .errors import ErrCode, PixverseError

#: Pillow format name -> (MIME type, file extension) PixVerse accepts.
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


def _sniff(data: bytes) -> str | None:
    """The accepted format whose signature ``data`` starts with, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An accepted image: MIME type, file extension, width and height in pixels."""

    content_type: str
    extension: str
    width: int
    height: int


def inspect_image(data: bytes, max_bytes: int, max_side: int, min_side: int = 16) -> ImageInfo:
    """Identify ``data`` and enforce PixVerse's upload limits.

    :param max_bytes: largest accepted size in bytes.
    :param max_side: largest accepted width or height in pixels.
    :param min_side: smallest accepted width or height in pixels (PixVerse documents
        none; the fake's floor).
    :raises PixverseError: 500030 over ``max_bytes`` or ``max_side``; 500033 under
        ``min_side``; 500032 not a JPEG, PNG or WebP by its signature (whatever the
        file is called); 500031 a JPEG, PNG or WebP signature over data Pillow cannot
        read (corrupt, truncated).
    """
    if len(data) > max_bytes:
        raise PixverseError(ErrCode.IMAGE_TOO_LARGE)
    # The signature decides the format, so a truncated GIF is "wrong format" rather
    # than "unreadable", and Pillow only has to read what it recognises.
    sniffed = _sniff(data)
    if sniffed is None:
        raise PixverseError(ErrCode.IMAGE_FORMAT)
    # Imported on the first upload, not at start-up: Pillow's import is a few percent
    # of the fake's start and only PixVerse's image upload reads images.
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Sizes up to max_side are legitimate here; Pillow's bomb warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format != sniffed:
                    raise PixverseError(ErrCode.IMAGE_UNREADABLE)
                kind = FORMATS[sniffed]
                width, height = img.size
                if max(width, height) > max_side:
                    raise PixverseError(ErrCode.IMAGE_TOO_LARGE)
                if min(width, height) < min_side:
                    raise PixverseError(ErrCode.IMAGE_SIZE)
                # verify() walks the data without decoding pixels, so a corrupt file
                # fails here at no memory cost even at 10000 x 10000.
                img.verify()
    except PixverseError:
        raise
    except Image.DecompressionBombError:
        raise PixverseError(ErrCode.IMAGE_TOO_LARGE) from None
    except Exception:  # noqa: BLE001 - Pillow's plugins raise many types on bad data
        raise PixverseError(ErrCode.IMAGE_UNREADABLE) from None
    return ImageInfo(kind[0], kind[1], width, height)
