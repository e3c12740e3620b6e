"""In-memory storage for jobs and uploads, bounded so memory cannot grow without limit.

Jobs are kept in creation order.  A job is dropped once ``retention_s`` virtual
seconds have passed since it finished, or when more than ``max_jobs`` are stored
(oldest first), or when the requests they keep (the body each job was created
from) pass ``max_bytes``: then finished jobs go first, oldest first, and a job still
queued or running only when finished ones cannot free enough (never the job just
added).  Uploads are bounded by a total byte budget the same way.
Expired entries read as absent, exactly like an id that never existed.

Sized for a million jobs: per job the store holds one dict entry (per provider, keyed
by the id string itself, no key tuple), one slot in a creation-order deque and one
entry in its owner's index; API keys and test ids are interned, so a million jobs of
a few keys share a few strings.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import islice
from sys import intern as _intern
from typing import Callable, Iterator

from .jobs import Job

# Expired jobs are swept from the old end a few at a time on each insert, which keeps
# insertion O(1) amortised without a background task.
_SWEEP_PER_INSERT = 8
# The creation-order deque may hold jobs dropped out of order (expired on read, reset
# by test id); it is rebuilt once they outnumber the live ones by this much.
_COMPACT_SLACK = 1024
# Over the byte budget, this many of the oldest jobs are looked at for finished ones
# before in-flight jobs are dropped too (bounds the work of one insert).
_BYTES_SCAN = 1024


def request_bytes(job: Job) -> int:
    """What a job's stored request costs, in bytes (its JSON as sent)."""
    stored = job._request
    return len(stored) if stored.__class__ is bytes else 0


class JobStore:
    """Jobs keyed by (provider, id).

    ``max_bytes`` bounds the stored request bodies (None: no bound); ``finished(job)``
    says whether a job reached its outcome, so the byte budget drops those first
    (None: every job counts as finished).
    """

    def __init__(self, max_jobs: int, retention_s: float, max_bytes: int | None = None,
                 finished: Callable[[Job], bool] | None = None) -> None:
        self.max_jobs = max_jobs
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self._finished = finished
        self.bytes = 0
        # provider -> id -> job
        self._jobs: dict[str, dict[str, Job]] = {}
        self._count = 0
        # Every stored job in creation order, plus ``_dead`` jobs already dropped.
        self._order: deque[Job] = deque()
        self._dead = 0
        # (provider, api_key, kind) -> ids in creation order, for list endpoints.
        self._by_owner: dict[tuple[str, str, str], dict[str, None]] = {}

    def __len__(self) -> int:
        return self._count

    def _expired(self, job: Job, now: float) -> bool:
        end = job.forced_at if job.forced_at is not None else job.created_at + job.queue_s + job.run_s
        return now > end + self.retention_s

    def _live(self, job: Job) -> bool:
        jobs = self._jobs.get(job.provider)
        return jobs is not None and jobs.get(job.id) is job

    def _unindex(self, job: Job) -> None:
        owner = (job.provider, job.api_key, job.kind)
        owned = self._by_owner.get(owner)
        if owned is not None:
            owned.pop(job.id, None)
            if not owned:
                del self._by_owner[owner]

    def _forget(self, job: Job) -> None:
        """Drop a live job, wherever it sits in the creation order."""
        del self._jobs[job.provider][job.id]
        self._count -= 1
        self.bytes -= request_bytes(job)
        self._unindex(job)
        order = self._order
        if order and order[0] is job:
            order.popleft()
        else:
            self._dead += 1
            if self._dead > self._count + _COMPACT_SLACK:
                self._order = deque(j for j in order if self._live(j))
                self._dead = 0

    def _pop_front(self) -> Job | None:
        """The oldest live job, with dropped ones ahead of it cleared away."""
        order = self._order
        while order:
            job = order[0]
            if self._live(job):
                return job
            order.popleft()
            self._dead -= 1
        return None

    def add(self, job: Job, now: float) -> None:
        # Every create runs this: locals, and helpers inlined where it is one line.
        # Interned: the same few keys and test ids arrive as new strings per request.
        provider, job_id = job.provider, job.id
        api_key = job.api_key = _intern(job.api_key)
        if job.test_id is not None:
            job.test_id = _intern(job.test_id)
        jobs = self._jobs.get(provider)
        if jobs is None:
            jobs = self._jobs[provider] = {}
        old = jobs.get(job_id)
        if old is not None:  # the same id again: the new job replaces the old one
            self._forget(old)
        jobs[job_id] = job
        self._count += 1
        stored = job._request  # request_bytes(job)
        if stored.__class__ is bytes:
            self.bytes += len(stored)
        self._order.append(job)
        owner = (provider, api_key, job.kind)
        owned = self._by_owner.get(owner)
        if owned is None:
            owned = self._by_owner[owner] = {}
        owned[job_id] = None
        while self._count > self.max_jobs:
            oldest = self._pop_front()
            if oldest is None:
                break
            self._forget(oldest)
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            self._shed_bytes(job)
        # The sweep, when the oldest job is live and not expired (the usual case): nothing.
        order = self._order  # (dropping jobs above may have rebuilt it)
        oldest = order[0] if order else job
        if oldest is job or (now <= (oldest.forced_at if oldest.forced_at is not None else
                                     oldest.created_at + oldest.queue_s + oldest.run_s) + self.retention_s
                             and self._live(oldest)):
            return
        for _ in range(_SWEEP_PER_INSERT):
            oldest = self._pop_front()
            if oldest is None or oldest is job or not self._expired(oldest, now):
                break
            self._forget(oldest)

    def _shed_bytes(self, newest: Job) -> None:
        """Back under ``max_bytes``: finished jobs first (among the oldest
        ``_BYTES_SCAN``), then the oldest whatever their state; never ``newest``."""
        limit = self.max_bytes
        if limit is None:  # no byte bound: nothing to shed
            return
        over = self.bytes - limit
        finished = self._finished
        victims = []
        for job in islice(self._order, _BYTES_SCAN):
            if over <= 0:
                break
            if job is not newest and self._live(job) and (finished is None or finished(job)):
                victims.append(job)
                over -= request_bytes(job)
        for job in victims:
            self._forget(job)
        while self.bytes > limit:
            oldest = self._pop_front()
            if oldest is None or oldest is newest:
                break
            self._forget(oldest)

    def get(self, provider: str, job_id: str, now: float) -> Job | None:
        jobs = self._jobs.get(provider)
        if jobs is None:
            return None
        job = jobs.get(job_id)
        # self._expired(job, now), inlined: every poll asks.
        if job is not None and now > (job.forced_at if job.forced_at is not None else
                                      job.created_at + job.queue_s + job.run_s) + self.retention_s:
            self._forget(job)
            return None
        return job

    def remove(self, provider: str, job_id: str) -> Job | None:
        """Drop one job now (admin reset); returns it, or None when not stored."""
        job = self._jobs.get(provider, {}).get(job_id)
        if job is not None:
            self._forget(job)
        return job

    def owned(self, provider: str, api_key: str, kind: str, now: float) -> list[Job]:
        """Live jobs of one API key for one kind, oldest first."""
        ids = list(self._by_owner.get((provider, api_key, kind), ()))
        out = []
        for job_id in ids:
            job = self.get(provider, job_id, now)
            if job is not None:
                out.append(job)
        return out

    def all(self) -> Iterator[Job]:
        """Every stored job, oldest first (a snapshot: safe to drop jobs meanwhile)."""
        return iter([job for job in self._order if self._live(job)])

    def clear(self) -> None:
        self._jobs.clear()
        self._count = 0
        self.bytes = 0
        self._order.clear()
        self._dead = 0
        self._by_owner.clear()


@dataclass(slots=True)
class Upload:
    """A file a client uploaded.  ``kind`` is image|video|audio; sizes in bytes/pixels."""

    id: str
    provider: str
    api_key: str
    kind: str
    content_type: str
    data: bytes
    width: int = 0
    height: int = 0
    duration: float = 0.0


class UploadStore:
    """Uploads keyed by (provider, id), bounded by total bytes and by count (URL
    uploads hold no bytes), oldest dropped first."""

    def __init__(self, max_bytes: int, max_items: int = 100_000) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, str], Upload] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, upload: Upload) -> None:
        key = (upload.provider, upload.id)
        self._items[key] = upload
        self._bytes += len(upload.data)
        while (self._bytes > self.max_bytes or len(self._items) > self.max_items) and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.data)

    def get(self, provider: str, upload_id: str) -> Upload | None:
        return self._items.get((provider, upload_id))

    def newest(self, count: int) -> list[Upload]:
        """Up to ``count`` uploads, newest first."""
        out: list[Upload] = []
        for upload in reversed(self._items.values()):
            if len(out) >= count:
                break
            out.append(upload)
        return out

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
