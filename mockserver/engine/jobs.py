"""Job = the accepted request + a plan fixed at creation; status is derived.

A job's status is a pure function of its plan, the virtual clock and, in poll-count
mode, how often it was read.  No per-job timers exist.

Neutral states (see design.md for each provider's spelling):
``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``moderated``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
MODERATED = "moderated"

STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, MODERATED)
TERMINAL = frozenset({SUCCEEDED, FAILED, MODERATED})
OUTCOMES = (SUCCEEDED, FAILED, MODERATED)


@dataclass(slots=True)
class Plan:
    """Fixed at creation.  Seconds are virtual; ``outcome`` is one of OUTCOMES."""

    queue_s: float
    run_s: float
    outcome: str


@dataclass(slots=True)
class Job:
    """One generation task.

    ``id`` is the provider's task id as a string (PixVerse's integer ids too).
    ``kind`` is the neutral operation: ``text-to-video``, ``image-to-video``,
    ``transition`` ...  ``width``/``height`` are output pixels, ``duration`` output
    seconds, ``outputs`` how many result videos the job yields (pixwith num_outputs).
    ``request`` keeps the provider body as accepted, so responses can echo it.
    """

    id: str
    provider: str
    kind: str
    api_key: str
    created_at: float
    plan: Plan
    width: int
    height: int
    duration: int
    outputs: int = 1
    request: dict[str, Any] = field(default_factory=dict)
    test_id: str | None = None
    polls: int = 0
    forced: str | None = None
    forced_at: float | None = None
    cost: int = 0

    @property
    def finishes_at(self) -> float:
        """Virtual time at which a time-driven job reaches its outcome."""
        return self.created_at + self.plan.queue_s + self.plan.run_s

    def status(self, now: float, mode: str, queued_polls: int = 1, running_polls: int = 2) -> str:
        """The neutral state at virtual time ``now`` under progress ``mode``.

        ``mode`` is ``time`` (by the plan's seconds), ``polls`` (by ``self.polls``
        reads: the first ``queued_polls`` reads see queued, the next
        ``running_polls`` running, then the outcome) or ``manual`` (queued until an
        admin forces a state).  A forced state always wins.
        """
        if self.forced is not None:
            return self.forced
        if mode == "time":
            elapsed = now - self.created_at
            if elapsed < self.plan.queue_s:
                return QUEUED
            if elapsed < self.plan.queue_s + self.plan.run_s:
                return RUNNING
            return self.plan.outcome
        if mode == "polls":
            if self.polls <= queued_polls:
                return QUEUED
            if self.polls <= queued_polls + running_polls:
                return RUNNING
            return self.plan.outcome
        return QUEUED

    def progress(self, now: float) -> float:
        """Fraction 0..1 of the planned run elapsed (time mode); 1 when terminal."""
        run_elapsed = now - self.created_at - self.plan.queue_s
        if run_elapsed <= 0:
            return 0.0
        if self.plan.run_s <= 0 or run_elapsed >= self.plan.run_s:
            return 1.0
        return run_elapsed / self.plan.run_s
