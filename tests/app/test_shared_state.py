"""Several fakes sharing one Redis behave as one fake (issue 17): two apps in this test
process, each with its own engine and its own Redis connections, as two workers would
be; a restart is closing both and building a new app on the same Redis.

Everything here runs against the session's real ``redis-server`` (``redis_url``)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.connection import AbstractConnection

from mockserver.app import ADAPTERS, ENGINE, create_app
from mockserver.engine.jobs import TERMINAL
from mockserver.engine.redis_records import CLIENT_NAME
from mockserver.testing.redis_server import _free_port
from mockserver.testing.redis_server import start as start_redis
from support import CREATE, PROVIDERS, ROOT, make_settings
from support import pixverse as pv_support
from support.pixverse import call as pv_call

FREEPIK = "/v1/ai/text-to-video/pixverse-v5"
PV_T2V = "/openapi/v2/video/text/generate"
PV_RESULT = "/openapi/v2/video/result/{}"
PV_BODY = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "a fox", "quality": "720p"}
PV_COST = 60  # 720p, 5 s


def fp(key: str = "shared-key") -> dict[str, str]:
    return {"x-freepik-api-key": key}


def pv(key: str = "shared-key", trace: str | None = None) -> dict[str, str]:
    return {"API-KEY": key, "Ai-Trace-Id": trace or str(uuid.uuid4())}


class Workers:
    """Two apps on one Redis; ``close()`` ends both (a restart builds new ones)."""

    def __init__(self) -> None:
        self.clients: list[TestClient] = []

    async def start(self, n: int = 2, **settings) -> list[TestClient]:
        started = []
        for _ in range(n):
            client = TestClient(TestServer(create_app(make_settings(**settings))))
            await client.start_server()
            self.clients.append(client)
            started.append(client)
        return started

    async def close(self) -> None:
        for client in self.clients:
            violations = [v for a in client.server.app[ADAPTERS].values() for v in a.violations]
            await client.close()
            assert not violations, violations
        self.clients.clear()


@pytest.fixture
async def workers():
    pool = Workers()
    yield pool
    await pool.close()


async def freepik_create(client, key: str = "shared-key") -> tuple[int, dict]:
    resp = await client.post(FREEPIK, json={"prompt": "a fox"}, headers=fp(key))
    return resp.status, await resp.json()


async def freepik_poll(client, task_id: str) -> str:
    resp = await client.get(f"{FREEPIK}/{task_id}", headers=fp())
    assert resp.status == 200, await resp.text()
    return (await resp.json())["data"]["status"]


async def test_a_job_created_through_one_is_polled_through_the_other(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url, progress_mode="polls", queued_polls=1, running_polls=1)
    status, created = await freepik_create(a)
    assert status == 200
    task = created["data"]["task_id"]
    # Poll counts are shared: the reads alternate between the workers.
    assert [await freepik_poll(c, task) for c in (b, a, b)] == ["CREATED", "IN_PROGRESS", "COMPLETED"]
    job = await b.server.app[ENGINE].get_job("freepik", task)
    assert job.polls == 3 and job.request == {"prompt": "a fox"}
    listed = await (await a.get("/__admin/jobs")).json()
    assert [j["id"] for j in listed["jobs"]] == [task]


async def test_many_concurrent_creates_lose_and_repeat_no_job_id(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)  # the same seed in both
    answers = await asyncio.gather(*(freepik_create(c, f"key-{n % 7}") for n in range(100) for c in (a, b)))
    ids = [body["data"]["task_id"] for status, body in answers if status == 200]
    assert len(ids) == 200 and len(set(ids)) == 200
    for engine in (a.server.app[ENGINE], b.server.app[ENGINE]):
        assert await engine.count_jobs() == 200
        assert {j.id for j in await engine.find_jobs()} == set(ids)


async def test_credits_are_exact_under_concurrent_submits(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url, starting_credits=1000)
    answers = await asyncio.gather(*(c.post(PV_T2V, json=PV_BODY, headers=pv()) for _ in range(20) for c in (a, b)))
    codes = [(await r.json())["ErrCode"] for r in answers]
    assert codes.count(0) == 1000 // PV_COST and codes.count(500090) == 40 - 1000 // PV_COST
    for c in (a, b):
        balance = await (await c.get("/openapi/v2/account/balance", headers=pv())).json()
        assert balance["Resp"]["credit_monthly"] == 1000 % PV_COST


async def test_the_concurrency_cap_is_never_exceeded(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url, accounts={"concurrency": {"freepik": 3}})
    for c in (a, b):
        await c.post("/__admin/clock", json={"freeze": True})
    answers = await asyncio.gather(*(freepik_create(c) for _ in range(15) for c in (a, b)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 3 and statuses.count(429) == 27
    # A job that ends (forced through one worker) frees a slot for the other.
    task = next(body["data"]["task_id"] for status, body in answers if status == 200)
    assert (await a.post(f"/__admin/jobs/freepik/{task}", json={"status": "succeeded"})).status == 200
    assert (await freepik_create(b))[0] == 200
    assert (await freepik_create(a))[0] == 429


async def test_a_trace_id_is_replayed_across_workers(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)
    trace = str(uuid.uuid4())
    first, again = await asyncio.gather(a.post(PV_T2V, json=PV_BODY, headers=pv(trace=trace)),
                                        b.post(PV_T2V, json=PV_BODY, headers=pv(trace=trace)))
    first, again = await first.json(), await again.json()
    assert first == again and first["ErrCode"] == 0
    engine = b.server.app[ENGINE]
    assert len(await engine.list_jobs("pixverse", "shared-key", "text-to-video")) == 1
    assert await engine.balance("pixverse", "shared-key") == 100_000 - PV_COST


async def test_a_clock_advance_through_one_is_seen_by_the_other(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)
    frozen = await (await a.post("/__admin/clock", json={"freeze": True})).json()
    status, created = await freepik_create(b)
    task = created["data"]["task_id"]
    assert await freepik_poll(a, task) == "CREATED"
    moved = await (await a.post("/__admin/clock", json={"advance": 3600})).json()
    assert moved["now"] == pytest.approx(frozen["now"] + 3600)
    # The next job read through the other worker brings its clock along.
    assert await freepik_poll(b, task) == "COMPLETED"
    seen = await (await b.get("/__admin/clock")).json()
    assert seen["frozen"] is True and seen["now"] == pytest.approx(moved["now"])


async def test_a_restart_continues_jobs_balances_and_the_id_sequence(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)
    task = (await freepik_create(a))[1]["data"]["task_id"]
    video = (await (await b.post(PV_T2V, json=PV_BODY, headers=pv())).json())["Resp"]["video_id"]
    await workers.close()

    (again,) = await workers.start(1, redis_url=redis_url)
    assert await freepik_poll(again, task) in ("CREATED", "IN_PROGRESS", "COMPLETED")
    result = await (await again.get(PV_RESULT.format(video), headers=pv())).json()
    assert result["ErrCode"] == 0 and result["Resp"]["id"] == video
    balance = await (await again.get("/openapi/v2/account/balance", headers=pv())).json()
    assert balance["Resp"]["credit_monthly"] == 100_000 - PV_COST
    # The same seed, yet no id handed out before comes again.
    assert (await freepik_create(again))[1]["data"]["task_id"] != task
    assert again.server.app[ENGINE].epoch == 3


async def test_alone_on_a_fresh_redis_the_ids_are_the_in_memory_ones(aiohttp_client, redis_url):
    shared = await aiohttp_client(create_app(make_settings(redis_url=redis_url)))
    alone = await aiohttp_client(create_app(make_settings()))
    assert (await freepik_create(shared))[1]["data"]["task_id"] == (await freepik_create(alone))[1]["data"]["task_id"]


async def test_a_rate_window_counts_requests_through_every_worker(workers, redis_url):
    rule = {"limit": 3, "window_s": 60, "per": "key"}
    a, b = await workers.start(redis_url=redis_url, accounts={"rate_limits": [rule]})
    statuses = [(await c.get(f"{FREEPIK}/none", headers=fp())).status for c in (a, b, a, b)]
    assert statuses[:3] == [404, 404, 404] and statuses[3] == 429


async def test_an_upload_through_one_is_used_through_the_other(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)
    uploaded = await pv_call(a, "POST", pv_support.UPLOAD, key="shared-key",
                             data=pv_support.form(image=(pv_support.image_bytes(), "a.png")))
    img_id = uploaded["Resp"]["img_id"]
    made = await pv_call(b, "POST", pv_support.I2V, key="shared-key", json={**pv_support.I2V_SEED, "img_id": img_id})
    assert made["ErrCode"] == 0, made
    thumb = await b.get(urlsplit(uploaded["Resp"]["img_url"]).path)
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/png"


# round trips ----------------------------------------------------------------------------------
@pytest.fixture
def round_trips(monkeypatch):
    """Counts what the Redis connections send: one per command or pipeline or script.
    The records' own connections (journal, faults, webhooks: engine/redis_records.py)
    are left out: the journal and the trace-id replay answers are sent in the
    background, one round trip per batch of requests, and the webhook scheduler looks
    at the schedule on its own time."""
    sent = [0]
    original = AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):
        # Also left out: the webhook scheduler's own reads (its tasks, on its own time)
        # and a new connection's set-up (once per connection, not per request).
        task = asyncio.current_task()
        head = command[0][:32] if isinstance(command, list) else command[:32]
        if self.client_name != CLIENT_NAME and not (task and task.get_name().startswith("webhook-")) \
                and b"\r\nHELLO\r\n" not in head and b"\r\nCLIENT\r\n" not in head:
            sent[0] += 1
        return await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


# provider -> (create, the job id in its answer, poll); every call a fresh PixVerse trace id.
CALLS = {
    "freepik": (lambda c: c.post(FREEPIK, json={"prompt": "a fox"}, headers=fp()),
                lambda body: body["data"]["task_id"],
                lambda c, job: c.get(f"{FREEPIK}/{job}", headers=fp())),
    "pixwith": (lambda c: c.post(CREATE["pixwith"][0], json=CREATE["pixwith"][2], headers={"Api-Key": "shared-key"}),
                lambda body: body["data"]["task_id"],
                lambda c, job: c.post("/api/task/get", json={"task_id": job}, headers={"Api-Key": "shared-key"})),
    "aimlapi": (lambda c: c.post(CREATE["aimlapi"][0], json=CREATE["aimlapi"][2],
                                 headers={"Authorization": "Bearer shared-key"}),
                lambda body: body["id"],
                lambda c, job: c.get("/v2/video/generations", params={"generation_id": job},
                                     headers={"Authorization": "Bearer shared-key"})),
    "pixverse": (lambda c: c.post(PV_T2V, json=PV_BODY, headers=pv()),
                 lambda body: body["Resp"]["video_id"],
                 lambda c, job: c.get(PV_RESULT.format(job), headers=pv())),
}


@pytest.mark.parametrize("progress_mode", ["time", "polls"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_round_trips_per_create_and_per_poll(aiohttp_client, redis_url, round_trips, progress_mode, provider):
    """Issue 17 item 6: at most 4 round trips per create and 2 per poll.  A create is
    admit (cap + credits + slot) and store, PixVerse's first taking its trace id; a
    poll the job + clock read (PixVerse's trace id taken in the same script) and the
    poll-count script (slot release, refund once).  PixVerse's answers are kept in the
    background, batched on the records' pool (not counted here, as the journal)."""
    create, job_of, poll = CALLS[provider]
    client = await aiohttp_client(create_app(make_settings(
        redis_url=redis_url, progress_mode=progress_mode, queued_polls=1, running_polls=2,
        accounts={"concurrency": {provider: 100}})))
    resp = await create(client)  # loads the scripts
    await poll(client, job_of(await resp.json()))
    round_trips[0] = 0
    resp = await create(client)
    assert resp.status == 200, await resp.text()
    job = job_of(await resp.json())
    assert round_trips[0] == (3 if provider == "pixverse" else 2)
    engine = client.server.app[ENGINE]
    states = []
    for n in range(5):  # unfinished, then finished (the poll that ends its slot and settles it)
        if n == 3 and progress_mode == "time":
            assert (await client.post("/__admin/clock", json={"advance": 3600})).status == 200
        round_trips[0] = 0
        resp = await poll(client, job)
        assert resp.status == 200, await resp.text()
        assert round_trips[0] == 2, f"poll {n + 1}"
        states.append(engine.status(await engine.get_job(provider, str(job))))
    assert states[2] not in TERMINAL and states[3] in TERMINAL
    assert (await engine.get_job(provider, str(job))).polls == 5


async def test_a_poll_repeated_with_its_trace_id_elsewhere_replays_and_counts_no_poll(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url, progress_mode="polls", queued_polls=1, running_polls=1)
    video = (await (await a.post(PV_T2V, json=PV_BODY, headers=pv())).json())["Resp"]["video_id"]
    trace = str(uuid.uuid4())
    first = await (await a.get(PV_RESULT.format(video), headers=pv(trace=trace))).json()
    # At once through the other worker: the first answer may still be on its way to Redis.
    again = await (await b.get(PV_RESULT.format(video), headers=pv(trace=trace))).json()
    assert again == first and first["Resp"]["status"] == 5
    both = await asyncio.gather(*(c.get(PV_RESULT.format(video), headers=pv(trace=trace)) for c in (a, b, a, b)))
    assert all([await r.json() == first for r in both])
    job = await b.server.app[ENGINE].get_job("pixverse", str(video))
    assert job.polls == 1  # the repeats counted no poll
    # Fresh trace ids are the second and third polls (queued 1, running 1: done at 3).
    later = [(await (await c.get(PV_RESULT.format(video), headers=pv())).json())["Resp"]["status"] for c in (b, a)]
    assert later == [5, 1]


async def test_a_replay_answer_is_kept_when_its_worker_stops_at_once(workers, redis_url):
    a, b = await workers.start(redis_url=redis_url)
    trace = str(uuid.uuid4())
    first = await (await a.post(PV_T2V, json=PV_BODY, headers=pv(trace=trace))).json()
    await a.close()  # sends the answers it has not kept yet
    again = await (await b.post(PV_T2V, json=PV_BODY, headers=pv(trace=trace))).json()
    assert again == first and first["ErrCode"] == 0
    assert len(await b.server.app[ENGINE].list_jobs("pixverse", "shared-key", "text-to-video")) == 1


# Redis going away ------------------------------------------------------------------------------
async def test_redis_gone_mid_request_gets_the_providers_503_not_a_traceback(aiohttp_client):
    server = start_redis()
    try:
        client = await aiohttp_client(create_app(make_settings(redis_url=server.url)))
        assert (await freepik_create(client))[0] == 200
    finally:
        server.stop()
    resp = await client.post(FREEPIK, json={"prompt": "a fox"}, headers=fp())
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert "Traceback" not in await resp.text()
    body = await (await client.get(PV_RESULT.format(1), headers=pv())).json()
    assert body["ErrCode"] != 0  # PixVerse's own envelope
    listed = await client.get("/__admin/jobs")
    assert listed.status == 503 and "did not answer" in (await listed.json())["message"]


def test_serve_exits_2_with_one_line_when_redis_does_not_answer():
    url = f"redis://:sekrit@127.0.0.1:{_free_port()}/0"
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--redis", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Redis at redis://:****@127.0.0.1:")
    assert "sekrit" not in done.stderr + done.stdout
