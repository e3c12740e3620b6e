"""Placeholder media (MP4 videos, PNG images) handed out by the fake providers.

Provider-neutral and HTTP-free on purpose: providers decide *which* shape a
job produces (:func:`video_dimensions`), this module only renders and caches
files for a shape. Serving them over HTTP lives in :mod:`mockserver.files`.

Rendered files are cached on disk per shape, not per job, so any number of
fake jobs with the same resolution/duration share one file.
"""

from __future__ import annotations

import asyncio
import colorsys
import concurrent.futures
import dataclasses
import functools
import io
import os
import stat
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Hashable
from fractions import Fraction
from pathlib import Path

__all__ = [
    "ASPECT_RATIOS",
    "IMAGE_MAX_SIDE",
    "IMAGE_MIN_SIDE",
    "MEDIA_FORMATS",
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

# High CRF: the content is flat colours, quality is irrelevant and small files
# keep downloads in client tests fast.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "35"}


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


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as a width is surely a bug upstream.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_side(name: str, value: object, lo: int, hi: int, *, even: bool) -> None:
    if not _is_int(value) or not lo <= value <= hi:  # type: ignore[operator]
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
    if not _is_int(duration_s) or not (
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


def _shape_colours(*shape: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and accent RGB (0..255) derived deterministically from a shape.

    crc32 rather than hash(): str hashing is salted per process, and cached
    files must look the same whichever worker rendered them.
    """
    hue = (zlib.crc32("x".join(map(str, shape)).encode()) % 360) / 360.0
    bg = colorsys.hsv_to_rgb(hue, 0.55, 0.70)
    fg = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.25, 1.0)
    return (
        tuple(round(c * 255) for c in bg),  # type: ignore[return-value]
        tuple(round(c * 255) for c in fg),
    )


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    # BT.601 limited range: what players assume for untagged SD/HD yuv420p.
    r, g, b = (c / 255.0 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return tuple(max(0, min(255, round(c))) for c in (y, u, v))  # type: ignore[return-value]


def _render_video(
    dest: Path, width: int, height: int, duration_s: int, fps: int, audio: bool = False
) -> None:
    """Encode a bar sweeping left to right over a solid background into ``dest``,
    with ``audio`` a mono AAC tone track of the same length."""
    import av  # heavy import; keep it off the module import path

    frames = duration_s * fps
    bg, fg = (_rgb_to_yuv(c) for c in _shape_colours(width, height, duration_s))
    # Even bar width/position so the bar lands on whole chroma samples.
    bar_w = max(2, (width // 8) & ~1)
    time_base = Fraction(1, fps)

    with av.open(
        str(dest),
        mode="w",
        format="mp4",
        # moov atom first, so players (and clients probing with Range requests)
        # can start before the whole file is downloaded.
        options={"movflags": "+faststart"},
    ) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.options = dict(_X264_OPTIONS)
        # Every stream must exist before the first packet is muxed.
        tone = _add_tone_stream(container) if audio else None

        for i in range(frames):
            x = ((width - bar_w) * i // max(frames - 1, 1)) & ~1
            # A fresh frame per picture: the encoder may still hold a reference
            # to the previous frame's buffers, so they must not be overwritten.
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, back, front, sub in zip(frame.planes, bg, fg, (1, 2, 2)):
                bx, bw = x // sub, bar_w // sub
                # Every row is identical (vertical bar), so build one padded
                # row and repeat it: no numpy needed, and it is fast.
                row = (
                    bytes((back,)) * bx
                    + bytes((front,)) * bw
                    + bytes((back,)) * (plane.line_size - bx - bw)
                )
                plane.update(row * plane.height)
            frame.pts = i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if tone is not None:
            _encode_tone(container, tone, duration_s)


# A quiet 440 Hz sine at a low sample rate: enough for clients that probe or play
# the track, small enough to keep downloads fast.
_TONE_RATE = 16_000  # samples per second
_TONE_HZ = 440
_TONE_AMPLITUDE = 0.1  # of full scale


def _add_tone_stream(container):
    stream = container.add_stream("aac", rate=_TONE_RATE)
    stream.layout = "mono"
    return stream


def _encode_tone(container, stream, duration_s: int) -> None:
    """Encode ``duration_s`` seconds of the tone into ``stream`` (mono AAC, float
    planar samples) of an open output container."""
    import math
    import struct

    import av

    chunk = stream.codec_context.frame_size or 1024
    total = duration_s * _TONE_RATE
    # One second of samples: 440 whole periods, so indexing modulo the rate keeps
    # the tone continuous across frames.
    table = [_TONE_AMPLITUDE * math.sin(2 * math.pi * _TONE_HZ * i / _TONE_RATE)
             for i in range(_TONE_RATE)]
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=n)
        plane = frame.planes[0]
        samples = struct.pack(f"<{n}f", *(table[(start + i) % _TONE_RATE] for i in range(n)))
        # The plane may be padded past n samples for alignment.
        plane.update(samples + bytes(plane.buffer_size - len(samples)))
        frame.sample_rate = _TONE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, _TONE_RATE)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _render_image(dest: Path, width: int, height: int) -> None:
    """Write a flat PNG placeholder with a border, diagonals and its size as text."""
    from PIL import Image, ImageDraw, ImageFont

    bg, fg = _shape_colours(width, height)
    # Palette mode: 1 byte/pixel keeps a 10000x10000 placeholder at ~100 MB of
    # RAM instead of ~300 MB for RGB.
    img = Image.new("P", (width, height), 0)
    img.putpalette([*bg, *fg])
    draw = ImageDraw.Draw(img)
    line = max(1, min(width, height) // 100)
    draw.rectangle((0, 0, width - 1, height - 1), outline=1, width=line)
    draw.line((0, 0, width - 1, height - 1), fill=1, width=line)
    draw.line((0, height - 1, width - 1, 0), fill=1, width=line)
    label = f"{width}x{height}"
    try:
        font = ImageFont.load_default(size=max(8, min(width, height) // 16))
    except (ImportError, OSError):  # Pillow built without FreeType
        font = ImageFont.load_default()
    # Centred near the top edge: the only spot the diagonals never cross.
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    draw.text(((width - (right - left)) // 2 - left, line * 3 - top), label, fill=1, font=font)
    # Flat content compresses well at any level; level 1 is the fast one.
    img.save(dest, format="PNG", compress_level=1)


class RenderBusy(RuntimeError):
    """``render_queue`` distinct renders are already pending: try again later."""


#: A ``.tmp`` file in the cache older than this (seconds) is left over from a render
#: that crashed (a process killed mid-render); newer ones may be another process's.
STALE_TMP_S = 300.0


class MediaLibrary:
    """Renders placeholder media on demand and caches it in ``cache_dir``.

    Files are named by shape (``video_{w}x{h}_{d}s.mp4``,
    ``image_{w}x{h}.png``) and written to a temporary file first, then
    ``os.replace``-d into place, so readers never see a partial file, even
    when several processes share the cache directory. Cached files are never
    invalidated: delete the directory to force re-rendering.  Only regular files
    count as cached: a symlink (or anything else) under a cached name is removed
    and the shape rendered afresh, never followed.  Temporary files are removed
    when a render fails, and those left by a crashed process (older than
    ``STALE_TMP_S``) when a library opens the directory.

    Renders run on ``render_workers`` threads of the library's own; at most
    ``render_queue`` distinct shapes wait or render at once.  Past that, a call
    with ``refuse_when_busy`` raises :class:`RenderBusy` (the ``/__files`` routes
    answer 503 with ``Retry-After``); others wait their turn.

    :param cache_dir: directory for rendered files; created if missing.
    :param fps: frame rate of rendered videos, in frames per second. Low by
        default because nobody watches these and encoding time scales with it.
    :raises ValueError: ``fps`` is not an int in [1, 60], or a bound below 1.
    """

    def __init__(self, cache_dir: Path, fps: int = 8, render_workers: int = 2, render_queue: int = 8) -> None:
        if not _is_int(fps) or not 1 <= fps <= 60:
            raise ValueError(f"fps must be an int in [1, 60], got {fps!r}")
        if render_workers < 1 or render_queue < 1:
            raise ValueError("render_workers and render_queue must be at least 1")
        self.cache_dir = Path(cache_dir)
        self.fps = fps
        self.render_queue = render_queue
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.removed_stale = self._remove_stale_tmp()
        # Renders in progress, so concurrent requests for one shape share it.
        self._inflight: dict[Hashable, asyncio.Future[Path]] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=render_workers, thread_name_prefix="pixverse-mock-render")

    def _remove_stale_tmp(self) -> int:
        """Delete ``.*.tmp`` files older than STALE_TMP_S; how many went."""
        removed, cutoff = 0, time.time() - STALE_TMP_S
        for path in self.cache_dir.glob(".*.tmp"):
            try:
                st = os.lstat(path)
                if st.st_mtime < cutoff or not stat.S_ISREG(st.st_mode):
                    path.unlink()
                    removed += 1
            except OSError:  # gone already, or not ours to remove
                pass
        return removed

    @staticmethod
    def _cached(final: Path) -> bool:
        """Whether ``final`` is a rendered file; anything else there (a symlink
        someone placed, a directory) is removed if it can be, and is not cached."""
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            return False
        if stat.S_ISREG(st.st_mode):
            return True
        try:
            final.unlink()
        except OSError:
            pass
        return False

    size_of = staticmethod(size_of)

    # -- videos -------------------------------------------------------------

    def video_file(self, width: int, height: int, duration_s: int, audio: bool = False) -> Path:
        """Where the video for this shape is (or will be) cached; renders nothing.

        :raises ValueError: shape out of bounds (see :meth:`video_path`).
        """
        check_video_shape(width, height, duration_s)
        suffix = "_audio" if audio else ""
        return self.cache_dir / f"video_{width}x{height}_{duration_s}s{suffix}.mp4"

    def video_path(self, width: int, height: int, duration_s: int, audio: bool = False) -> Path:
        """Return the path of a cached H.264/yuv420p MP4 of this shape, rendering it if needed.

        Blocking (CPU-bound encode, typically well under a second for 1080p at
        the default fps); use :meth:`video` from async code.

        :param width: frame width in pixels, even, 16..4096.
        :param height: frame height in pixels, even, 16..4096.
        :param duration_s: duration in whole seconds, 1..30; the file holds
            exactly ``duration_s * fps`` frames.
        :param audio: also hold a mono AAC tone track of the same length.
        :raises ValueError: any argument out of bounds or not an int.
        """
        final = self.video_file(width, height, duration_s, audio)
        if not self._cached(final):
            self._write_atomically(
                final,
                functools.partial(
                    _render_video,
                    width=width,
                    height=height,
                    duration_s=duration_s,
                    fps=self.fps,
                    audio=audio,
                ),
            )
        return final

    async def video(self, width: int, height: int, duration_s: int, audio: bool = False,
                    refuse_when_busy: bool = False) -> Path:
        """Async :meth:`video_path`: renders on the library's render threads.

        Concurrent calls for the same shape share a single render.

        :raises ValueError: shape out of bounds (raised before any thread hop).
        :raises RenderBusy: ``refuse_when_busy`` and the render queue is full.
        """
        final = self.video_file(width, height, duration_s, audio)
        if self._cached(final):
            return final
        return await self._render_once(
            ("video", width, height, duration_s, audio),
            functools.partial(self.video_path, width, height, duration_s, audio), refuse_when_busy,
        )

    # -- images -------------------------------------------------------------

    def image_file(self, width: int, height: int) -> Path:
        """Where the PNG for this size is (or will be) cached; renders nothing.

        :raises ValueError: size out of bounds (see :meth:`image_path`).
        """
        check_image_shape(width, height)
        return self.cache_dir / f"image_{width}x{height}.png"

    def image_path(self, width: int, height: int) -> Path:
        """Return the path of a cached PNG placeholder of this size, rendering it if needed.

        :param width: image width in pixels, 16..10000.
        :param height: image height in pixels, 16..10000.
        :raises ValueError: any argument out of bounds or not an int.
        """
        final = self.image_file(width, height)
        if not self._cached(final):
            self._write_atomically(
                final, functools.partial(_render_image, width=width, height=height)
            )
        return final

    async def image(self, width: int, height: int, refuse_when_busy: bool = False) -> Path:
        """Async :meth:`image_path`; concurrent calls for one size share a render.

        :raises ValueError: size out of bounds.
        :raises RenderBusy: ``refuse_when_busy`` and the render queue is full.
        """
        final = self.image_file(width, height)
        if self._cached(final):
            return final
        return await self._render_once(
            ("image", width, height),
            functools.partial(self.image_path, width, height), refuse_when_busy,
        )

    # -- internals ----------------------------------------------------------

    def _write_atomically(self, final: Path, render: Callable[[Path], None]) -> None:
        fd, tmp_name = tempfile.mkstemp(
            dir=self.cache_dir, prefix=f".{final.stem}.", suffix=".tmp"
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            render(tmp)
            # mkstemp creates 0600; cached media is meant to be readable.
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def _render_once(self, key: Hashable, render: Callable[[], Path], refuse_when_busy: bool) -> Path:
        loop = asyncio.get_running_loop()
        fut = self._inflight.get(key)
        # A future from another (e.g. closed test) loop cannot be awaited here.
        if fut is None or fut.get_loop() is not loop:
            if refuse_when_busy and len(self._inflight) >= self.render_queue:
                raise RenderBusy(f"{len(self._inflight)} renders pending")
            fut = loop.run_in_executor(self._executor, render)
            self._inflight[key] = fut
            fut.add_done_callback(functools.partial(self._render_done, key))
        # shield: one cancelled waiter must not cancel the render for the others.
        return await asyncio.shield(fut)

    def _render_done(self, key: Hashable, fut: asyncio.Future[Path]) -> None:
        if self._inflight.get(key) is fut:
            del self._inflight[key]
        if not fut.cancelled():
            # Mark the error retrieved: if every waiter was cancelled nobody
            # else will, and asyncio would log "exception never retrieved".
            fut.exception()


# -- probing uploads ------------------------------------------------------------------

#: Container format -> (kind, MIME type) for what :func:`probe_media` recognises.
MEDIA_FORMATS: dict[str, tuple[str, str]] = {
    "mp4": ("video", "video/mp4"),
    "mov": ("video", "video/quicktime"),
    "webm": ("video", "video/webm"),
    "mkv": ("video", "video/x-matroska"),
    "avi": ("video", "video/x-msvideo"),
    "mp3": ("audio", "audio/mpeg"),
    "wav": ("audio", "audio/wav"),
    "m4a": ("audio", "audio/mp4"),
    "aac": ("audio", "audio/aac"),
    "ogg": ("audio", "audio/ogg"),
    "flac": ("audio", "audio/flac"),
}


class MediaProbeError(ValueError):
    """``data`` is not usable media.  ``reason`` is ``"format"`` (no known video or
    audio signature) or ``"unreadable"`` (a known signature over data the decoder
    cannot read: truncated, corrupt, no stream)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class MediaInfo:
    """What :func:`probe_media` read from an uploaded video or audio file.

    ``kind`` is ``"video"`` or ``"audio"``; ``format`` a key of
    :data:`MEDIA_FORMATS` (``"mp4"``, ``"mov"``, ``"webm"``, ``"mp3"``, ``"wav"``,
    ``"m4a"``, ``"aac"`` ...) decided from the bytes, never from a file name;
    ``mime`` its MIME type.  ``width``/``height`` are pixels (0 for audio),
    ``duration_s`` seconds (0.0 when the container does not say), ``frames`` the
    video frame count (estimated from duration and frame rate when the container
    does not store it; 0 for audio), ``video_codec`` the decoder name (``"h264"``,
    ``"hevc"``, ``"vp9"`` ...; "" for audio), ``has_audio`` whether an audio stream
    exists.  ``duration_s`` is what the container's header claims where it says (a WAV's
    data chunk), not an estimate from the bytes at hand.  ``complete`` is False when the
    data stops short of what the container describes (a truncated upload): fewer
    packets than the stream's frame count, the last packet ending well before the
    stated duration, or a WAV data chunk longer than the bytes sent.
    """

    kind: str
    format: str
    mime: str
    width: int
    height: int
    duration_s: float
    has_audio: bool
    frames: int = 0
    video_codec: str = ""
    complete: bool = True


def sniff_media_format(data: bytes) -> str | None:
    """The :data:`MEDIA_FORMATS` key whose signature ``data`` starts with, else None.

    ISO base media files are told apart by their ``ftyp`` brand (``qt`` is MOV,
    ``M4A``/``M4B`` audio, anything else MP4); Matroska by its DocType (``webm``
    or not).  MPEG audio without an ID3 tag is recognised by its frame sync:
    layer III is MP3, layer bits 00 an ADTS AAC stream.
    """
    head = data[:64]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "m4a"
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head else "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x3
        if layer == 0 and head[1] & 0xF0 == 0xF0:
            return "aac"
        if layer == 1:
            return "mp3"
    return None


def probe_media(data: bytes) -> MediaInfo:
    """Identify an uploaded video or audio file from its bytes and read its shape.

    The format comes from the signature (:func:`sniff_media_format`); PyAV then
    reads streams, size and duration without decoding more than it must.  An
    MP4/MOV holding audio only counts as ``m4a`` audio; a WebM or Matroska file
    without a video stream is rejected as unreadable (no audio WebM in the map).

    Every packet is demuxed (not decoded: cheap even for 50 MB) to tell a complete
    file from a truncated one (``complete``).

    :raises MediaProbeError: ``"format"`` when no known signature matches,
        ``"unreadable"`` when the decoder fails or finds no usable stream.
    """
    fmt = sniff_media_format(data)
    if fmt is None:
        raise MediaProbeError("format", "no known video or audio signature")
    import av  # heavy import; keep it off the module import path

    claimed = _wav_claim(data) if fmt == "wav" else None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            videos = [s for s in container.streams.video if not _attached_picture(s)]
            audios = list(container.streams.audio)
            duration = _duration_s(container, videos or audios)
            complete = _all_packets_present(container, videos + audios, duration)
            if videos:
                stream = videos[0]
                width, height = int(stream.width or 0), int(stream.height or 0)
                if width <= 0 or height <= 0:
                    raise MediaProbeError("unreadable", "video stream without a size")
                frames = int(stream.frames or 0)
                if frames <= 0 and stream.average_rate:
                    frames = round(duration * float(stream.average_rate))
                codec = stream.codec_context.name or ""
            elif audios:
                width = height = frames = 0
                codec = ""
            else:
                raise MediaProbeError("unreadable", "no video or audio stream")
    except MediaProbeError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types on bad data
        raise MediaProbeError("unreadable", str(exc)) from None
    kind = "video" if videos else "audio"
    if kind == "audio" and fmt in ("mp4", "mov"):
        fmt = "m4a"
    if kind == "video" and MEDIA_FORMATS[fmt][0] == "audio":
        # A cover picture aside, audio containers hold no video we would accept.
        kind = "audio"
    if kind == "audio" and MEDIA_FORMATS[fmt][0] == "video":
        raise MediaProbeError("unreadable", f"{fmt} file without a video stream")
    if claimed is not None:
        claimed_s, present = claimed
        duration, complete = max(duration, claimed_s), complete and present
    return MediaInfo(kind=kind, format=fmt, mime=MEDIA_FORMATS[fmt][1], width=width,
                     height=height, duration_s=duration, has_audio=bool(audios),
                     frames=frames, video_codec=codec, complete=complete)


# A last packet may end this much before the stated duration (seconds, or this share
# of it) without the file counting as truncated: muxers round, audio priming.
_END_SLACK_S = 0.25
_END_SLACK_SHARE = 0.02


def _all_packets_present(container, streams, duration: float) -> bool:
    """Demux every packet: False when a stream holds fewer packets than its frame
    count, or when the last packet ends clearly before ``duration``."""
    wanted = {s.index: int(s.frames or 0) for s in streams}
    seen = dict.fromkeys(wanted, 0)
    end = 0.0
    for packet in container.demux(*streams):
        if packet.size == 0:  # the demuxer's flush packets
            continue
        seen[packet.stream.index] += 1
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    if any(n and seen[i] < n for i, n in wanted.items()):
        return False
    start = float(container.start_time or 0) / 1_000_000
    return not duration or end - start >= duration - max(_END_SLACK_S, duration * _END_SLACK_SHARE)


def _wav_claim(data: bytes) -> tuple[float, bool] | None:
    """(seconds the WAV's data chunk claims, whether all its bytes are here), read
    from the RIFF header; None when the header does not say (a streaming WAV's
    0 / 0xFFFFFFFF sizes, or no ``fmt ``/``data`` chunk in the first 64 KB)."""
    pos, byte_rate = 12, 0
    while pos + 8 <= min(len(data), 65536):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk_id == b"fmt " and size >= 16 and pos + 16 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]
        elif chunk_id == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate, len(data) - (pos + 8) >= size
        pos += 8 + size + (size & 1)
    return None


def _attached_picture(stream) -> bool:
    # MP3/M4A cover art shows up as a one-frame video stream.
    try:
        import av

        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _duration_s(container, streams) -> float:
    if container.duration:
        return container.duration / 1_000_000
    for stream in streams:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return 0.0
