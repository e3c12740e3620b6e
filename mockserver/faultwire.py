"""Connection faults on the wire: reset, hang, empty, malformed, truncated, dribble.

The aiohttp half of ``engine/faults`` (directives: ``directives.py``): the provider pipeline (``providers/base.py``)
and the media routes (``files.py``) call these once a ``Decision`` asks for a
connection fault.  Each helper returns a response object for aiohttp's handler
contract; when the connection is already gone, aiohttp's attempt to send it fails
quietly (a ``ConnectionError`` it treats as a client disconnect).
"""
from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from .engine.faults import Decision
from .engine.state import FaultRules

# How often a hang looks whether its client has gone (wall seconds).
_HANG_POLL_S = 0.05
# A dribbled download sends a chunk at most this often (wall seconds).
_DRIBBLE_TICK_S = 0.05


async def before_handling(request: web.Request, decision: Decision,
                          faults: FaultRules) -> web.StreamResponse | None:
    """The part of a decision that happens before a request is handled: wait its
    latency, then reset, close or hang the connection.  None when the request should
    go on to be handled (and maybe mangled after)."""
    if decision.latency_s > 0:
        await faults.wait(decision.latency_s)
    if decision.connection == "reset":
        return reset(request)
    if decision.connection == "empty":
        return empty(request)
    if decision.connection == "hang":
        return await hang(request, decision.hang_s, faults)
    return None


def _gone() -> web.Response:
    # Never reaches the client: the transport is closed before aiohttp writes it.
    return web.Response(status=499)


def reset(request: web.Request) -> web.StreamResponse:
    """Abort the connection with a TCP RST (SO_LINGER 0): the client sees
    "connection reset by peer" before any byte of a response."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    return _gone()


def empty(request: web.Request) -> web.StreamResponse:
    """Close the connection (FIN) without sending a status line."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return _gone()


async def hang(request: web.Request, seconds: float, faults: FaultRules) -> web.StreamResponse:
    """Send nothing until the client gives up (closes its end), ``seconds`` pass or the
    fake shuts down, then close without a response.  ``faults.hanging`` counts the held
    requests."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    faults.hanging += 1
    try:
        while (left := deadline - loop.time()) > 0:
            transport = request.transport
            if transport is None or transport.is_closing() or faults.stopping:
                break
            await faults.wait(min(_HANG_POLL_S, left))
    finally:
        faults.hanging -= 1
    return empty(request)


def malformed(resp: web.Response) -> web.Response:
    """The same status and headers, but only the first half of the body: JSON that
    does not parse (a strict prefix of a JSON object never does)."""
    body = resp.body if isinstance(resp.body, bytes) else b""
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
    return web.Response(body=body[: len(body) // 2], status=resp.status, headers=headers)


async def truncated(request: web.Request, resp: web.Response) -> web.StreamResponse:
    """Announce the full ``Content-Length``, send half the body, close the connection."""
    body = resp.body if isinstance(resp.body, bytes) else b""
    out = web.StreamResponse(status=resp.status, headers={
        k: v for k, v in resp.headers.items() if k.lower() != "content-length"})
    out.content_length = len(body)
    await out.prepare(request)
    await out.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.close()  # flushes what was written, then FIN
    return out


async def dribble(request: web.Request, data: bytes, content_type: str, bytes_per_s: int) -> web.StreamResponse:
    """Send ``data`` (200, full length announced) at ``bytes_per_s``, paced against
    the wall clock; stops early when the client goes away."""
    out = web.StreamResponse(headers={"Content-Type": content_type})
    out.content_length = len(data)
    await out.prepare(request)
    if request.method == "HEAD":
        return out
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunk = max(1, int(bytes_per_s * _DRIBBLE_TICK_S))
    sent = 0
    while sent < len(data):
        transport = request.transport
        if transport is None or transport.is_closing():
            return out
        piece = data[sent: sent + chunk]
        await out.write(piece)
        sent += len(piece)
        wait = start + sent / bytes_per_s - loop.time()
        if wait > 0 and sent < len(data):
            await asyncio.sleep(wait)
    await out.write_eof()
    return out
