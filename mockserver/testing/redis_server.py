"""A throwaway Redis for tests and benchmarks: ``redis-server`` on a free loopback port.

For suites that run the fake with ``--redis`` (README, Scaling out) and for this
project's own tests and ``loadtests/bench.py``: no Docker and no service to keep
running.  :func:`start` launches one ``redis-server`` (Debian's package, or any on
PATH) with persistence off, waits for it to answer ``PING`` and returns a handle whose
``stop()`` ends it and removes its directory::

    from mockserver.testing.redis_server import start

    server = start()
    try:
        ...  # pixverse-mock serve --redis server.url
    finally:
        server.stop()
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Wall seconds the server may take to answer its first PING.
START_TIMEOUT_S = 15.0


@dataclass
class RedisServer:
    """One running ``redis-server``: ``url`` is ``redis://127.0.0.1:<port>/0``;
    ``url_for(db)`` another logical database of it."""

    proc: subprocess.Popen
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cpu_s(self) -> float | None:
        """User+system CPU seconds the server has used (Linux /proc; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return (self.workdir / "redis.log").read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(binary: str | None = None) -> RedisServer:
    """Start ``redis-server`` on a free 127.0.0.1 port (no RDB, no AOF, protected mode on).

    Raises RuntimeError with the server's log when it does not answer within
    :data:`START_TIMEOUT_S` wall seconds, or when no ``redis-server`` is on PATH.
    """
    exe = binary or shutil.which("redis-server") or ("/usr/bin/redis-server"
                                                     if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        raise RuntimeError("redis-server not found: install it (Debian: apt-get install redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="pixverse-mock-redis-"))
    for _ in range(3):  # another process may take the port between choosing and binding it
        port = _free_port()
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--logfile", str(workdir / "redis.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if _ping(port):
                return RedisServer(proc, port, workdir)
            time.sleep(0.02)  # a process's start-up: no virtual clock to advance
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    log = (workdir / "redis.log").read_text(errors="replace") if (workdir / "redis.log").exists() else ""
    shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"redis-server did not answer PING on 127.0.0.1:\n{log[-2000:]}")
