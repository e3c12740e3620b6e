"""Memory bounded by bytes, not only by counts (issue 14 item 7): the requests jobs keep
and the journal's bodies each have a byte budget; finished jobs go before in-flight ones."""
from __future__ import annotations

import pytest

from mockserver.app import ENGINE, create_app
from mockserver.engine.jobs import SUCCEEDED, Job, Plan
from mockserver.engine.journal import Journal
from mockserver.engine.store import JobStore
from support import make_settings

MB = 1024 * 1024


def job(job_id: str, size: int, finished: bool = False) -> Job:
    out = Job(id=job_id, provider="p", kind="t2v", api_key="k", created_at=0.0,
              plan=Plan(1.0, 1.0, SUCCEEDED), width=640, height=360, duration=5,
              request=b'{"prompt": "' + b"x" * size + b'"}')
    out.forced = SUCCEEDED if finished else None
    return out


def test_job_store_drops_finished_jobs_first_past_its_byte_budget():
    store = JobStore(max_jobs=100, retention_s=10**9, max_bytes=3500,
                     finished=lambda j: j.forced is not None)
    store.add(job("running-1", 1000), 0.0)
    store.add(job("done", 1000, finished=True), 0.0)
    store.add(job("running-2", 1000), 0.0)
    store.add(job("running-3", 1000), 0.0)
    assert [j.id for j in store.all()] == ["running-1", "running-2", "running-3"]
    assert store.bytes <= 3500
    # Nothing finished left: the oldest in-flight job goes, never the one just added.
    store.add(job("running-4", 1000), 0.0)
    assert [j.id for j in store.all()] == ["running-2", "running-3", "running-4"]
    store.add(job("huge", 10_000), 0.0)
    assert [j.id for j in store.all()] == ["huge"]
    store.clear()
    assert store.bytes == 0


def test_job_store_byte_count_follows_removals():
    store = JobStore(max_jobs=2, retention_s=10**9, max_bytes=10**9)
    for n in range(5):
        store.add(job(f"j{n}", 100), 0.0)
    assert store.bytes == sum(len(j._request) for j in store.all())
    store.remove("p", "j4")
    assert store.bytes == sum(len(j._request) for j in store.all())


def test_journal_keeps_its_bodies_within_max_bytes():
    journal = Journal(max_entries=1000, body_limit=1000, max_bytes=2500)
    for n in range(10):
        journal.record(0.0, 0.0, "p", "op", "POST", "/", "", 200, 1.0,
                       request_body=b"q" * 600, response_body=b"a" * 400)
    assert len(journal) == 2 and journal.bytes == 2000
    assert journal.evicted == 8
    assert [e.seq for e in journal.find()] == [9, 10]
    journal.record(0.0, 0.0, "p", "op", "POST", "/", "", 200, 1.0,
                   request_body=b"z" * 5000, response_body=b"y" * 5000)
    assert len(journal) == 1  # the newest is always kept (clipped to body_limit)
    journal.clear()
    assert journal.bytes == 0


@pytest.mark.parametrize("provider, path, headers, body", [
    ("freepik", "/v1/ai/text-to-video/pixverse-v5", {"x-freepik-api-key": "k"}, {}),
    ("aimlapi", "/v2/video/generations", {"Authorization": "Bearer k"}, {"model": "pixverse/v5/text-to-video"}),
])
async def test_big_prompts_keep_stored_requests_within_the_budget(aiohttp_client, provider, path, headers, body):
    """Providers without a documented prompt limit accept a 1 MB prompt; the jobs'
    stored requests stay within ``retention_max_request_bytes``, finished jobs going first."""
    app = create_app(make_settings(retention_max_request_bytes=int(3.5 * MB)))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    engine.clock.freeze()
    ids = []
    for n in range(6):
        resp = await client.post(path, headers=headers, json={**body, "prompt": str(n) * MB})
        assert resp.status == 200, await resp.text()
        ids.append(n)
        if n == 0:
            engine.clock.advance(3600)  # the first job finishes; the rest stay in flight
    assert engine.jobs.bytes <= 3.5 * MB
    kept = [j.request["prompt"][0] for j in engine.jobs.all()]
    assert kept == ["3", "4", "5"]  # the finished "0" went first, then the oldest in flight
