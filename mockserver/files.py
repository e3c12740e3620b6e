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

import re

from aiohttp import web

from mockserver.engine.media import MediaLibrary, check_image_shape, check_video_shape
from mockserver.engine.store import UploadStore

__all__ = ["FILES_PREFIX", "NAME_PATTERN", "add_file_routes", "image_url", "upload_url", "video_url"]

FILES_PREFIX = "/__files"

#: Allowed characters of the per-job ``name`` URL segment.
NAME_PATTERN = r"[A-Za-z0-9_.:-]+"
_NAME_RE = re.compile(NAME_PATTERN)

# Digits only, and few of them: anything else can never be in bounds, and
# the cap stops absurd numbers from reaching int().
_NUM = r"[0-9]{1,6}"

_VIDEO_ROUTE = (
    f"{FILES_PREFIX}/videos/{{width:{_NUM}}}x{{height:{_NUM}}}"
    f"/{{duration:{_NUM}}}s/{{name:{NAME_PATTERN}}}.mp4"
)
_IMAGE_ROUTE = (
    f"{FILES_PREFIX}/images/{{width:{_NUM}}}x{{height:{_NUM}}}/{{name:{NAME_PATTERN}}}.png"
)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"file name must match {NAME_PATTERN}, got {name!r}")


def video_url(base_url: str, width: int, height: int, duration_s: int, name: str) -> str:
    """Absolute URL of the placeholder video for a shape.

    :param base_url: server origin, e.g. ``"http://127.0.0.1:8000"``; a
        trailing slash is tolerated.
    :param width: pixels (even, 16..4096).
    :param height: pixels (even, 16..4096).
    :param duration_s: seconds (1..30).
    :param name: per-job token without extension, ``[A-Za-z0-9_.:-]+``.
    :raises ValueError: shape out of bounds or bad ``name`` -- such a URL
        would only ever 404.
    """
    check_video_shape(width, height, duration_s)
    _check_name(name)
    return (
        f"{base_url.rstrip('/')}{FILES_PREFIX}/videos/"
        f"{width}x{height}/{duration_s}s/{name}.mp4"
    )


def image_url(base_url: str, width: int, height: int, name: str) -> str:
    """Absolute URL of the placeholder PNG for a size.

    :param base_url: server origin, e.g. ``"http://127.0.0.1:8000"``.
    :param width: pixels (16..10000).
    :param height: pixels (16..10000).
    :param name: per-job token without extension, ``[A-Za-z0-9_.:-]+``.
    :raises ValueError: size out of bounds or bad ``name``.
    """
    check_image_shape(width, height)
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


def add_file_routes(app: web.Application, media: MediaLibrary, uploads: UploadStore | None = None) -> None:
    """Register the ``/__files/`` GET/HEAD routes on ``app``, serving from ``media``
    and, under ``/__files/uploads/{provider}/{id}/{name}``, the bytes in ``uploads``.

    Out-of-bounds shapes and any other path under ``/__files/`` get a JSON
    ``{"message": "Not Found"}`` 404 rather than aiohttp's plain-text one.
    """

    async def get_video(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        try:
            shape = (int(info["width"]), int(info["height"]), int(info["duration"]))
            check_video_shape(*shape)
        except ValueError:
            return _not_found()
        path = await media.video(*shape)
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def get_image(request: web.Request) -> web.StreamResponse:
        info = request.match_info
        try:
            shape = (int(info["width"]), int(info["height"]))
            check_image_shape(*shape)
        except ValueError:
            return _not_found()
        path = await media.image(*shape)
        return web.FileResponse(path, headers={"Content-Type": "image/png"})

    async def get_upload(request: web.Request) -> web.Response:
        info = request.match_info
        item = uploads.get(info["provider"], info["upload_id"]) if uploads is not None else None
        if item is None:
            return _not_found()
        return web.Response(body=item.data, content_type=item.content_type)

    async def not_found(request: web.Request) -> web.Response:
        return _not_found()

    app.router.add_get(_VIDEO_ROUTE, get_video)
    app.router.add_get(_IMAGE_ROUTE, get_image)
    app.router.add_get(FILES_PREFIX + "/uploads/{provider}/{upload_id}/{name}", get_upload)
    # Registered last: aiohttp matches routes in registration order.
    app.router.add_get(FILES_PREFIX + "/{tail:.*}", not_found)
