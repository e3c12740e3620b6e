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
- ``pixverse_mock_journal_entries`` and ``pixverse_mock_journal_evicted``.

The fake sits inside its users' load tests, so the per-request part is two dict
updates and a bisect on the event loop's thread; prometheus-client only formats
them at scrape time (its own metric classes take a lock per update).  Counters are
process-lifetime: ``/__admin/reset`` does not rewind them (Prometheus expects
counters to only grow).
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..engine import Engine
from ..engine.jobs import STATES

PREFIX = "pixverse_mock"
# From a fast local answer to a client-side timeout of a hung request.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

__all__ = ["CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "Metrics"]


class Metrics(Collector):
    """Request counts and latency for one app, plus gauges read from the engine at
    scrape time.  ``observe`` is called once per journaled request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # (provider, operation, status) -> requests
        self._requests: dict[tuple[str, str, int], int] = {}
        # (provider, operation) -> [count per bucket (the last is +Inf) ..., sum of seconds]
        self._latency: dict[tuple[str, str], list[float]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, provider: str | None, operation: str | None, status: int, seconds: float) -> None:
        key = (provider or "none", operation or "unmatched")
        counted = (*key, status)
        self._requests[counted] = self._requests.get(counted, 0) + 1
        slots = self._latency.get(key)
        if slots is None:
            slots = self._latency[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        slots[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        slots[-1] += seconds

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(f"{PREFIX}_requests", "Requests answered by provider, operation and status.",
                                       labels=["provider", "operation", "status"])
        for (provider, operation, status), n in sorted(self._requests.items()):
            requests.add_metric([provider, operation, str(status)], n)
        yield requests

        latency = HistogramMetricFamily(f"{PREFIX}_request_duration_seconds",
                                        "Wall time from request to answer, injected latency included.",
                                        labels=["provider", "operation"])
        bounds = [*LATENCY_BUCKETS, float("inf")]
        for (provider, operation), slots in sorted(self._latency.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip(bounds, slots):
                cumulative += n
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric([provider, operation], buckets, slots[-1])
        yield latency

        jobs = GaugeMetricFamily(f"{PREFIX}_jobs", "Live jobs by provider and neutral state.",
                                 labels=["provider", "state"])
        counts = self.engine.job_counts()
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
