"""Fault rules shared through Redis (engine/faults/redis_rules.py) against a real
Redis: two rule sets, each with its own connection and peers, act as two workers."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from mockserver.engine.faults import Decision, FaultContext
from mockserver.engine.faults.redis_rules import RedisFaultSet
from mockserver.engine.faults.ruleset import fault_rng
from mockserver.engine.redis_peers import Peers

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def worker(redis_url):
    made = []

    async def start(profile=(), prefix="t:") -> RedisFaultSet:
        conn = aioredis.Redis.from_url(redis_url)
        faults = RedisFaultSet(conn, prefix, Peers(conn, prefix), fault_rng(None), profile,
                               providers=("pixwith", "freepik"))
        await faults.start()
        made.append(faults)
        return faults

    yield start
    for faults in made:
        await faults.close()
        await faults.peers.close()
        await faults.redis.aclose()


def ctx(provider="pixwith", operation="create_task", test_id=None) -> FaultContext:
    return FaultContext(provider=provider, operation=operation, submit=operation == "create_task",
                        test_id=test_id, supports=lambda error: True)


async def add(faults: RedisFaultSet, **rule) -> str:
    """What the admin plane does: reserve an id, add, send."""
    await faults.sync(ids=1)
    added = faults.add(rule)
    await faults.sync()
    return added.id


async def evals(conn) -> int:
    stats = await conn.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


async def test_a_rule_added_through_one_worker_fires_in_the_other_at_once(worker):
    a, b = await worker(), await worker()
    assert not b.armed(False)
    rule_id = await add(a, provider="pixwith", error=503)
    # No sleep: the admin call returned after every worker had reloaded.
    assert b.armed(False) and b.get(rule_id) is not None
    decision = await b.decide_shared(ctx())
    assert decision is not None and decision.error.status == 503 and decision.fired == [rule_id]
    b.record("pixwith", "create_task", decision)
    await a.sync()
    assert a.counts[("pixwith", "error")] == 1 and a.log[-1]["rules"] == [rule_id]
    assert [r["seen"] for r in a.list()] == [1] and a.list()[0]["fired"] == 1
    # Removed through b: gone in a for the next request.
    await b.sync()
    assert b.remove(rule_id)
    await b.sync()
    assert not a.armed(False) and await a.decide_shared(ctx()) is None


async def test_times_one_fires_exactly_once_over_concurrent_requests_through_both(worker):
    a, b = await worker(), await worker()
    await add(a, provider="pixwith", error=500, times=1)
    decisions = await asyncio.gather(*(w.decide_shared(ctx()) for _ in range(20) for w in (a, b)))
    assert sum(1 for d in decisions if d is not None) == 1
    await b.sync()
    assert b.list()[0]["fired"] == 1 and b.list()[0]["seen"] == 40 and b.list()[0]["remaining"] == 0


async def test_nth_counts_requests_across_workers(worker):
    a, b = await worker(), await worker()
    await add(b, provider="pixwith", error=429, nth=3)
    fired = []
    for n, w in enumerate((a, b, a, b, a)):
        d = await w.decide_shared(ctx())
        fired.append(d is not None)
    assert fired == [False, False, True, False, False]


async def test_ids_never_collide_between_workers(worker):
    a, b = await worker(), await worker()
    await asyncio.gather(a.sync(ids=3), b.sync(ids=3))
    ids = [a.add({"error": 500}).id for _ in range(3)] + [b.add({"error": 500}).id for _ in range(3)]
    await asyncio.gather(a.sync(), b.sync())
    assert len(set(ids)) == 6
    await a.sync()
    assert sorted(r["id"] for r in a.list()) == sorted(ids)


async def test_profile_rules_are_put_once_and_come_back_on_reset(worker):
    profile = [{"provider": "freepik", "latency": 5, "id": "slow"}]
    a = await worker(profile)
    await add(a, error=500, test_id="t-1")
    b = await worker(profile)  # a worker starting later keeps what is there
    assert sorted(r["id"] for r in b.list()) == sorted(["slow", *[r["id"] for r in a.list() if r["id"] != "slow"]])
    assert len(b) == 2
    await b.sync()
    assert b.clear("t-1") == 1
    await b.sync()
    assert [r["id"] for r in a.list()] == ["slow"]
    await add(a, error=502)
    await a.sync()
    a.clear()  # Engine.reset: back to the profile's rules with fresh counters
    await a.sync()
    assert [r["id"] for r in b.list()] == ["slow"] and b.list()[0]["fired"] == 0


async def test_no_redis_call_when_no_rule_meets_the_request(worker):
    a = await worker()
    await add(a, provider="freepik", error=500)
    before = await evals(a.redis)
    assert await a.decide_shared(ctx(provider="pixwith")) is None
    assert await evals(a.redis) == before
    assert await a.decide_shared(ctx(provider="freepik")) is not None
    assert await evals(a.redis) == before + 1


async def test_directives_stay_with_the_worker(worker):
    a = await worker()
    from mockserver.engine.faults import FaultRule

    def parse(text):
        return FaultRule(error=int(text), times=1)

    first = await a.decide_shared(FaultContext(provider="pixwith", operation="get_task", test_id="d",
                                               directives=[("header", "503", parse)]))
    again = await a.decide_shared(FaultContext(provider="pixwith", operation="get_task", test_id="d",
                                               directives=[("header", "503", parse)]))
    assert isinstance(first, Decision) and first.fired == ["header"] and again is None
