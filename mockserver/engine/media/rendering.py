"""Rendering placeholder media (MP4 videos, PNG images) and caching them on disk,
per shape, not per job: any number of jobs of one resolution and duration share one
file.  Renders run in a bounded worker pool; a full queue is :class:`RenderBusy`."""

from __future__ import annotations

import asyncio
import colorsys
import concurrent.futures
import functools
import os
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Hashable
from fractions import Fraction
from pathlib import Path

from .shapes import check_image_shape, check_video_shape, is_integer, size_of

# High CRF: the content is flat colours, quality is irrelevant and small files
# keep downloads in client tests fast.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "35"}


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
        if not is_integer(fps) or not 1 <= fps <= 60:
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
