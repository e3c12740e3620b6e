"""``MockAdmin``: drive a running fake through its control plane (``/__admin/...``).

Plain HTTP (the standard library's ``urllib``), so the same handle works against the
fake the pytest plugin starts in-process and against one started elsewhere
(``pixverse-mock serve``, a container).  Every method blocks for one loopback round
trip (about a millisecond); calling it from an async test is fine, because the fake
never runs on the test's event loop.

Routes are those of ``contracts/admin.yaml``: clock, reset, jobs (list, inspect, force
a transition), journal (query, clear) and faults.  A fake with an admin token (bound
beyond loopback, or ``--admin-token``) gets it as ``Authorization: Bearer``: pass
``admin_token=`` or set ``PIXVERSE_MOCK_ADMIN_TOKEN``.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlencode

from .contracts import client_base_path, poll_operations, submit_operations

__all__ = ["AdminError", "MockAdmin", "format_journal"]

#: Journal entries fetched per query (the journal holds 10,000 by default).
JOURNAL_PAGE = 100_000
#: Where MockAdmin finds the fake's admin token when none is passed.
ADMIN_TOKEN_ENV = "PIXVERSE_MOCK_ADMIN_TOKEN"


class AdminError(RuntimeError):
    """The control plane refused a request: ``status`` and its ``{"message"}`` answer."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.body = body


class MockAdmin:
    """A handle on one running fake.

    ``base_url`` is the fake's origin; :meth:`url` gives each provider's client base
    URL.  ``api_key`` is a key of this handle's own (fresh per test in the pytest
    fixture): hand it to the client under test and filter on it when the fake is
    shared.  Journal reads only see what arrived after :meth:`mark` (called when the
    handle is created and on :meth:`reset`).  ``admin_token`` (default:
    ``$PIXVERSE_MOCK_ADMIN_TOKEN``) is sent with every control-plane call when set.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 10.0,
                 fake: Any = None, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
        self.api_key = api_key or f"pixverse-mock-{uuid.uuid4().hex[:16]}"
        self.timeout = timeout
        #: The ``ThreadedFake`` when the fake runs in this process, else None.
        self.fake = fake
        self._since = 0
        self._fault_ids: list[str] = []
        self.mark()

    def __repr__(self) -> str:
        return f"MockAdmin({self.base_url!r})"

    # plumbing ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
                ok: Iterable[int] = (200, 201)) -> Any:
        """One control-plane call; returns the parsed JSON answer.  Raises AdminError for
        a status outside ``ok`` and OSError when the fake cannot be reached."""
        url = self.base_url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        if self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw.decode("utf-8", "replace")
        if status not in tuple(ok):
            raise AdminError(method, path, status, answer)
        return answer

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/__admin/health")

    @property
    def engine(self) -> Any:
        """The fake's ``Engine`` when it runs in this process (for what the control plane
        does not offer).  Raises RuntimeError for an external fake."""
        if self.fake is None:
            raise RuntimeError("the fake runs in another process: use the admin methods")
        from ..keys import ENGINE

        return self.fake.app[ENGINE]

    # URLs ----------------------------------------------------------------------------
    def url(self, provider: str) -> str:
        """The base URL a provider's client should use (``.../v2`` for AI/ML API)."""
        return self.base_url + client_base_path(provider)

    @property
    def urls(self) -> dict[str, str]:
        """Every registered provider's client base URL."""
        from ..providers import names

        return {p: self.url(p) for p in names()}

    # state ---------------------------------------------------------------------------
    def reset(self, test_id: str | None = None) -> dict[str, Any]:
        """Forget jobs, uploads, credits, replays, the journal and added fault rules (or
        only one test id's); the clock is left alone."""
        body = {"test_id": test_id} if test_id is not None else None
        answer = self.request("POST", "/__admin/reset", body)
        if test_id is None:
            self._fault_ids.clear()
            self._since = 0
        return answer

    def mark(self) -> int:
        """From now on, journal reads and assertions only see newer requests.  Returns
        the journal position (sequence number) of the mark."""
        entries = self.request("GET", "/__admin/journal", query={"limit": 1})["entries"]
        self._since = entries[0]["seq"] if entries else self._since
        return self._since

    # clock ---------------------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        """``{"now": virtual unix seconds, "scale": x, "frozen": bool}``."""
        return self.request("GET", "/__admin/clock")

    def now(self) -> float:
        return float(self.clock()["now"])

    def advance(self, seconds: float) -> float:
        """Move virtual time forward (jobs progress, nothing sleeps); returns the new now."""
        return float(self.request("POST", "/__admin/clock", {"advance": seconds})["now"])

    def freeze(self) -> dict[str, Any]:
        """Stop virtual time: only :meth:`advance` moves it."""
        return self.request("POST", "/__admin/clock", {"freeze": True})

    def unfreeze(self) -> dict[str, Any]:
        return self.request("POST", "/__admin/clock", {"freeze": False})

    def set_time_scale(self, scale: float) -> dict[str, Any]:
        """Virtual seconds per wall second (50: a 150 s generation takes 3 s)."""
        return self.request("POST", "/__admin/clock", {"scale": scale})

    # faults --------------------------------------------------------------------------
    def add_fault(self, rule: Mapping[str, Any] | None = None, **fields: Any) -> str:
        """Add a fault rule (fields: the README's Faults section), e.g. ``add_fault(provider="freepik",
        operation="submit", error=503, times=2)``; returns its id.  Rules added through
        the handle are removed by :meth:`clear_faults` and by the fixture's teardown.
        Raises AdminError (400) for a rule the fake refuses."""
        body = {**(rule or {}), **fields}
        added = self.request("POST", "/__admin/faults", body, ok=(201,))["faults"][0]
        self._fault_ids.append(added["id"])
        return added["id"]

    def faults(self) -> list[dict[str, Any]]:
        """Every active rule with its counters (``seen``, ``fired``, ``remaining``)."""
        return self.request("GET", "/__admin/faults")["faults"]

    def remove_fault(self, fault_id: str) -> bool:
        try:
            self.request("DELETE", f"/__admin/faults/{quote(fault_id, safe='')}")
        except AdminError as exc:
            if exc.status == 404:
                return False
            raise
        finally:
            if fault_id in self._fault_ids:
                self._fault_ids.remove(fault_id)
        return True

    def clear_faults(self) -> int:
        """Remove the rules this handle added; returns how many were still there."""
        return sum(self.remove_fault(fid) for fid in list(self._fault_ids))

    # jobs ----------------------------------------------------------------------------
    def jobs(self, provider: str | None = None, *, status: str | None = None, api_key: str | None = None,
             test_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Live jobs matching every filter, oldest first (reading them counts no poll)."""
        answer = self.request("GET", "/__admin/jobs", query={
            "provider": provider, "status": status, "api_key": api_key, "test_id": test_id,
            "kind": kind, "limit": JOURNAL_PAGE})
        return list(reversed(answer["jobs"]))

    def job(self, provider: str, job_id: str | int) -> dict[str, Any]:
        """One job with the request it was accepted with.  Raises AdminError (404)."""
        return self.request("GET", f"/__admin/jobs/{provider}/{quote(str(job_id), safe='')}")

    def force(self, provider: str, job_id: str | int, status: str) -> dict[str, Any]:
        """Put a job into ``status`` (queued, running, succeeded, failed, moderated) now."""
        return self.request("POST", f"/__admin/jobs/{provider}/{quote(str(job_id), safe='')}",
                            {"status": status})

    def finish(self, provider: str | None = None, status: str = "succeeded", *,
               api_key: str | None = None) -> list[str]:
        """Force every unfinished job (of ``provider``, of ``api_key``) into ``status``;
        returns their ids."""
        done = []
        for state in ("queued", "running"):
            for job in self.jobs(provider, status=state, api_key=api_key):
                self.force(job["provider"], job["id"], status)
                done.append(job["id"])
        return done

    # journal -------------------------------------------------------------------------
    def journal(self, provider: str | None = None, operation: str | Iterable[str] | None = None,
                **filters: Any) -> list[dict[str, Any]]:
        """Recorded requests since the mark, oldest first.  ``operation`` is an operationId,
        a list of them, or ``"submit"``/``"poll"`` for the provider's job submissions or
        status reads; other filters: ``method``, ``path`` (``*`` suffix for a prefix),
        ``status`` (``429`` or ``"4xx"``), ``task_id``, ``api_key`` (raw), ``test_id``,
        ``fault`` (a kind or ``"any"``)."""
        ops = self._operations(provider, operation)
        query = {k: v for k, v in filters.items() if v is not None}
        if provider is not None:
            query["provider"] = provider
        if ops is not None and len(ops) == 1:
            query["operation"] = next(iter(ops))
        query.update({"since": self._since, "limit": JOURNAL_PAGE})
        entries = self.request("GET", "/__admin/journal", query=query)["entries"]
        entries.reverse()
        if ops is not None:
            entries = [e for e in entries if e["operation"] in ops]
        return entries

    def unmatched(self, provider: str | None = None, *, test_id: str | None = None) -> list[dict[str, Any]]:
        """Requests since the mark that no route served (404/405), newest first, each
        a journal entry plus ``near_misses``: the three closest provider routes
        (``{provider, operation, method, path, similarity}``, best first), to spot a
        typo in a path or method."""
        query = {"provider": provider, "test_id": test_id, "since": self._since, "limit": JOURNAL_PAGE}
        return self.request("GET", "/__admin/requests/unmatched", query=query)["entries"]

    def calls(self, provider: str | None = None, operation: str | Iterable[str] | None = None,
              **filters: Any) -> int:
        """How many recorded requests match (see :meth:`journal`)."""
        return len(self.journal(provider, operation, **filters))

    def assert_called(self, provider: str | None = None, operation: str | Iterable[str] | None = None, *,
                      times: int | None = None, at_least: int | None = None, at_most: int | None = None,
                      **filters: Any) -> list[dict[str, Any]]:
        """Assert how many requests since the mark match: exactly ``times``, or within
        ``at_least``/``at_most``; with no count, at least once.  Returns the matching
        entries.  Raises AssertionError showing what was called instead."""
        entries = self.journal(provider, operation, **filters)
        n = len(entries)
        if times is None and at_least is None and at_most is None:
            at_least = 1
        ok = (n == times) if times is not None else (
            (at_least is None or n >= at_least) and (at_most is None or n <= at_most))
        if not ok:
            wanted = (f"exactly {times}" if times is not None else " and ".join(
                w for w in (f"at least {at_least}" if at_least is not None else "",
                            f"at most {at_most}" if at_most is not None else "") if w))
            what = " ".join(str(x) for x in (provider, operation) if x is not None) or "requests"
            where = f" with {filters}" if filters else ""
            seen = self.journal(provider) if provider else self.journal()
            raise AssertionError(f"expected {wanted} call(s) of {what}{where}, saw {n}\n"
                                 f"journal since the mark:\n{format_journal(seen) or '  (empty)'}")
        return entries

    def assert_not_called(self, provider: str | None = None, operation: str | Iterable[str] | None = None,
                          **filters: Any) -> None:
        self.assert_called(provider, operation, times=0, **filters)

    @staticmethod
    def _operations(provider: str | None, operation: str | Iterable[str] | None) -> set[str] | None:
        if operation is None:
            return None
        names = [operation] if isinstance(operation, str) else list(operation)
        out: set[str] = set()
        for name in names:
            if name in ("submit", "poll"):
                if provider is None:
                    raise ValueError(f"operation {name!r} needs a provider")
                out |= submit_operations(provider) if name == "submit" else poll_operations(provider)
            else:
                out.add(name)
        return out


def format_journal(entries: Iterable[Mapping[str, Any]], *, start: float | None = None,
                   body_chars: int = 160) -> str:
    """Journal entries as lines: virtual seconds since ``start`` (the first entry by
    default), method, path, status, injected faults, and the clipped request body."""
    entries = list(entries)
    if not entries:
        return ""
    t0 = entries[0]["time"] if start is None else start
    lines = []
    for e in entries:
        faults = f" [{','.join(e['faults'])}]" if e.get("faults") else ""
        query = f"?{e['query']}" if e.get("query") else ""
        body = e.get("request_body")
        body = "" if not body else "  " + (body if len(body) <= body_chars else body[:body_chars] + "...")
        lines.append(f"  {e['time'] - t0:+9.2f}s  {e['method']:<4} {e['path']}{query} -> {e['status']}"
                     f"{faults}  ({e.get('operation') or 'no route'}){body}")
    return "\n".join(lines)
