"""The scheduler at scale, without HTTP: 10,000 watched jobs whose deliveries all fall
due at once, and the same spread over the clock, delivered through an in-memory sender."""
from __future__ import annotations

import time

from mockserver.engine import Engine
from mockserver.engine.jobs import JobSpec
from mockserver.engine.webhooks import SendResult
from mockserver.settings import Settings
from support.webhooks import StubChannel

N = 10_000


Channel = StubChannel


async def jobs(engine: Engine, n: int):
    return [await engine.create_job(JobSpec("text-to-video", str(i), provider="pixverse", api_key="k",
                                            quality="360p", width=640, height=360, duration=5))
            for i in range(n)]


async def test_ten_thousand_due_at_once_are_all_delivered_once():
    engine = Engine(Settings(seed=1, retention_max_jobs=2 * N))
    engine.clock.freeze()
    channel = Channel()
    for job in await jobs(engine, N):
        engine.webhooks.watch(job, channel, "http://127.0.0.1:9/hook")
    seen: list[bytes] = []

    async def sender(url, headers, body, timeout):
        seen.append(body)
        return SendResult(200, "ok")

    await engine.webhooks.start(sender)
    try:
        started = time.perf_counter()
        engine.clock.advance(3600)
        await engine.webhooks.drain(timeout=60)
        elapsed = time.perf_counter() - started
    finally:
        await engine.webhooks.close()
    assert len(seen) == N == len(set(seen))
    assert engine.webhooks.counts["delivered"] == N
    assert engine.webhooks.watching == 0
    assert elapsed < 30, elapsed  # about a second on a laptop


async def test_failures_retry_on_schedule_at_scale():
    engine = Engine(Settings(seed=2, retention_max_jobs=2 * N))
    engine.clock.freeze()
    channel = Channel()
    for job in await jobs(engine, 2000):
        engine.webhooks.watch(job, channel, "http://127.0.0.1:9/hook")
    calls: dict[str, int] = {}

    async def sender(url, headers, body, timeout):
        calls[headers["X-Id"]] = calls.get(headers["X-Id"], 0) + 1
        return SendResult(500 if calls[headers["X-Id"]] == 1 else 200, "")

    await engine.webhooks.start(sender)
    try:
        engine.clock.advance(3600)
        await engine.webhooks.drain()
        assert engine.webhooks.counts == {**engine.webhooks.counts, "failed": 2000, "delivered": 0}
        engine.clock.advance(2)
        await engine.webhooks.drain()
    finally:
        await engine.webhooks.close()
    assert engine.webhooks.counts["delivered"] == 2000
    assert set(calls.values()) == {2}


async def test_close_without_start_logs_every_pending_delivery():
    engine = Engine(Settings(seed=3))
    engine.clock.freeze()
    channel = Channel()
    for job in await jobs(engine, 10):
        engine.webhooks.watch(job, channel, "http://127.0.0.1:9/hook")
    engine.clock.advance(3600)
    for job in await engine.find_jobs():
        engine.webhooks.notice(job)
    await engine.webhooks.close()
    assert engine.webhooks.counts["undelivered"] == 10
    assert {e["outcome"] for e in engine.webhooks.log} == {"undelivered"}
