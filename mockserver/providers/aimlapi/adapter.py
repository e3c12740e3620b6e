"""AI/ML API (api.aimlapi.com): PixVerse V5 image-to-video, text-to-video and transition.

Wire format from AI/ML API's docs (the "pixverse/v5/image-to-video" page and its two
Python examples; endpoints, responses and errors); the contract is
``contracts/aimlapi.yaml``. Auth is ``Authorization: Bearer <key>``.

- ``create_video_generation`` POST /v2/video/generations and
  ``create_pixverse_generation_legacy`` POST /v2/generate/video/pixverse/generation:
  body ``{model, prompt, ...}`` (one schema per ``model``) ->
  200 ``{id, status: "queued", meta: {usage: {credits_used}}}`` (``tokens_used`` in
  the 2025 era)
- ``get_video_generation`` / ``get_pixverse_generation_legacy`` GET the same paths
  ``?generation_id=<id>`` -> 200 ``{id, status}`` with ``status``
  queued | generating | completed | error, plus ``video: {url, content_type:
  "video/mp4", file_name: "output.mp4", file_size}`` (bytes of the MP4 the URL serves)
  once completed or ``error: {name, message}`` once failed. A generation created on
  either path is readable on both.
- ``get_billing_balance`` GET /v1/billing/balance -> ``{balance, lowBalance,
  lowBalanceThreshold, lastUpdated, autoDebitStatus, status, statusExplanation}``.

Ids are 21-char tokens (era 2026) or ``<uuid>:<model>`` (era 2025), ``settings.aimlapi.era``.
Image-to-video output, and any output with lip-sync text, carries an audio track (the
model page: "generates videos with synchronized audio").
Durations are seconds; ``credits_used`` is in AI/ML API credits.

Errors: HTTP status with ``{message, path, requestId, statusCode, timestamp}``:
401 "This request requires a valid API key. ..." (no header, a scheme other than
Bearer, an empty or not allowed key); 400 "Body validation error" followed by one
zod-style line per problem, e.g. ``Invalid enum value. Expected 5 | 8, received '6' at
"duration"`` (schema failures, malformed JSON, 1080p with 8 s); 400 "Query validation
error" for a missing ``generation_id``; 404 "Not Found" for an unknown id or another
key's id; 403 "You've run out of credits. ..." when the key's balance is below the
generation's ``credits_used`` (debited at submit, never refunded: AI/ML API documents no
refund); 429 "Too Many Requests" (+ ``Retry-After``) at the key's concurrency cap or a
rate limit.
"""
from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

import orjson
from aiohttp import web

from ...contract import FieldError, Operation
from ...engine.faults import InjectedError
from ...engine.jobs import FAILED, MODERATED, QUEUED, SUCCEEDED, Job, JobSpec
from ...engine.media import size_of, video_dimensions
from ...files import video_url
from ..base import Call, ProviderAdapter, Reply, with_retry_after
from ..pricing import CREDITS_5S
from .spec import SPEC

STATUS = SPEC.status_map

# model -> the neutral job kind behind it
KINDS = {
    "pixverse/v5/image-to-video": "image-to-video",
    "pixverse/v5/text-to-video": "text-to-video",
    "pixverse/v5/transition": "transition",
}

# The usage key of a create answer, per documented era (settings.aimlapi.era).
USAGE_KEY = {"2025": "tokens_used", "2026": "credits_used"}

# Inferred names (see x-fake-notes); the docs only promise `{name, message}`.
GENERATION_ERRORS = {
    FAILED: {"name": "GenerationError",
             "message": "The video generation failed. Please try again."},
    MODERATED: {"name": "ModerationError",
                "message": "The request was rejected by content moderation."},
}

# The 2025 log's 5 s 720p run cost 420000; other shapes scale like PixVerse's own
# credit table, ``pixverse.pricing`` (inferred, see x-fake-notes).
BASE_CREDITS = 420_000
RESOLUTION_FACTOR = {quality: Fraction(credits, CREDITS_5S["720p"]) for quality, credits in CREDITS_5S.items()}

LOW_BALANCE_THRESHOLD = 10_000  # credits, the docs' example value

UNAUTHORIZED = ("This request requires a valid API key. You can create a new API key "
                "on the Billing page: https://aimlapi.com/app/keys")
BODY_INVALID = "Body validation error"
QUERY_INVALID = "Query validation error"
NOT_FOUND = "Not Found"

# Injected HTTP errors (faults): the messages of docs/errors-and-messages (see the contract).
FAULT_MESSAGES = {
    400: BODY_INVALID,
    403: ("You've run out of credits. Please top up your balance or update your payment method "
          "to continue: https://aimlapi.com/app/billing/"),
    404: NOT_FOUND,
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service unavailable",
    504: "Generation timeout",
}

_ZOD_TYPES = {"integer": "number", "number": "number", "string": "string", "boolean": "boolean",
              "object": "object", "array": "array", "null": "null"}


def credits_used(resolution: str, duration: int) -> int:
    """Credits one generation costs: 420000 for 5 s at 720p, scaled by resolution and length."""
    return int(BASE_CREDITS * RESOLUTION_FACTOR[resolution] * Fraction(duration, 5))


def has_audio(job: Job) -> bool:
    """Whether a generation's MP4 carries sound: image-to-video always (its model page
    says it "generates videos with synchronized audio"), any model when the request
    had lip-sync text to speak."""
    return job.kind == "image-to-video" or bool(job.request.get("lip_sync_tts_content"))


def file_token(generation_id: str) -> str:
    """A URL-path-safe name for the result file (uuid-model ids hold ':' and '/')."""
    return generation_id.replace(":", "_").replace("/", "_")


def _received_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _literal(value: Any) -> str:
    # zod quotes string options and prints the others bare.
    return f"'{value}'" if isinstance(value, str) else orjson.dumps(value).decode()


def _received(value: Any) -> str:
    return f"'{value if isinstance(value, str) else orjson.dumps(value).decode()}'"


def _zod_message(issue: FieldError) -> str:
    """The zod wording for a failed JSON-Schema keyword (zod v3 messages)."""
    if issue.hint:
        return issue.hint
    d = issue.detail
    if issue.kind == "required":
        return "Required"
    if issue.kind == "enum":
        options = " | ".join(_literal(o) for o in d.get("options", []))
        return f"Invalid enum value. Expected {options}, received {_received(issue.value)}"
    if issue.kind == "type":
        types = d.get("types", [])
        if types == ["integer"] and isinstance(issue.value, float):
            return "Expected integer, received float"
        expected = " | ".join(dict.fromkeys(_ZOD_TYPES.get(t, t) for t in types))
        return f"Expected {expected}, received {_received_type(issue.value)}"
    if issue.kind == "format":
        return "Invalid url" if d.get("format") in ("uri", "url") else f"Invalid {d.get('format')}"
    if issue.kind == "const":
        return f"Invalid literal value, expected {orjson.dumps(d.get('expected_value')).decode()}"
    return "Invalid input"


def _where(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line(issue: FieldError) -> str:
    path = issue.path + ((issue.detail["property"],) if issue.kind == "required"
                         and "property" in issue.detail else ())
    where = _where(path)
    return f'{_zod_message(issue)} at "{where}"' if where else _zod_message(issue)


def _lines(issues: list[FieldError]) -> list[str]:
    # A wrong type also fails the enum/const next to it; zod reports the type only.
    typed = {i.path for i in issues if i.kind == "type"}
    kept = [i for i in issues if i.kind == "type" or i.path not in typed]
    return list(dict.fromkeys(_line(i) for i in kept))


class AimlapiAdapter(ProviderAdapter):
    spec = SPEC
    # The gateway serves /v1 (OpenAI-compatible, billing) and /v2 (video); its SDK calls
    # OpenAI's /v1/videos too.  Freepik's /v1/ai/ is longer, so it stays Freepik's.
    path_prefixes = ("/v1/", "/v2/")
    handlers = {
        "create_video_generation": "create",
        "create_pixverse_generation_legacy": "create",
        "get_video_generation": "get_generation",
        "get_pixverse_generation_legacy": "get_generation",
        "get_billing_balance": "balance",
    }

    # errors --------------------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.strip().partition(" ")
        # Any other scheme ("Basic ...") is as good as no key: "" makes base answer 401.
        return token.strip() if scheme.lower() == "bearer" else ""

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        return self._error(request, 401, UNAUTHORIZED)

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        return self._error(request, 400, f"{BODY_INVALID}\nInvalid JSON in request body")

    def unknown_route(self, request: web.Request, allowed: frozenset[str]) -> Reply:
        """404 ``{message: "Cannot <METHOD> <path>", path, requestId, statusCode,
        timestamp}`` (NestJS's router wording in the gateway's error body), or the same
        as 405 for a method a served path does not allow (inferred, see x-fake-notes)."""
        return self._error(request, 405 if allowed else 404, f"Cannot {request.method} {request.path}")

    def too_large(self, op: Operation, request: web.Request) -> Reply:
        # NestJS's body parser (inferred; contract PayloadTooLarge).
        return self._error(request, 413, "request entity too large")

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        # The contract already checked the body against the schema its `model` selects,
        # as zod's discriminated union does.
        outside = [e for e in errors if e.location != "body"]
        if outside:
            return self._error(request, 400, "\n".join([QUERY_INVALID, *_lines(outside)]))
        return self._error(request, 400, "\n".join([BODY_INVALID, *_lines(errors)]))

    def fault_reply(self, op: Operation, request: web.Request, fault: InjectedError) -> Reply | None:
        """Injected errors in the gateway's body, with this request's path, a fresh
        requestId and the time; moderation at submit is accepted, then ``error``."""
        if fault.moderation or fault.status is None or fault.status == 401:
            return super().fault_reply(op, request, fault)
        message = fault.message or FAULT_MESSAGES[fault.status]
        return with_retry_after(self._error(request, fault.status, message), fault)

    def _error(self, request: web.Request, status: int, message: str) -> Reply:
        return Reply({
            "message": message,
            "path": request.path,
            "requestId": self._request_id(),
            "statusCode": status,
            "timestamp": self._timestamp(),
        }, status)

    def _request_id(self) -> str:
        # The docs example (2025-03) shows a uuid, a live capture (2025-12) a 21-char
        # token; keep each era's pair together.
        if self.settings.aimlapi.active_era == "2025":
            return self.engine.new_uuid()
        return self.engine.new_token(21)

    def _timestamp(self) -> str:
        now = datetime.fromtimestamp(self.engine.timestamp(), tz=timezone.utc)
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # wire shapes ---------------------------------------------------------------------
    def _new_id(self, model: str) -> str:
        if self.settings.aimlapi.active_era == "2025":
            return f"{self.engine.new_uuid()}:{model}"
        return self.engine.new_token(21)

    async def _generation(self, job: Job, status: str, base_url: str) -> dict[str, Any]:
        # Only the keys the doc logs show for each state; the others are optional.
        out: dict[str, Any] = {"id": job.id, "status": STATUS[status]}
        if status == SUCCEEDED:
            audio = has_audio(job)
            path = await self.engine.media.video(job.width, job.height, job.duration, audio)
            out["video"] = {
                "url": video_url(base_url, job.width, job.height, job.duration, file_token(job.id), audio),
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": size_of(path),
            }
        elif status in GENERATION_ERRORS:
            out["error"] = dict(GENERATION_ERRORS[status])
        return out

    # handlers ------------------------------------------------------------------------
    async def create(self, call: Call) -> Reply:
        """POST a generation: 200 ``{id, status: "queued", meta: {usage: {credits_used}}}``."""
        body = call.body
        model = body["model"]
        kind = KINDS[model]
        resolution = body.get("resolution", "720p")
        duration = body.get("duration", 5)
        aspect = body.get("aspect_ratio", "16:9") if kind == "text-to-video" \
            else self.settings.default_aspect_ratio
        width, height = video_dimensions(resolution, aspect)
        cost = credits_used(resolution, duration)
        refused = await self.admit(call, cost)
        if refused is not None:
            return refused
        job = await self.create_job(call, JobSpec(
            kind, self._new_id(model), quality=resolution, width=width, height=height,
            duration=duration, request=call.raw or body, cost=cost))
        return Reply({"id": job.id, "status": STATUS[QUEUED],
                      "meta": {"usage": {USAGE_KEY[self.settings.aimlapi.active_era]: cost}}})

    async def get_generation(self, call: Call) -> Reply:
        """GET ``?generation_id=``: the generation, or 404 for an unknown or foreign id."""
        job = await self.engine.get_job(self.name, call.query["generation_id"])
        if job is None or job.api_key != call.api_key:
            return self._error(call.request, 404, NOT_FOUND)
        return Reply(await self._generation(job, await self.engine.observe(job), call.base_url))

    async def balance(self, call: Call) -> Reply:
        """GET the key's credit balance (the engine ledger, in credits)."""
        balance = await self.engine.balance(self.name, call.api_key)
        return Reply({
            "balance": balance,
            "lowBalance": balance < LOW_BALANCE_THRESHOLD,
            "lowBalanceThreshold": LOW_BALANCE_THRESHOLD,
            "lastUpdated": self._timestamp(),
            "autoDebitStatus": "disabled",
            "status": "current",
            "statusExplanation": "Balance is current and up to date",
        })
