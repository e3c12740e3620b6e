"""PixVerse platform (app-api.pixverse.ai): uploads, every V5 generation endpoint,
results, lists and balance.

Wire format from the PixVerse Platform docs: the "Image to video" guide, the API
reference page of every endpoint served, the error-code, webhook and pricing pages; the
contract is ``contracts/pixverse.yaml`` (its ``x-fake-notes`` list every inference).

Every answer is HTTP 200 with ``{"ErrCode": int, "ErrMsg": str, "Resp": object|null}``;
ErrCode 0 is success, anything else a business error with ``Resp: null`` (codes in
``errors.ErrCode``, messages in the contract's ``x-errcodes``).  Requests carry
``API-KEY`` and a fresh UUID in ``Ai-trace-id``; a reused trace id replays the first
answer (``engine.idempotency``).

Layout: plain collaborators wired here: ``uploads.Uploads`` (image and media upload),
``chain.Chain`` (ids a request refers to), ``generation.Planners`` and
``generation.Generation`` (the table of generate endpoints, mask selection, image
templates), ``wire.Wire`` (status map, envelope and results, shared with
``webhooks.PixverseWebhooks``); ``catalog`` (speakers, templates, restyle presets),
``pricing``, ``errors`` (ErrCodes), ``faults`` (injected errors as ErrCodes).

Adding a generate endpoint: describe it in the contract and add it to
``generation.GENERATORS`` with a ``Planners`` method; it is routed to
``Generation.generate`` and its answers replay like the others'.
"""
from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from ...contract import FieldError, Operation
from ...engine import Engine
from ...engine.faults import InjectedError
from ...engine.idempotency import UUID_RE
from ...engine.jobs import Job
from ...engine.limits import CREDITS, Refusal
from ...settings import Settings
from ..base import Call, Handler, ProviderAdapter, Reply
from . import catalog, faults
from .chain import IMAGE_KINDS, Chain
from .errors import ErrCode, PixverseError, code_for, envelope, load_messages
from .generation import GENERATORS, Generation, Planners
from .spec import SPEC
from .uploads import MediaLimits, Uploads
from .webhooks import PixverseWebhooks
from .wire import Wire

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


class PixverseAdapter(ProviderAdapter):
    spec = SPEC
    # The platform API is under /openapi/; PixVerse's own client also calls
    # /video/credits/{id} at the origin.
    path_prefixes = ("/openapi/", "/video/")
    # Which uploads PixVerse reviews (faults.py; which operations submit work: SPEC).
    moderated_operations = faults.REVIEWED_UPLOADS

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(engine, settings)
        self.messages = load_messages(self.contract)
        self.wire = wire = Wire(engine, self.messages)
        self.ok, self.fail = wire.ok, wire.fail
        self.webhooks = PixverseWebhooks(engine, settings.pixverse, wire)
        chain = Chain(engine, self.name)
        self.limits = MediaLimits.from_settings(settings.pixverse)  # the uploads' own, tunable
        uploads = Uploads(engine, self.name, self.limits, wire)
        generation = Generation(engine, settings, wire, Planners(chain, settings.default_aspect_ratio),
                                self.create_job, self.webhooks.follow, self.name)
        self.handlers = {
            "upload_image": uploads.upload_image,
            "upload_media": uploads.upload_media,
            **{op: generation.generate for op in GENERATORS},
            "mask_selection": generation.mask_selection,
            "image_template_generate": generation.image_template_generate,
            "get_video_result": self.get_video_result,
            "get_image_result": self.get_image_result,
            "get_lip_sync_tts_list": self.get_lip_sync_tts_list,
            "get_restyle_list": self.get_restyle_list,
            "get_effect_templates": self.get_effect_templates,
            "get_account_balance": self.get_account_balance,
        }

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

    def fault_reply(self, op: Operation, request: web.Request, fault: InjectedError) -> Reply:
        """Injected errors as PixVerse answers them (``faults.fault_reply``)."""
        return faults.fault_reply(self.settings.pixverse, self.messages, op, fault)

    def fault_supported(self, op: Operation, fault: InjectedError) -> bool:
        return faults.fault_supported(fault)

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
        # A GET reads before it changes anything (its poll count): a shared store takes
        # the trace id in that read.  A POST may draw an id or fetch a URL first.
        return await self.engine.idempotency.once((self.name, call.api_key, trace, op_id), run,
                                                  lambda reply: self._still_live(op_id, reply),
                                                  lambda data: Reply(**data), reads_first=call.op.method == "GET")

    async def _still_live(self, op_id: str, reply: Reply) -> bool:
        refers = _REFERS.get(op_id)
        resp = reply.body.get("Resp") if isinstance(reply.body, dict) else None
        if refers is None or not isinstance(resp, dict):
            return True
        field, store = refers
        ref = str(resp[field])
        if store == "job":
            return await self.engine.get_job(self.name, ref) is not None
        return await self.engine.get_upload(self.name, ref) is not None

    # results -------------------------------------------------------------------------
    async def _own_job(self, call: Call, job_id: Any, image: bool) -> Job:
        """A video (``image`` False) or image job of this key, else 500008."""
        job = await self.engine.get_job(self.name, str(job_id))
        if job is None or job.api_key != call.api_key or (job.kind in IMAGE_KINDS) != image:
            raise PixverseError(ErrCode.NOT_FOUND)
        return job

    async def get_video_result(self, call: Call) -> Reply:
        """GET /openapi/v2/video/result/{id} -> Resp with every field of the guide's
        example (see the contract's ``VideoResult``).  Errors: 500008 unknown id,
        another key's video or an image job."""
        job = await self._own_job(call, call.path["id"], image=False)
        state = await self.engine.observe(job)
        return self.ok(await self.wire.video(job, state, call.base_url))

    async def get_image_result(self, call: Call) -> Reply:
        """GET /openapi/v2/image/result/{image_id} -> Resp ``{"image_id": int,
        "status": 1|5|7|8, "url": str}`` (``url`` the PNG once status is 1, else "").
        Errors: 500008 unknown id, another key's image or a video job."""
        job = await self._own_job(call, call.path["image_id"], image=True)
        return self.ok(self.wire.image(job, await self.engine.observe(job), call.base_url))

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
            "credit_monthly": await self.engine.balance(self.name, call.api_key),
            "credit_package": 0,
        })

    @staticmethod
    def _account_id(api_key: str) -> int:
        # Stable across restarts and seeds (unlike hash()), 15 digits like PixVerse ids.
        digest = int.from_bytes(hashlib.sha256(api_key.encode()).digest()[:8], "big")
        return 10**14 + digest % (9 * 10**14)
