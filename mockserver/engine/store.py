"""In-memory storage for jobs and uploads, bounded so memory cannot grow without limit.

Jobs are kept in creation order.  A job is dropped once ``retention_s`` virtual
seconds have passed since it finished, or when more than ``max_jobs`` are stored
(oldest first).  Uploads are bounded by a total byte budget the same way.
Expired entries read as absent, exactly like an id that never existed.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from .jobs import Job

# Expired jobs are swept from the old end a few at a time on each insert, which keeps
# insertion O(1) amortised without a background task.
_SWEEP_PER_INSERT = 8


class JobStore:
    """Jobs keyed by (provider, id)."""

    def __init__(self, max_jobs: int, retention_s: float) -> None:
        self.max_jobs = max_jobs
        self.retention_s = retention_s
        self._jobs: OrderedDict[tuple[str, str], Job] = OrderedDict()
        # (provider, api_key, kind) -> ids in creation order, for list endpoints.
        self._by_owner: dict[tuple[str, str, str], dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def _expired(self, job: Job, now: float) -> bool:
        end = job.forced_at if job.forced_at is not None else job.finishes_at
        return now > end + self.retention_s

    def _drop(self, key: tuple[str, str]) -> None:
        job = self._jobs.pop(key, None)
        if job is not None:
            owned = self._by_owner.get((job.provider, job.api_key, job.kind))
            if owned is not None:
                owned.pop(job.id, None)
                if not owned:
                    del self._by_owner[(job.provider, job.api_key, job.kind)]

    def add(self, job: Job, now: float) -> None:
        key = (job.provider, job.id)
        self._jobs[key] = job
        self._by_owner.setdefault((job.provider, job.api_key, job.kind), {})[job.id] = None
        while len(self._jobs) > self.max_jobs:
            self._drop(next(iter(self._jobs)))
        for _ in range(_SWEEP_PER_INSERT):
            oldest_key = next(iter(self._jobs))
            if oldest_key == key or not self._expired(self._jobs[oldest_key], now):
                break
            self._drop(oldest_key)

    def get(self, provider: str, job_id: str, now: float) -> Job | None:
        key = (provider, job_id)
        job = self._jobs.get(key)
        if job is not None and self._expired(job, now):
            self._drop(key)
            return None
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
        return iter(list(self._jobs.values()))

    def clear(self) -> None:
        self._jobs.clear()
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
    source_url: str | None = None


class UploadStore:
    """Uploads keyed by (provider, id), bounded by total bytes and by count (URL
    uploads hold no bytes), oldest dropped first."""

    def __init__(self, max_bytes: int, max_items: int = 100_000) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, str], Upload] = OrderedDict()
        self._bytes = 0

    def add(self, upload: Upload) -> None:
        key = (upload.provider, upload.id)
        self._items[key] = upload
        self._bytes += len(upload.data)
        while (self._bytes > self.max_bytes or len(self._items) > self.max_items) and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.data)

    def get(self, provider: str, upload_id: str) -> Upload | None:
        return self._items.get((provider, upload_id))

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
