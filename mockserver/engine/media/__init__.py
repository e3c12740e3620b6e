"""Placeholder media (MP4 videos, PNG images) handed out by the fake providers.

Provider-neutral and HTTP-free on purpose: providers decide *which* shape a job
produces (``shapes``: :func:`video_dimensions`), ``rendering`` renders and caches files
for a shape (:class:`MediaLibrary`), ``probing`` reads what clients upload
(:func:`probe_media`).  Serving files over HTTP lives in :mod:`mockserver.files`.
"""
from .probing import MEDIA_FORMATS, MediaInfo, MediaProbeError, probe_media, sniff_media_format
from .rendering import STALE_TMP_S, MediaLibrary, RenderBusy
from .shapes import (
                     ASPECT_RATIOS,
                     IMAGE_MAX_SIDE,
                     IMAGE_MIN_SIDE,
                     PROVIDER_VIDEO_SIZES,
                     VIDEO_MAX_DURATION_S,
                     VIDEO_MAX_SIDE,
                     VIDEO_MIN_DURATION_S,
                     VIDEO_MIN_SIDE,
                     VIDEO_QUALITIES,
                     check_image_shape,
                     check_video_shape,
                     is_provider_shape,
                     size_of,
                     video_dimensions,
)

__all__ = [
    "ASPECT_RATIOS",
    "IMAGE_MAX_SIDE",
    "IMAGE_MIN_SIDE",
    "MEDIA_FORMATS",
    "STALE_TMP_S",
    "MediaInfo",
    "MediaLibrary",
    "MediaProbeError",
    "PROVIDER_VIDEO_SIZES",
    "RenderBusy",
    "VIDEO_MAX_DURATION_S",
    "VIDEO_MAX_SIDE",
    "VIDEO_MIN_DURATION_S",
    "VIDEO_MIN_SIDE",
    "VIDEO_QUALITIES",
    "check_image_shape",
    "check_video_shape",
    "is_provider_shape",
    "probe_media",
    "sniff_media_format",
    "size_of",
    "video_dimensions",
]
