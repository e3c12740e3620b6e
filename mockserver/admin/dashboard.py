"""The live dashboard at ``/__admin/``: the page, its event stream, its assets and
the request inspector's answer.  ``contracts/admin.yaml`` describes each route.

- ``GET /__admin/`` -> the page (``admin/page.py``), filtered by ``provider``,
  ``api_key``, ``test_id``, ``status`` (a job's neutral state) and ``http_status``;
  ``window`` (seconds) is the timeline's span.
- ``GET /__admin/events`` (same filters) -> ``text/event-stream``: a ``state`` event
  ``{"clock": {now, scale, frozen}, "sections": {id: html}}`` at once, then another
  whenever the clock was set or a section changed (only the changed sections), at most
  every ``STREAM_INTERVAL_S`` of wall time; a comment line every ``HEARTBEAT_S``.
  At most ``MAX_STREAMS`` at once (then 429 ``{"message"}``).
- ``GET /__admin/journal/entries/{seq}`` -> one journal entry, its headers when they were kept
  (a dashboard was open; secrets masked) and a ``curl`` command that repeats it; 404
  ``{"message"}`` when the journal no longer holds it.
- ``GET /__admin/static/{name}`` -> ``dashboard.js`` / ``dashboard.css``, shipped in
  the package (no build step, no CDN).

The stream polls the engine's stores (no hook on a provider request's path); while one
is open, ``journal.watchers`` is above 0 and the provider endpoints keep each request's
headers for the inspector.  Writes go through the existing JSON routes (clock, faults,
jobs, reset); this module adds none.
"""
from __future__ import annotations

import asyncio
import shlex
import time
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from ..engine import Engine
from ..engine.journal import Entry, mask_key
from ..keys import STREAMS
from .common import AdminHandler, error_answer, json_answer
from .common import clock_view as clock_state
from .page import Catalog, Filters, page, sections

# Wall seconds between two looks at the engine, at least; a look that took long
# stretches the next wait (at most MAX_INTERVAL_S) so a huge store is not rescanned
# back to back.
STREAM_INTERVAL_S = 0.25
MAX_INTERVAL_S = 5.0
HEARTBEAT_S = 15.0
MAX_STREAMS = 16
ASSETS = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}
# Rows per table.
DEFAULT_LIMIT = 100
# Request headers a curl command leaves to curl.
_CURL_SKIPS = {"host", "content-length", "connection", "accept-encoding", "user-agent", "accept"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
       "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def catalog_of(adapters: dict[str, Any]) -> Catalog:
    """Operations per provider from the adapters, key headers from their contracts'
    security schemes (the first one each names)."""
    operations = {name: [(op, op in a.submit_ops) for op in a.handlers] for name, a in adapters.items()}
    key_headers: dict[str, tuple[str, str]] = {}
    for name, adapter in adapters.items():
        schemes = adapter.contract.document.get("components", {}).get("securitySchemes", {})
        for scheme in schemes.values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                key_headers[name] = (scheme["name"], "")
            elif scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer":
                key_headers[name] = ("Authorization", "Bearer ")
            if name in key_headers:
                break
    return Catalog(operations, key_headers)


def curl_command(entry: Entry, origin: str, headers: tuple[tuple[str, str], ...] | None,
                 key_header: tuple[str, str] | None) -> str:
    """A shell command that sends ``entry``'s request again (to ``origin``), with the
    headers kept for it, else the ones the journal knows (key header from the
    contract, masked key, test id).  Masked keys stay masked: the fake takes any key
    unless an allow-list is set.  A cut or described body is said in a comment."""
    parts = ["curl", "-sS"]
    if entry.method != "GET":
        parts += ["-X", entry.method]
    parts.append(origin + entry.path + (f"?{entry.query}" if entry.query else ""))
    if headers is None:
        known = []
        if key_header is not None and entry.raw_key is not None:
            known.append((key_header[0], key_header[1] + (mask_key(entry.raw_key) or "")))
        if entry.test_id is not None:
            known.append(("X-Mock-Test-Id", entry.test_id))
        if isinstance(entry.request_body, bytes):
            known.append(("Content-Type", "application/json"))
        headers = tuple(known)
    for name, value in headers:
        if name.lower() not in _CURL_SKIPS:
            parts += ["-H", f"{name}: {value}"]
    notes = []
    body = entry.request_text
    if isinstance(entry.request_body, bytes) and body is not None:
        if entry.request_size > len(entry.request_body):
            notes.append(f"# the body was cut at {len(entry.request_body)} of {entry.request_size} bytes "
                         "(setting journal_body_limit)")
            body = entry.request_body.decode("utf-8", "replace")
        parts += ["--data-raw", body]
    elif isinstance(entry.request_body, str):
        notes.append(f"# body not kept: {entry.request_body}")
    return "\n".join(notes + [" ".join(shlex.quote(p) for p in parts)])


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def dashboard_handlers(app: web.Application, engine: Engine, adapters: dict[str, Any]) -> dict[str, AdminHandler]:
    """The dashboard's handlers (module docstring) by operationId (``admin/routes.py``
    routes them); open event streams on ``app`` end when it shuts down."""
    catalog = catalog_of(adapters)
    streams: set[asyncio.Event] = set()
    app[STREAMS] = streams

    async def close_streams(_: web.Application) -> None:
        for stop in list(streams):
            stop.set()

    app.on_shutdown.append(close_streams)

    def _limit(request: web.Request) -> int:
        return int(request.query.get("limit", DEFAULT_LIMIT))

    async def dashboard(request: web.Request, _: None) -> web.Response:
        refresh = request.query.get("refresh")
        html = await page(engine, Filters.from_query(request.query), catalog, limit=_limit(request),
                    refresh=int(refresh) if refresh else None)
        return web.Response(text=html, content_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    async def events(request: web.Request, _: None) -> web.StreamResponse:
        if len(streams) >= MAX_STREAMS:
            return error_answer(f"at most {MAX_STREAMS} dashboards at once", 429)
        filters, limit = Filters.from_query(request.query), _limit(request)
        stop = asyncio.Event()
        streams.add(stop)
        engine.journal.watchers += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        sent: dict[str, str] = {}
        clock_key: tuple[Any, ...] = ()
        quiet_since = time.monotonic()
        try:
            await response.prepare(request)
            while not stop.is_set():
                started = time.perf_counter()
                live = await sections(engine, filters, catalog, limit)
                clock = clock_state(engine)
                # Unchanged while the clock just runs: moves only when it is set.
                key = engine.clock.anchors()
                changed = {k: v for k, v in live.items() if sent.get(k) != v}
                if changed or key != clock_key:
                    await response.write(_sse("state", {"clock": clock, "sections": changed}))
                    sent.update(changed)
                    clock_key, quiet_since = key, time.monotonic()
                elif time.monotonic() - quiet_since > HEARTBEAT_S:
                    await response.write(b": still here\n\n")
                    quiet_since = time.monotonic()
                wait = min(max(STREAM_INTERVAL_S, 10 * (time.perf_counter() - started)), MAX_INTERVAL_S)
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
        except ConnectionError:
            pass  # the browser went away
        finally:
            engine.journal.watchers -= 1
            streams.discard(stop)
        return response

    async def journal_entry(request: web.Request, _: None) -> web.Response:
        seq = int(request.match_info["seq"])
        await engine.journal.sync()
        entry = engine.journal.get(seq)
        if entry is None:
            return error_answer("no such journal entry (never recorded, cleared or evicted)", 404)
        kept = engine.journal.headers(seq)
        origin = f"{request.scheme}://{request.host}"
        return json_answer({
            **entry.to_dict(),
            "request_size": entry.request_size, "response_size": entry.response_size,
            "request_headers": [list(h) for h in kept[0]] if kept else None,
            "response_headers": [list(h) for h in kept[1]] if kept and kept[1] else None,
            "curl": curl_command(entry, origin, kept[0] if kept else None,
                                 catalog.key_headers.get(entry.provider or "")),
        })

    async def asset(request: web.Request, _: None) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            return error_answer("no such asset", 404)
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        return web.Response(body=data, content_type=ASSETS[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    return {"admin_page": dashboard, "dashboard_events": events, "get_journal_entry": journal_entry,
            "dashboard_asset": asset}
