"""pixwith.ai: PixVerse V5 (``model_id`` "2-27") text-to-video and image-to-video.

Wire format from pixwith.ai's API docs (the PixVerse V5 page: create task; "get task
results"; its MCP contract for credits and errors); the contract is ``contracts/pixwith.yaml``.
Every operation is a POST with a JSON body and the ``Api-Key`` header; every answer,
errors included, is HTTP 200 with the envelope ``{"code", "message", "data"}``:

- ``create_task`` POST /api/task/create -> ``data {task_id: 32 hex, estimated_time: int s}``
- ``get_task`` POST /api/task/get ``{task_id}`` -> ``data {task_id, status, result_urls}``,
  ``status`` 1 processing | 2 completed | 3 failed; ``result_urls`` one video URL per
  ``options.num_outputs`` once completed, else ``[]``
- ``get_credits`` POST /api/task/get_credits (no body) -> ``data {credits: int}``

Errors: ``code`` 0, ``data`` null, ``message`` one of "Invalid API KEY" (missing, empty
or not allowed key), "Invalid JSON body", "Invalid model_id" (present but not "2-27"),
"Invalid parameter: <field> <problem>[; ...]", "Task not found", "Credits not enough"
(the key's balance is below the task's cost, :func:`task_credits`: debited at submit,
never refunded).  At the key's concurrency cap or a rate limit: HTTP 429 with the
envelope, message "Too many requests", and ``Retry-After`` (inferred, like the faults).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ...contract import FieldError, Operation
from ...engine.faults import InjectedError
from ...engine.jobs import SUCCEEDED, Job, JobSpec
from ...engine.media import video_dimensions
from ...files import video_url
from ..base import Call, ProviderAdapter, Reply, with_retry_after
from ..pricing import video_cost
from .spec import SPEC

STATUS = SPEC.status_map

def task_credits(resolution: str, duration: int, outputs: int) -> int:
    """Credits one create costs: per output video, 45/45/60/120 for 5 s at
    360p/540p/720p/1080p, doubled for 8 s.

    pixwith publishes no price for model 2-27.  It resells PixVerse, and its other video
    models cost the same order of credits (Veo 3.1 Fast 50), so a video costs what
    PixVerse's own table charges (``pixverse.pricing``; inferred, see the contract's
    x-fake-notes)."""
    return video_cost(resolution, duration) * max(outputs, 1)


def _problem(error: FieldError) -> str:
    reason = _reason(error)
    # A rule's x-message says why; the keyword alone only says which value was expected.
    return f"{reason} ({error.hint})" if error.hint else reason


def _reason(error: FieldError) -> str:
    name = error.field or "body"
    d = error.detail
    if error.kind == "required":
        return f"{name} is required"
    if error.kind == "enum":
        return f"{name} must be one of {', '.join(map(str, d.get('options', [])))}"
    if error.kind == "const":
        return f"{name} must be {d.get('expected_value')}"
    if error.kind == "type":
        return f"{name} must be of type {' or '.join(d.get('types', []))}"
    if error.kind == "format":
        return f"{name} must be a valid {d.get('format', 'value')}"
    if error.kind == "minimum":
        return f"{name} must be at least {d.get('limit')}"
    if error.kind == "maximum":
        return f"{name} must be at most {d.get('limit')}"
    if error.kind == "minItems":
        return f"{name} must hold at least {d.get('limit')} item(s)"
    if error.kind == "maxItems":
        return f"{name} must hold at most {d.get('limit')} item(s)"
    return f"{name} is not valid"


# Injected errors (faults).  Business errors stay in-band (HTTP 200, `code` 0) like every
# documented pixwith error; rate limits and server failures come from in front of the
# app, as the HTTP status with the same envelope (inferred, see the contract's x-fake-notes).
IN_BAND_FAULTS = {400: "Invalid parameter", 401: "Invalid API KEY", 403: "Credits not enough",
                  404: "Task not found"}
HTTP_FAULTS = {429: "Too many requests", 500: "Internal server error", 502: "Bad gateway",
               503: "Service unavailable", 504: "Gateway timeout"}


def _error(message: str) -> Reply:
    # pixwith reports failures in `code`, not in the HTTP status (see x-fake-notes).
    return Reply({"code": 0, "message": message, "data": None})


def _ok(data: dict[str, Any]) -> Reply:
    return Reply({"code": 1, "message": "success", "data": data})


class PixwithAdapter(ProviderAdapter):
    spec = SPEC
    handlers = {
        "create_task": "create_task",
        "get_task": "get_task",
        "get_credits": "get_credits",
    }
    # pixwith's API (tasks, uploads' pre_url) lives under /api/.
    path_prefixes = ("/api/",)

    # auth and errors -----------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("Api-Key")

    def key_accepted(self, key: str) -> bool:
        # The documented public test key works whatever the allow-list says.
        return key == self.settings.pixwith.test_api_key or super().key_accepted(key)

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        return _error("Invalid API KEY")

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        return _error("Invalid JSON body")

    def unknown_route(self, request: web.Request, allowed: frozenset[str]) -> Reply:
        """The envelope with ``code`` 0, as the HTTP status 404 ("Not Found") or 405
        ("Method Not Allowed"): no route means no app to answer in-band (inferred)."""
        status, message = (405, "Method Not Allowed") if allowed else (404, "Not Found")
        return Reply({"code": 0, "message": message, "data": None}, status)

    def too_large(self, op: Operation, request: web.Request) -> Reply:
        return _error("Request body too large")

    def fault_statuses(self, op: Operation) -> frozenset[int]:
        in_band = {400, 401, 403} | ({404} if op.operation_id == "get_task" else set())
        return frozenset(in_band) | super().fault_statuses(op)

    def fault_reply(self, op: Operation, request: web.Request, fault: InjectedError) -> Reply | None:
        if fault.moderation or fault.status is None:
            return super().fault_reply(op, request, fault)
        if fault.status in IN_BAND_FAULTS:
            return _error(fault.message or IN_BAND_FAULTS[fault.status])
        body = {"code": 0, "message": fault.message or HTTP_FAULTS[fault.status], "data": None}
        return with_retry_after(Reply(body, fault.status), fault)

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        # The model decides which options are valid, so a wrong model_id is the one answer.
        if any(e.field == "model_id" and e.kind != "required" for e in errors):
            return _error("Invalid model_id")
        # One clause per field: a wrong type also fails the enum, and saying both is noise.
        reasons: dict[str, str] = {}
        for e in errors:
            reasons.setdefault(e.field or "body", _problem(e))
        return _error("Invalid parameter: " + "; ".join(reasons.values()))

    # wire shapes ---------------------------------------------------------------------
    def _result(self, job: Job, status: str, base_url: str) -> dict[str, Any]:
        urls = []
        if status == SUCCEEDED:
            urls = [video_url(base_url, job.width, job.height, job.duration, f"{job.id}_{n}")
                    for n in range(job.outputs)]
        return {"task_id": job.id, "status": STATUS[status], "result_urls": urls}

    # handlers ------------------------------------------------------------------------
    async def create_task(self, call: Call) -> Reply:
        body = call.body
        options = body["options"]
        # JSON Schema counts 5.0 as an integer; the engine and the file URLs need ints.
        duration = int(options["duration"])
        outputs = int(options["num_outputs"])
        resolution = options["resolution"]
        width, height = video_dimensions(resolution, options["aspect_ratio"])
        kind = "image-to-video" if "image_urls" in body else "text-to-video"
        cost = task_credits(resolution, duration, outputs)
        refused = await self.admit(call, cost)
        if refused is not None:
            return refused
        job = await self.create_job(call, JobSpec(
            kind, self.engine.new_hex(32), quality=resolution, width=width, height=height,
            duration=duration, outputs=outputs, request=call.raw or body, cost=cost))
        return _ok({"task_id": job.id,
                    "estimated_time": round(job.plan.queue_s + job.plan.run_s)})

    async def get_task(self, call: Call) -> Reply:
        job = await self.engine.get_job(self.name, call.body["task_id"])
        if job is None or job.api_key != call.api_key:
            return _error("Task not found")
        return _ok(self._result(job, await self.engine.observe(job), call.base_url))

    async def get_credits(self, call: Call) -> Reply:
        return _ok({"credits": await self.engine.balance(self.name, call.api_key)})
