"""A PixVerse platform driver for the tests: paths, the reference pages' request examples, headers,
uploads, synthetic media (PyAV), finishing jobs on the virtual clock, ErrCode checks."""
from __future__ import annotations

import io
import uuid
from fractions import Fraction

import aiohttp
import av
import yaml
from PIL import Image

from mockserver.engine.media import probe_media
from support import CONTRACTS, download_video

UPLOAD = "/openapi/v2/image/upload"
T2V = "/openapi/v2/video/text/generate"
I2V = "/openapi/v2/video/img/generate"
TRANSITION = "/openapi/v2/video/transition/generate"
RESULT = "/openapi/v2/video/result/{}"
BALANCE = "/openapi/v2/account/balance"
KEY = "test-key"

CONTRACT = yaml.safe_load((CONTRACTS / "pixverse.yaml").read_text())
ERRMSG = {int(code): text for code, text in CONTRACT["x-errcodes"].items()}

# The request examples of PixVerse's API reference pages (comments dropped), model v5 where they say v4.5.
T2V_SEED = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "negative_prompt": "string",
            "prompt": "string", "quality": "540p", "seed": 0}
I2V_SEED = {"duration": 5, "img_id": 0, "model": "v5", "motion_mode": "normal",
            "negative_prompt": "string", "prompt": "string", "quality": "540p", "seed": 0}
TRANSITION_SEED = {"prompt": "transform into a puppy", "model": "v5", "duration": 5, "quality": "540p",
                   "first_frame_img": 0, "last_frame_img": 0, "seed": 0}

RESULT_FIELDS = {"id", "status", "url", "prompt", "negative_prompt", "style", "seed", "resolution_ratio",
                 "outputWidth", "outputHeight", "size", "has_audio", "create_time", "modify_time"}


def headers(key: str = KEY, trace: str | None = None) -> dict[str, str]:
    """PixVerse headers with a fresh trace id, as PixVerse's own client sends them."""
    return {"API-KEY": key, "Ai-Trace-Id": trace or str(uuid.uuid4())}


def image_bytes(width: int = 1280, height: int = 720, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, fmt)
    return out.getvalue()


def form(**fields) -> aiohttp.FormData:
    """A multipart/form-data body; ``name=(bytes, filename)`` makes a file part."""
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, tuple):
            content, filename = value
            data.add_field(name, content, filename=filename, content_type="image/png")
        else:
            data.add_field(name, value)
    return data


def assert_error(body: dict, code: int, message: str | None = None) -> None:
    assert body == {"ErrCode": code, "ErrMsg": message or ERRMSG[code], "Resp": None}


async def call(client, method: str, path: str, key: str = KEY, trace: str | None = None, **kwargs) -> dict:
    resp = await client.request(method, path, headers=headers(key, trace), **kwargs)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/json")
    return await resp.json()


async def upload(client, data: bytes | None = None, key: str = KEY, filename: str = "cat.png") -> dict:
    return await call(client, "POST", UPLOAD, key, data=form(image=(data or image_bytes(), filename)))


async def upload_id(client, data: bytes | None = None, key: str = KEY) -> int:
    body = await upload(client, data, key)
    assert body["ErrCode"] == 0, body
    return body["Resp"]["img_id"]


async def finish(engine, video_id: int) -> None:
    job = await engine.get_job("pixverse", str(video_id))
    engine.clock.advance(job.plan.queue_s + job.plan.run_s + 0.01)


async def balance(engine, key: str = KEY) -> int:
    return await engine.balance("pixverse", key)


# media and chains -----------------------------------------------------------------------
MEDIA_UPLOAD = "/openapi/v2/media/upload"


def video_bytes(fmt: str = "mp4", width: int = 64, height: int = 36, seconds: float = 2.0,
                fps: int = 8, audio: bool = False, codec: str | None = None) -> bytes:
    """A small real video file made with PyAV (black frames; ``audio`` adds silence)."""
    out = io.BytesIO()
    container_fmt = {"mp4": "mp4", "mov": "mov", "webm": "webm", "mkv": "matroska"}[fmt]
    with av.open(out, "w", format=container_fmt) as container:
        stream = container.add_stream(codec or ("libvpx" if fmt == "webm" else "libx264"), rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = _audio_stream(container, "libopus" if fmt == "webm" else "aac") if audio else None
        for i in range(max(1, round(seconds * fps))):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _silence(container, sound, seconds)
    return out.getvalue()


def audio_bytes(fmt: str = "mp3", seconds: float = 2.0) -> bytes:
    """A small real audio file (silence) in mp3, wav, m4a or aac (ADTS)."""
    out = io.BytesIO()
    container_fmt, codec = {"mp3": ("mp3", "libmp3lame"), "wav": ("wav", "pcm_s16le"),
                            "m4a": ("ipod", "aac"), "aac": ("adts", "aac"),
                            "ogg": ("ogg", "libopus")}[fmt]
    with av.open(out, "w", format=container_fmt) as container:
        _silence(container, _audio_stream(container, codec), seconds)
    return out.getvalue()


def _audio_stream(container, codec: str):
    stream = container.add_stream(codec, rate=48000 if codec == "libopus" else 16000)
    stream.layout = "mono"
    return stream


def _silence(container, stream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    chunk = stream.codec_context.frame_size or 1024
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        frame = av.AudioFrame(format=stream.codec_context.format.name, layout="mono",
                              samples=min(chunk, total - start))
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


async def upload_media(client, data: bytes, filename: str = "clip.mp4", key: str = KEY,
                       **fields) -> dict:
    """POST media/upload with ``data`` as the ``file`` part (plus form ``fields``)."""
    body = aiohttp.FormData(default_to_multipart=True)
    body.add_field("file", data, filename=filename, content_type="application/octet-stream")
    for name, value in fields.items():
        body.add_field(name, value)
    return await call(client, "POST", MEDIA_UPLOAD, key, data=body)


async def media_id(client, data: bytes | None = None, key: str = KEY, filename: str = "clip.mp4") -> int:
    body = await upload_media(client, video_bytes() if data is None else data, filename, key)
    assert body["ErrCode"] == 0, body
    return body["Resp"]["media_id"]


async def result(client, video_id: int, key: str = KEY) -> dict:
    body = await call(client, "GET", RESULT.format(video_id), key)
    assert body["ErrCode"] == 0, body
    return body["Resp"]


async def finished(client, engine, path: str, body: dict, key: str = KEY) -> dict:
    """POST a generate request, run its job to the end and return the final result."""
    created = await call(client, "POST", path, key, json=body)
    assert created["ErrCode"] == 0, created
    await finish(engine, created["Resp"]["video_id"])
    return await result(client, created["Resp"]["video_id"], key)


async def source_video(client, engine, key: str = KEY, **change) -> int:
    """The id of a finished text-to-video (540p 16:9 5 s unless changed)."""
    done = await finished(client, engine, T2V, {**T2V_SEED, **change}, key)
    assert done["status"] == 1
    return done["id"]


async def downloaded(client, url: str):
    """Download a result MP4 the fake handed out and probe it (``MediaInfo``)."""
    return probe_media(await download_video(client, url))


# effect templates -------------------------------------------------------------------
TEMPLATES = "/openapi/v2/video/effects/templates/list"
IMAGE_TEMPLATE = "/openapi/v2/image/template/generate"
IMAGE_RESULT = "/openapi/v2/image/result/{}"

VENOM = 303624537709312          # single-image video template
FOREVER_US = 326733946317888     # two-image video template
MICROWAVE = 324641385496960      # no 1080p
SUBJECT_3 = 327828816843648      # listed, not activated
ACTION_FIGURE = 340000000000001  # single-image image template
COUPLE = 340000000000002         # two-image image template


# video operations beyond text/image/transition ----------------------------------------
LIP_SYNC = "/openapi/v2/video/lip_sync/generate"
TTS_LIST = "/openapi/v2/video/lip_sync/tts_list"
EXTEND = "/openapi/v2/video/extend/generate"
SOUND = "/openapi/v2/video/sound_effect/generate"
FUSION = "/openapi/v2/video/fusion/generate"
RESTYLE = "/openapi/v2/video/restyle/generate"
RESTYLE_LIST = "/openapi/v2/video/restyle/list"
MULTI = "/openapi/v2/video/multi_transition/generate"
MASK = "/openapi/v2/video/mask/selection"
SWAP = "/openapi/v2/video/swap/generate"
MODIFY = "/openapi/v2/video/modify/generate"
MIMIC = "/openapi/v2/video/mimic/generate"

EXTEND_SEED = {"prompt": "across the universe", "seed": 123123, "quality": "540p", "duration": 5,
               "model": "v4.5", "motion_mode": "normal"}
FUSION_SEED = {"prompt": "@dog plays at @room", "model": "v4.5", "duration": 5, "quality": "540p",
               "aspect_ratio": "16:9", "seed": 123456789}
TTS = {"lip_sync_tts_speaker_id": "auto", "lip_sync_tts_content": "hello this is harry, where are you from?"}
