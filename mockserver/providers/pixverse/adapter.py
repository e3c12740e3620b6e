"""PixVerse platform (app-api.pixverse.ai): upload, V5 generation, result and balance.

Wire format from seed 003 (image-to-video guide), seed 004 (official OpenAPI pages of
image upload, text/img/transition generate) and shared/providers/pixverse-platform.md
sections 1-8; the contract is ``contracts/pixverse.yaml`` (its ``x-fake-notes`` list
every inference).

Every answer is HTTP 200 with ``{"ErrCode": int, "ErrMsg": str, "Resp": object|null}``;
ErrCode 0 is success, anything else a business error with ``Resp: null`` (codes in
``errors.ErrCode``, messages in the contract's ``x-errcodes``).  Requests carry
``API-KEY`` and a fresh UUID in ``Ai-trace-id``; a reused trace id replays the first
answer (``engine.idempotency``).

Adding an endpoint: describe it in the contract, add ``operationId: method`` to
``handlers``, write the handler (raise ``PixverseError`` for business errors, return
``self.ok(resp)``), and, if its answer points at a job or upload, add it to ``_REFERS``.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ...contract import FieldError, Operation
from ...engine import Engine
from ...engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, Job
from ...engine.media import ASPECT_RATIOS, size_of, video_dimensions
from ...engine.store import Upload
from ...files import upload_url, video_url
from ...settings import Settings
from ..base import Call, Handler, ProviderAdapter, Reply
from .errors import ErrCode, PixverseError, code_for, envelope, load_messages
from .images import inspect_image
from .pricing import video_cost
from ...engine.idempotency import UUID_RE

#: Neutral job state -> PixVerse result ``status``.
STATUS = {QUEUED: 5, RUNNING: 5, SUCCEEDED: 1, FAILED: 8, MODERATED: 7}

#: Generate operationId -> neutral job kind.
KINDS = {
    "text_to_video": "text-to-video",
    "image_to_video": "image-to-video",
    "transition_video": "transition",
}

SEED_MAX = 2_147_483_647
TRACE_HEADER = "Ai-trace-id"

# operationId -> (Resp field, store) an answer points at.  A remembered answer whose
# job or upload has gone (retention, admin reset) is not replayed: it would hand out
# an id the fake no longer knows.
_REFERS = {
    "upload_image": ("img_id", "upload"),
    "text_to_video": ("video_id", "job"),
    "image_to_video": ("video_id", "job"),
    "transition_video": ("video_id", "job"),
    "get_video_result": ("id", "job"),
}


# A URL-only upload from Python (requests/httpx ``data=`` without files) arrives
# urlencoded; a Go form parser reads both, so both are accepted.
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    # Undocumented fields (negative_prompt on transition) are not schema-checked;
    # the result must still report a string.
    return value if isinstance(value, str) else ""


def nearest_aspect_ratio(width: int, height: int, default: str) -> str:
    """The PixVerse aspect ratio ("16:9" ... "9:16") closest to ``width`` x ``height``
    pixels, compared on a log scale; ``default`` when either side is unknown (0)."""
    if width <= 0 or height <= 0:
        return default
    target = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(ASPECT_RATIOS[r][0] / ASPECT_RATIOS[r][1]) - target))


class PixverseAdapter(ProviderAdapter):
    name = "pixverse"
    title = "PixVerse platform"
    contract_name = "pixverse"
    upstream = "https://app-api.pixverse.ai"
    client_base_path = ""
    auth_hint = "API-KEY: <any key> and Ai-trace-id: <new UUID per request>"
    handlers = {
        "upload_image": "upload_image",
        "text_to_video": "text_to_video",
        "image_to_video": "image_to_video",
        "transition_video": "transition_video",
        "get_video_result": "get_video_result",
        "get_account_balance": "get_account_balance",
    }

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(engine, settings)
        self.messages = load_messages(self.contract)

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

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        return self.fail(code_for(errors))

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

    # upload --------------------------------------------------------------------------
    async def upload_image(self, call: Call) -> Reply:
        """POST /openapi/v2/image/upload, multipart ``image`` (file) or ``image_url``
        (multipart or urlencoded form field).

        Resp ``{"img_id": int, "img_url": str}``.  Errors: 400013 not a form body,
        400011 neither field, 500030/500031/500032 (see ``images.inspect_image``),
        500042 ``image_url`` not http(s).
        """
        request = call.request
        if request.content_type not in _FORM_TYPES:
            raise PixverseError(ErrCode.BAD_BINDING)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise PixverseError(ErrCode.IMAGE_TOO_LARGE) from None
        except (ValueError, HttpProcessingError):
            # aiohttp's multipart reader reports a broken body as ValueError (bad
            # boundary) or as an HTTP parsing error (undecodable part headers).
            raise PixverseError(ErrCode.BAD_BINDING) from None
        image = form.get("image")
        if isinstance(image, web.FileField):
            data = image.file.read()
            if data:
                return self._store_image(call, data)
        image_url = form.get("image_url")
        if isinstance(image_url, str) and image_url.strip():
            return self._store_image_url(call, image_url.strip())
        raise PixverseError(ErrCode.PARAM_EMPTY)

    def _store_image(self, call: Call, data: bytes) -> Reply:
        s = self.settings.pixverse
        info = inspect_image(data, s.max_image_bytes, s.max_image_pixels)
        img_id = self.engine.new_int_id()
        self.engine.uploads.add(Upload(
            id=str(img_id), provider=self.name, api_key=call.api_key, kind="image",
            content_type=info.content_type, data=data, width=info.width, height=info.height,
        ))
        url = upload_url(call.base_url, self.name, str(img_id), f"image.{info.extension}")
        return self.ok({"img_id": img_id, "img_url": url})

    def _store_image_url(self, call: Call, url: str) -> Reply:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise PixverseError(ErrCode.IMAGE_PATH) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise PixverseError(ErrCode.IMAGE_PATH)
        img_id = self.engine.new_int_id()
        # Never fetched (the fake stays offline), so the size is unknown: 0 x 0.
        self.engine.uploads.add(Upload(
            id=str(img_id), provider=self.name, api_key=call.api_key, kind="image",
            content_type="application/octet-stream", data=b"", source_url=url,
        ))
        return self.ok({"img_id": img_id, "img_url": url})

    # generation ----------------------------------------------------------------------
    async def text_to_video(self, call: Call) -> Reply:
        """POST /openapi/v2/video/text/generate -> Resp ``{"video_id": int}``.

        Output: short side from ``quality``, shape from ``aspect_ratio``.  Errors as in
        ``_submit``.
        """
        self._check_combination(call.body)
        width, height = video_dimensions(call.body["quality"], call.body["aspect_ratio"])
        return self._submit(call, width, height)

    async def image_to_video(self, call: Call) -> Reply:
        """POST /openapi/v2/video/img/generate -> Resp ``{"video_id": int}``.

        Output: short side from ``quality``, aspect ratio nearest the uploaded image's.
        Errors: 400032 ``img_id`` not an image of this key, else as in ``_submit``.
        """
        self._check_combination(call.body)
        image = self._own_image(call, call.body["img_id"])
        return self._submit(call, *self._dimensions_like(call.body["quality"], image))

    async def transition_video(self, call: Call) -> Reply:
        """POST /openapi/v2/video/transition/generate -> Resp ``{"video_id": int}``.

        Output shaped like the first frame.  Errors: 400032 either frame not an image
        of this key, else as in ``_submit``.
        """
        self._check_combination(call.body)
        first = self._own_image(call, call.body["first_frame_img"])
        self._own_image(call, call.body["last_frame_img"])
        return self._submit(call, *self._dimensions_like(call.body["quality"], first))

    @staticmethod
    def _check_combination(body: dict[str, Any]) -> None:
        """Rules the generate pages state in prose (400017): 1080p is 5 s only; ``fast``
        motion is 5 s only, not at 1080p and not on v5."""
        quality, duration = body["quality"], int(body["duration"])
        if quality == "1080p" and duration != 5:
            raise PixverseError(ErrCode.INVALID_PARAM)
        if body.get("motion_mode") == "fast" and (
                body["model"] == "v5" or duration != 5 or quality == "1080p"):
            raise PixverseError(ErrCode.INVALID_PARAM)

    def _own_image(self, call: Call, img_id: Any) -> Upload:
        upload = self.engine.uploads.get(self.name, str(int(img_id)))
        if upload is None or upload.api_key != call.api_key or upload.kind != "image":
            raise PixverseError(ErrCode.INVALID_IMAGE_ID)
        return upload

    def _dimensions_like(self, quality: str, image: Upload) -> tuple[int, int]:
        ratio = nearest_aspect_ratio(image.width, image.height, self.settings.default_aspect_ratio)
        return video_dimensions(quality, ratio)

    def _submit(self, call: Call, width: int, height: int) -> Reply:
        """Charge the key and create the job.  500090 (nothing created, nothing
        charged) when the key has fewer credits than ``pricing.video_cost``."""
        body = call.body
        quality, duration = body["quality"], int(body["duration"])
        cost = video_cost(quality, duration, body.get("motion_mode", "normal"))
        if self.engine.ledger.balance(self.name, call.api_key) < cost:
            raise PixverseError(ErrCode.INSUFFICIENT_BALANCE)
        request = dict(body)
        # The result reports the seed used, so one is fixed now when the client sent none.
        request["seed"] = int(body["seed"]) if "seed" in body else self.engine.rng.randint(0, SEED_MAX)
        video_id = self.engine.new_int_id()
        self.engine.create_job(
            self.name, KINDS[call.op.operation_id], call.api_key, str(video_id),
            quality=quality, width=width, height=height, duration=duration,
            request=request, cost=cost, test_id=call.test_id,
        )
        self.engine.ledger.debit(self.name, call.api_key, cost)
        return self.ok({"video_id": video_id})

    # result --------------------------------------------------------------------------
    async def get_video_result(self, call: Call) -> Reply:
        """GET /openapi/v2/video/result/{id} -> Resp with every field of the guide's
        example (see the contract's ``VideoResult``).  Errors: 500008 unknown id or
        another key's video."""
        job = self.engine.get_job(self.name, str(call.path["id"]))
        if job is None or job.api_key != call.api_key:
            raise PixverseError(ErrCode.NOT_FOUND)
        state = self.engine.observe(job)
        return self.ok(await self._video(job, state, call.base_url))

    async def _video(self, job: Job, state: str, base_url: str) -> dict[str, Any]:
        url, size = "", 0
        if state == SUCCEEDED:
            path = await self.engine.media.video(job.width, job.height, job.duration)
            size = size_of(path)
            url = video_url(base_url, job.width, job.height, job.duration, job.id)
        modified = job.created_at
        if state in TERMINAL:
            ended = job.forced_at if job.forced_at is not None else job.finishes_at
            # In poll-count mode a job can end before its planned time; never report
            # an end in the future.
            modified = min(ended, self.engine.now())
        req = job.request
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
            "has_audio": False,
            "create_time": _rfc3339(job.created_at),
            "modify_time": _rfc3339(modified),
        }

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
