"""Two fakes on one Redis, as two workers behind a load balancer would be: the journal,
fault rules and webhooks answer the same through either (README: Several workers).

Each app is built by ``create_app`` with ``redis_url`` and has its own connections; the
tests go through both at once.  The virtual clock is frozen and advanced through the
control plane, so nothing sleeps on the wall clock.
"""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from mockserver.app import create_app
from support import make_settings
from support.webhooks import FREEPIK_KEY, freepik_job

I2V = "/v1/ai/image-to-video/pixverse-v5"
BODY = {"prompt": "A cat walking through a garden", "image_url": "https://example.com/cat.jpg"}


@pytest.fixture
async def workers(aiohttp_client, redis_url):
    """Two started fakes sharing one Redis, clock frozen."""
    a = await aiohttp_client(create_app(make_settings(redis_url=redis_url)))
    b = await aiohttp_client(create_app(make_settings(redis_url=redis_url)))
    resp = await a.post("/__admin/clock", json={"freeze": True})
    assert resp.status == 200, await resp.text()
    return a, b


async def create(client, **headers) -> int:
    resp = await client.post(I2V, json=BODY, headers={**FREEPIK_KEY, **headers})
    await resp.read()
    return resp.status


async def admin(client, method: str, path: str, status: int = 200, **kwargs):
    resp = await client.request(method, f"/__admin{path}", **kwargs)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_a_rule_added_through_one_worker_fires_in_the_other(workers):
    a, b = workers
    await admin(a, "POST", "/faults", 201, json={"provider": "freepik", "error": 503})
    assert await create(b) == 503
    rules = (await admin(b, "GET", "/faults"))["faults"]
    assert [(r["seen"], r["fired"]) for r in rules] == [(1, 1)]
    await admin(b, "DELETE", "/faults")
    assert await create(a) == 200


async def test_times_one_fires_exactly_once_over_concurrent_requests_through_both(workers):
    a, b = workers
    await admin(b, "POST", "/faults", 201, json={"provider": "freepik", "error": 500, "times": 1})
    statuses = await asyncio.gather(*(create(w) for _ in range(10) for w in (a, b)))
    assert Counter(statuses) == {200: 19, 500: 1}
    rule = (await admin(a, "GET", "/faults"))["faults"][0]
    assert (rule["seen"], rule["fired"], rule["remaining"]) == (20, 1, 0)
    injected = (await admin(a, "GET", "/faults"))["injected"]
    assert injected == [{"provider": "freepik", "kind": "error", "count": 1}]


async def test_the_journal_through_one_worker_shows_the_other_s_requests(workers):
    a, b = workers
    for n in range(3):
        assert await create(b, **{"X-Mock-Test-Id": f"t-{n % 2}"}) == 200
    assert await create(a) == 200
    # No wait: b's entries are sent when a is asked.
    journal = await admin(a, "GET", "/journal", params={"method": "POST"})
    assert journal["count"] == 4 and [e["seq"] for e in journal["entries"]] == [4, 3, 2, 1]
    verified = await admin(b, "POST", "/journal/verify", json={"test_id": "t-0", "times": 2})
    assert verified["ok"]
    await admin(a, "DELETE", "/journal", params={"test_id": "t-0"})
    assert (await admin(b, "GET", "/journal"))["count"] == 2


async def test_each_webhook_delivered_once_with_both_schedulers_running(workers, receiver):
    a, b = workers
    ids = [await freepik_job(w, receiver.url) for w in (a, b) for _ in range(5)]
    await admin(a, "POST", "/clock", json={"advance": 3600})
    for _ in range(3):  # a delivery one handed over may be taken by the other
        for w in (a, b):
            await admin(w, "POST", "/webhooks/drain")
    seen = Counter((h.json["task_id"], h.json["status"]) for h in receiver.hits)
    assert set(seen.values()) == {1}
    assert {task for task, _ in seen} == set(ids)
    assert all(status in ("IN_PROGRESS", "COMPLETED", "FAILED") for _, status in seen)
    log = await admin(b, "GET", "/webhooks/deliveries", params={"limit": 1000})
    assert log["count"] == len(receiver.hits) == sum(seen.values())


async def test_account_webhook_set_through_one_worker_is_used_by_the_other(workers):
    a, b = workers
    await admin(a, "PUT", "/webhooks/pixverse", json={"url": "http://127.0.0.1:9/own", "secret": "s-1"})
    view = await admin(b, "GET", "/webhooks/pixverse")
    assert view["url"] == "http://127.0.0.1:9/own"
    await admin(b, "DELETE", "/webhooks/pixverse")
    assert (await admin(a, "GET", "/webhooks/pixverse"))["url"] != "http://127.0.0.1:9/own"


async def test_a_journal_entry_reaches_redis_without_a_read(workers, redis_url):
    import redis.asyncio as aioredis

    a, _ = workers
    assert await create(a) == 200
    conn = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(200):  # bounded: the flush is due within milliseconds
            if await conn.xlen("pixverse-mock:journal"):
                break
            await asyncio.sleep(0.01)
        assert await conn.xlen("pixverse-mock:journal") == 1
    finally:
        await conn.aclose()




@pytest.fixture
def gate_calls(monkeypatch):
    """How often the fault budget script (engine/faults/redis_rules.py) is sent."""
    import hashlib

    from redis.asyncio.connection import AbstractConnection

    from mockserver.engine.faults.redis_rules import _GATE

    sha = hashlib.sha1(_GATE.encode()).hexdigest().encode()
    sent = [0]
    original = AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):
        packed = b"".join(command) if isinstance(command, list) else command
        if sha in packed:
            sent[0] += 1
        return await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


async def test_a_request_asks_redis_about_faults_only_when_a_rule_meets_it(aiohttp_client, redis_url, gate_calls):
    client = await aiohttp_client(create_app(make_settings(redis_url=redis_url)))
    assert await create(client) == 200
    assert gate_calls[0] == 0
    # A rule for another provider: nothing asked.
    await admin(client, "POST", "/faults", 201, json={"provider": "pixwith", "error": 500})
    assert await create(client) == 200 and gate_calls[0] == 0
    # A rule that meets the request (and never fires): one script per request.
    await admin(client, "POST", "/faults", 201, json={"provider": "freepik", "error": 500, "nth": 1000})
    assert await create(client) == 200 and gate_calls[0] >= 1  # the first call loads the script
    for _ in range(3):
        before = gate_calls[0]
        assert await create(client) == 200 and gate_calls[0] == before + 1


async def test_poll_count_mode_polls_through_the_other_worker_deliver(aiohttp_client, redis_url, receiver):
    settings = make_settings(redis_url=redis_url, progress_mode="polls", queued_polls=1, running_polls=1)
    a = await aiohttp_client(create_app(settings))
    b = await aiohttp_client(create_app(settings))
    task = await freepik_job(a, receiver.url)
    path = f"/v1/ai/text-to-video/pixverse-v5/{task}"
    seen = [(await (await b.get(path, headers=FREEPIK_KEY)).json())["data"]["status"] for _ in range(3)]
    assert seen == ["CREATED", "IN_PROGRESS", "COMPLETED"]
    for _ in range(100):  # bounded: b tells a over pub/sub, a delivers
        await admin(a, "POST", "/webhooks/drain")
        if len(receiver.hits) >= 2:
            break
        await asyncio.sleep(0.02)
    assert [h.json["status"] for h in receiver.hits] == ["IN_PROGRESS", "COMPLETED"]


async def test_redis_gone_the_journal_faults_and_webhooks_answer_503_not_a_traceback(aiohttp_client):
    from mockserver.testing.redis_server import start

    server = start()
    try:
        client = await aiohttp_client(create_app(make_settings(redis_url=server.url)))
        await admin(client, "POST", "/faults", 201, json={"provider": "freepik", "latency": 1})
    finally:
        server.stop()
    for path in ("/journal", "/faults", "/webhooks/deliveries", "/health"):
        resp = await client.get(f"/__admin{path}")
        assert resp.status == 503 and "did not answer" in (await resp.json())["message"], path
    # A request a rule meets asks Redis for the rule's budget: the provider's own 503.
    resp = await client.post(I2V, json=BODY, headers=FREEPIK_KEY)
    assert resp.status == 503 and "Traceback" not in await resp.text()
