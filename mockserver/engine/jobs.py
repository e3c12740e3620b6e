"""Job = the accepted request + a plan fixed at creation; status is derived.

A job's status is a pure function of its plan, the virtual clock and, in poll-count
mode, how often it was read.  No per-job timers exist.

Neutral states (each provider's spelling is its adapter's status map):
``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``moderated``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import orjson

QUEUED: Final = "queued"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
MODERATED: Final = "moderated"

#: A job's neutral state: the one list (the admin contract's State is generated from it).
JobState = Literal["queued", "running", "succeeded", "failed", "moderated"]
STATES: tuple[str, ...] = get_args(JobState)
assert STATES == (QUEUED, RUNNING, SUCCEEDED, FAILED, MODERATED)
TERMINAL = frozenset({SUCCEEDED, FAILED, MODERATED})
#: How a job can end: the one list (fault rules, directives and settings use it).
Outcome = Literal["succeeded", "failed", "moderated"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
assert OUTCOMES == (SUCCEEDED, FAILED, MODERATED)


@dataclass(slots=True)
class Plan:
    """Fixed at creation.  Seconds are virtual; ``outcome`` is one of OUTCOMES."""

    queue_s: float
    run_s: float
    outcome: str


@dataclass(frozen=True, slots=True)
class PlannedOutcome:
    """A job's outcome forced by a fault.  ``immediate``: the job reads as finished
    from its first poll (a reseller's answer to moderation at submit)."""

    outcome: str
    immediate: bool = False


@dataclass(slots=True)
class JobSpec:
    """What an adapter asks :meth:`Engine.create_job` for.

    ``kind`` the neutral operation, ``job_id`` the provider's task id; ``quality`` the
    label generation time is planned by, ``width``/``height`` output pixels,
    ``duration`` output seconds, ``outputs`` result videos; ``request`` the body as
    accepted (stored as is), ``cost`` credits taken.  ``provider``, ``api_key``,
    ``test_id`` and ``planned`` say whose job it is and what a fault planned for it:
    ``ProviderAdapter.create_job`` fills them from the request.  ``outcome`` overrides
    the drawn outcome and ``planned``.
    """

    kind: str
    job_id: str
    quality: str
    width: int
    height: int
    duration: int
    outputs: int = 1
    request: dict[str, Any] | bytes | None = None
    cost: int = 0
    provider: str = ""
    api_key: str = ""
    test_id: str | None = None
    outcome: str | None = None
    planned: PlannedOutcome | None = None


class Job:
    """One generation task.

    ``id`` is the provider's task id as a string (PixVerse's integer ids too).
    ``kind`` is the neutral operation: ``text-to-video``, ``image-to-video``,
    ``transition`` ...  ``width``/``height`` are output pixels, ``duration`` output
    seconds, ``outputs`` how many result videos the job yields (pixwith num_outputs).
    ``request`` is the provider body as accepted, so responses can echo it (a fresh
    dict on every read: it is stored as compact JSON).

    The plan's fields (``queue_s``, ``run_s``, ``outcome``) live on the job itself;
    ``job.plan`` is the job seen as its :class:`Plan` (``job.plan.outcome = ...``
    works).  Memory and the garbage collector both count per stored job, and a fake
    holding a million jobs must stay small and pause little: so one object per job,
    with ``__slots__``, no per-job dict and no reference cycles.
    """

    __slots__ = ("id", "provider", "kind", "api_key", "created_at", "queue_s", "run_s", "outcome",
                 "width", "height", "duration", "outputs", "_request", "test_id", "polls", "forced",
                 "forced_at", "cost")
    # A dict, or the JSON bytes of one (see the ``request`` setter).
    _request: dict[str, Any] | bytes | None

    def __init__(
        self,
        id: str,
        provider: str,
        kind: str,
        api_key: str,
        created_at: float,
        plan: Plan,
        width: int,
        height: int,
        duration: int,
        outputs: int = 1,
        request: dict[str, Any] | bytes | None = None,
        test_id: str | None = None,
        polls: int = 0,
        forced: str | None = None,
        forced_at: float | None = None,
        cost: int = 0,
    ) -> None:
        self.id = id
        self.provider = provider
        self.kind = kind
        self.api_key = api_key
        self.created_at = created_at
        self.queue_s = plan.queue_s
        self.run_s = plan.run_s
        self.outcome = plan.outcome
        self.width = width
        self.height = height
        self.duration = duration
        self.outputs = outputs
        if request.__class__ is bytes and request:  # as sent (most creates): the setter's first case
            self._request = request
        else:
            self.request = request
        self.test_id = test_id
        self.polls = polls
        self.forced = forced
        self.forced_at = forced_at
        self.cost = cost

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, provider={self.provider!r}, kind={self.kind!r}, "
                f"outcome={self.outcome!r}, forced={self.forced!r}, polls={self.polls})")

    @property
    def plan(self) -> Plan:
        """The plan fixed at creation: the job itself, which carries its fields."""
        return self  # type: ignore[return-value]

    @property
    def request(self) -> dict[str, Any]:
        stored = self._request
        if stored is None:
            return {}
        return orjson.loads(stored) if stored.__class__ is bytes else stored  # type: ignore[return-value]  # as above

    @request.setter
    def request(self, value: dict[str, Any] | bytes | None) -> None:
        """A dict, or the JSON bytes of one exactly as the client sent them."""
        if not value:
            self._request = None
            return
        if value.__class__ is bytes:
            self._request = value
            return
        try:
            # One bytes object: a fraction of a dict of strings, and nothing for the
            # garbage collector to track.  Copied: orjson's own result keeps its 4 KiB
            # write buffer allocated, whatever the length.
            self._request = memoryview(orjson.dumps(value)).tobytes()
        except TypeError:  # not JSON (e.g. an int beyond 64 bits): keep it as given
            self._request = value

    @property
    def finishes_at(self) -> float:
        """Virtual time at which a time-driven job reaches its outcome."""
        return self.created_at + self.queue_s + self.run_s

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
            if elapsed < self.queue_s:
                return QUEUED
            if elapsed < self.queue_s + self.run_s:
                return RUNNING
            return self.outcome
        if mode == "polls":
            if self.polls <= queued_polls:
                return QUEUED
            if self.polls <= queued_polls + running_polls:
                return RUNNING
            return self.outcome
        return QUEUED
