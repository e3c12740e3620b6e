"""Prometheus metrics for one app, in its own registry (never the global one, so
several fakes in one process, as in tests, do not collide).

Series:

- ``pixverse_mock_requests_total{provider,operation,status}``: requests answered
  (``provider``/``operation`` are ``none``/``unmatched`` for unknown routes);
- ``pixverse_mock_request_duration_seconds{provider,operation}``: wall latency,
  injected delays included (histogram);
- ``pixverse_mock_jobs{provider,state}``: live jobs per neutral state, computed at
  scrape time from the engine;
- ``pixverse_mock_faults_injected_total{provider,kind}``: from ``engine.fault_counts``;
- ``pixverse_mock_requests_hanging``: requests a hang fault holds open right now;
- ``pixverse_mock_journal_entries`` and ``pixverse_mock_journal_evicted``;
- ``pixverse_mock_webhook_deliveries_total{provider,outcome}``: delivery attempts by
  outcome (``delivered``, ``failed``, ``error``, ``refused``; ``undelivered``: still
  pending at shutdown), from ``engine.webhooks.lifetime_counts``;
- ``pixverse_mock_webhooks_pending``: deliveries waiting for their due time, a held
  URL or a retry;
- ``pixverse_mock_workers``: worker processes that answered the scrape;
- ``pixverse_mock_redis_round_trips_total{pool}``: with ``--redis``, round trips to
  Redis, ``requests`` (jobs, ids, credits, limits: the request path) or ``records``
  (journal, faults, webhooks, sent in the background).

With several workers (``serve --workers``, or hosts sharing one Redis) any worker's
scrape covers them all: the requests, latency and round-trip counters are every
worker's summed (each publishes its own when one is scraped), the rest is shared state.

The per-request counting is the engine's (``engine.request_stats``, two dict updates
and a bisect as each provider endpoint answers); prometheus-client only formats it at
scrape time (its own metric classes take a lock per update).  Counters are
process-lifetime: ``/__admin/reset`` does not rewind them (Prometheus expects
counters to only grow).
"""
from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..engine import Engine
from ..engine.jobs import STATES
from ..engine.journal import LATENCY_BUCKETS

PREFIX = "pixverse_mock"

__all__ = ["CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "Metrics"]


class Metrics(Collector):
    """Request counts and latency for one app (``engine.request_stats``), plus gauges
    read from the engine at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Live jobs per (provider, state), read from the engine just before a scrape
        # (the engine's reads are coroutines; prometheus-client's collect() is not).
        self._job_counts: dict[tuple[str, str], int] = {}
        # Every worker's request counters and Redis round trips, likewise (one worker
        # alone in memory: its own).
        self._stats, self._workers = engine.request_stats, 1
        self._round_trips: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(f"{PREFIX}_requests", "Requests answered by provider, operation and status.",
                                       labels=["provider", "operation", "status"])
        for (provider, operation, status), n in sorted(self._stats.requests.items()):
            requests.add_metric([provider, operation, str(status)], n)
        yield requests

        latency = HistogramMetricFamily(f"{PREFIX}_request_duration_seconds",
                                        "Wall time from request to answer, injected latency included.",
                                        labels=["provider", "operation"])
        bounds = [*LATENCY_BUCKETS, float("inf")]
        for (provider, operation), slots in sorted(self._stats.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, slots):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric([provider, operation], buckets, slots[-1])
        yield latency

        jobs = GaugeMetricFamily(f"{PREFIX}_jobs", "Live jobs by provider and neutral state.",
                                 labels=["provider", "state"])
        counts = self._job_counts
        # Every state of every provider with jobs, zeros included, so graphs do not gap.
        for provider in sorted({p for p, _ in counts}):
            for state in STATES:
                jobs.add_metric([provider, state], counts.get((provider, state), 0))
        yield jobs

        faults = CounterMetricFamily(f"{PREFIX}_faults_injected", "Faults injected, by provider and kind.",
                                     labels=["provider", "kind"])
        for (provider, kind), n in sorted(self.engine.fault_counts.items()):
            faults.add_metric([provider, kind], n)
        yield faults
        yield GaugeMetricFamily(f"{PREFIX}_requests_hanging", "Requests held open by a hang fault now.",
                                value=self.engine.faults.hanging)
        journal = self.engine.journal
        yield GaugeMetricFamily(f"{PREFIX}_journal_entries", "Requests held in the journal.",
                                value=len(journal))
        yield GaugeMetricFamily(f"{PREFIX}_journal_evicted", "Journal entries pushed out by newer ones.",
                                value=journal.evicted)

        hooks = self.engine.webhooks
        deliveries = CounterMetricFamily(f"{PREFIX}_webhook_deliveries",
                                         "Webhook delivery attempts by provider and outcome.",
                                         labels=["provider", "outcome"])
        for (provider, outcome), n in sorted(hooks.lifetime_counts.items()):
            deliveries.add_metric([provider, outcome], n)
        yield deliveries
        yield GaugeMetricFamily(f"{PREFIX}_webhooks_pending",
                                "Webhook deliveries not finished: due later, held or awaiting a retry.",
                                value=hooks.pending)
        yield GaugeMetricFamily(f"{PREFIX}_workers", "Worker processes that answered this scrape (serve --workers).",
                                value=self._workers)
        if self._round_trips:
            trips = CounterMetricFamily(f"{PREFIX}_redis_round_trips",
                                        "Round trips to Redis by pool: requests (jobs, ids, credits, limits) or "
                                        "records (journal, faults, webhooks).", labels=["pool"])
            for pool, n in sorted(self._round_trips.items()):
                trips.add_metric([pool], n)
            yield trips

    async def render(self) -> bytes:
        self._job_counts = await self.engine.job_counts()
        self._stats, self._round_trips, self._workers = await self.engine.worker_stats()
        await self.engine.sync_records()
        return generate_latest(self.registry)
