"""What a handled request leaves behind: one journal entry and one metrics sample.

Provider endpoints (``providers/base.py``) record inline as they answer, and
``add_unmatched_route`` records requests no route served (a client calling a wrong
path shows up too).  Inline, not a middleware: an aiohttp middleware in front of
every route cost 40-60 us of CPU per request (issue 8), a third of the fake's own
work, and the fake sits in its users' load tests.  Latency is the time to produce
the answer, injected latency and faults included (sending it is aiohttp's).

Cheap by construction: JSON bodies are the bytes aiohttp already read for the
handler, kept as clipped byte prefixes in plain tuples (decoded only when someone
reads the journal); where an operation carries its task id is worked out once per
route, so a request costs at most a dict lookup (an id inside a body is found when
the journal is read); the path is the raw request target, never re-parsed.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterable

import orjson
from aiohttp import web

from .contract import Operation
from .directives import TEST_ID_HEADER
from .engine import Engine
from .engine.journal import BODY_ID_NAMES, IN_REQUEST_BODY, IN_RESPONSE_BODY, body_marker, readable

# Bodies larger than this are described, not read (multipart uploads never are).
READ_AHEAD_LIMIT = 1024 * 1024
# Where a task id usually sits in the path and the query (in a body, see
# engine/journal.py: looked up when the journal is read); a provider's own names
# (``ProviderSpec.task_id_keys``) come first.
PATH_ID_NAMES = ("task_id", "id")  # aiohttp spells Freepik's {task-id} task_id
QUERY_ID_NAMES = ("generation_id", "task_id", "id")
# Not journaled when unmatched: the fake's own prefixes and browser noise.
UNJOURNALED_PREFIXES = ("/__admin", "/__files", "/favicon.ico")
# Status recorded when the client went away before the answer (nginx's convention;
# the connection faults reset/empty/hang answer it too).
CLIENT_CLOSED = 499

TaskIdFinder = Callable[[web.Request], "str | None"]


def task_id_finder(op: Operation, submit: bool, keys: tuple[str, ...] | None = None) -> TaskIdFinder:
    """``find(request)``: the job a request to ``op`` was about, as the journal
    records it.  Its path parameter, else its query parameter, else for a submit the
    answer (which names the new job), for anything else the request body; a body is
    searched only when the journal is read (``IN_RESPONSE_BODY``/``IN_REQUEST_BODY``).
    ``keys``: the provider's names for a task id (``ProviderSpec.task_id_keys``), tried
    before the defaults."""
    path_names = {p.name.replace("-", "_") for p in op.params if p.location == "path"}
    query_names = {p.name for p in op.params if p.location == "query"}
    in_path = next((n for n in (*(keys or ()), *PATH_ID_NAMES) if n in path_names), None)
    in_query = tuple(dict.fromkeys(n for n in (*(keys or ()), *QUERY_ID_NAMES) if n in query_names))
    if keys and not set(keys) <= set(BODY_ID_NAMES):
        in_body = body_marker(submit, tuple(dict.fromkeys((*keys, *BODY_ID_NAMES))))
    else:
        in_body = IN_RESPONSE_BODY if submit else IN_REQUEST_BODY
    if in_path is not None:
        return lambda request: request.match_info.get(in_path)
    if in_query:
        def from_query(request: web.Request) -> str | None:
            if "?" in request.raw_path:
                query = request.query
                for name in in_query:
                    if name in query:
                        return query[name]
            return in_body
        return from_query
    return lambda _request: in_body


def failure_status(exc: BaseException) -> int:
    """The status to journal for a request whose handling raised ``exc``."""
    if isinstance(exc, web.HTTPException):
        return exc.status
    if isinstance(exc, (asyncio.CancelledError, ConnectionError)):
        return CLIENT_CLOSED
    return 500  # what aiohttp answers for an unhandled error


async def unread_body(request: web.Request) -> bytes | str | None:
    """A request body the handler did not read (bad key, early fault, upload), for
    the journal: multipart uploads and big bodies are described, small ones read if
    the connection is still open, None when there is none or it cannot be had."""
    if not request.body_exists:
        return None
    length = request.content_length
    headers = request.headers
    # A compressed body is described: its bytes as sent say nothing to a reader, and
    # inflating it again for the journal could cost up to the body cap.
    if length is None or length > READ_AHEAD_LIMIT or "Content-Encoding" in headers or \
            headers.get("Content-Type", "").startswith("multipart/"):
        return f"<{request.content_type}, {length if length is not None else 'unknown'} bytes>"
    transport = request.transport
    if request.can_read_body and (transport is None or transport.is_closing()):
        return None
    try:
        return await request.read()
    except (ConnectionError, web.HTTPException, asyncio.IncompleteReadError):
        return None


def response_bytes(response: web.StreamResponse | None) -> bytes | None:
    """The body of a plain ``web.Response`` (streamed ones are not kept)."""
    if response is None or type(response) is not web.Response:
        return None
    body = response.body
    if isinstance(body, bytes):
        return body
    return bytes(body) if isinstance(body, bytearray) else None


def record(engine: Engine, request: web.Request, provider: str | None, operation: str | None,
           virtual: float, wall: float, started: float, status: int, api_key: str | None,
           task_id: str | None, raw_request: bytes | str | None, raw_response: bytes | None,
           faults: tuple[str, ...] = ()) -> None:
    """One journal entry and one metrics sample; ``started`` is ``time.perf_counter()``
    when the request reached its handler.  The provider endpoints inline the same two
    calls on their success path."""
    elapsed = time.perf_counter() - started
    path, _, query = request.raw_path.partition("?")
    journal = engine.journal
    test_id = request.headers.get(TEST_ID_HEADER)
    seq = journal.record(virtual, wall, provider, operation, request.method, path, query, status,
                         elapsed * 1000.0, api_key, None if test_id is None else readable(test_id),
                         task_id, raw_request, raw_response, faults)
    if journal.watchers:  # a dashboard is open: its inspector shows headers
        journal.keep_headers(seq, api_key, request.headers, None)
    engine.request_stats.observe(provider, operation, status, elapsed)


def add_unmatched_route(app: web.Application, engine: Engine, adapters: Iterable[Any] = ()) -> None:
    """A catch-all route, added last, for a path no route serves (or a method it does
    not allow).  Under a provider's prefix (each adapter's ``path_prefixes``, longest
    first) the provider answers in its own error shape (``adapter.unknown_route``;
    a 405 carries ``Allow``) and the journal names the provider; elsewhere 404/405
    exactly as aiohttp would.  Journaled unless under the fake's own prefixes."""
    others: list[Any] = []
    owners = sorted(((prefix, a) for a in adapters for prefix in a.path_prefixes),
                    key=lambda pair: len(pair[0]), reverse=True)

    async def unmatched(request: web.Request) -> web.StreamResponse:
        virtual, wall, started = engine.clock.now(), time.time(), time.perf_counter()
        if not others:  # the router is frozen by the first request
            others.extend(r for r in request.app.router.resources() if r is not catch_all)
        allowed: set[str] = set()
        for resource in others:
            match, methods = await resource.resolve(request)
            allowed |= methods
        owner = next((a for prefix, a in owners if request.path.startswith(prefix)), None)
        if owner is not None:
            reply = owner.unknown_route(request, frozenset(allowed))
            payload = orjson.dumps(reply.body)
            response = web.Response(body=payload, status=reply.status,
                                    content_type=reply.content_type, headers=reply.headers or None)
            if reply.status == 405:
                response.headers["Allow"] = ",".join(sorted(allowed))
            record(engine, request, owner.name, None, virtual, wall, started, reply.status,
                   owner.api_key(request), None, await unread_body(request), payload)
            return response
        exc: web.HTTPException = (web.HTTPMethodNotAllowed(request.method, allowed) if allowed
                                  else web.HTTPNotFound())
        if not request.path.startswith(UNJOURNALED_PREFIXES):
            record(engine, request, None, None, virtual, wall, started, exc.status, None, None,
                   await unread_body(request), None)
        raise exc

    catch_all = app.router.add_resource("/{tail:.*}", name="pixverse-mock-unmatched")
    catch_all.add_route("*", unmatched)
