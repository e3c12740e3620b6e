"""Probing uploaded media: which container a client sent, its streams, size and
length, and whether it is whole (PyAV, no ffmpeg binary)."""

from __future__ import annotations

import dataclasses
import io
import struct

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
