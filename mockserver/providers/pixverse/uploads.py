"""Image and media (video/audio) uploads: ``POST /openapi/v2/image/upload`` and
``POST /openapi/v2/media/upload``.

Limits: the Upload Image reference page and the "Image to video" guide; the Upload
Video&audio reference page (video mp4/mov/webm and audio mp3/wav/m4a/aac, at most 50 MB
and 30 s, video at most 1920 px).  Formats are read from the bytes, never from a name or a part's
content type.  ErrCodes per the contract's ``x-fake-notes`` (uploads).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ...engine import Engine
from ...engine.media import MEDIA_FORMATS, MediaProbeError, probe_media
from ...engine.store import Upload
from ...files import upload_url
from ..base import Call, Reply
from .errors import ErrCode, PixverseError
from .images import inspect_image
from .wire import Wire

# A URL-only upload from Python (requests/httpx ``data=`` without files) arrives
# urlencoded; a Go form parser reads both, so both are accepted.
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

#: What the media upload page accepts, per kind.
ACCEPTED_FORMATS = {"video": frozenset({"mp4", "mov", "webm"}),
                    "audio": frozenset({"mp3", "wav", "m4a", "aac"})}

#: URL extension -> format, for media registered by URL (never fetched).
_URL_FORMATS = {".mp4": "mp4", ".mov": "mov", ".webm": "webm", ".mp3": "mp3", ".wav": "wav",
                ".m4a": "m4a", ".aac": "aac"}


@dataclass(slots=True)
class MediaLimits:
    """Upload limits.  Bytes, seconds and pixels; the defaults are the documented ones.

    Read from ``settings.pixverse`` when it has fields of these names (the image ones
    do today), else the defaults, so tests and profiles can tune them once the settings
    grow the media ones.
    """

    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 10000
    min_pixels: int = 16
    max_media_bytes: int = 50 * 1024 * 1024
    max_media_seconds: float = 30.0
    max_video_pixels: int = 1920

    @classmethod
    def from_settings(cls, section: Any) -> "MediaLimits":
        limits = cls()
        for name in cls.__dataclass_fields__:
            if hasattr(section, name):
                setattr(limits, name, getattr(section, name))
        return limits


async def read_form(call: Call, too_large: ErrCode) -> Any:
    """The request's form fields.  400013 when the body is not a form or is broken;
    ``too_large`` when it exceeds the server's body cap."""
    request = call.request
    if request.content_type not in _FORM_TYPES:
        raise PixverseError(ErrCode.BAD_BINDING)
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge as exc:
        # aiohttp says "too many fields" with the same exception (its text tells them
        # apart): a broken form, not a big file.
        if "form fields" in (exc.text or ""):
            raise PixverseError(ErrCode.BAD_BINDING) from None
        raise PixverseError(too_large) from None
    except (ValueError, HttpProcessingError, web.RequestPayloadError):
        # aiohttp's multipart reader reports a broken body as ValueError (bad
        # boundary) or as an HTTP parsing error (undecodable part headers); a broken
        # transfer encoding is a payload error.
        raise PixverseError(ErrCode.BAD_BINDING) from None


def file_part(form: Any, name: str) -> bytes:
    """The bytes of file part ``name``; b"" when absent, empty or not a file."""
    part = form.get(name)
    return part.file.read() if isinstance(part, web.FileField) else b""


def text_field(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def http_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else 500042 (invalid path)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PixverseError(ErrCode.IMAGE_PATH) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PixverseError(ErrCode.IMAGE_PATH)
    return url


class Uploads:
    """The two upload handlers: checks per :class:`MediaLimits`, uploads stored in the
    engine under ``provider``."""

    def __init__(self, engine: Engine, provider: str, limits: MediaLimits, wire: Wire) -> None:
        self.engine = engine
        self.name = provider
        self.limits = limits
        self.ok = wire.ok

    async def upload_image(self, call: Call) -> Reply:
        """POST /openapi/v2/image/upload, multipart ``image`` (file) or ``image_url``
        (multipart or urlencoded form field).

        Resp ``{"img_id": int, "img_url": str}``.  Errors: 400013 not a form body,
        400011 neither field, 500030/500031/500032/500033 (see
        ``images.inspect_image``), 500042 ``image_url`` not http(s).
        """
        form = await read_form(call, ErrCode.IMAGE_TOO_LARGE)
        data = file_part(form, "image")
        if data:
            return await self._store_image(call, data)
        image_url = text_field(form, "image_url")
        if image_url:
            return await self._store_image_url(call, http_url(image_url))
        raise PixverseError(ErrCode.PARAM_EMPTY)

    async def _store_image(self, call: Call, data: bytes) -> Reply:
        limits = self.limits
        info = inspect_image(data, limits.max_image_bytes, limits.max_image_pixels, limits.min_pixels)
        img_id = self.engine.new_int_id()
        await self.engine.add_upload(Upload(
            id=str(img_id), provider=self.name, api_key=call.api_key, kind="image",
            content_type=info.content_type, data=data, width=info.width, height=info.height,
        ))
        url = upload_url(call.base_url, self.name, str(img_id), f"image.{info.extension}")
        return self.ok({"img_id": img_id, "img_url": url})

    async def _store_image_url(self, call: Call, url: str) -> Reply:
        img_id = self.engine.new_int_id()
        # Never fetched (the fake stays offline), so the size is unknown: 0 x 0.
        await self.engine.add_upload(Upload(
            id=str(img_id), provider=self.name, api_key=call.api_key, kind="image",
            content_type="application/octet-stream", data=b"",
        ))
        return self.ok({"img_id": img_id, "img_url": url})

    async def upload_media(self, call: Call) -> Reply:
        """POST /openapi/v2/media/upload, multipart ``file`` or ``file_url`` (multipart
        or urlencoded), optional ``media_type`` (video|audio).

        Resp ``{"media_id": int, "media_type": "video"|"audio", "url": str}``.
        Errors: 400013 not a form body; 400011 neither field; 400017 ``media_type``
        not video/audio or not the uploaded file's kind (a URL's declared type is
        trusted), or longer than 30 s (as the container's header says, e.g. a WAV's
        data chunk); 500030 over 50 MB or (video) over 1920 px; 500033 under 16 px;
        500032 not a listed format; 500031 unreadable, or truncated (fewer packets
        than the container describes); 500042 ``file_url`` not http(s).
        """
        form = await read_form(call, ErrCode.IMAGE_TOO_LARGE)
        declared = text_field(form, "media_type").lower()
        if declared not in ("", "video", "audio"):
            raise PixverseError(ErrCode.INVALID_PARAM)
        data = file_part(form, "file")
        if data:
            return await self._store_media(call, data, declared)
        file_url = text_field(form, "file_url")
        if file_url:
            return await self._store_media_url(call, http_url(file_url), declared)
        raise PixverseError(ErrCode.PARAM_EMPTY)

    async def _store_media(self, call: Call, data: bytes, declared: str) -> Reply:
        limits = self.limits
        if len(data) > limits.max_media_bytes:
            raise PixverseError(ErrCode.IMAGE_TOO_LARGE)
        try:
            info = probe_media(data)
        except MediaProbeError as exc:
            raise PixverseError(ErrCode.IMAGE_FORMAT if exc.reason == "format"
                                else ErrCode.IMAGE_UNREADABLE) from None
        if info.format not in ACCEPTED_FORMATS[info.kind]:
            raise PixverseError(ErrCode.IMAGE_FORMAT)
        if declared and declared != info.kind:
            raise PixverseError(ErrCode.INVALID_PARAM)
        if info.kind == "video":
            if max(info.width, info.height) > limits.max_video_pixels:
                raise PixverseError(ErrCode.IMAGE_TOO_LARGE)
            if min(info.width, info.height) < limits.min_pixels:
                raise PixverseError(ErrCode.IMAGE_SIZE)
        if info.duration_s > limits.max_media_seconds:
            raise PixverseError(ErrCode.INVALID_PARAM)
        if not info.complete:
            raise PixverseError(ErrCode.IMAGE_UNREADABLE)
        media_id = self.engine.new_int_id()
        await self.engine.add_upload(Upload(
            id=str(media_id), provider=self.name, api_key=call.api_key, kind=info.kind,
            content_type=info.mime, data=data, width=info.width, height=info.height,
            duration=info.duration_s,
        ))
        url = upload_url(call.base_url, self.name, str(media_id), f"media.{info.format}")
        return self.ok({"media_id": media_id, "media_type": info.kind, "url": url})

    async def _store_media_url(self, call: Call, url: str, declared: str) -> Reply:
        path = urlsplit(url).path.lower()
        fmt = next((f for ext, f in _URL_FORMATS.items() if path.endswith(ext)), "")
        # The fake never fetches the URL, so it cannot contradict the client: a declared
        # media_type wins over what the extension suggests.
        kind = declared or (MEDIA_FORMATS[fmt][0] if fmt else "")
        if fmt and MEDIA_FORMATS[fmt][0] != kind:
            fmt = ""
        if not kind:
            raise PixverseError(ErrCode.IMAGE_FORMAT)
        media_id = self.engine.new_int_id()
        # Never fetched: size and length unknown (0), the format from the extension.
        await self.engine.add_upload(Upload(
            id=str(media_id), provider=self.name, api_key=call.api_key, kind=kind,
            content_type=MEDIA_FORMATS[fmt][1] if fmt else "application/octet-stream",
            data=b"",
        ))
        return self.ok({"media_id": media_id, "media_type": kind, "url": url})
