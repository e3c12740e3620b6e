"""Media shapes: quality labels, aspect ratios and the bounds every rendered video
and image keeps (what a provider may ask the fake to render)."""

from __future__ import annotations

import os
from fractions import Fraction

#: Quality label -> length of the SHORT side in pixels.
VIDEO_QUALITIES: dict[str, int] = {
    "360p": 360,
    "540p": 540,
    "720p": 720,
    "1080p": 1080,
}

#: Aspect ratio label -> (width parts, height parts).
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "4:3": (4, 3),
    "1:1": (1, 1),
    "3:4": (3, 4),
    "9:16": (9, 16),
}

VIDEO_MIN_SIDE = 16  # pixels
VIDEO_MAX_SIDE = 4096  # pixels
VIDEO_MIN_DURATION_S = 1  # seconds
VIDEO_MAX_DURATION_S = 30  # seconds
IMAGE_MIN_SIDE = 16  # pixels
IMAGE_MAX_SIDE = 10000  # pixels


def video_dimensions(quality: str, aspect_ratio: str = "16:9") -> tuple[int, int]:
    """Return ``(width, height)`` in pixels for a quality label and aspect ratio.

    ``quality`` (one of :data:`VIDEO_QUALITIES`, e.g. ``"720p"``) gives the
    short side; the long side follows from ``aspect_ratio`` (one of
    :data:`ASPECT_RATIOS`) and is rounded to the nearest even number, because
    yuv420p / H.264 needs even dimensions.

    >>> video_dimensions("720p", "9:16")
    (720, 1280)

    :raises ValueError: unknown quality or aspect ratio.
    """
    try:
        return _DIMENSIONS[(quality, aspect_ratio)]
    except (KeyError, TypeError):
        pass
    try:
        short = VIDEO_QUALITIES[quality]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown video quality {quality!r}; expected one of {sorted(VIDEO_QUALITIES)}"
        ) from None
    try:
        a, b = ASPECT_RATIOS[aspect_ratio]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown aspect ratio {aspect_ratio!r}; expected one of {list(ASPECT_RATIOS)}"
        ) from None
    big, small = max(a, b), min(a, b)
    # Fraction keeps e.g. 1080 * 4/3 exact instead of 1439.9999.
    long = 2 * round(Fraction(short * big, 2 * small))
    shape = (long, short) if a >= b else (short, long)
    _DIMENSIONS[(quality, aspect_ratio)] = shape
    return shape


# (quality, aspect ratio) -> (width, height): every create asks, the answers are few.
_DIMENSIONS: dict[tuple[str, str], tuple[int, int]] = {}

#: Every (width, height) a provider's video or image can have: each quality at each
#: aspect ratio (PixVerse V5 as the four providers document it: 360p-1080p, 16:9, 4:3,
#: 1:1, 3:4, 9:16; PixVerse's keyframes, masks and image templates share these sizes).
PROVIDER_VIDEO_SIZES: frozenset[tuple[int, int]] = frozenset(
    video_dimensions(q, r) for q in VIDEO_QUALITIES for r in ASPECT_RATIOS)


def is_provider_shape(width: int, height: int, duration_s: int | None = None) -> bool:
    """Whether a provider can hand out media of this size (and, for a video, whole
    seconds in [VIDEO_MIN_DURATION_S, VIDEO_MAX_DURATION_S]: PixVerse's extend, lip
    sync and multi-transition outputs reach 30 s)."""
    if (width, height) not in PROVIDER_VIDEO_SIZES:
        return False
    return duration_s is None or (type(duration_s) is int
                                  and VIDEO_MIN_DURATION_S <= duration_s <= VIDEO_MAX_DURATION_S)


def size_of(path: os.PathLike[str] | str) -> int:
    """Size of the file at ``path`` in bytes.

    :raises OSError: the file does not exist or cannot be stat'ed.
    """
    return os.stat(path).st_size


def is_integer(value: object) -> bool:
    # bool is an int subclass; True as a width is surely a bug upstream.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_side(name: str, value: object, lo: int, hi: int, *, even: bool) -> None:
    if not is_integer(value) or not lo <= value <= hi:  # type: ignore[operator]
        raise ValueError(f"{name} must be an int in [{lo}, {hi}] pixels, got {value!r}")
    if even and value % 2:  # type: ignore[operator]
        raise ValueError(f"{name} must be even for yuv420p video, got {value!r}")


def check_video_shape(width: int, height: int, duration_s: int) -> None:
    """Validate a video shape without rendering anything.

    :param width: pixels, even int in [VIDEO_MIN_SIDE, VIDEO_MAX_SIDE].
    :param height: pixels, even int in [VIDEO_MIN_SIDE, VIDEO_MAX_SIDE].
    :param duration_s: seconds, int in [VIDEO_MIN_DURATION_S, VIDEO_MAX_DURATION_S].
    :raises ValueError: any argument out of bounds, odd, or not an int.
    """
    if (type(width) is int and type(height) is int and type(duration_s) is int
            and VIDEO_MIN_SIDE <= width <= VIDEO_MAX_SIDE and VIDEO_MIN_SIDE <= height <= VIDEO_MAX_SIDE
            and not (width | height) & 1 and VIDEO_MIN_DURATION_S <= duration_s <= VIDEO_MAX_DURATION_S):
        return  # every result URL asks: the valid case in one test
    _check_side("width", width, VIDEO_MIN_SIDE, VIDEO_MAX_SIDE, even=True)
    _check_side("height", height, VIDEO_MIN_SIDE, VIDEO_MAX_SIDE, even=True)
    if not is_integer(duration_s) or not (
        VIDEO_MIN_DURATION_S <= duration_s <= VIDEO_MAX_DURATION_S
    ):
        raise ValueError(
            f"duration_s must be an int in [{VIDEO_MIN_DURATION_S}, "
            f"{VIDEO_MAX_DURATION_S}] seconds, got {duration_s!r}"
        )


def check_image_shape(width: int, height: int) -> None:
    """Validate an image size without rendering anything.

    :param width: pixels, int in [IMAGE_MIN_SIDE, IMAGE_MAX_SIDE].
    :param height: pixels, int in [IMAGE_MIN_SIDE, IMAGE_MAX_SIDE].
    :raises ValueError: any argument out of bounds or not an int.
    """
    _check_side("width", width, IMAGE_MIN_SIDE, IMAGE_MAX_SIDE, even=False)
    _check_side("height", height, IMAGE_MIN_SIDE, IMAGE_MAX_SIDE, even=False)

