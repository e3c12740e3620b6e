"""Chained ids: the uploads, videos, templates and masks a request refers to.

PixVerse requests name earlier results by id (``img_id``, ``video_media_id``,
``audio_media_id``, ``source_video_id``, ``template_id``, ``mask_id``).  Each must
exist, belong to the same API key and be of the right kind; the ErrCodes for each
violation are in the contract's ``x-fake-notes`` ("Chained ids") and below.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from ...engine import Engine
from ...engine.jobs import MODERATED, SUCCEEDED
from ...engine.media import (
    ASPECT_RATIOS,
    VIDEO_MAX_DURATION_S,
    VIDEO_MIN_DURATION_S,
    VIDEO_QUALITIES,
    MediaProbeError,
    probe_media,
    video_dimensions,
)
from ...engine.store import Upload
from . import catalog
from .errors import ErrCode, PixverseError

#: Neutral kinds of image jobs (everything else a PixVerse job makes is a video).
IMAGE_KINDS = frozenset({"image-template"})

#: Masks a selection finds, in the swap guide's order.
MASK_NAMES = ("person", "object", "background")

#: Codecs a mask selection accepts for an uploaded video (the mask page: h.264/h.265).
MASKABLE_CODECS = frozenset({"h264", "hevc"})

#: Seconds assumed for media registered by URL (never fetched, so never measured).
UNKNOWN_SECONDS = 5


def nearest_aspect_ratio(width: int, height: int, default: str) -> str:
    """The PixVerse aspect ratio ("16:9" ... "9:16") closest to ``width`` x ``height``
    pixels, compared on a log scale; ``default`` when either side is unknown (0)."""
    if width <= 0 or height <= 0:
        return default
    target = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(ASPECT_RATIOS[r][0] / ASPECT_RATIOS[r][1]) - target))


def nearest_quality(width: int, height: int) -> str:
    """The quality label ("360p" .. "1080p") whose short side is closest to the
    short side of ``width`` x ``height``; "720p" when unknown."""
    if width <= 0 or height <= 0:
        return "720p"
    short = min(width, height)
    return min(VIDEO_QUALITIES, key=lambda q: abs(VIDEO_QUALITIES[q] - short))


def whole_seconds(seconds: float) -> int:
    """Output length in whole seconds for a source of ``seconds`` (unknown, 0, is
    :data:`UNKNOWN_SECONDS`), within what the fake renders (1-30 s)."""
    if seconds <= 0:
        return UNKNOWN_SECONDS
    return max(VIDEO_MIN_DURATION_S, min(VIDEO_MAX_DURATION_S, round(seconds)))


@dataclass(frozen=True, slots=True)
class Source:
    """The video a request builds on.

    ``field`` is ``source_video_id`` (a finished job) or ``video_media_id`` (an
    upload) and ``id`` its value; ``width``/``height`` pixels (0 = unknown, URL
    upload), ``seconds`` its length (0 = unknown), ``frames`` its frame count (0 =
    unknown), ``format`` the container (mp4, mov, webm; "" unknown) and
    ``codec`` the video codec ("" unknown).
    """

    field: str
    id: int
    width: int
    height: int
    seconds: float
    frames: int
    format: str
    codec: str

    @property
    def quality(self) -> str:
        return nearest_quality(self.width, self.height)

    def shape(self, quality: str, default_ratio: str) -> tuple[int, int]:
        """Output (width, height) at ``quality`` in the source's aspect ratio."""
        return video_dimensions(quality, nearest_aspect_ratio(self.width, self.height, default_ratio))

    def kept_shape(self, default_ratio: str) -> tuple[int, int]:
        """Output (width, height) for operations that keep the source's size: a
        generated source exactly, an upload rounded to the nearest quality and ratio."""
        if self.field == "source_video_id":
            return self.width, self.height
        return self.shape(self.quality, default_ratio)


def mask_id(api_key: str, source: Source, keyframe_id: int, name: str) -> str:
    """The ``mask_id`` a selection of ``source`` at ``keyframe_id`` reports for
    ``name``: derived, not stored, so it fits only that key, video and keyframe.
    15 digits, like PixVerse's other ids, as a string (the swap page types it so)."""
    digest = hashlib.sha256(f"{api_key}|{source.field}|{source.id}|{keyframe_id}|{name}".encode()).digest()
    return str(10**14 + int.from_bytes(digest[:8], "big") % (9 * 10**14))


class Chain:
    """Resolves the uploads and videos a request names, for one provider's store
    (``provider``, the name jobs and uploads are stored under).  Raises
    :class:`PixverseError`."""

    def __init__(self, engine: Engine, provider: str) -> None:
        self.engine = engine
        self.provider = provider

    async def own_image(self, api_key: str, img_id: Any) -> Upload:
        """The image ``img_id`` this key uploaded.  400032 when unknown, foreign or not an image."""
        upload = await self.engine.get_upload(self.provider, str(int(img_id)))
        if upload is None or upload.api_key != api_key or upload.kind != "image":
            raise PixverseError(ErrCode.INVALID_IMAGE_ID)
        return upload

    async def own_media(self, api_key: str, media_id: Any, kind: str) -> Upload:
        """The ``kind`` (video|audio) media ``media_id`` this key uploaded.
        500008 when unknown or foreign; 400017 when of another kind."""
        upload = await self.engine.get_upload(self.provider, str(int(media_id)))
        if upload is None or upload.api_key != api_key:
            raise PixverseError(ErrCode.NOT_FOUND)
        if upload.kind != kind:
            raise PixverseError(ErrCode.INVALID_PARAM)
        return upload

    async def source(self, api_key: str, body: dict[str, Any]) -> Source:
        """The one video source of ``body`` (the contract guarantees exactly one).

        ``source_video_id``: 500008 unknown, foreign or an image job; 500064 failed
        moderation (its content is gone); 400017 still generating or failed.
        ``video_media_id``: as :meth:`own_media` with kind video.
        """
        if "source_video_id" in body:
            video_id = int(body["source_video_id"])
            job = await self.engine.get_job(self.provider, str(video_id))
            if job is None or job.api_key != api_key or job.kind in IMAGE_KINDS:
                raise PixverseError(ErrCode.NOT_FOUND)
            # A check, not a client poll: status(), not observe().
            state = self.engine.status(job)
            if state == MODERATED:
                raise PixverseError(ErrCode.CONTENT_DELETED)
            if state != SUCCEEDED:
                raise PixverseError(ErrCode.INVALID_PARAM)
            return Source("source_video_id", video_id, job.width, job.height, float(job.duration),
                          job.duration * self.engine.media.fps, "mp4", "h264")
        media_id = int(body["video_media_id"])
        upload = await self.own_media(api_key, media_id, "video")
        frames, codec, fmt = 0, "", _FORMAT_OF_MIME.get(upload.content_type, "")
        if upload.data:
            try:
                info = probe_media(upload.data)
                frames, codec, fmt = info.frames, info.video_codec, info.format
            except MediaProbeError:  # stored only after a successful probe
                pass
        return Source("video_media_id", media_id, upload.width, upload.height, upload.duration,
                      frames, fmt, codec)

    async def audio_seconds(self, api_key: str, media_id: Any) -> float:
        """Length of the audio ``media_id`` this key uploaded (0 when unknown); errors
        as :meth:`own_media` with kind audio."""
        return (await self.own_media(api_key, media_id, "audio")).duration


def template(template_id: Any, template_type: int, images: int | None, quality: str | None) -> catalog.Template:
    """The activated template ``template_id`` for an endpoint of ``template_type``
    given ``images`` images (None: any template of the type, as text-to-video takes
    the image-to-video page's example template) at ``quality`` (None: not applicable).

    500070 unknown or not activated; 400017 of the other type or taking another
    number of images; 500071 a quality it does not render.
    """
    found = catalog.template(int(template_id))
    if found is None or not found.activated:
        raise PixverseError(ErrCode.TEMPLATE_NOT_ACTIVATED)
    if found.template_type != template_type or (images is not None and found.effect_type != images):
        raise PixverseError(ErrCode.INVALID_PARAM)
    if quality is not None and quality not in found.qualities:
        raise PixverseError(ErrCode.RESOLUTION_UNSUPPORTED)
    return found

def check_keyframe(source: Source, keyframe_id: int) -> int:
    """``keyframe_id`` if it is a frame of ``source`` (1..frames), else 400017.
    A source of unknown length (URL upload) takes any keyframe."""
    if keyframe_id < 1 or (source.frames and keyframe_id > source.frames):
        raise PixverseError(ErrCode.INVALID_PARAM)
    return keyframe_id

def check_mask(api_key: str, source: Source, keyframe_id: int, mask: str) -> None:
    """400017 unless ``mask`` came from a selection of ``source`` at ``keyframe_id``."""
    if mask not in {mask_id(api_key, source, keyframe_id, n) for n in MASK_NAMES}:
        raise PixverseError(ErrCode.INVALID_PARAM)

def check_mask_of_video(api_key: str, source: Source, mask: str) -> None:
    """400017 unless ``mask`` came from a selection of ``source`` at any keyframe."""
    # Unknown length (URL upload): any keyframe the longest upload could have.
    last = source.frames or VIDEO_MAX_DURATION_S * 60
    for keyframe_id in range(1, last + 1):
        if mask in {mask_id(api_key, source, keyframe_id, n) for n in MASK_NAMES}:
            return
    raise PixverseError(ErrCode.INVALID_PARAM)



# Upload content types (set from the probed format) back to the format.
_FORMAT_OF_MIME = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}
