"""Freepik / Magnific: PixVerse V5 image-to-video, transition and text-to-video.

Wire format from Freepik's API reference (the official OpenAPI of the PixVerse V5 pages) and
the Magnific API spec (2026-07); the contract is ``contracts/freepik.yaml``.
Errors: 401 ``{"message": "Missing API key" | "Invalid API key"}``; 400
``{"message": "Your request parameters didn't validate.", "invalid_params": [...]}``;
404 ``{"message": "AI resource not found"}`` for an unknown task id; 429
``{"message": "Too many requests"}`` (+ ``Retry-After``) at the key's concurrency cap
or a rate limit.  Freepik charges nothing per call the API can see (no balance
endpoint); ``webhook_url`` gets signed status changes (``webhooks.py``).
"""
from __future__ import annotations

from aiohttp import web

from ...contract import FieldError, Operation
from ...engine.faults import InjectedError
from ...engine.jobs import QUEUED, SUCCEEDED, Job, JobSpec
from ...engine.media import video_dimensions
from ...files import video_url
from ..base import Call, ProviderAdapter, Reply
from .spec import SPEC
from .webhooks import FreepikWebhooks

STATUS = SPEC.status_map

ASPECT = {"widescreen_16_9": "16:9", "classic_4_3": "4:3", "square_1_1": "1:1",
          "traditional_3_4": "3:4", "social_story_9_16": "9:16"}

# operationId -> the neutral job kind behind it
KINDS = {
    "create_pixverse_v5_video": "image-to-video",
    "get_pixverse_v5_videos": "image-to-video",
    "get_pixverse_v5_video": "image-to-video",
    "create_pixverse_v5_transition_video": "transition",
    "get_pixverse_v5_transition_videos": "transition",
    "get_pixverse_v5_transition_video": "transition",
    "create_pixverse_v5_text_to_video": "text-to-video",
    "get_pixverse_v5_text_to_videos": "text-to-video",
    "get_pixverse_v5_text_to_video": "text-to-video",
}

_DIDNT_VALIDATE = "Your request parameters didn't validate."


def _reason(error: FieldError) -> str:
    name = error.field or "body"
    d = error.detail
    if error.hint:
        return error.hint
    if error.kind == "required":
        return f"Parameter '{name}' is required"
    if error.kind == "enum":
        return f"Parameter '{name}' must be one of: {', '.join(map(str, d.get('options', [])))}"
    if error.kind == "type":
        return f"Parameter '{name}' must be of type {' or '.join(d.get('types', []))}"
    if error.kind == "format":
        return f"Parameter '{name}' must be a valid {d.get('format', 'value')}"
    return f"Parameter '{name}' is not valid"


class FreepikAdapter(ProviderAdapter):
    spec = SPEC
    handlers = {
        "create_pixverse_v5_video": "create",
        "create_pixverse_v5_transition_video": "create",
        "create_pixverse_v5_text_to_video": "create",
        "get_pixverse_v5_videos": "list_tasks",
        "get_pixverse_v5_transition_videos": "list_tasks",
        "get_pixverse_v5_text_to_videos": "list_tasks",
        "get_pixverse_v5_video": "get_task",
        "get_pixverse_v5_transition_video": "get_task",
        "get_pixverse_v5_text_to_video": "get_task",
    }

    # Every Freepik/Magnific AI endpoint lives under /v1/ai/ (the official spec).
    path_prefixes = ("/v1/ai/",)

    def __init__(self, engine, settings) -> None:
        super().__init__(engine, settings)
        self.webhooks = FreepikWebhooks(settings.freepik, STATUS, self._task)

    # errors --------------------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        key = request.headers.get("x-freepik-api-key")
        return key if key is not None else request.headers.get("x-magnific-api-key")

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        return Reply({"message": "Missing API key" if missing else "Invalid API key"}, 401)

    def unknown_route(self, request: web.Request, allowed: frozenset[str]) -> Reply:
        """404 ``{"message": "Not Found"}``, or 405 ``{"message": "Method Not Allowed"}``:
        Freepik's plain ``{message}`` body (the words are inferred, see x-fake-notes)."""
        return Reply({"message": "Method Not Allowed"}, 405) if allowed else Reply({"message": "Not Found"}, 404)

    def _problem(self, params: list[dict[str, str]]) -> Reply:
        body = {"message": _DIDNT_VALIDATE, "invalid_params": params}
        return Reply({"problem": body} if self.settings.freepik.problem_wrapped else body, 400)

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        return self._problem([{"name": "body", "reason": "Request body is not valid JSON"}])

    def too_large(self, op: Operation, request: web.Request) -> Reply:
        # Freepik documents no size limit or 413; its 400 problem shape (inferred).
        return self._problem([{"name": "body", "reason": "Request body is too large"}])

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        if any(e.location == "path" for e in errors):
            return self._not_found()
        return self._problem([{"name": e.field or "body", "reason": _reason(e)} for e in errors])

    def fault_reply(self, op: Operation, request: web.Request, fault: InjectedError) -> Reply | None:
        """Injected errors: the documented bodies (base), but a 400 names no field, as
        nothing in the request was wrong; moderation at submit is accepted, then FAILED."""
        if fault.status == 400:
            body = {"message": fault.message or _DIDNT_VALIDATE, "invalid_params": []}
            return Reply({"problem": body} if self.settings.freepik.problem_wrapped else body, 400)
        return super().fault_reply(op, request, fault)

    @staticmethod
    def _not_found() -> Reply:
        return Reply({"message": "AI resource not found"}, 404)

    # wire shapes ---------------------------------------------------------------------
    def _task(self, job: Job, status: str, base_url: str) -> dict:
        generated = []
        if status == SUCCEEDED:
            generated = [video_url(base_url, job.width, job.height, job.duration, job.id)]
        return {"task_id": job.id, "status": STATUS[status], "generated": generated}

    # handlers ------------------------------------------------------------------------
    async def create(self, call: Call) -> Reply:
        body = call.body
        kind = KINDS[call.op.operation_id]
        resolution = body.get("resolution", "720p")
        duration = body.get("duration", 5)
        aspect = ASPECT[body.get("aspect_ratio", "widescreen_16_9")] if kind == "text-to-video" \
            else self.settings.default_aspect_ratio
        width, height = video_dimensions(resolution, aspect)
        refused = await self.admit(call, 0)  # concurrency cap only: no credits at Freepik
        if refused is not None:
            return refused
        job = await self.create_job(call, JobSpec(
            kind, self.engine.new_uuid(), quality=resolution, width=width, height=height,
            duration=duration, request=call.raw or body))
        if body.get("webhook_url"):
            self.engine.webhooks.watch(job, self.webhooks, body["webhook_url"],
                                       {"base_url": call.base_url}, initial=STATUS[QUEUED])
        return Reply({"data": self._task(job, QUEUED, "")})  # no URL in a queued task

    async def get_task(self, call: Call) -> Reply:
        job = await self.engine.get_job(self.name, call.path["task-id"])
        if job is None or job.api_key != call.api_key or job.kind != KINDS[call.op.operation_id]:
            return self._not_found()
        state = await self.engine.observe(job)
        # The origin only where the answer holds a URL: most polls see a running task.
        return Reply({"data": self._task(job, state, call.base_url if state == SUCCEEDED else "")})

    async def list_tasks(self, call: Call) -> Reply:
        kind = KINDS[call.op.operation_id]
        jobs = await self.engine.list_jobs(self.name, call.api_key, kind)
        return Reply({"data": [{"task_id": j.id, "status": STATUS[self.engine.status(j)]} for j in jobs]})
