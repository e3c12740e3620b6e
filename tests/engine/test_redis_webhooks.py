"""Webhook deliveries shared through Redis (engine/webhooks/redis_schedule.py) against a
real Redis: two schedulers, each with its own connection and peers, act as two workers
(one engine holds the jobs, as a shared job store would)."""
from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis.asyncio as aioredis

from mockserver.engine import Engine
from mockserver.engine.jobs import JobSpec
from mockserver.engine.redis_peers import Peers
from mockserver.engine.webhooks import AccountHook, DeliveryFault, SendResult
from mockserver.engine.webhooks.redis_schedule import RedisWebhookScheduler
from mockserver.settings import Settings
from support.webhooks import StubChannel

pytestmark = pytest.mark.asyncio


def Channel() -> StubChannel:
    return StubChannel(every=True)


@pytest.fixture
def engine():
    engine = Engine(Settings(seed=3))
    engine.clock.freeze()
    return engine


@pytest.fixture
async def schedulers(redis_url, engine):
    made = []

    async def job(provider, job_id):
        return await engine.get_job(provider, job_id)

    def make(**kwargs) -> RedisWebhookScheduler:
        conn = aioredis.Redis.from_url(redis_url)
        hooks = RedisWebhookScheduler(
            conn, "t:", Peers(conn, "t:"), engine.clock, engine.settings.webhooks,
            channels={"pixverse": Channel()}, job=job,
            status_at=lambda j, t: j.status(t, "time", 0, 0), progress_mode=lambda: "time", **kwargs)
        hooks.define_account("pixverse", AccountHook(None, "default-secret", "json"))
        made.append(hooks)
        return hooks

    yield make
    for hooks in made:
        if not hooks.closed:
            await hooks.close()
        await hooks.peers.close()
        await hooks.redis.aclose()


async def new_job(engine: Engine, n: int):
    return await engine.create_job(JobSpec("text-to-video", f"j{n}", provider="pixverse", api_key="k",
                                     quality="360p", width=640, height=360, duration=5))


async def settle(*schedulers, rounds=3):
    for _ in range(rounds):  # a delivery handed over by one may be taken by the other
        for hooks in schedulers:
            await hooks.drain(timeout=30)


async def test_each_delivery_made_once_with_two_schedulers_running(engine, schedulers):
    a, b = schedulers(), schedulers()
    sent: Counter[tuple[str, bytes]] = Counter()
    by: Counter[str] = Counter()

    def sender(name):
        async def send(url, headers, body, timeout):
            sent[(headers["X-Id"], body)] += 1
            by[name] += 1
            await asyncio.sleep(0)
            return SendResult(200, "ok")
        return send

    await a.start(sender("a"))
    await b.start(sender("b"))
    for n in range(60):
        (a if n % 2 else b).watch(await new_job(engine, n), Channel(), "http://127.0.0.1:9/hook")
    engine.clock.advance(3600)
    a.clock_changed()
    b.clock_changed()
    await settle(a, b)
    # Every status change of every job (queued, running, its end: visible() shows them all).
    assert len(sent) == 60 * 3 and set(sent.values()) == {1}
    await a.sync()
    assert a.counts["delivered"] == 180 and len(a.entries()) == 180
    assert a.entries(job_id="j7")[0]["state"] == "queued"
    # Each job's changes arrived in order.
    for n in range(60):
        states = [e["state"] for e in a.entries(job_id=f"j{n}")]
        assert states == ["queued", "running", states[-1]] and states[-1] in ("succeeded", "failed", "moderated")


async def test_a_delivery_held_by_a_stopped_worker_is_made_by_the_other(engine, schedulers):
    a, b = schedulers(lease_s=0.3), schedulers()
    stuck = asyncio.Event()
    delivered: list[str] = []

    async def hangs(url, headers, body, timeout):
        stuck.set()
        await asyncio.Event().wait()  # a worker that never finishes this attempt

    async def works(url, headers, body, timeout):
        delivered.append(headers["X-Id"])
        return SendResult(200, "ok")

    await a.start(hangs)
    job = await new_job(engine, 1)
    job.plan.queue_s = job.plan.run_s = 1e9  # only the first change (queued) is due
    a.watch(job, Channel(), "http://127.0.0.1:9/hook")
    await asyncio.wait_for(stuck.wait(), 10)
    # a dies mid-flight: its tasks end, nothing is handed back.  A cancel that lands
    # inside a Redis call can come out of redis-py as a connection error, which the loop
    # rides out, so the loop is also told to stop, and the test waits until it has.
    a._closing = True
    for task in (a._task, *a._workers):
        task.cancel()
    await asyncio.wait_for(asyncio.gather(a._task, *a._workers, return_exceptions=True), 10)
    await b.start(works)
    deadline = time.monotonic() + 10
    while not delivered and time.monotonic() < deadline:  # the lease is wall time (0.3 s)
        await asyncio.sleep(0.05)
    assert len(delivered) == 1
    await b.sync()
    assert [e["outcome"] for e in b.entries()] == ["delivered"]
    a.closed = True  # already "dead"


async def test_a_retry_is_made_by_whichever_worker_takes_it(engine, schedulers):
    a, b = schedulers(), schedulers()
    calls: Counter[str] = Counter()

    async def flaky(url, headers, body, timeout):
        calls[headers["X-Id"]] += 1
        return SendResult(500 if calls[headers["X-Id"]] == 1 else 200, "")

    await a.start(flaky)
    await b.start(flaky)
    job = await new_job(engine, 1)
    job.plan.queue_s = job.plan.run_s = 1e9
    a.watch(job, Channel(), "http://127.0.0.1:9/hook")
    await settle(a, b)
    engine.clock.advance(2.5)  # the retry falls due
    await settle(a, b)
    assert list(calls.values()) == [2]
    await b.sync()
    assert [e["outcome"] for e in b.entries()] == ["failed", "delivered"]


async def test_account_webhooks_and_delivery_faults_are_shared(engine, schedulers):
    a, b = schedulers(), schedulers()

    async def ok(url, headers, body, timeout):
        return SendResult(200, "")

    await a.start(ok)
    await b.start(ok)
    await a.sync()
    a.set_account("pixverse", "key-1", url="http://127.0.0.1:9/own", secret="s1")
    await a.sync(ids=1)
    added = a.add_fault(DeliveryFault(kind="delay", seconds=5))
    await a.sync()
    hook = b.account("pixverse", "key-1")
    assert hook is not None and hook.url == "http://127.0.0.1:9/own" and hook.secret == "s1"
    assert [f.id for f in b.faults] == [added.id]
    b.remove_fault(added.id)
    b.drop_account("pixverse", "key-1")
    await b.sync()
    assert a.faults == [] and a.account("pixverse", "key-1").secret == "default-secret"


async def test_reset_of_one_test_id_drops_its_shared_deliveries(engine, schedulers):
    a, b = schedulers(), schedulers()
    sent: list[str] = []

    async def ok(url, headers, body, timeout):
        sent.append(body.decode())
        return SendResult(200, "")

    mine = await engine.create_job(JobSpec("text-to-video", "mine", provider="pixverse", api_key="k", quality="360p",
                                     width=640, height=360, duration=5, test_id="t-1"))
    other = await new_job(engine, 2)
    a.watch(mine, Channel(), "http://127.0.0.1:9/hook")  # not started: handed over on start
    a.watch(other, Channel(), "http://127.0.0.1:9/hook")
    await a.flush()
    b.reset("t-1")
    await b.sync()
    await a.start(ok)
    await b.start(ok)
    await settle(a, b)
    assert all("mine" not in body for body in sent) and any("j2" in body for body in sent)
