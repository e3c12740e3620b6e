"""The journal in a Redis stream (engine/redis_journal.py) against a real Redis: two
journals on one Redis act as the journals of two workers."""
from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from mockserver.engine.journal import Journal
from mockserver.engine.redis_journal import RedisJournal
from mockserver.engine.redis_peers import Peers

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def conns(redis_url):
    made = []

    def connect():
        conn = aioredis.Redis.from_url(redis_url)
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        await conn.aclose()


def journal(conns, max_entries=100, body_limit=64, max_bytes=10_000, prefix="t:", peers=None) -> RedisJournal:
    return RedisJournal(conns(), prefix, max_entries, body_limit, max_bytes, peers)


@pytest.fixture
async def workers(conns):
    """Two journals whose reads have every worker send its entries first."""
    peers = [Peers(conns(), "t:") for _ in range(2)]
    made = [journal(conns, peers=p) for p in peers]
    for p in peers:
        await p.start()
    yield made
    for p in peers:
        await p.close()


def record(j: Journal, **fields) -> int:
    base = dict(time=100.0, wall=1.0, provider="pixwith", operation="get_task", method="POST",
                path="/api/task/get", query="", status=200, latency_ms=0.5)
    return j.record(**{**base, **fields})


async def test_entries_of_two_workers_read_through_either_in_order(workers):
    a, b = workers
    record(a, task_id="a1", request_body=b'{"x": 1}', response_body=b"\xff\x00ok")
    await a.sync()
    record(b, task_id="b1", test_id="t-1", faults=("error",))
    record(a, task_id="a2", request_body="<multipart/form-data, 9 bytes>")
    for reader in (a, b):
        await reader.sync()
        # Numbered as they reach Redis: one worker's in its order, workers interleaved.
        assert sorted(e.task_id for e in reader) == ["a1", "a2", "b1"]
        assert [e.seq for e in reader] == [1, 2, 3]
        assert [e.task_id for e in reader if e.task_id != "b1"] == ["a1", "a2"]
    seqs = {e.task_id: e.seq for e in a}
    first = b.get(1)
    assert first is not None and first.request_body == b'{"x": 1}' and first.response_body == b"\xff\x00ok"
    assert b.get(seqs["b1"]).faults == ("error",) and b.get(seqs["b1"]).test_id == "t-1"
    assert b.get(seqs["a2"]).request_text == "<multipart/form-data, 9 bytes>"
    assert [e.task_id for e in a.find({"test_id": "t-1"})] == ["b1"]
    assert [e.seq for e in a.newest(2)] == [3, 2]
    assert [e.seq for e in a.find(since=1)] == [2, 3]


async def test_a_just_recorded_entry_is_seen_by_the_next_read(workers):
    # A read through one worker has the other send what it holds first (no waiting
    # for its background flush).
    c, d = workers
    for n in range(3):
        record(c, task_id=f"through c {n}")
        await d.sync()
        assert [e.task_id for e in d][-1] == f"through c {n}"
        record(d, task_id=f"through d {n}")
        await c.sync()
        assert [e.task_id for e in c][-1] == f"through d {n}"


async def test_entries_flush_in_the_background_within_milliseconds(conns):
    import asyncio

    a, b = journal(conns), journal(conns)
    record(a, task_id="bg")
    for _ in range(200):  # bounded: the flush is due after FLUSH_DELAY_S
        await asyncio.sleep(0.005)
        await b.sync()
        if len(b):
            break
    assert [e.task_id for e in b] == ["bg"]


async def test_bounds_by_count_and_bytes_as_the_memory_journal(conns):
    a, b = journal(conns, max_entries=3), journal(conns, max_entries=3)
    memory = Journal(max_entries=3, body_limit=64, max_bytes=10_000)
    for i in range(7):
        for j in (a if i % 2 else b, memory):
            record(j, task_id=str(i), request_body=b"x" * 10)
        await (a if i % 2 else b).sync()
    await a.sync()
    assert [e.task_id for e in a] == [e.task_id for e in memory] == ["4", "5", "6"]
    assert a.evicted == memory.evicted == 4 and a.bytes == memory.bytes == 30

    small = journal(conns, max_bytes=25, prefix="s:")
    sized = Journal(max_entries=100, body_limit=64, max_bytes=25)
    for i in range(4):
        record(small, task_id=str(i), request_body=b"y" * 10)
        record(sized, task_id=str(i), request_body=b"y" * 10)
    await small.sync()
    assert [e.task_id for e in small] == [e.task_id for e in sized] == ["2", "3"]
    assert small.evicted == sized.evicted == 2


async def test_clear_one_test_id_or_everything_through_any_worker(conns):
    a, b = journal(conns), journal(conns)
    record(a, task_id="keep")
    record(a, task_id="drop", test_id="t-9", request_body=b"z" * 20)
    await a.sync()
    await b.sync()
    assert b.clear("t-9") == 1
    record(b, task_id="after", test_id="t-9")  # recorded after the clear: kept
    await b.sync()
    await a.sync()
    assert [e.task_id for e in a] == ["keep", "after"]
    assert a.bytes == 0
    a.clear()
    await a.sync()
    await b.sync()
    assert len(b) == 0 and b.evicted == 0
    record(b, task_id="next")
    await b.sync()
    assert [e.seq for e in b] == [4]  # numbers never repeat


async def test_headers_kept_while_a_dashboard_watches(conns):
    a, b = journal(conns), journal(conns)
    seq = record(a, task_id="h")
    a.keep_headers(seq, "sk-secret-key-123", {"Api-Key": "sk-secret-key-123", "X-A": "1"}, {"X-B": "2"})
    await a.sync()
    await b.sync()
    request, response = b.headers(1)
    assert ("Api-Key", "sk-s...-123") in request and ("X-B", "2") in response


async def test_a_journal_of_size_zero_sends_nothing(conns):
    a = journal(conns, max_entries=0)
    record(a, task_id="x")
    await a.sync()
    assert len(a) == 0 and await a.redis.exists("t:journal") == 0


async def test_close_flushes_and_a_redis_away_keeps_the_entries(conns, redis_url):
    a = journal(conns)
    gone = RedisJournal(aioredis.Redis.from_url("redis://127.0.0.1:1/0"), "t:", 100, 64, 10_000)
    record(gone, task_id="kept")
    with pytest.raises(Exception):
        await gone.flush()
    assert gone._queued  # not lost: still queued for the next flush
    await gone.redis.aclose()
    record(a, task_id="last")
    await a.close()
    reader = journal(conns)
    await reader.sync()
    assert [e.task_id for e in reader] == ["last"]


async def test_entries_a_worker_evicted_before_sending_keep_their_numbers(conns):
    # Five requests answered before the worker sent any (a busy loop, or Redis slow):
    # its buffer holds three, as the journal does, and the numbers are the in-memory
    # journal's, so ``seq`` means the same whichever store a test runs on.
    shared, memory = journal(conns, max_entries=3), Journal(3, 64, 10_000)
    for n in range(5):
        record(shared, task_id=f"t{n}")
        record(memory, task_id=f"t{n}")
    await shared.sync()
    assert [(e.seq, e.task_id) for e in shared.newest(10)] == [(e.seq, e.task_id) for e in memory.newest(10)]
    assert [e.seq for e in shared.newest(10)] == [5, 4, 3]
    assert shared.evicted == memory.evicted == 2
