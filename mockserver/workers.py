"""``serve --workers N``: N worker processes on one port, and the process that keeps them.

Each worker is a whole fake (``cli.start``) listening on the same address with
SO_REUSEPORT, so the kernel spreads new connections over them; they share their state
through Redis (``--redis``), which is why several workers without it are refused: each
would keep jobs the others cannot see.  The supervisor (this process) holds no state:

- it binds the port first (SO_REUSEPORT, not listening), so ``--port 0`` resolves to one
  port every worker then binds, and releases it once they all listen;
- it prints one banner (the first worker's, which knows the providers) when every worker
  is ready, or stops them all and exits 1 if one fails to start;
- a worker that exits while the fake runs is replaced (its connections are lost, its
  state is not: it lives in Redis); three that die within ``_CRASH_WINDOW_S`` of their
  start in a row stop the fake (exit 1) rather than loop;
- SIGTERM or SIGINT is passed on to every worker, each stops as a lone ``serve`` does
  (webhooks due are attempted, README "Shutdown"), and stragglers are killed after the
  shutdown allowance.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import Connection, wait
from typing import Any

import click

from .serving import announce, prepare_exposure, start, stopped
from .settings import Settings

log = logging.getLogger("mockserver")

#: Wall seconds a worker may take from spawn to listening.
START_TIMEOUT_S = 60.0
#: A worker dying this many wall seconds after it started counts towards a crash loop.
_CRASH_WINDOW_S = 5.0
_CRASH_LIMIT = 3


def refusal(settings: Settings) -> str | None:
    """Why ``settings.workers`` processes cannot run here (None: they can)."""
    if settings.workers <= 1:
        return None
    if not settings.redis_url:
        return ("--workers needs --redis: each worker would keep its own jobs, uploads and "
                "balances, and a client would see 404s for tasks another worker created")
    if not hasattr(socket, "SO_REUSEPORT"):
        return "--workers needs SO_REUSEPORT (Linux, the BSDs, macOS), which this platform lacks"
    return None


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to the address the workers will share."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(settings: Settings, generated: str | None, conn: Connection) -> None:
    """One worker process: a whole fake on the shared port until SIGTERM/SIGINT."""
    async def run() -> None:
        try:
            runner, lines, warnings = await start(settings, generated, reuse_port=True, workers=settings.workers)
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            raise
        conn.send(("ready", (os.getpid(), lines, warnings)))
        try:
            await stopped()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


class _Workers:
    def __init__(self, settings: Settings, generated: str | None) -> None:
        self.settings, self.generated = settings, generated
        self.context = multiprocessing.get_context("spawn")
        # slot -> (process, parent end of its pipe, wall start)
        self.slots: dict[int, tuple[Any, Connection, float]] = {}
        self.crashes = 0

    def spawn(self, slot: int) -> None:
        parent, child = self.context.Pipe(duplex=False)
        proc = self.context.Process(target=_worker, args=(self.settings, self.generated, child),
                                    name=f"pixverse-mock-worker-{slot}", daemon=False)
        proc.start()
        child.close()
        self.slots[slot] = (proc, parent, time.monotonic())

    def await_ready(self, slot: int, deadline: float) -> tuple[int, list[str], list[str]]:
        proc, conn, _ = self.slots[slot]
        while time.monotonic() < deadline:
            if conn.poll(0.05):
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    break
                if kind == "ready":
                    return payload
                raise RuntimeError(f"worker {slot} could not start: {payload}")
            if not proc.is_alive():
                break
        raise RuntimeError(f"worker {slot} did not start (exit code {proc.exitcode})")

    def signal_all(self, sig: int) -> None:
        for proc, _, _ in self.slots.values():
            if proc.is_alive():
                try:
                    os.kill(proc.pid, sig)
                except ProcessLookupError:
                    pass

    def stop(self, allowance: float) -> None:
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + allowance
        for proc, conn, _ in self.slots.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            conn.close()


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; the exit code (0 after a
    clean stop, 1 when a worker cannot start or keeps dying, 2 for a refused setup)."""
    reason = refusal(settings)
    if reason is not None:
        click.echo(f"error: {reason}", err=True)
        return 2
    settings, generated = prepare_exposure(settings)
    try:
        reserved = _reserve(settings.host, settings.port)
    except OSError as exc:
        click.echo(f"error: cannot bind {settings.host}:{settings.port}: {exc}", err=True)
        return 2
    settings = settings.model_copy(update={"port": reserved.getsockname()[1]})
    workers = _Workers(settings, generated)

    stopping = False
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        try:
            os.write(wake_w, b"x")
        except OSError:
            pass

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    allowance = settings.shutdown_grace_s + settings.webhooks.shutdown_grace_s + 10.0
    try:
        for slot in range(settings.workers):
            workers.spawn(slot)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            banners = [workers.await_ready(slot, deadline) for slot in range(settings.workers)]
        except RuntimeError as exc:
            click.echo(f"error: {exc}", err=True)
            workers.stop(allowance)
            return 1
        finally:
            reserved.close()
        _, lines, warnings = banners[0]
        announce(lines, warnings)
        pids = ", ".join(str(pid) for pid, _, _ in banners)
        click.echo(f"  {'workers':<22} {settings.workers} processes (pids {pids}), state in Redis")
        sys.stdout.flush()
        while not stopping:
            sentinels = {proc.sentinel: slot for slot, (proc, _, _) in workers.slots.items()}
            ready = wait([*sentinels, wake_r])
            if stopping:
                break
            for handle in ready:
                if handle == wake_r:
                    continue
                slot = sentinels[handle]
                proc, conn, started = workers.slots[slot]
                proc.join()
                conn.close()
                quick = time.monotonic() - started < _CRASH_WINDOW_S
                workers.crashes = workers.crashes + 1 if quick else 0
                if workers.crashes >= _CRASH_LIMIT:
                    click.echo(f"error: workers keep exiting at start (last: code {proc.exitcode}); "
                               f"stopping", err=True)
                    workers.stop(allowance)
                    return 1
                click.echo(f"worker {slot} (pid {proc.pid}) exited with code {proc.exitcode}; "
                           f"starting another", err=True)
                workers.spawn(slot)
                try:
                    pid, _, _ = workers.await_ready(slot, time.monotonic() + START_TIMEOUT_S)
                except RuntimeError as exc:
                    click.echo(f"error: {exc}", err=True)
                    continue  # its sentinel fires next round and counts as a crash
                click.echo(f"worker {slot} is pid {pid}", err=True)
        workers.stop(allowance)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)
