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
