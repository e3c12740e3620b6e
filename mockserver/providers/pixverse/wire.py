"""PixVerse's wire shapes, shared by the adapter and its webhooks: the status map,
the ``{ErrCode, ErrMsg, Resp}`` envelope and the video and image results.

Fields per the guide's result example (seed 003) and the result pages (seed 004);
the contract's ``VideoResult`` and ``ImageResult`` schemas check them in strict mode.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ...engine import Engine
from ...engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, Job
from ...engine.media import size_of
from ...files import image_url, video_url
from ..base import Reply
from .errors import ErrCode, envelope

#: Neutral kinds whose output has an audio track.
AUDIO_KINDS = frozenset({"lip-sync", "sound-effect"})

#: Neutral job state -> PixVerse result ``status`` (the spec's ``status_map`` is this).
STATUS = {QUEUED: 5, RUNNING: 5, SUCCEEDED: 1, FAILED: 8, MODERATED: 7}


def rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    # Undocumented fields (negative_prompt on transition) are not schema-checked;
    # the result must still report a string.
    return value if isinstance(value, str) else ""


def switched_on(value: Any) -> bool:
    """A feature switch: true, or "true" in any case (the transition page types them
    as strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def has_audio(kind: str, request: dict[str, Any]) -> bool:
    """Whether a job's output carries sound: lip sync and sound effect always, a
    generate call when it switched sound effects or lip sync on."""
    return (kind in AUDIO_KINDS or switched_on(request.get("sound_effect_switch"))
            or switched_on(request.get("lip_sync_switch")))


class Wire:
    """Serialises PixVerse answers.  ``messages`` is ErrCode -> ErrMsg (the
    contract's ``x-errcodes``)."""

    def __init__(self, engine: Engine, messages: dict[int, str]) -> None:
        self.engine = engine
        self.messages = messages

    def ok(self, resp: dict[str, Any]) -> Reply:
        return Reply(envelope(ErrCode.SUCCESS, self.messages[0], resp))

    def fail(self, code: ErrCode) -> Reply:
        return Reply(envelope(code, self.messages[int(code)]))

    async def video(self, job: Job, state: str, base_url: str) -> dict[str, Any]:
        """A video job's Resp for ``GET /openapi/v2/video/result/{id}`` in ``state``;
        the MP4 is rendered (or found in the cache) once the job succeeded."""
        engine = self.engine
        req = job.request
        audio = has_audio(job.kind, req)
        url, size = "", 0
        if state == SUCCEEDED:
            path = await engine.media.video(job.width, job.height, job.duration, audio)
            size = size_of(path)
            url = video_url(base_url, job.width, job.height, job.duration, job.id, audio)
        return {
            "id": int(job.id),
            "status": STATUS[state],
            "url": url,
            "prompt": _text(req.get("prompt")),
            "negative_prompt": _text(req.get("negative_prompt")),
            "style": _text(req.get("style")),
            "seed": req["seed"],
            "resolution_ratio": min(job.width, job.height),
            "outputWidth": job.width,
            "outputHeight": job.height,
            "size": size,
            "has_audio": audio,
            "create_time": rfc3339(engine.timestamp(job.created_at)),
            "modify_time": rfc3339(engine.timestamp(self._modified(job, state))),
        }

    def _modified(self, job: Job, state: str) -> float:
        if state not in TERMINAL:
            return job.created_at
        ended = job.forced_at if job.forced_at is not None else job.finishes_at
        # In poll-count mode a job can end before its planned time; never report an
        # end in the future.
        return min(ended, self.engine.now())

    @staticmethod
    def image(job: Job, state: str, base_url: str) -> dict[str, Any]:
        """An image job's Resp: ``{"image_id": int, "status": 1|5|7|8, "url": str}``
        (``url`` the PNG once status is 1, else "")."""
        url = image_url(base_url, job.width, job.height, job.id) if state == SUCCEEDED else ""
        return {"image_id": int(job.id), "status": STATUS[state], "url": url}

    async def webhook(self, job: Job, state: str, base_url: str, refunded: bool) -> dict[str, Any]:
        """The webhook body ``{id, status, url, size, has_audio, credits}``: ``id`` a
        string, ``size`` in MB (2 decimals), ``credits`` 0 once refunded."""
        video = await self.video(job, state, base_url)
        return {
            "id": job.id,
            "status": video["status"],
            "url": video["url"],
            "size": round(video["size"] / (1024 * 1024), 2),
            "has_audio": video["has_audio"],
            "credits": 0 if refunded else job.cost,
        }
