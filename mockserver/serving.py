"""Listening: the TCP site with connection timeouts, what start-up says about exposure,
and the start/stop of one serving process (``serve`` and each of its ``--workers``).

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
import gc
import logging
import secrets
import signal
import socket
from typing import Any

import click
from aiohttp import web

from .admin.guard import is_loopback_host
from .app import create_app
from .engine.webhooks import redact_url
from .keys import ADAPTERS
from .settings import Settings

__all__ = ["announce", "exposure_warning", "make_runner", "prepare_exposure", "start", "start_site", "stopped"]

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


async def start(settings: Settings, generated: str | None = None, reuse_port: bool = False,
                workers: int = 1) -> tuple[web.AppRunner, list[str], list[str]]:
    """Build the app and listen; returns the runner, the banner's lines (stdout) and the
    exposure warning with the generated token's hint (stderr; empty on loopback).
    ``reuse_port``: one of several workers on one port (``serve --workers``)."""
    app = create_app(settings)
    # Contracts and compiled validators live for the whole process; moving them out of
    # the collector's generations keeps full GC passes (and p99 spikes) short.
    gc.freeze()
    runner = make_runner(app, settings)
    site = await start_site(runner, settings, reuse_port=reuse_port)
    port = site.port  # the real one when --port 0
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{port}"
    warning = exposure_warning(settings, port)
    warnings: list[str] = []
    if warning is not None:
        warnings.append(warning)
        if generated is not None:
            warnings.append(f"admin token (generated for this run; set one with --admin-token or "
                          f"PIXVERSE_MOCK_ADMIN_TOKEN): {generated}\n"
                          f"  open {base}/__admin/?token={generated} in a browser, or send "
                          f"'Authorization: Bearer <token>'")
    processes = f", {workers} workers" if workers > 1 else ""
    lines = [f"pixverse-mock listening on {base}  (time scale {settings.time_scale:g}x, "
             f"seed {settings.seed}, progress by {settings.progress_mode}{processes})"]
    for adapter in app[ADAPTERS].values():
        lines.append(f"  {adapter.title:<22} base URL {base}{adapter.client_base_path:<6} "
                     f"instead of {adapter.upstream}{adapter.client_base_path}  auth: {adapter.auth_hint}")
    lines.append(f"  {'admin':<22} {base}/__admin/health   media: {base}/__files/")
    if settings.redis_url is not None:
        # Never the password: redact_url shows user:****@.
        lines.append(f"  {'state':<22} Redis at {redact_url(settings.redis_url)} "
                     f"(keys under {settings.redis_prefix!r})")
    return runner, lines, warnings


def announce(lines: list[str], warnings: list[str]) -> None:
    """Print what :func:`start` returned: the exposure warning loud on stderr (and
    logged), the banner on stdout."""
    if warnings:
        log.warning(warnings[0])
        click.echo(click.style(f"WARNING: {warnings[0]}", fg="red", bold=True), err=True)
        for line in warnings[1:]:
            click.echo(line, err=True)
    for line in lines:
        click.echo(line)


async def stopped() -> None:
    """Return once SIGTERM or SIGINT arrives.  Stopping then is clean: due webhook
    deliveries are attempted and the undelivered ones reported (README) before exit."""
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform
            pass
    await stop.wait()
