"""The one place requests are recorded: an aiohttp middleware in front of everything.

For each request a provider route handles (and each request no route matched, so a
client calling a wrong path shows up too) it writes one journal entry and updates
the request metrics.  It sits outermost, so injected latency and faults are part of
what it sees.  Latency is the time to produce the answer (sending it is aiohttp's).

Cheap by construction, since the fake sits in its users' load tests (about 10 us of
CPU per request on a laptop-class core): JSON bodies are the bytes aiohttp already
read for the handler, kept as clipped byte prefixes in plain tuples (decoded only
when someone reads the journal), task ids come from the route match or one regex
search, and the path is the raw request target, never re-parsed.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..engine import Engine
# The one name shared with the request pipeline: where it leaves the injected fault kinds.
from ..providers.base import FAULTS_KEY
from .metrics import Metrics

# Bodies larger than this are described, not read (multipart uploads never are).
READ_AHEAD_LIMIT = 1024 * 1024
# Bodies are searched for a task id only up to this size.
PARSE_LIMIT = 16 * 1024
# Where the four providers put a task id: path and query names, and body keys (at
# any depth: the answers wrap them in envelopes such as data and Resp).
PATH_ID_NAMES = ("task_id", "id")  # aiohttp spells Freepik's {task-id} task_id
QUERY_ID_NAMES = ("generation_id", "task_id", "id")
_ID_RE = re.compile(rb'"(?:task_id|video_id|generation_id|id)"\s*:\s*(?:"([^"\\]+)"|(-?[0-9]+))')
# Not journaled when unmatched: the fake's own prefixes and browser noise.
UNJOURNALED_PREFIXES = ("/__admin", "/__files", "/favicon.ico")
# Status recorded when the client went away before the answer (nginx's convention;
# the connection faults reset/empty/hang answer it too).
CLIENT_CLOSED = 499


@dataclass(slots=True, frozen=True)
class RouteInfo:
    provider: str
    operation: str
    api_key: Callable[[web.Request], str | None]
    submit: bool  # the operation submits a job: its answer names the new task


def _id_in_body(raw: bytes | None) -> str | None:
    """The first task id key's value in a small JSON body.  A regex, not a parse: it
    allocates nothing the garbage collector tracks, on every submit."""
    if not raw or len(raw) > PARSE_LIMIT:
        return None
    found = _ID_RE.search(raw)
    if found is None:
        return None
    return (found.group(1) or found.group(2)).decode("utf-8", "replace")


def task_id_of(request: web.Request, info: RouteInfo, request_body: bytes | None,
               response_body: bytes | None) -> str | None:
    """The job a request was about: its path, its query, then for a submit the
    answer (which names the new job), for anything else the request body."""
    match = request.match_info
    for name in PATH_ID_NAMES:
        if name in match:
            return match[name]
    if "?" in request.raw_path:
        query = request.query
        for name in QUERY_ID_NAMES:
            if name in query:
                return query[name]
    return _id_in_body(response_body if info.submit else request_body)


def _route_map(app: web.Application, adapters: dict[str, Any]) -> dict[Any, RouteInfo]:
    by_path: dict[tuple[str, str], RouteInfo] = {}
    for adapter in adapters.values():
        for op_id in adapter.handlers:
            op = adapter.contract.operation(op_id)
            by_path[(op.method, op.route_path)] = RouteInfo(adapter.name, op_id, adapter.api_key,
                                                            op_id in adapter.submit_ops)
    out: dict[Any, RouteInfo] = {}
    for route in app.router.routes():
        if route.resource is None:
            continue
        info = by_path.get((route.method, route.resource.canonical))
        if info is not None:
            out[route] = info
    return out


def request_recorder(
    app: web.Application, engine: Engine, adapters: dict[str, Any], metrics: Metrics
) -> Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[web.StreamResponse]]:
    """The journal-and-metrics middleware.  Insert it first in ``app.middlewares``.

    Provider routes are looked up once, on the first request (the router is frozen
    by then), from the adapters' contracts.
    """
    routes: dict[Any, RouteInfo] | None = None
    clock = engine.clock

    @web.middleware
    async def record(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        nonlocal routes
        if routes is None:
            routes = _route_map(app, adapters)
        info = routes.get(request.match_info.route)
        if info is None and (request.match_info.http_exception is None
                             or request.path.startswith(UNJOURNALED_PREFIXES)):
            return await handler(request)  # the fake's own routes
        virtual, wall, started = clock.now(), time.time(), time.perf_counter()
        try:
            response = await handler(request)
        except BaseException as exc:
            if isinstance(exc, web.HTTPException):
                status = exc.status
            elif isinstance(exc, (asyncio.CancelledError, ConnectionError)):
                status = CLIENT_CLOSED
            else:
                status = 500  # what aiohttp answers for an unhandled error
            note(request, info, virtual, wall, started, status, None, None)
            raise
        # The body after the handler: aiohttp hands back the bytes it already read, and a
        # body the handler refused to read (bad key, early fault) is read only if the
        # connection is still open.  Multipart uploads and big bodies are described.
        raw_request: bytes | str | None = None
        if request.method != "GET" and request.body_exists:
            length = request.content_length
            if length is None or length > READ_AHEAD_LIMIT or \
                    request.headers.get("Content-Type", "").startswith("multipart/"):
                raw_request = f"<{request.content_type}, {length if length is not None else 'unknown'} bytes>"
            else:
                transport = request.transport
                if not request.can_read_body or (transport is not None and not transport.is_closing()):
                    try:
                        raw_request = await request.read()
                    except (ConnectionError, web.HTTPException, asyncio.IncompleteReadError):
                        raw_request = None
        body = response.body if type(response) is web.Response else None
        note(request, info, virtual, wall, started, response.status, raw_request,
             body if isinstance(body, (bytes, bytearray)) else None)
        return response

    def note(request: web.Request, info: RouteInfo | None, virtual: float, wall: float, started: float,
             status: int, raw_request: bytes | str | None, raw_response: bytes | None) -> None:
        elapsed = time.perf_counter() - started
        provider = info.provider if info else None
        operation = info.operation if info else None
        # The request target as sent: cheaper than aiohttp's decoded path and query.
        path, _, query = request.raw_path.partition("?")
        engine.journal.record(
            time=virtual, wall=wall, provider=provider, operation=operation,
            method=request.method, path=path, query=query,
            status=status, latency_ms=elapsed * 1000.0,
            api_key=info.api_key(request) if info else None,
            test_id=request.headers.get("X-Mock-Test-Id"),
            task_id=task_id_of(request, info, raw_request if type(raw_request) is bytes else None,
                               raw_response) if info else None,
            request_body=raw_request, response_body=raw_response,
            faults=request.get(FAULTS_KEY) or (),
        )
        metrics.observe(provider, operation, status, elapsed)

    return record
