"""RedisEngine's bounds, as the in-memory stores' (tests/engine/test_engine.py), on a real
Redis: jobs by count, by request bytes (finished ones first) and by age on the virtual
clock; uploads by bytes and by count."""
from __future__ import annotations

import pytest

from mockserver.engine.jobs import JobSpec
from mockserver.engine.redis_backend import RedisEngine
from mockserver.engine.store import Upload
from support import make_settings


@pytest.fixture
async def start(redis_url):
    engines = []

    async def make(**settings) -> RedisEngine:
        engine = RedisEngine(make_settings(redis_url=redis_url, **settings))
        await engine.start()
        engine.clock.freeze()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


def spec(job_id: str, prompt: str = "p") -> JobSpec:
    return JobSpec("text-to-video", job_id, quality="720p", width=1280, height=720, duration=5,
                   request=b'{"prompt":"%s"}' % prompt.encode(), provider="p", api_key="k")


async def test_jobs_are_bounded_by_count_oldest_first(start):
    engine = await start(retention_max_jobs=3)
    for i in range(5):
        await engine.create_job(spec(str(i)))
    assert await engine.count_jobs() == 3
    assert await engine.get_job("p", "0") is None and await engine.get_job("p", "1") is None
    assert [j.id for j in await engine.list_jobs("p", "k", "text-to-video")] == ["2", "3", "4"]


async def test_request_bytes_drop_finished_jobs_first(start):
    engine = await start(retention_max_request_bytes=70, progress_mode="manual")
    for i in range(3):
        await engine.create_job(spec(str(i), "x" * 8))  # 21 bytes each
    await engine.force(await engine.get_job("p", "1"), "succeeded")
    await engine.create_job(spec("3", "x" * 8))
    assert [j.id for j in await engine.find_jobs()] == ["0", "2", "3"]  # the finished one went
    await engine.create_job(spec("4", "x" * 8))
    assert [j.id for j in await engine.find_jobs()] == ["2", "3", "4"]  # then the oldest


async def test_jobs_expire_on_the_virtual_clock(start):
    engine = await start(retention_seconds=60, queue_seconds=(0, 0), generation_seconds={"720p": 10},
                         generation_jitter=0)
    await engine.create_job(spec("old"))
    await engine.change_clock(advance=69)
    assert await engine.get_job("p", "old") is not None
    await engine.change_clock(advance=2)
    assert await engine.get_job("p", "old") is None
    await engine.create_job(spec("new"))  # sweeps the expired one from the index
    assert await engine.count_jobs() == 1


@pytest.mark.parametrize("bound, sizes", [({"retention_max_upload_bytes": 10}, 4), ({"retention_max_jobs": 2}, 0)])
async def test_uploads_are_bounded_by_bytes_and_by_count(start, bound, sizes):
    engine = await start(**bound)
    for i in range(3):
        await engine.add_upload(Upload(id=str(i), provider="p", api_key="k", kind="image",
                                       content_type="image/png", data=b"x" * sizes))
    assert await engine.get_upload("p", "0") is None
    assert (await engine.get_upload("p", "2")).data == b"x" * sizes
    assert [u.id for u in await engine.newest_uploads(5)] == ["2", "1"]


# trace-id replay (RedisReplay, the Redis IdempotencyStore) ----------------------------------
async def test_a_replay_takes_its_key_in_the_first_read_and_keeps_the_answer_in_the_background(start):
    engine = await start()
    await engine.create_job(spec("1"))
    runs = []

    async def poll() -> dict:
        job = await engine.get_job("p", "1")  # a repeat goes no further
        runs.append(1)
        return {"id": job.id, "run": len(runs)}

    await engine.idempotency.once("warm-up", poll, reads_first=True)  # loads the scripts
    await engine.idempotency.once("warm-up, eager", poll)
    await engine._replays.flush()
    runs.clear()
    before = engine.round_trips["requests"][0]
    first = await engine.idempotency.once("trace", poll, reads_first=True)
    assert engine.round_trips["requests"][0] - before == 1  # the take rode with the job read
    assert len(engine._replays) == 1  # the answer is on its way
    assert await engine.idempotency.once("trace", poll, reads_first=True) == first  # found here
    await engine._replays.flush()
    assert len(engine._replays) == 0
    other = await start()  # another worker finds it in Redis
    assert await other.idempotency.once("trace", poll, reads_first=True) == first and runs == [1]
    before = engine.round_trips["requests"][0]
    await engine.idempotency.once("eager", poll)  # without reads_first: a round trip of its own
    assert engine.round_trips["requests"][0] - before == 2


async def test_a_handler_that_asks_redis_nothing_takes_the_key_after(start):
    engine = await start()
    runs = []

    async def pure() -> str:
        runs.append(1)
        return f"answer {len(runs)}"

    assert await engine.idempotency.once("k", pure, reads_first=True) == "answer 1"
    await engine._replays.flush()
    other = await start()
    assert await other.idempotency.once("k", pure, reads_first=True) == "answer 1"


async def test_a_replayed_first_attempt_that_raises_leaves_nothing_behind(start):
    engine = await start()
    await engine.create_job(spec("1"))

    async def broken() -> str:
        await engine.get_job("p", "1")
        raise RuntimeError("handler failed")

    async def works() -> str:
        return "ok"

    with pytest.raises(RuntimeError):
        await engine.idempotency.once("k", broken, reads_first=True)
    await engine._replays.flush()
    other = await start()
    assert await other.idempotency.once("k", works) == "ok"


async def test_concurrent_repeats_on_two_workers_run_the_handler_once(start):
    import asyncio

    a, b = await start(), await start()
    await a.create_job(spec("1"))
    runs = []

    def make(engine):
        async def run() -> int:
            runs.append(1)
            await engine.admit("p", "k", 1)
            await asyncio.sleep(0)
            return len(runs)
        return run

    answers = await asyncio.gather(*(e.idempotency.once("k", make(e)) for e in (a, b, a, b)))
    assert answers == [1, 1, 1, 1] and runs == [1]
    assert await a.balance("p", "k") == a.ledger.starting("p") - 1  # one debit


async def test_an_unreusable_answer_still_on_its_way_is_made_again(start):
    engine = await start()
    made = []

    async def make() -> dict:
        made.append(1)
        await engine.balance("p", "k")
        return {"n": len(made)}

    async def only_latest(answer: dict) -> bool:
        return answer["n"] >= 2

    assert await engine.idempotency.once("k", make, only_latest) == {"n": 1}
    assert await engine.idempotency.once("k", make, only_latest) == {"n": 2}
    assert await engine.idempotency.once("k", make, only_latest) == {"n": 2}
