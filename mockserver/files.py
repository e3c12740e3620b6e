"""HTTP routes for the placeholder media the fake providers hand out.

Every provider returns result URLs built by :func:`video_url` /
:func:`image_url`; the shape is encoded in the URL itself, so serving a file
needs no per-job state and the URLs stay valid across server restarts.

Routes (GET and HEAD)::

    /__files/videos/{width}x{height}/{duration}s/{name}.mp4   -> video/mp4
    /__files/images/{width}x{height}/{name}.png               -> image/png

``name`` is a per-job token (``[A-Za-z0-9_.:-]+``) that only makes URLs look
unique to clients; it does not affect the content. Files are served with
:class:`aiohttp.web.FileResponse`, so Range requests (206 / 416),
conditional requests (ETag, Last-Modified) and HEAD all behave like a real
CDN. Anything else under ``/__files/`` is a JSON 404.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from mockserver import directives, faultwire
from mockserver.directives import DRIBBLE_HEADER, FAULT_HEADER, LATENCY_HEADER, TEST_ID_HEADER
from mockserver.engine.faults import FILES, FaultContext
from mockserver.engine.media import MediaLibrary, RenderBusy, is_provider_shape
from mockserver.engine.state import FaultRules, StoreUnavailable
from mockserver.engine.store import Upload
from mockserver.keys import FAULTS

__all__ = ["FAULTS", "FILES_PREFIX", "NAME_PATTERN", "add_file_routes", "image_url", "upload_url",
           "video_url"]

FILES_PREFIX = "/__files"

#: Where the media routes find the fault rules (set by ``create_app``).
#: Rules reach ``/__files`` only with ``provider: files``; operations are ``video``,
#: ``image`` and ``upload``.  Faults here: latency, connection faults and ``dribble_bps``
#: (the whole file, 200, at that many bytes per second; Range is not honoured then).

#: Allowed characters of the per-job ``name`` URL segment.
NAME_PATTERN = r"[A-Za-z0-9_.:-]+"
_NAME_RE = re.compile(NAME_PATTERN)

# Digits only, and few of them: anything else can never be in bounds, and
# the cap stops absurd numbers from reaching int().
_NUM = r"[0-9]{1,6}"

_VIDEO_ROUTE = (
    f"{FILES_PREFIX}/{{kind:videos|videos-audio}}/{{width:{_NUM}}}x{{height:{_NUM}}}"
    f"/{{duration:{_NUM}}}s/{{name:{NAME_PATTERN}}}.mp4"
)
_IMAGE_ROUTE = (
    f"{FILES_PREFIX}/images/{{width:{_NUM}}}x{{height:{_NUM}}}/{{name:{NAME_PATTERN}}}.png"
)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"file name must match {NAME_PATTERN}, got {name!r}")


def video_url(base_url: str, width: int, height: int, duration_s: int, name: str,
              audio: bool = False) -> str:
    """Absolute URL of the placeholder video for a shape (with an AAC tone track
    when ``audio``, under ``/__files/videos-audio/``).

    :param base_url: server origin, e.g. ``"http://127.0.0.1:8000"``; a
        trailing slash is tolerated.
    :param width: pixels, and ``height``: a size a provider hands out
        (``media.PROVIDER_VIDEO_SIZES``).
    :param duration_s: seconds (1..30).
    :param name: per-job token without extension, ``[A-Za-z0-9_.:-]+``.
    :raises ValueError: not a provider's shape, or bad ``name`` -- such a URL
        would only ever 404.
    """
    if not is_provider_shape(width, height, duration_s):
        raise ValueError(f"no provider hands out a {width}x{height} {duration_s!r} s video")
    _check_name(name)
    return (
        f"{base_url.rstrip('/')}{FILES_PREFIX}/{'videos-audio' if audio else 'videos'}/"
        f"{width}x{height}/{duration_s}s/{name}.mp4"
    )


def image_url(base_url: str, width: int, height: int, name: str) -> str:
    """Absolute URL of the placeholder PNG for a size.

    :param base_url: server origin, e.g. ``"http://127.0.0.1:8000"``.
    :param width: pixels, and ``height``: a size a provider hands out
        (``media.PROVIDER_VIDEO_SIZES``).
    :param name: per-job token without extension, ``[A-Za-z0-9_.:-]+``.
    :raises ValueError: not a provider's size, or bad ``name``.
    """
    if not is_provider_shape(width, height):
        raise ValueError(f"no provider hands out a {width}x{height} image")
    _check_name(name)
    return f"{base_url.rstrip('/')}{FILES_PREFIX}/images/{width}x{height}/{name}.png"


def upload_url(base_url: str, provider: str, upload_id: str, filename: str = "file") -> str:
    """Absolute URL at which the fake serves back a file a client uploaded.

    ``filename`` is cosmetic (clients like URLs that end in ``.png``); characters
    outside ``[A-Za-z0-9_.:-]`` are replaced with ``_``.
    """
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", filename) or "file"
    return f"{base_url.rstrip('/')}{FILES_PREFIX}/uploads/{provider}/{upload_id}/{safe}"


def _not_found() -> web.Response:
    return web.json_response({"message": "Not Found"}, status=404)


#: Seconds a client is asked to wait when the render queue is full.
RENDER_RETRY_AFTER_S = 1


def _busy(message: str = "media renders are queued to capacity; retry shortly") -> web.Response:
    # 503, not 429: the fake is busy, the client did nothing wrong.
    return web.json_response({"message": message},
                             status=503, headers={"Retry-After": str(RENDER_RETRY_AFTER_S)})


def _file_context(faults: FaultRules, request: web.Request, operation: str) -> FaultContext | None:
    """What a media request looks like to the rules; None when none can touch it."""
    headers = request.headers
    dribble = headers.get(DRIBBLE_HEADER)
    fault = headers.get(FAULT_HEADER)
    latency = headers.get(LATENCY_HEADER)
    if not len(faults) and not (faults.directives and (dribble or fault or latency)):
        return None
    return FaultContext(
        provider=FILES, operation=operation, test_id=headers.get(TEST_ID_HEADER),
        directives=directives.found(fault=fault, latency=latency, dribble=dribble)
        if faults.directives else ())


async def _send(request: web.Request, operation: str, content_type: str,
                path: Path | None = None, data: bytes | None = None) -> web.StreamResponse:
    """Serve a file or bytes, with whatever faults the rules ask for on ``/__files``."""
    faults = request.app.get(FAULTS)
    ctx = _file_context(faults, request, operation) if faults is not None else None
    decision = None
    if ctx is not None and faults is not None:
        decision = await faults.decide_shared(ctx) if faults.shared else faults.decide(ctx)
    if decision is None or faults is None:
        if path is not None:
            return web.FileResponse(path, headers={"Content-Type": content_type})
        return web.Response(body=data, content_type=content_type)
    faults.record(FILES, operation, decision)
    cut = await faultwire.before_handling(request, decision, faults)
    if cut is not None:
        return cut
    if data is None and path is not None and (decision.dribble_bps or decision.connection):
        data = await asyncio.to_thread(path.read_bytes)
    if decision.dribble_bps:
        return await faultwire.dribble(request, data or b"", content_type, decision.dribble_bps)
    if decision.connection in ("malformed", "truncated"):
        resp = web.Response(body=data, headers={"Content-Type": content_type})
        if decision.connection == "malformed":
            return faultwire.malformed(resp)
        return await faultwire.truncated(request, resp)
    if path is not None:
        return web.FileResponse(path, headers={"Content-Type": content_type})
    return web.Response(body=data, content_type=content_type)


def add_file_routes(app: web.Application, media: MediaLibrary,
                    uploads: Callable[[str, str], Awaitable[Upload | None]] | None = None) -> None:
    """Register the ``/__files/`` GET/HEAD routes on ``app``, serving from ``media``
    and, under ``/__files/uploads/{provider}/{id}/{name}``, the bytes of the upload
    ``await uploads(provider, id)`` finds (``Engine.get_upload``).

    Only shapes a provider hands out are rendered (``media.is_provider_shape``: the
    sizes of 360p-1080p at the five aspect ratios, 1-30 s); other shapes and any
    other path under ``/__files/`` get a JSON ``{"message": "Not Found"}`` 404 rather
    than aiohttp's plain-text one.  When the render queue is full (setting
    ``media_render_queue``) a shape not yet cached gets 503 ``{"message"}`` with
    ``Retry-After: 1``.
    """

    async def get_video(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        shape = (int(info["width"]), int(info["height"]), int(info["duration"]))
        if not is_provider_shape(*shape):
            return _not_found()
        try:
            path = await media.video(*shape, info["kind"] == "videos-audio", refuse_when_busy=True)
        except RenderBusy:
            return _busy()
        return await _send(request, "video", "video/mp4", path=path)

    async def get_image(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        shape = (int(info["width"]), int(info["height"]))
        if not is_provider_shape(*shape):
            return _not_found()
        try:
            path = await media.image(*shape, refuse_when_busy=True)
        except RenderBusy:
            return _busy()
        return await _send(request, "image", "image/png", path=path)

    async def get_upload(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        try:
            item = await uploads(info["provider"], info["upload_id"]) if uploads is not None else None
        except StoreUnavailable:  # Redis went away: try again shortly
            return _busy("the fake's shared state (Redis) did not answer; retry shortly")
        if item is None:
            return _not_found()
        return await _send(request, "upload", item.content_type, data=item.data)

    async def not_found(request: web.Request) -> web.Response:
        return _not_found()

    app.router.add_get(_VIDEO_ROUTE, get_video)
    app.router.add_get(_IMAGE_ROUTE, get_image)
    app.router.add_get(FILES_PREFIX + "/uploads/{provider}/{upload_id}/{name}", get_upload)
    # Registered last: aiohttp matches routes in registration order.
    app.router.add_get(FILES_PREFIX + "/{tail:.*}", not_found)
