"""Media limits (issue 14, item 11): /__files renders only the providers' shapes through
a bounded queue, the cache never keeps .tmp leftovers nor follows a symlink, and
uploads are measured from the container (truncated MP4, a WAV claiming 12,000 s)."""
from __future__ import annotations

import asyncio
import io
import os
import struct
import threading
import time
import wave

import pytest
from aiohttp import web

from mockserver.engine.media import PROVIDER_VIDEO_SIZES, MediaLibrary, is_provider_shape, video_dimensions
from mockserver.engine.media import rendering as media_module
from mockserver.files import add_file_routes
from support import MEDIA_CACHE
from support.pixverse import assert_error, upload_media, video_bytes


def test_provider_shapes_are_the_qualities_at_the_aspect_ratios():
    assert len(PROVIDER_VIDEO_SIZES) == 20
    assert video_dimensions("1080p", "9:16") in PROVIDER_VIDEO_SIZES and (1920, 1080) in PROVIDER_VIDEO_SIZES
    assert is_provider_shape(1920, 1080, 30) and is_provider_shape(360, 360, 1)
    assert not is_provider_shape(4096, 4096, 30) and not is_provider_shape(1920, 1080, 31)
    assert not is_provider_shape(64, 48, 1)


async def test_a_shape_no_provider_produces_is_not_rendered(aiohttp_client, tmp_path):
    app = web.Application()
    add_file_routes(app, MediaLibrary(tmp_path, fps=1))
    client = await aiohttp_client(app)
    for path in ("/__files/videos/4096x4096/30s/x.mp4", "/__files/videos/1922x1080/5s/x.mp4",
                 "/__files/images/10000x10000/x.png"):
        assert (await client.get(path)).status == 404
    assert list(tmp_path.iterdir()) == []


async def test_a_full_render_queue_answers_503_with_retry_after(aiohttp_client, tmp_path, monkeypatch):
    release = threading.Event()
    real = media_module._render_video

    def held(dest, **shape):
        release.wait(10)
        real(dest, **shape)

    monkeypatch.setattr(media_module, "_render_video", held)
    app = web.Application()
    add_file_routes(app, MediaLibrary(tmp_path, fps=1, render_workers=1, render_queue=1))
    client = await aiohttp_client(app)
    first = asyncio.ensure_future(client.get("/__files/videos/360x360/1s/a.mp4"))
    same = asyncio.ensure_future(client.get("/__files/videos/360x360/1s/b.mp4"))  # joins the render
    await asyncio.sleep(0.2)  # both reach the library; the render is held
    busy = await client.get("/__files/videos/640x360/1s/c.mp4")
    assert busy.status == 503 and busy.headers["Retry-After"] == "1"
    assert (await busy.json())["message"]
    release.set()
    for resp in await asyncio.gather(first, same):
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    assert (await client.get("/__files/videos/640x360/1s/c.mp4")).status == 200  # room again


def test_leftover_tmp_files_go_at_start_and_a_failed_render_leaves_none(tmp_path, monkeypatch):
    stale = tmp_path / ".video_360x360_1s.abc123.tmp"
    fresh = tmp_path / ".video_360x360_2s.def456.tmp"  # maybe another process's render
    stale.write_bytes(b"half a video")
    fresh.write_bytes(b"in progress")
    old = time.time() - media_module.STALE_TMP_S - 60
    os.utime(stale, (old, old))
    lib = MediaLibrary(tmp_path, fps=1)
    assert not stale.exists() and fresh.exists() and lib.removed_stale == 1

    def crash(dest, **shape):
        dest.write_bytes(b"partial")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(media_module, "_render_video", crash)
    with pytest.raises(RuntimeError):
        lib.video_path(360, 360, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name]


async def test_a_symlink_in_the_cache_is_not_followed(aiohttp_client, tmp_path):
    cache = tmp_path / "cache"
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    lib = MediaLibrary(cache, fps=1)
    planted = lib.video_file(360, 360, 1)
    planted.symlink_to(secret)
    (cache / "image_640x360.png").symlink_to(secret)
    app = web.Application()
    add_file_routes(app, lib)
    client = await aiohttp_client(app)
    video = await (await client.get("/__files/videos/360x360/1s/x.mp4")).read()
    image = await (await client.get("/__files/images/640x360/x.png")).read()
    assert b"TOPSECRET" not in video and video[4:8] == b"ftyp"
    assert b"TOPSECRET" not in image and image.startswith(b"\x89PNG")
    assert not planted.is_symlink() and secret.read_text() == "TOPSECRET"


# uploads -------------------------------------------------------------------------------------
def wav_claiming(claimed_s: float, actual_s: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV holding ``actual_s`` seconds whose header claims ``claimed_s``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * actual_s))
    data = bytearray(buf.getvalue())
    size = int(claimed_s * rate * 2)
    struct.pack_into("<I", data, 4, 36 + size)
    struct.pack_into("<I", data, 40, size)
    return bytes(data)


async def test_a_wav_claiming_12000_seconds_is_too_long(client):
    assert_error(await upload_media(client, wav_claiming(12_000, 1), "long.wav"), 400017)
    assert (await upload_media(client, wav_claiming(1, 1), "ok.wav"))["ErrCode"] == 0
    # Claiming 20 s (within the limit) but holding 1 s: truncated, unreadable.
    assert_error(await upload_media(client, wav_claiming(20, 1), "cut.wav"), 500031)


@pytest.mark.parametrize("kept", [0.9, 0.5])
@pytest.mark.parametrize("audio", [False, True])
async def test_a_truncated_mp4_is_unreadable(client, kept, audio):
    # The fake's own results: moov first (faststart), so a cut file still opens and
    # claims its full length; only its packets tell.
    whole = MediaLibrary(MEDIA_CACHE).video_path(640, 360, 2, audio).read_bytes()
    assert (await upload_media(client, whole, "whole.mp4"))["ErrCode"] == 0
    assert_error(await upload_media(client, whole[:int(len(whole) * kept)], "cut.mp4"), 500031)


async def test_a_truncated_mp4_without_faststart_is_unreadable_too(client):
    whole = video_bytes("mp4", 96, 54, seconds=2, audio=True)
    assert_error(await upload_media(client, whole[:len(whole) // 2], "cut.mp4"), 500031)
