"""Listening: the TCP site with connection timeouts, and what start-up says about exposure.

Both ``pixverse-mock serve`` (``cli.py``) and the in-process ``ThreadedFake`` start the
fake through :func:`start_site`, so both close slow clients the same way:

- **header read** (``header_read_timeout_s``): a new connection must deliver its first
  request's headers within this many wall seconds or it is closed without an answer
  (what Go's ``ReadHeaderTimeout`` and nginx's ``client_header_timeout`` do).
  aiohttp has no such setting, so :class:`_HeaderDeadline` sits between the socket and
  aiohttp's protocol until the first blank line (end of headers) arrives, then hands
  the socket to aiohttp directly (``transport.set_protocol``): nothing stays on the
  request path.
- **keep-alive** (``keepalive_timeout_s``): aiohttp's documented ``keepalive_timeout``
  (``web.AppRunner`` keyword): an idle kept-alive connection, or one whose next
  request's headers have not all arrived, is closed after this many seconds.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any

from aiohttp import web

from .admin.guard import is_loopback_host
from .settings import Settings

__all__ = ["exposure_warning", "make_runner", "prepare_exposure", "start_site"]

log = logging.getLogger("mockserver")


def prepare_exposure(settings: Settings) -> tuple[Settings, str | None]:
    """``(settings, generated)``: bound beyond loopback with no ``admin_token``, a
    copy of ``settings`` with a fresh one (``secrets.token_urlsafe``) and that token;
    otherwise ``settings`` unchanged and None."""
    if is_loopback_host(settings.host) or settings.admin_token:
        return settings, None
    token = secrets.token_urlsafe(32)
    return settings.model_copy(update={"admin_token": token}), token


def exposure_warning(settings: Settings, port: int) -> str | None:
    """The start-up warning for a bind beyond loopback (None on loopback)."""
    if is_loopback_host(settings.host):
        return None
    where = settings.host or "every interface"
    return (f"pixverse-mock is listening on {where} port {port}, beyond loopback: anyone who can reach "
            "this port can call the fake providers and download /__files media; the control plane "
            "/__admin requires the admin token. Bind to 127.0.0.1 unless you mean it.")


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The app's runner, with the keep-alive timeout from ``settings`` and, on shutdown,
    ``settings.shutdown_grace_s`` wall seconds for requests still being answered."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.keepalive_timeout_s,
                         shutdown_timeout=settings.shutdown_grace_s)


class _HeaderDeadline(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection until its first request's headers
    are in; closes the connection if they take longer than ``timeout_s``."""

    __slots__ = ("_inner", "_timeout_s", "_timer", "_transport", "_tail")

    def __init__(self, inner: Any, timeout_s: float) -> None:
        self._inner = inner
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)
        seen = self._tail + data
        if b"\r\n\r\n" in seen or b"\n\n" in seen:
            if self._timer is not None:
                self._timer.cancel()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.set_protocol(self._inner)
        else:
            self._tail = seen[-3:]

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class HeaderTimeoutSite(web.BaseSite):
    """A TCP site (like ``web.TCPSite``) whose connections get ``header_read_timeout_s``
    wall seconds for their first request's headers."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, header_read_timeout_s: float,
                 reuse_port: bool = False) -> None:
        super().__init__(runner)
        self._host, self._port, self._timeout_s = host, port, header_read_timeout_s
        # Several worker processes listen on one port (SO_REUSEPORT): the kernel spreads
        # new connections over them (serve --workers).
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        timeout_s = self._timeout_s
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _HeaderDeadline(server(), timeout_s), self._host or None, self._port,
            reuse_address=True, reuse_port=self._reuse_port or None, family=socket.AF_UNSPEC)

    @property
    def port(self) -> int:
        """The port bound (the real one when asked for port 0)."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


async def start_site(runner: web.AppRunner, settings: Settings, host: str | None = None,
                     port: int | None = None, reuse_port: bool = False) -> HeaderTimeoutSite:
    """Set up ``runner`` (if not yet) and listen on ``host``/``port`` (default: the
    settings'); ``site.port`` is the port bound.  ``reuse_port``: share the port with
    other processes (SO_REUSEPORT; Linux and the BSDs)."""
    if runner.server is None:
        await runner.setup()
    site = HeaderTimeoutSite(runner, settings.host if host is None else host,
                             settings.port if port is None else port, settings.header_read_timeout_s,
                             reuse_port=reuse_port)
    await site.start()
    return site
