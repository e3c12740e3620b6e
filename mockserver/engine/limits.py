"""Concurrency caps and rate limits per API key or client address.

- :class:`ConcurrencyCaps`: at most N jobs of one key queued or running at once, per
  provider.  A job counts from its submit until its status (on the virtual clock, or
  by polls, or forced) is terminal.  Only providers with a cap track anything.
- :class:`RateLimiter`: sliding-window request counts (exact: one timestamp per
  accepted request in the window) per rule and per client address or key.  Off
  unless rules are configured.

Both answer a :class:`Refusal` that each adapter turns into its provider's answer
(``ProviderAdapter.refusal_reply``).  Provider-neutral, no aiohttp.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from .jobs import TERMINAL, Job

CONCURRENCY = "concurrency"
CREDITS = "credits"
RATE = "rate"

# Scopes swept for stale windows every this many hits, so idle clients do not pile up.
_SWEEP_EVERY = 4096


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: ``kind`` concurrency | credits | rate;
    ``retry_after`` whole wall seconds until a retry may pass (None: unknown)."""

    kind: str
    retry_after: int | None = None
    limit: int | None = None


def whole_seconds(seconds: float) -> int:
    """Seconds for a ``Retry-After`` header: rounded up, at least 1."""
    return max(1, math.ceil(seconds - 1e-9))


class ConcurrencyCaps:
    """Active (queued or running) jobs per (provider, key), for providers with a cap.

    ``status(job)`` is the job's neutral status now; ``alive(job)`` whether the store
    still holds it; ``wall_until(job)`` wall seconds until it ends on the clock (None
    when it does not end by time).
    """

    def __init__(self, caps: Mapping[str, int], status: Callable[[Job], str],
                 alive: Callable[[Job], bool], wall_until: Callable[[Job], float | None]) -> None:
        self.caps = dict(caps)
        self._status = status
        self._alive = alive
        self._wall_until = wall_until
        self._active: dict[tuple[str, str], dict[str, Job]] = {}

    def active(self, provider: str, api_key: str) -> list[Job]:
        """The key's jobs still queued or running (drops the others from tracking)."""
        tracked = self._active.get((provider, api_key))
        if not tracked:
            return []
        for job_id, job in list(tracked.items()):
            if not self._alive(job) or self._status(job) in TERMINAL:
                del tracked[job_id]
        if not tracked:
            del self._active[(provider, api_key)]
            return []
        return list(tracked.values())

    def refuse(self, provider: str, api_key: str) -> Refusal | None:
        cap = self.caps.get(provider)
        if cap is None:
            return None
        active = self.active(provider, api_key)
        if len(active) < cap:
            return None
        waits = [w for w in (self._wall_until(j) for j in active) if w is not None and math.isfinite(w)]
        return Refusal(CONCURRENCY, whole_seconds(min(waits)) if waits else None, cap)

    def track(self, job: Job) -> None:
        if job.provider in self.caps:
            self._active.setdefault((job.provider, job.api_key), {})[job.id] = job

    def clear(self) -> None:
        self._active.clear()


@dataclass(frozen=True, slots=True)
class _Rule:
    limit: int
    window_s: float
    per: str
    providers: frozenset[str] | None


class RateLimiter:
    """Sliding-window limits.  ``rules`` are objects with ``limit``, ``window_s``,
    ``per`` (ip | key) and ``providers`` (None: every provider); ``now()`` is the
    clock the windows count on (wall or virtual seconds; ``wall_per_unit`` turns its
    seconds into wall seconds for ``Retry-After``)."""

    def __init__(self, rules: Iterable[object], now: Callable[[], float],
                 wall_per_unit: Callable[[], float] = lambda: 1.0) -> None:
        self.rules = [_Rule(int(r.limit), float(r.window_s), str(r.per),  # type: ignore[attr-defined]
                            frozenset(r.providers) if r.providers else None)  # type: ignore[attr-defined]
                      for r in rules]
        self._now = now
        self._wall_per_unit = wall_per_unit
        self._hits: dict[tuple[int, str, str], deque[float]] = {}
        self._count = 0

    def __bool__(self) -> bool:
        return bool(self.rules)

    def windows(self, provider: str, address: str | None, api_key: str | None) -> list[tuple[int, _Rule, str]]:
        """The windows one request counts in: (rule number, rule, the address or key
        it is counted by), for the rules that select ``provider`` and have a scope."""
        out = []
        for n, rule in enumerate(self.rules):
            if rule.providers is not None and provider not in rule.providers:
                continue
            scope = address if rule.per == "ip" else api_key
            if scope:
                out.append((n, rule, scope))
        return out

    def hit(self, provider: str, address: str | None, api_key: str | None) -> Refusal | None:
        """Count one request; a Refusal (and nothing counted) when a window is full."""
        if not self.rules:
            return None
        now = self._now()
        windows = []
        full, wait = False, 0.0
        for n, rule, scope in self.windows(provider, address, api_key):
            hits = self._hits.get((n, rule.per, scope))
            if hits is None:
                hits = self._hits[(n, rule.per, scope)] = deque()
            edge = now - rule.window_s
            while hits and hits[0] <= edge:
                hits.popleft()
            if len(hits) >= rule.limit:
                full, wait = True, max(wait, hits[0] + rule.window_s - now)
            windows.append(hits)
        if full:
            return Refusal(RATE, whole_seconds(wait * self._wall_per_unit()))
        for hits in windows:
            hits.append(now)
        self._count += 1
        if self._count % _SWEEP_EVERY == 0:
            self._sweep(now)
        return None

    def _sweep(self, now: float) -> None:
        longest = max(r.window_s for r in self.rules)
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - longest]:
            del self._hits[key]

    def clear(self) -> None:
        self._hits.clear()
