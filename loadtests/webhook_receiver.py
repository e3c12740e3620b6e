"""A webhook receiver for the load test: one per locust process, on 127.0.0.1.

Clients in webhook mode put ``receiver.url(token)`` in the job's ``webhook_url``; every
POST that arrives is answered 204 at once, timestamped on arrival (wall clock), checked
against the Standard-Webhooks signature when a secret is given, and handed to whoever
waits for that task id.  gevent's WSGI server, so it runs in locust's own event loop
(and in each worker process of a distributed run).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from gevent.event import Event
from gevent.lock import Semaphore
from gevent.pywsgi import WSGIServer

log = logging.getLogger("loadtests.webhooks")

HOOK_PREFIX = "/hook/"


@dataclass(slots=True)
class Arrival:
    """One delivery as it arrived: wall unix seconds, parsed body, signature check."""

    wall: float
    body: dict[str, Any]
    webhook_id: str | None
    signature_ok: bool | None  # None: not checked (no secret given)


def standard_webhook_valid(secret: bytes, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` (``v1,<b64> v1,<b64> ...``) holds the HMAC-SHA256 of ``id.ts.body``."""
    expected = base64.b64encode(hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    for part in header.split():
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


@dataclass
class _Inbox:
    arrivals: list[Arrival] = field(default_factory=list)
    changed: Event = field(default_factory=Event)


class Receiver:
    """Collects deliveries per task id; ``wait`` blocks the calling greenlet."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret.encode() if secret else None
        self._inboxes: dict[str, _Inbox] = {}
        self._server: WSGIServer | None = None
        self._lock = Semaphore()
        self.received = 0
        self.bad_signatures = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the receiver first"
        return self._server.server_port

    def start(self) -> "Receiver":
        with self._lock:
            if self._server is None:
                # Loopback only, any free port.
                self._server = WSGIServer(("127.0.0.1", 0), self._app, log=None, error_log=log)
                self._server.start()
                log.info("webhook receiver listening on http://127.0.0.1:%d%s", self.port, HOOK_PREFIX)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None

    def url(self, token: str = "load") -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PREFIX}{token}"

    def _inbox(self, task_id: str) -> _Inbox:
        inbox = self._inboxes.get(task_id)
        if inbox is None:
            inbox = self._inboxes[task_id] = _Inbox()
        return inbox

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        wall = time.time()
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("PATH_INFO", "").startswith(HOOK_PREFIX):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        webhook_id = environ.get("HTTP_WEBHOOK_ID")
        ok = None
        if self.secret is not None:
            ok = standard_webhook_valid(self.secret, webhook_id or "", environ.get("HTTP_WEBHOOK_TIMESTAMP", ""),
                                        raw, environ.get("HTTP_WEBHOOK_SIGNATURE", ""))
            if not ok:
                self.bad_signatures += 1
        self.received += 1
        task_id = body.get("task_id") if isinstance(body, dict) else None
        if isinstance(task_id, str):
            if len(self._inboxes) > 10_000:  # deliveries nobody waits for any more (late, duplicates)
                stale = wall - 120
                for key in [k for k, v in self._inboxes.items() if v.arrivals and v.arrivals[-1].wall < stale]:
                    del self._inboxes[key]
            inbox = self._inbox(task_id)
            inbox.arrivals.append(Arrival(wall, body, webhook_id, ok))
            inbox.changed.set()
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]

    def wait(self, task_id: str, done: set[str], timeout: float) -> list[Arrival]:
        """Block until a delivery for ``task_id`` whose ``status`` is in ``done`` arrived,
        or ``timeout`` wall seconds passed; returns every arrival for it (and forgets them)."""
        inbox = self._inbox(task_id)
        deadline = time.monotonic() + timeout
        try:
            while not any(a.body.get("status") in done for a in inbox.arrivals):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                inbox.changed.clear()
                inbox.changed.wait(left)
            return list(inbox.arrivals)
        finally:
            self._inboxes.pop(task_id, None)


_RECEIVER: Receiver | None = None


def receiver(secret: str | None = None) -> Receiver:
    """This process's receiver, started on first use."""
    global _RECEIVER
    if _RECEIVER is None:
        _RECEIVER = Receiver(secret)
    return _RECEIVER.start()


__all__ = ["Arrival", "Receiver", "receiver", "standard_webhook_valid"]
