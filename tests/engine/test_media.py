"""Tests for placeholder media rendering (engine.media) and its HTTP routes (files)."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import av
import pytest
from aiohttp import web
from PIL import Image
from yarl import URL

from mockserver.engine.media import MediaLibrary, size_of, video_dimensions
from mockserver.engine.media import rendering as media_mod
from mockserver.files import add_file_routes, image_url, video_url

FPS = 8


def probe(source: Path | bytes) -> dict:
    """Decode a video fully and return what a client would check."""
    src = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(src) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.width,
            "height": stream.height,
            "duration_s": container.duration / av.time_base,
            "frames": frames,
        }


def no_temp_files(cache_dir: Path) -> bool:
    return not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]


# -- video_dimensions -------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "aspect", "expected"),
    [
        ("720p", "16:9", (1280, 720)),
        ("720p", "9:16", (720, 1280)),
        ("540p", "4:3", (720, 540)),
        ("540p", "3:4", (540, 720)),
        ("1080p", "1:1", (1080, 1080)),
        ("1080p", "16:9", (1920, 1080)),
        ("1080p", "4:3", (1440, 1080)),
        ("360p", "16:9", (640, 360)),
        ("360p", "9:16", (360, 640)),
        ("540p", "16:9", (960, 540)),
    ],
)
def test_video_dimensions(quality, aspect, expected):
    assert video_dimensions(quality, aspect) == expected


def test_video_dimensions_defaults_to_16_9():
    assert video_dimensions("720p") == (1280, 720)


@pytest.mark.parametrize("quality", ["360p", "540p", "720p", "1080p"])
@pytest.mark.parametrize("aspect", ["16:9", "4:3", "1:1", "3:4", "9:16"])
def test_video_dimensions_always_even_and_short_side_is_quality(quality, aspect):
    w, h = video_dimensions(quality, aspect)
    assert w % 2 == 0 and h % 2 == 0
    assert min(w, h) == int(quality[:-1])


@pytest.mark.parametrize(
    ("quality", "aspect"),
    [("480p", "16:9"), ("4k", "16:9"), ("720P", "16:9"), ("720p", "21:9"), ("720p", "16x9"),
     (None, "16:9"), ("720p", None)],
)
def test_video_dimensions_rejects_unknown(quality, aspect):
    with pytest.raises(ValueError):
        video_dimensions(quality, aspect)


# -- MediaLibrary: rendering ------------------------------------------------


@pytest.mark.parametrize(("width", "height", "duration"), [(640, 360, 5), (360, 640, 8)])
def test_video_path_renders_playable_h264(tmp_path, width, height, duration):
    lib = MediaLibrary(tmp_path, fps=FPS)
    path = lib.video_path(width, height, duration)

    assert path == tmp_path / f"video_{width}x{height}_{duration}s.mp4"
    info = probe(path)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (width, height)
    assert info["duration_s"] == pytest.approx(duration, abs=0.15)
    assert info["frames"] / FPS == pytest.approx(duration, abs=0.15)
    assert size_of(path) == path.stat().st_size > 0
    assert no_temp_files(tmp_path)


def test_video_moov_atom_first_for_progressive_download(tmp_path):
    path = MediaLibrary(tmp_path).video_path(64, 64, 1)
    head = path.read_bytes()[:64]
    assert head.index(b"moov") < path.read_bytes().index(b"mdat")
    assert head[4:8] == b"ftyp"


def test_video_path_is_cached(tmp_path, monkeypatch):
    lib = MediaLibrary(tmp_path, fps=FPS)
    first = lib.video_path(64, 48, 2)
    before = first.stat()

    def must_not_render(*args, **kwargs):
        raise AssertionError("re-rendered a cached video")

    monkeypatch.setattr(media_mod, "_render_video", must_not_render)
    second = lib.video_path(64, 48, 2)
    after = second.stat()

    assert second == first
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_cache_shared_between_instances(tmp_path, monkeypatch):
    path = MediaLibrary(tmp_path).video_path(64, 48, 1)
    monkeypatch.setattr(media_mod, "_render_video", None)  # any render would crash
    assert MediaLibrary(tmp_path).video_path(64, 48, 1) == path


def test_failed_render_leaves_no_files(tmp_path, monkeypatch):
    def broken(dest, **kwargs):
        dest.write_bytes(b"half a video")
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(media_mod, "_render_video", broken)
    lib = MediaLibrary(tmp_path)
    with pytest.raises(RuntimeError, match="encoder exploded"):
        lib.video_path(64, 48, 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("width", "height", "duration"),
    [
        (15, 64, 1), (14, 64, 1), (4098, 64, 1), (64, 4098, 1),  # out of range
        (65, 64, 1), (64, 65, 1),  # odd
        (64, 64, 0), (64, 64, 31), (64, 64, -1),
        (64.0, 64, 1), ("64", 64, 1), (True, 64, 1), (64, 64, 1.5), (64, 64, None),
    ],
)
def test_video_rejects_bad_shapes(tmp_path, width, height, duration):
    lib = MediaLibrary(tmp_path)
    with pytest.raises(ValueError):
        lib.video_path(width, height, duration)
    assert list(tmp_path.iterdir()) == []


def test_video_bounds_are_inclusive(tmp_path):
    lib = MediaLibrary(tmp_path)
    # Only the cheap edge is rendered; 4096 and 30 s are checked without rendering.
    assert probe(lib.video_path(16, 16, 1))["width"] == 16
    assert lib.video_file(4096, 4096, 30).name == "video_4096x4096_30s.mp4"


@pytest.mark.parametrize("fps", [0, 61, 8.0, True])
def test_media_library_rejects_bad_fps(tmp_path, fps):
    with pytest.raises(ValueError):
        MediaLibrary(tmp_path, fps=fps)


def test_media_library_creates_cache_dir(tmp_path):
    cache = tmp_path / "a" / "b"
    MediaLibrary(cache).image_path(16, 16)
    assert (cache / "image_16x16.png").is_file()


@pytest.mark.parametrize(("width", "height"), [(16, 16), (333, 77), (1280, 720)])
def test_image_path_renders_png(tmp_path, width, height):
    path = MediaLibrary(tmp_path).image_path(width, height)
    assert path == tmp_path / f"image_{width}x{height}.png"
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (width, height)
    assert no_temp_files(tmp_path)


def test_image_path_is_cached(tmp_path, monkeypatch):
    lib = MediaLibrary(tmp_path)
    first = lib.image_path(32, 32)
    before = first.stat()
    monkeypatch.setattr(media_mod, "_render_image", None)
    assert lib.image_path(32, 32) == first
    assert first.stat().st_mtime_ns == before.st_mtime_ns


@pytest.mark.parametrize(("width", "height"), [(15, 16), (16, 10001), (16.0, 16), (False, 16)])
def test_image_rejects_bad_shapes(tmp_path, width, height):
    with pytest.raises(ValueError):
        MediaLibrary(tmp_path).image_path(width, height)


# -- MediaLibrary: async ----------------------------------------------------


def counting_renderer(monkeypatch, name: str) -> tuple[list, threading.Event]:
    """Wrap a module renderer so it counts calls and blocks until released."""
    real = getattr(media_mod, name)
    calls: list = []
    release = threading.Event()

    def wrapper(dest, **kwargs):
        calls.append(kwargs)
        # Event wait, not a sleep: returns as soon as the test releases it;
        # the timeout only stops a broken test from hanging forever.
        assert release.wait(timeout=30), "render never released"
        real(dest, **kwargs)

    monkeypatch.setattr(media_mod, name, wrapper)
    return calls, release


async def test_async_video_renders_once_for_concurrent_requests(tmp_path, monkeypatch):
    calls, release = counting_renderer(monkeypatch, "_render_video")
    lib = MediaLibrary(tmp_path, fps=FPS)

    tasks = [asyncio.ensure_future(lib.video(64, 48, 2)) for _ in range(3)]
    await asyncio.sleep(0)  # let every task reach its await while the render is blocked
    release.set()
    paths = await asyncio.gather(*tasks)

    assert len(calls) == 1
    assert paths == [tmp_path / "video_64x48_2s.mp4"] * 3
    assert probe(paths[0])["width"] == 64


async def test_async_gather_video(tmp_path, monkeypatch):
    calls, release = counting_renderer(monkeypatch, "_render_video")
    release.set()
    lib = MediaLibrary(tmp_path, fps=FPS)
    a, b = await asyncio.gather(lib.video(64, 48, 1), lib.video(64, 48, 1))
    assert a == b and a.is_file()
    assert len(calls) == 1
    # Already cached: no further render, no thread hop needed.
    assert await lib.video(64, 48, 1) == a
    assert len(calls) == 1


async def test_async_distinct_shapes_render_separately(tmp_path, monkeypatch):
    calls, release = counting_renderer(monkeypatch, "_render_video")
    release.set()
    lib = MediaLibrary(tmp_path, fps=FPS)
    a, b = await asyncio.gather(lib.video(64, 48, 1), lib.video(48, 64, 1))
    assert a != b
    assert len(calls) == 2


async def test_async_cancelled_waiter_does_not_cancel_render(tmp_path, monkeypatch):
    calls, release = counting_renderer(monkeypatch, "_render_video")
    lib = MediaLibrary(tmp_path, fps=FPS)

    doomed = asyncio.ensure_future(lib.video(64, 48, 1))
    survivor = asyncio.ensure_future(lib.video(64, 48, 1))
    await asyncio.sleep(0)
    doomed.cancel()
    release.set()

    path = await survivor
    assert doomed.cancelled()
    assert path.is_file()
    assert len(calls) == 1


async def test_async_render_error_reaches_all_waiters_and_is_retried(tmp_path, monkeypatch):
    attempts = []

    def broken(dest, **kwargs):
        attempts.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(media_mod, "_render_video", broken)
    lib = MediaLibrary(tmp_path)
    results = await asyncio.gather(
        lib.video(64, 48, 1), lib.video(64, 48, 1), return_exceptions=True
    )
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert len(attempts) == 1

    monkeypatch.undo()
    # The failure is not cached: the next request renders again.
    assert (await lib.video(64, 48, 1)).is_file()


async def test_async_bad_shape_raises_value_error(tmp_path):
    lib = MediaLibrary(tmp_path)
    with pytest.raises(ValueError):
        await lib.video(65, 48, 1)
    with pytest.raises(ValueError):
        await lib.image(5, 5)


async def test_async_image(tmp_path, monkeypatch):
    calls, release = counting_renderer(monkeypatch, "_render_image")
    release.set()
    lib = MediaLibrary(tmp_path)
    a, b = await asyncio.gather(lib.image(40, 30), lib.image(40, 30))
    assert a == b
    assert len(calls) == 1
    with Image.open(a) as img:
        assert img.size == (40, 30)


# -- URL helpers ------------------------------------------------------------


def test_video_url():
    assert (
        video_url("http://127.0.0.1:8000", 1280, 720, 5, "job-1")
        == "http://127.0.0.1:8000/__files/videos/1280x720/5s/job-1.mp4"
    )
    assert video_url("http://h:1/", 360, 360, 1, "a") == "http://h:1/__files/videos/360x360/1s/a.mp4"


def test_image_url():
    assert (
        image_url("http://127.0.0.1:8000", 720, 960, "img_1.v2:x")
        == "http://127.0.0.1:8000/__files/images/720x960/img_1.v2:x.png"
    )


@pytest.mark.parametrize("name", ["", "a/b", "a b", "ü", "a?b", "a#b", None])
def test_url_helpers_reject_bad_names(name):
    with pytest.raises(ValueError):
        video_url("http://h", 360, 360, 1, name)
    with pytest.raises(ValueError):
        image_url("http://h", 360, 360, name)


def test_url_helpers_reject_bad_shapes():
    with pytest.raises(ValueError):
        video_url("http://h", 65, 48, 1, "a")
    with pytest.raises(ValueError):
        video_url("http://h", 64, 48, 31, "a")
    with pytest.raises(ValueError):
        image_url("http://h", 10001, 48, "a")
    with pytest.raises(ValueError):  # a valid video, but no provider's size
        video_url("http://h", 64, 48, 1, "a")
    with pytest.raises(ValueError):
        image_url("http://h", 300, 200, "a")


# -- HTTP routes ------------------------------------------------------------


@pytest.fixture
def files_app(tmp_path):
    app = web.Application()
    add_file_routes(app, MediaLibrary(tmp_path / "cache", fps=FPS))
    return app


def url_path(client, full_url_builder, *args) -> str:
    """Build a URL with the public helper, keep only the path for TestClient."""
    base = str(client.make_url("/")).rstrip("/")
    return URL(full_url_builder(base, *args)).raw_path


async def test_http_get_video(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    path = url_path(client, video_url, 640, 360, 2, "job_123")
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "video/mp4"
    assert resp.headers["Accept-Ranges"] == "bytes"
    body = await resp.read()
    assert int(resp.headers["Content-Length"]) == len(body)

    info = probe(body)
    assert info["codec"] == "h264"
    assert (info["width"], info["height"]) == (640, 360)
    assert info["duration_s"] == pytest.approx(2, abs=0.15)


async def test_http_name_does_not_change_content(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    a = await (await client.get("/__files/videos/360x360/1s/one.mp4")).read()
    b = await (await client.get("/__files/videos/360x360/1s/two:3.x-y_z.mp4")).read()
    assert a == b


async def test_http_head_video(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    full = await client.get("/__files/videos/360x360/1s/x.mp4")
    size = len(await full.read())

    resp = await client.head("/__files/videos/360x360/1s/x.mp4")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "video/mp4"
    assert int(resp.headers["Content-Length"]) == size
    assert await resp.read() == b""


async def test_http_head_renders_on_demand(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    resp = await client.head("/__files/videos/360x480/1s/first.mp4")
    assert resp.status == 200
    assert int(resp.headers["Content-Length"]) > 0


async def test_http_range_request(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    url = "/__files/videos/360x360/1s/x.mp4"
    whole = await (await client.get(url)).read()

    resp = await client.get(url, headers={"Range": "bytes=0-99"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    body = await resp.read()
    assert body == whole[:100]

    resp = await client.get(url, headers={"Range": "bytes=-10"})
    assert resp.status == 206
    assert await resp.read() == whole[-10:]

    resp = await client.get(url, headers={"Range": f"bytes={len(whole) + 10}-"})
    assert resp.status == 416


@pytest.mark.parametrize(
    "path",
    [
        "/__files/videos/65x48/1s/x.mp4",  # odd width
        "/__files/videos/8000x360/1s/x.mp4",  # too wide
        "/__files/videos/8x8/1s/x.mp4",  # too small
        "/__files/videos/64x48/0s/x.mp4",
        "/__files/videos/64x48/31s/x.mp4",
        "/__files/videos/9999999x48/1s/x.mp4",  # too many digits for the route
        "/__files/videos/64x48/1s/x.webm",
        "/__files/videos/abcx48/1s/x.mp4",
        "/__files/videos/64x48/1s/.mp4",  # empty name
        "/__files/videos/64x48/1s/a%20b.mp4",
        "/__files/videos/",
        "/__files/images/20000x10/x.png",
        "/__files/images/15x16/x.png",
        "/__files/images/64x48/x.jpg",
        "/__files/videos/64x48/1s/x.mp4",  # a valid video, but no provider's shape
        "/__files/videos/4096x4096/30s/x.mp4",
        "/__files/images/300x200/x.png",
        "/__files/nope",
    ],
)
async def test_http_bad_paths_are_json_404(aiohttp_client, files_app, path):
    client = await aiohttp_client(files_app)
    resp = await client.get(path)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert await resp.json() == {"message": "Not Found"}


async def test_http_bad_shape_renders_nothing(aiohttp_client, tmp_path):
    app = web.Application()
    add_file_routes(app, MediaLibrary(tmp_path, fps=FPS))
    client = await aiohttp_client(app)
    assert (await client.get("/__files/videos/8000x360/1s/x.mp4")).status == 404
    assert list(tmp_path.iterdir()) == []


async def test_http_other_methods_not_allowed(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    resp = await client.post("/__files/videos/360x360/1s/x.mp4")
    assert resp.status == 405


async def test_http_get_and_head_image(aiohttp_client, files_app):
    client = await aiohttp_client(files_app)
    path = url_path(client, image_url, 720, 960, "img-1")
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/png"
    body = await resp.read()
    with Image.open(io.BytesIO(body)) as img:
        assert img.format == "PNG"
        assert img.size == (720, 960)

    head = await client.head(path)
    assert head.status == 200
    assert head.headers["Content-Type"] == "image/png"
    assert int(head.headers["Content-Length"]) == len(body)
    assert await head.read() == b""
