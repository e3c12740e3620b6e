"""What every admin route shares: JSON answers, the error body, per-item validation
and routes checked against ``contracts/admin.yaml`` (strict mode: answers too)."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..contract import Contract, integral
from ..engine import Engine
from ..intake import BodyTooLarge, BodyUnreadable, parse_json, read_body

log = logging.getLogger("mockserver")


AdminHandler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]



def json_answer(data: Any, status: int = 200) -> web.Response:
    """An admin answer: ``data`` as JSON with ``status``."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_answer(message: str, status: int = 400, errors: list[Any] | None = None) -> web.Response:
    """The admin error body, ``{"message", "errors"?}``, with ``status`` (400: bad input)."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return json_answer(body, status)


def validate_each(model: type[BaseModel], items: list[Any], label: str,
                  context: dict[str, Any] | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """Each of ``items`` validated as ``model``: (the valid ones, the errors).  An error
    is ``{label: index, "field": dotted pydantic location or None, "message"}``;
    ``context`` is pydantic's validation context (e.g. the registered provider names)."""
    valid: list[Any] = []
    errors: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        try:
            valid.append(model.model_validate(item, context=context))
        except ValidationError as exc:
            errors += [{label: n, "field": ".".join(map(str, e["loc"])) or None, "message": e["msg"]}
                       for e in exc.errors()]
    return valid, errors


def contract_checked(contract: Contract, op_id: str, handler: AdminHandler, *, strict: bool,
                     violations: list[str], check_body: bool = True,
                     ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler that checks path, query and JSON body against the admin
    contract (400 ``{"message"}`` listing every problem) and calls ``handler(request,
    body)``; in strict mode a JSON answer that breaks the contract becomes a loud 500.
    ``check_body=False``: the body is parsed but the handler validates it (a pydantic
    model whose per-item errors the contract's 400 describes)."""
    op = contract.operation(op_id)
    takes_body = "application/json" in op.body_media_types

    async def endpoint(request: web.Request) -> web.StreamResponse:
        errors = []
        for location, values in (("path", request.match_info), ("query", request.query)):
            typed = contract.coerce_params(op, location, dict(values))
            errors += contract.check_params(op, location, typed)
        body: Any = None
        if takes_body:
            try:
                raw = await read_body(request)
            except BodyTooLarge:
                return error_answer("the body is too large")
            except BodyUnreadable:
                return error_answer("the body does not decode under its Content-Encoding")
            if raw.strip():
                try:
                    body = parse_json(raw)
                except ValueError:
                    return error_answer("the body is not valid JSON (or nests too deeply)")
                body = integral(body)
                if check_body:
                    errors += contract.check_body(op, body)
            elif op.body_required:
                return error_answer("a JSON object body is required")
        if errors:
            return error_answer("; ".join(f"{e.location} {e.field or '(root)'}: {e.message}" for e in errors))
        response = await handler(request, body)
        # An event stream (a StreamResponse) has no body to check.
        sent = response.body if isinstance(response, web.Response) else None
        if strict and isinstance(sent, bytes) and response.content_type == "application/json":
            problems = contract.check_response(op, response.status, response.content_type, orjson.loads(sent))
            if problems:
                violations.extend(problems)
                log.error("admin contract violation: %s", problems)
                return json_answer({"message": "pixverse-mock strict mode: admin answer broke its contract",
                              "violations": problems}, status=500)
        return response

    endpoint.__name__ = op_id
    return endpoint


def clock_view(engine: Engine) -> dict[str, Any]:
    """The virtual clock as ``GET /__admin/clock`` shows it."""
    return {"now": engine.clock.now(), "scale": engine.clock.scale, "frozen": engine.clock.frozen}
