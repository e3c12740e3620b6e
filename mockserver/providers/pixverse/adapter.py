"""PixVerse platform (app-api.pixverse.ai): uploads, every V5 generation endpoint,
results, lists and balance.

Wire format from seed 003 (image-to-video guide), seed 004 (official OpenAPI pages of
every endpoint it lists) and shared/providers/pixverse-platform.md sections 1-8; the
contract is ``contracts/pixverse.yaml`` (its ``x-fake-notes`` list every inference).

Every answer is HTTP 200 with ``{"ErrCode": int, "ErrMsg": str, "Resp": object|null}``;
ErrCode 0 is success, anything else a business error with ``Resp: null`` (codes in
``errors.ErrCode``, messages in the contract's ``x-errcodes``).  Requests carry
``API-KEY`` and a fresh UUID in ``Ai-trace-id``; a reused trace id replays the first
answer (``engine.idempotency``).

Layout: ``uploads`` (image and media upload), ``chain`` (ids a request refers to),
``generation`` (the table of generate endpoints, mask selection, image templates),
``catalog`` (speakers, templates, restyle presets), ``pricing``, ``errors``.

Adding a generate endpoint: describe it in the contract, add it to
``generation.GENERATORS`` with a planner, map its operationId to ``generate`` in
``handlers`` and to ``("video_id", "job")`` in ``_REFERS``.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ...contract import FieldError, Operation
from ...engine import Engine
from ...engine.idempotency import UUID_RE
from ...engine.jobs import SUCCEEDED, TERMINAL, Job
from ...engine.media import size_of
from ...files import image_url, video_url
from . import faults as _faults
from ...settings import Settings
from .spec import SPEC
from ..base import Call, Handler, ProviderAdapter, Reply
from . import catalog
from .chain import IMAGE_KINDS, ChainMixin
from .errors import ErrCode, PixverseError, code_for, envelope, load_messages
from .generation import GENERATORS, GenerationMixin, has_audio
from .uploads import MediaLimits, UploadsMixin
from .webhooks import PixverseWebhooks
from ...engine.limits import CREDITS, Refusal

#: Neutral job state -> PixVerse result ``status``.
STATUS = SPEC.status_map

TRACE_HEADER = "Ai-trace-id"

# operationId -> (Resp field, store) an answer points at.  A remembered answer whose
# job or upload has gone (retention, admin reset) is not replayed: it would hand out
# an id the fake no longer knows.
_REFERS = {
    "upload_image": ("img_id", "upload"),
    "upload_media": ("media_id", "upload"),
    **{op: ("video_id", "job") for op in GENERATORS},
    "image_template_generate": ("image_id", "job"),
    "get_video_result": ("id", "job"),
    "get_image_result": ("image_id", "job"),
}

def _rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    # Undocumented fields (negative_prompt on transition) are not schema-checked;
    # the result must still report a string.
    return value if isinstance(value, str) else ""


class PixverseAdapter(UploadsMixin, ChainMixin, GenerationMixin, ProviderAdapter):
    spec = SPEC
    # The platform API is under /openapi/; PixVerse's own client also calls
    # /video/credits/{id} at the origin.
    path_prefixes = ("/openapi/", "/video/")
    # Fault hooks live in faults.py (which operations submit work: SPEC), and PixVerse's
    # HTTP-200 ErrCode answers for injected errors.
    moderated_operations = _faults.REVIEWED_UPLOADS
    fault_reply = _faults.fault_reply
    fault_supported = _faults.fault_supported
    handlers = {
        "upload_image": "upload_image",
        "upload_media": "upload_media",
        **{op: "generate" for op in GENERATORS},
        "mask_selection": "mask_selection",
        "image_template_generate": "image_template_generate",
        "get_video_result": "get_video_result",
        "get_image_result": "get_image_result",
        "get_lip_sync_tts_list": "get_lip_sync_tts_list",
        "get_restyle_list": "get_restyle_list",
        "get_effect_templates": "get_effect_templates",
        "get_account_balance": "get_account_balance",
    }

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(engine, settings)
        self.messages = load_messages(self.contract)
        self.limits = MediaLimits.from_settings(settings.pixverse)
        self.webhooks = PixverseWebhooks(self)

    # envelope ------------------------------------------------------------------------
    def ok(self, resp: dict[str, Any]) -> Reply:
        return Reply(envelope(ErrCode.SUCCESS, self.messages[0], resp))

    def fail(self, code: ErrCode) -> Reply:
        return Reply(envelope(code, self.messages[int(code)]))

    # base hooks ----------------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("API-KEY")

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        s = self.settings.pixverse
        return Reply(envelope(s.auth_err_code, s.auth_err_msg))

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        return self.fail(ErrCode.BAD_BINDING)

    def unknown_route(self, request: web.Request, allowed: frozenset[str]) -> Reply:
        """The envelope with ErrCode 500008 (requested data not found) as HTTP 404, or
        400017 (invalid parameter) as 405 for a wrong method (inferred, see x-fake-notes)."""
        if allowed:
            return Reply(envelope(ErrCode.INVALID_PARAM, self.messages[ErrCode.INVALID_PARAM]), 405)
        return Reply(envelope(ErrCode.NOT_FOUND, self.messages[ErrCode.NOT_FOUND]), 404)

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        return self.fail(code_for(errors))

    def refusal_reply(self, op: Operation, request: web.Request, refusal: Refusal) -> Reply:
        """Out of credits 500090; a concurrency cap or rate limit 500044 (PixVerse
        documents no HTTP 429)."""
        return self.fail(ErrCode.INSUFFICIENT_BALANCE if refusal.kind == CREDITS
                         else ErrCode.CONCURRENCY_LIMIT)

    async def precheck(self, op: Operation, request: web.Request, api_key: str) -> Reply | None:
        """Ai-trace-id: absent or blank 400011, not a hyphenated UUID 400017."""
        trace = request.headers.get(TRACE_HEADER, "").strip()
        if not trace:
            return self.fail(ErrCode.PARAM_EMPTY)
        if not UUID_RE.fullmatch(trace):
            return self.fail(ErrCode.INVALID_PARAM)
        return None

    async def around(self, call: Call, handler: Handler) -> Reply:
        """Runs ``handler``, turning ``PixverseError`` into its envelope, and replays
        the first answer for a repeated (API key, Ai-trace-id, operation): always for
        POSTs, for GETs while ``settings.pixverse.trace_id_replay``."""

        async def run() -> Reply:
            try:
                return await handler(call)
            except PixverseError as exc:
                return self.fail(exc.code)

        op_id = call.op.operation_id
        if call.op.method != "POST" and not self.settings.pixverse.trace_id_replay:
            return await run()
        trace = call.request.headers[TRACE_HEADER].strip().lower()
        return await self.engine.idempotency.once((self.name, call.api_key, trace, op_id), run,
                                                  lambda reply: self._still_live(op_id, reply))

    def _still_live(self, op_id: str, reply: Reply) -> bool:
        refers = _REFERS.get(op_id)
        resp = reply.body.get("Resp") if isinstance(reply.body, dict) else None
        if refers is None or not isinstance(resp, dict):
            return True
        field, store = refers
        ref = str(resp[field])
        if store == "job":
            return self.engine.get_job(self.name, ref) is not None
        return self.engine.uploads.get(self.name, ref) is not None

    # results -------------------------------------------------------------------------
    def _own_job(self, call: Call, job_id: Any, image: bool) -> Job:
        """A video (``image`` False) or image job of this key, else 500008."""
        job = self.engine.get_job(self.name, str(job_id))
        if job is None or job.api_key != call.api_key or (job.kind in IMAGE_KINDS) != image:
            raise PixverseError(ErrCode.NOT_FOUND)
        return job

    async def get_video_result(self, call: Call) -> Reply:
        """GET /openapi/v2/video/result/{id} -> Resp with every field of the guide's
        example (see the contract's ``VideoResult``).  Errors: 500008 unknown id,
        another key's video or an image job."""
        job = self._own_job(call, call.path["id"], image=False)
        state = self.engine.observe(job)
        return self.ok(await self._video(job, state, call.base_url))

    async def _video(self, job: Job, state: str, base_url: str) -> dict[str, Any]:
        req = job.request
        audio = has_audio(job.kind, req)
        url, size = "", 0
        if state == SUCCEEDED:
            path = await self.engine.media.video(job.width, job.height, job.duration, audio)
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
            "create_time": _rfc3339(self.engine.timestamp(job.created_at)),
            "modify_time": _rfc3339(self.engine.timestamp(self._modified(job, state))),
        }

    def _modified(self, job: Job, state: str) -> float:
        if state not in TERMINAL:
            return job.created_at
        ended = job.forced_at if job.forced_at is not None else job.finishes_at
        # In poll-count mode a job can end before its planned time; never report an
        # end in the future.
        return min(ended, self.engine.now())

    async def get_image_result(self, call: Call) -> Reply:
        """GET /openapi/v2/image/result/{image_id} -> Resp ``{"image_id": int,
        "status": 1|5|7|8, "url": str}`` (``url`` the PNG once status is 1, else "").
        Errors: 500008 unknown id, another key's image or a video job."""
        job = self._own_job(call, call.path["image_id"], image=True)
        state = self.engine.observe(job)
        url = image_url(call.base_url, job.width, job.height, job.id) if state == SUCCEEDED else ""
        return self.ok({"image_id": int(job.id), "status": STATUS[state], "url": url})

    # lists ---------------------------------------------------------------------------
    async def get_lip_sync_tts_list(self, call: Call) -> Reply:
        """GET /openapi/v2/video/lip_sync/tts_list?page_num=&page_size= -> Resp
        ``{"total": 15, "data": [{"speaker_id": str, "name": str}]}`` (one page)."""
        data = catalog.page(catalog.TTS_SPEAKERS, call.query["page_num"], call.query["page_size"])
        return self.ok({"total": len(catalog.TTS_SPEAKERS),
                        "data": [{"speaker_id": sid, "name": name} for sid, name in data]})

    async def get_restyle_list(self, call: Call) -> Reply:
        """GET /openapi/v2/video/restyle/list?page_num=&page_size= -> Resp
        ``{"total": int, "data": [{"restyle_id": int, "restyle_name": str}]}``."""
        data = catalog.page(catalog.RESTYLES, call.query.get("page_num", 1), call.query.get("page_size", 20))
        return self.ok({"total": len(catalog.RESTYLES), "data": [r.wire() for r in data]})

    async def get_effect_templates(self, call: Call) -> Reply:
        """GET /openapi/v2/video/effects/templates/list?type=&page=&pageSize= -> Resp
        ``{"effect_items": [template...], "total": int}`` (``type`` 1 video, 2 image,
        absent both)."""
        wanted = call.query.get("type")
        items = tuple(t for t in catalog.TEMPLATES if wanted is None or t.template_type == wanted)
        data = catalog.page(items, call.query.get("page", 1), call.query.get("pageSize", 20))
        return self.ok({"effect_items": [t.wire() for t in data], "total": len(items)})

    # account -------------------------------------------------------------------------
    async def get_account_balance(self, call: Call) -> Reply:
        """GET /openapi/v2/account/balance -> Resp ``{"account_id": int,
        "credit_monthly": int, "credit_package": int}`` (credits)."""
        return self.ok({
            "account_id": self._account_id(call.api_key),
            "credit_monthly": self.engine.ledger.balance(self.name, call.api_key),
            "credit_package": 0,
        })

    @staticmethod
    def _account_id(api_key: str) -> int:
        # Stable across restarts and seeds (unlike hash()), 15 digits like PixVerse ids.
        digest = int.from_bytes(hashlib.sha256(api_key.encode()).digest()[:8], "big")
        return 10**14 + digest % (9 * 10**14)
