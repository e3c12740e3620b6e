"""The one engine every provider adapter talks to."""
from __future__ import annotations

import string
import time
from typing import Iterable

from ..settings import Settings
from .jobs import FAILED, MODERATED, STATES, SUCCEEDED, TERMINAL, Job, JobSpec, Plan
from .journal import RequestStats
from .limits import CREDITS, Refusal
from .media import MediaLibrary
from .state import memory_state
from .store import Upload

_NANOID_ALPHABET = string.ascii_letters + string.digits
# The version (4) and variant (RFC 4122) bits uuid.UUID(version=4) sets.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


class Engine:
    """State and rules shared by all providers.

    Everything random draws from ``self.rng`` (seeded by ``settings.seed``), so the
    same seed and the same requests give the same ids, plans and outcomes.
    """

    def __init__(self, settings: Settings, providers: Iterable[str] | None = None,
                 webhook_providers: Iterable[str] | None = None) -> None:
        """``providers``: the names fault rules may select (None: any; the app passes
        the registry's); ``webhook_providers``: those delivery faults may select."""
        self.settings = settings
        # All mutable state sits in the stores of one State (engine/state.py); the
        # engine keeps the store objects themselves, so a request pays no indirection.
        state = self.state = memory_state(settings, self, providers, webhook_providers)
        self.clock = state.clock
        self.rng = state.rng
        self.jobs = state.jobs
        self.uploads = state.uploads
        # Credits, concurrency caps and rate limits per API key (README).
        self.ledger = state.ledger
        self.concurrency = state.concurrency
        self.rate_limits = state.rate_limits
        # Signed webhook deliveries on the virtual clock; the app starts and stops it.
        self.webhooks = state.webhooks
        # Replayed answers per (provider-scoped) idempotency key, e.g. PixVerse Ai-trace-id.
        self.idempotency = state.idempotency
        self.media = MediaLibrary(settings.media_cache_dir, render_workers=settings.media_render_workers,
                                  render_queue=settings.media_render_queue)
        # Fault rules (profile + admin) and per-request directives; draws from its own
        # seeded rng.  ``fault_counts[(provider, kind)]`` counts every injected fault.
        self.faults = state.faults
        self.fault_counts = self.faults.counts
        # What provider routes answered, newest last, and lifetime counts for metrics:
        # written by the provider endpoints and the catch-all route as they answer.
        self.journal = state.journal
        self.request_stats = RequestStats()

    # ids ---------------------------------------------------------------------------
    def new_uuid(self) -> str:
        # str(uuid.UUID(int=bits, version=4)), formatted directly (twice as fast, same ids).
        h = "%032x" % ((self.rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def new_hex(self, length: int = 32) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def new_int_id(self) -> int:
        # PixVerse ids are ~15-digit int64s, kept below 2**53 so JavaScript clients
        # read them exactly.
        return self.rng.randrange(10**14, 2**53)

    def new_token(self, length: int = 21) -> str:
        return "".join(self.rng.choice(_NANOID_ALPHABET) for _ in range(length))

    # jobs --------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def timestamp(self, virtual: float | None = None) -> float:
        """Unix seconds to write into a body for virtual instant ``virtual`` (None: now):
        with ``settings.timestamp_clock`` "wall" (default) the wall instant at which the
        virtual clock passed it (``VirtualClock.wall_at``), with "virtual" the instant itself."""
        if self.settings.timestamp_clock == "virtual":
            return self.clock.now() if virtual is None else virtual
        return time.time() if virtual is None else self.clock.wall_at(virtual)

    def plan(self, quality: str, duration: int) -> Plan:
        """Queue and generation seconds (virtual) and the outcome, drawn once."""
        s = self.settings
        # rng.uniform(a, b) is a + (b - a) * rng.random(): inlined, same draws.
        random_ = self.rng.random
        low, high = s.queue_seconds
        queue_s = low + (high - low) * random_()
        seconds = s.generation_seconds
        base = seconds[quality] if quality in seconds else seconds.get("720p", 60.0)
        low, high = 1 - s.generation_jitter, 1 + s.generation_jitter
        jitter = low + (high - low) * random_()
        run_s = base * max(duration, 1) / 5.0 * jitter
        roll = random_()
        if roll < s.moderation_rate:
            outcome = MODERATED
        elif roll < s.moderation_rate + s.failure_rate:
            outcome = FAILED
        else:
            outcome = SUCCEEDED
        return Plan(queue_s=queue_s, run_s=run_s, outcome=outcome)

    async def create_job(self, spec: JobSpec) -> Job:
        """Create and store the job ``spec`` describes.  ``spec.outcome`` overrides the
        drawn outcome; without it a fault's ``spec.planned`` outcome applies, if any."""
        job = self._new_job(spec)
        self.jobs.add(job, job.created_at)
        concurrency = self.concurrency
        if concurrency.caps:  # most fakes cap nothing: no call per create
            concurrency.track(job)
        return job

    def _new_job(self, spec: JobSpec) -> Job:
        """The job ``spec`` describes, planned now (not stored)."""
        now = self.clock.now()
        plan = self.plan(spec.quality, spec.duration)
        planned, outcome = spec.planned, spec.outcome
        if outcome is not None:
            plan.outcome = outcome
        elif planned is not None:
            plan.outcome = planned.outcome
        # Positional (every create): id, provider, kind, api_key, created_at, plan, width,
        # height, duration, outputs, request, test_id, polls, forced, forced_at, cost.
        job = Job(spec.job_id, spec.provider, spec.kind, spec.api_key, now, plan, spec.width, spec.height,
                  spec.duration, spec.outputs, spec.request, spec.test_id, 0, None, None, spec.cost)
        if planned is not None and planned.immediate and outcome is None:
            job.forced, job.forced_at = planned.outcome, now
        return job

    # clock -------------------------------------------------------------------------
    async def change_clock(self, scale: float | None = None, freeze: bool | None = None,
                           advance: float | None = None) -> None:
        """Set the scale, freeze or unfreeze, then move forward ``advance`` virtual
        seconds (each when given, in that order).  Raises ValueError for a scale that is
        not positive or a negative advance (nothing after the bad value applies)."""
        clock = self.clock
        if scale is not None:
            clock.set_scale(scale)
        if freeze is not None:
            clock.freeze() if freeze else clock.unfreeze()
        if advance is not None:
            clock.advance(advance)

    async def sync_clock(self) -> None:
        """Bring ``self.clock`` up to date with a clock shared with other processes
        (nothing to do in memory: the clock is this process's own)."""

    async def worker_stats(self) -> tuple[RequestStats, dict[str, int], int]:
        """What ``/__admin/metrics`` counts over every worker sharing this state: the
        request counters summed, Redis round trips per pool (``requests``: jobs, ids,
        credits, limits; ``records``: journal, faults, webhooks) summed, and how many
        workers reported.  In memory: this process's own, no round trips, 1."""
        return self.request_stats, {}, 1

    async def sync_records(self) -> None:
        """Bring the journal, the fault rules (with their counts and log) and the
        webhook log up to date with other workers' (nothing to do in memory): what the
        admin plane awaits before it reads them."""
        await self.journal.sync()
        await self.faults.sync()
        await self.webhooks.sync()

    # uploads -----------------------------------------------------------------------
    async def add_upload(self, upload: Upload) -> None:
        """Keep ``upload`` (bounded by bytes and count: the oldest go first)."""
        self.uploads.add(upload)

    async def get_upload(self, provider: str, upload_id: str) -> Upload | None:
        return self.uploads.get(provider, upload_id)

    async def newest_uploads(self, count: int) -> list[Upload]:
        """Up to ``count`` uploads, newest first."""
        return self.uploads.newest(count)

    # accounts ----------------------------------------------------------------------
    async def hit_rate(self, provider: str, address: str | None, api_key: str | None) -> Refusal | None:
        """Count one request against the rate-limit windows (engine/limits.py); a
        Refusal, and nothing counted, when a window is full."""
        return self.rate_limits.hit(provider, address, api_key)

    async def admit(self, provider: str, api_key: str, cost: int, *, job: bool = True) -> Refusal | None:
        """Check the key's concurrency cap (when ``job``) and balance, then take
        ``cost`` credits.  A Refusal, and nothing taken, when either says no."""
        return self.admit_now(provider, api_key, cost, job)

    def admit_now(self, provider: str, api_key: str, cost: int, job: bool = True) -> Refusal | None:
        """:meth:`admit` without a coroutine, for callers that know this engine keeps its
        state in memory (``ProviderAdapter.admit``: one frame less per create)."""
        if job and self.concurrency.caps:
            refusal = self.concurrency.refuse(provider, api_key)
            if refusal is not None:
                return refusal
        if cost and not self.ledger.try_debit(provider, api_key, cost):  # nothing to take at 0
            return Refusal(CREDITS)
        return None

    async def balance(self, provider: str, api_key: str) -> int:
        """The key's credits at ``provider`` (starting credits until it spends)."""
        return self.ledger.balance(provider, api_key)

    async def was_refunded(self, provider: str, job_id: str) -> bool:
        """Whether ``job_id``'s cost went back to its key (a refunded end state)."""
        return self.ledger.was_refunded(provider, job_id)

    def new_seed(self, high: int) -> int:
        """A generation seed in 0..``high`` drawn from the seeded rng (PixVerse reports
        the seed it used when the client sent none)."""
        return self.rng.randint(0, high)

    def _settle(self, job: Job, state: str) -> None:
        self.ledger.settle(job.provider, job.id, job.api_key, job.cost, state)

    def _alive(self, job: Job) -> bool:
        return self.jobs.get(job.provider, job.id, self.now()) is job

    def _wall_until(self, job: Job) -> float | None:
        """Wall seconds until a time-driven job ends (None when it does not end by time)."""
        if self.settings.progress_mode != "time" or job.forced is not None or self.clock.frozen:
            return None
        return self.clock.wall_delay(job.finishes_at - self.now())

    async def get_job(self, provider: str, job_id: str) -> Job | None:
        """The live job, or None when unknown or expired (does not count as a poll)."""
        return self.jobs.get(provider, job_id, self.clock.now())

    async def observe(self, job: Job) -> str:
        """A client's status read: counts the poll (for poll-count mode) and returns
        the neutral status."""
        job.polls += 1
        s = self.settings
        state = job.status(self.clock.now(), s.progress_mode, s.queued_polls, s.running_polls)
        if state in TERMINAL:
            self._settle(job, state)
        self.webhooks.notice(job)
        return state

    def status(self, job: Job) -> str:
        s = self.settings
        return job.status(self.clock.now(), s.progress_mode, s.queued_polls, s.running_polls)

    async def list_jobs(self, provider: str, api_key: str, kind: str) -> list[Job]:
        return self.jobs.owned(provider, api_key, kind, self.now())

    async def count_jobs(self) -> int:
        """How many jobs are stored (expired ones not yet swept included)."""
        return len(self.jobs)

    async def find_jobs(
        self,
        provider: str | None = None,
        status: str | None = None,
        test_id: str | None = None,
        api_key: str | None = None,
        kind: str | None = None,
    ) -> list[Job]:
        """Live jobs matching every given filter, oldest first (reads count no polls)."""
        now = self.now()
        out = []
        for job in self.jobs.all():
            if ((provider is not None and job.provider != provider)
                    or (test_id is not None and job.test_id != test_id)
                    or (api_key is not None and job.api_key != api_key)
                    or (kind is not None and job.kind != kind)):
                continue
            if self.jobs.get(job.provider, job.id, now) is None:  # expired
                continue
            if status is not None and self.status(job) != status:
                continue
            out.append(job)
        return out

    async def job_counts(self) -> dict[tuple[str, str], int]:
        """Live jobs per (provider, neutral state), for metrics."""
        counts: dict[tuple[str, str], int] = {}
        for job in await self.find_jobs():
            key = (job.provider, self.status(job))
            counts[key] = counts.get(key, 0) + 1
        return counts

    async def force(self, job: Job, status: str) -> None:
        """Put a job into ``status`` now, whatever its plan says (admin transitions).
        Raises ValueError for a state that is not one of ``STATES``."""
        if status not in STATES:
            raise ValueError(f"status must be one of {', '.join(STATES)}")
        job.forced = status
        job.forced_at = self.now()
        self.webhooks.notice(job)

    async def reset(self, test_id: str | None = None) -> dict[str, int]:
        """Forget everything, or only one test id's jobs, journal entries and faults.

        A full reset also clears uploads, credits, concurrency and rate-limit counts,
        idempotency replays (they are keyed by API key, not test id) and webhooks
        (pending deliveries, the delivery log, delivery faults, account webhooks set at
        run time); a test id's reset drops its jobs' pending deliveries.  The clock is
        left alone.  Returns how many
        jobs, journal entries and fault rules went (a full reset keeps the profile's
        rules, with fresh counters).
        """
        await self.sync_records()  # shared records: clear what every worker has sent
        faults = self.faults.clear(test_id)
        if test_id is None:
            dropped = {"jobs": len(self.jobs), "journal": self.journal.clear(), "faults": faults}
            self.jobs.clear()
            self.uploads.clear()
            self.ledger.clear()
            self.idempotency.clear()
            self.concurrency.clear()
            self.rate_limits.clear()
            self.webhooks.reset()
            await self.sync_records()
            return dropped
        self.webhooks.reset(test_id)
        doomed = [job for job in self.jobs.all() if job.test_id == test_id]
        for job in doomed:
            self.jobs.remove(job.provider, job.id)
        journal = self.journal.clear(test_id)
        await self.sync_records()
        return {"jobs": len(doomed), "journal": journal, "faults": faults}
