"""PixVerse media upload (video and audio): formats read from the bytes, the documented
limits, URL registration, and every ErrCode the upload page can produce."""
from __future__ import annotations

import pytest
from yarl import URL

from mockserver.app import ADAPTERS, create_app
from mockserver.engine.media import probe_media
from support import make_settings
from support.pixverse import (
    MEDIA_UPLOAD,
    assert_error,
    audio_bytes,
    call,
    form,
    headers,
    image_bytes,
    upload,
    upload_media,
    video_bytes,
)


@pytest.mark.parametrize("fmt, mime", [("mp4", "video/mp4"), ("mov", "video/quicktime"), ("webm", "video/webm")])
async def test_video_upload_by_format(client, fmt, mime):
    data = video_bytes(fmt, 96, 54, seconds=2, audio=True)
    # Misnamed on purpose: the bytes decide.
    body = await upload_media(client, data, filename="clip.mp3")
    assert body["ErrCode"] == 0 and body["ErrMsg"] == "success"
    resp = body["Resp"]
    assert resp["media_type"] == "video" and isinstance(resp["media_id"], int)
    assert resp["url"].endswith(f"/media.{fmt}")
    served = await client.get(URL(resp["url"]).path)
    assert served.status == 200 and served.headers["Content-Type"] == mime
    assert await served.read() == data


@pytest.mark.parametrize("fmt", ["mp3", "wav", "m4a", "aac"])
async def test_audio_upload_by_format(client, engine, fmt):
    body = await upload_media(client, audio_bytes(fmt, 3), filename="voice.mp4", media_type="audio")
    assert body["ErrCode"] == 0, body
    assert body["Resp"]["media_type"] == "audio" and body["Resp"]["url"].endswith(f".{fmt}")
    stored = engine.uploads.get("pixverse", str(body["Resp"]["media_id"]))
    assert stored.kind == "audio" and abs(stored.duration - 3) < 0.2


async def test_upload_by_url_registers_without_fetching(client):
    url = "https://media.pixverse.ai/openapi%2F90f96bd5-5b77-461c-9b8e-c0e40526c9ca.mp4"
    body = await call(client, "POST", MEDIA_UPLOAD, data=form(file_url=url))
    assert body["Resp"]["media_type"] == "video" and body["Resp"]["url"] == url
    audio = await call(client, "POST", MEDIA_UPLOAD, data={"file_url": "https://e.com/a.M4A"})
    assert audio["Resp"]["media_type"] == "audio"
    declared = await call(client, "POST", MEDIA_UPLOAD, data={"file_url": "https://e.com/x", "media_type": "video"})
    assert declared["Resp"]["media_type"] == "video"


async def test_a_file_part_wins_over_file_url(client):
    body = await upload_media(client, audio_bytes("wav", 1), "a.wav", file_url="https://e.com/b.mp4")
    assert body["Resp"]["media_type"] == "audio" and "/__files/uploads/pixverse/" in body["Resp"]["url"]


async def test_limits_are_inclusive(client):
    body = await upload_media(client, video_bytes("mp4", 1920, 16, seconds=0.25))
    assert body["ErrCode"] == 0, body


# errors --------------------------------------------------------------------------------
async def test_neither_field(client):
    assert_error(await call(client, "POST", MEDIA_UPLOAD, data=form(media_type="video")), 400011)
    assert_error(await upload_media(client, b""), 400011)


async def test_not_a_form(client):
    assert_error(await call(client, "POST", MEDIA_UPLOAD, json={"file_url": "https://e.com/a.mp4"}), 400013)


@pytest.mark.parametrize("data, declared", [
    (lambda: audio_bytes("mp3", 1), "video"),
    (lambda: video_bytes(), "audio"),
    (lambda: video_bytes(), "image"),
])
async def test_media_type_must_match(client, data, declared):
    assert_error(await upload_media(client, data(), media_type=declared), 400017)


async def test_url_media_type_is_trusted_over_the_extension(client):
    """The fake never fetches a URL, so the declared media_type decides its kind."""
    body = await call(client, "POST", MEDIA_UPLOAD, data={"file_url": "https://e.com/a.mp3", "media_type": "video"})
    assert body["ErrCode"] == 0 and body["Resp"]["media_type"] == "video"


async def test_longer_than_30_seconds(client):
    assert_error(await upload_media(client, audio_bytes("mp3", 31)), 400017)
    assert_error(await upload_media(client, video_bytes(seconds=30.5, fps=2)), 400017)


async def test_video_over_1920_pixels(client):
    assert_error(await upload_media(client, video_bytes("mp4", 1922, 16, seconds=0.25)), 500030)


async def test_over_the_byte_limit(client):
    client.server.app[ADAPTERS]["pixverse"].limits.max_media_bytes = 1000
    assert_error(await upload_media(client, audio_bytes("wav", 1)), 500030)


async def test_under_the_pixel_floor(client):
    client.server.app[ADAPTERS]["pixverse"].limits.min_pixels = 40
    assert_error(await upload_media(client, video_bytes("mp4", 64, 36)), 500033)


@pytest.mark.parametrize("data", [
    lambda: b"definitely not media",
    lambda: image_bytes(32, 32),
    lambda: video_bytes("mkv"),
    lambda: audio_bytes("ogg", 1),
])
async def test_not_a_listed_format(client, data):
    assert_error(await upload_media(client, data(), filename="clip.mp4"), 500032)


async def test_truncated_file_is_unreadable(client):
    data = video_bytes()
    assert_error(await upload_media(client, data[:120]), 500031)


async def test_url_of_unknown_kind(client):
    assert_error(await call(client, "POST", MEDIA_UPLOAD, data={"file_url": "https://e.com/clip"}), 500032)


@pytest.mark.parametrize("url", ["ftp://e.com/a.mp4", "not a url", "/local/a.mp4"])
async def test_bad_file_url(client, url):
    assert_error(await call(client, "POST", MEDIA_UPLOAD, data=form(file_url=url)), 500042)


async def test_broken_multipart_body(client):
    resp = await client.post(MEDIA_UPLOAD, data=b"--xyz\r\nno headers here",
                             headers={**headers(), "Content-Type": "multipart/form-data; boundary=abc"})
    assert_error(await resp.json(), 400013)


async def test_image_under_the_pixel_floor(client):
    assert_error(await upload(client, image_bytes(15, 64)), 500033)


async def test_limits_come_from_settings_when_present(aiohttp_client):
    app = create_app(make_settings(pixverse={"max_image_pixels": 100}))
    assert app[ADAPTERS]["pixverse"].limits.max_image_pixels == 100
    assert app[ADAPTERS]["pixverse"].limits.max_media_seconds == 30


def test_probe_reads_what_the_fake_renders(tmp_path):
    from mockserver.engine.media import MediaLibrary

    library = MediaLibrary(tmp_path)
    info = probe_media(library.video_path(64, 36, 2, audio=True).read_bytes())
    assert (info.kind, info.format, info.width, info.height, info.has_audio) == ("video", "mp4", 64, 36, True)
    assert info.frames == 16 and abs(info.duration_s - 2) < 0.1
    assert probe_media(library.video_path(64, 36, 2).read_bytes()).has_audio is False
