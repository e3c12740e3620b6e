"""Shutdown of a real `pixverse-mock serve` (issue 14 item 6): SIGTERM with a 300 s hang
and a 300 s latency fault in flight exits within the grace period, and webhook
deliveries not yet due are counted in the shutdown message."""
from __future__ import annotations

import signal
import socket
import time

import requests

from support.server import output, serve

# The grace period is 2 s; the bound leaves room for a loaded CI machine, and is far
# below the 60-300 s a held request used to cost.
EXIT_BOUND_S = 20


def held_request(base: str, header: str) -> socket.socket:
    """A Freepik submit carrying a fault header, left waiting for its answer."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=EXIT_BOUND_S)
    body = b'{"prompt": "a cat"}'
    sock.sendall(b"POST /v1/ai/text-to-video/pixverse-v5 HTTP/1.1\r\nHost: x\r\nx-freepik-api-key: k\r\n" +
                 header.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
                 str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def test_sigterm_ends_injected_waits_and_counts_deliveries_not_yet_due():
    proc, base = serve("--time-scale", "1000")
    socks = []
    try:
        requests.post(f"{base}/__admin/clock", json={"freeze": True}, timeout=5).raise_for_status()
        # A job whose status changes (and their webhook deliveries) are all ahead.
        created = requests.post(f"{base}/v1/ai/text-to-video/pixverse-v5", timeout=5,
                                headers={"x-freepik-api-key": "k"},
                                json={"prompt": "a cat", "webhook_url": "http://127.0.0.1:9/hook"})
        assert created.status_code == 200, created.text
        socks = [held_request(base, "X-Mock-Fault: hang"), held_request(base, "X-Mock-Latency-Ms: 300000")]
        deadline = time.monotonic() + 10
        while requests.get(f"{base}/__admin/faults", timeout=5).json()["hanging"] != 1:
            assert time.monotonic() < deadline, "the hang never started"
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=EXIT_BOUND_S)
        assert time.monotonic() - started < EXIT_BOUND_S
        assert proc.returncode == 0
        # The hang closes without an answer; the latency request is answered.
        assert socks[0].recv(1024) == b""
        assert socks[1].recv(1024).startswith(b"HTTP/1.1 200")
        assert "2 deliveries not yet due at shutdown" in output(proc)
    finally:
        for sock in socks:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
