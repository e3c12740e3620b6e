"""The state interface (engine/state.py): every mutable store of the engine is one of
``Engine.state``'s, so a backend that provides those provides all the fake's state."""
from __future__ import annotations

import dataclasses

import orjson
import pytest

from mockserver.engine import Engine, statefile
from mockserver.engine.clock import VirtualClock
from mockserver.engine.jobs import JobSpec
from mockserver.engine.journal import Journal
from mockserver.engine.state import State
from mockserver.settings import Settings

# Engine attributes that are not state a restart or a second worker must share:
# settings, the media renderer (files on disk), per-process metrics, and an alias.
NOT_STATE = {"settings", "state", "media", "request_stats", "fault_counts"}


def test_the_engine_keeps_its_state_in_one_place():
    engine = Engine(Settings(seed=1))
    stores = {f.name for f in dataclasses.fields(State)}
    # The engine holds the stores themselves (no indirection per request) ...
    for name in stores:
        assert getattr(engine, name) is getattr(engine.state, name), name
    # ... and nothing mutable besides them.
    assert set(vars(engine)) - stores == NOT_STATE
    assert engine.fault_counts is engine.state.faults.counts


async def test_a_job_lives_in_the_state_store():
    engine = Engine(Settings(seed=1))
    job = await engine.create_job(JobSpec(kind="text-to-video", job_id="j1", quality="720p", width=1280,
                                    height=720, duration=5, provider="pixverse", api_key="k"))
    assert engine.state.jobs.get("pixverse", "j1", engine.now()) is job
    await engine.observe(job)
    assert engine.state.jobs.get("pixverse", "j1", engine.now()).polls == 1


class Channel:
    """A provider's webhook channel reduced to what the scheduler asks before sending."""

    provider = "freepik"

    def visible(self, state: str) -> str:
        return state.upper()


async def test_the_webhook_schedule_survives_a_snapshot():
    engine = Engine(Settings(seed=3))
    engine.clock.freeze()
    job = await engine.create_job(JobSpec(kind="text-to-video", job_id="j1", quality="720p", width=1280,
                                    height=720, duration=5, provider="freepik", api_key="k"))
    channel = Channel()
    engine.webhooks.watch(job, channel, "http://127.0.0.1:9/hook", {"base_url": "http://x"}, "QUEUED")
    engine.clock.advance(job.plan.queue_s + 0.5)
    engine.webhooks.notice(job)  # running: one delivery due, the watch still open
    data = orjson.loads(orjson.dumps(statefile.snapshot(engine)))

    again = Engine(Settings(seed=3))
    statefile.restore(again, data, {"freepik": channel})
    assert (again.webhooks.watching, again.webhooks.pending) == (1, 1)
    assert again.webhooks.snapshot()["deliveries"] == data["webhooks"]["deliveries"]
    assert data["webhooks"]["deliveries"][0]["event"] == "RUNNING"
    # The watch goes on: finishing the job schedules the next delivery.
    again.clock.advance(job.plan.run_s)
    again.webhooks.notice(await again.get_job("freepik", "j1"))
    assert again.webhooks.pending == 2 and again.webhooks.watching == 0
    # Without the provider's channel the watch cannot be rebuilt: dropped, not a crash.
    third = Engine(Settings(seed=3))
    statefile.restore(third, data, {})
    assert (third.webhooks.watching, third.webhooks.pending) == (0, 0)


def test_the_clock_resumes_where_it_stood_and_keeps_its_wall_times():
    wall = [1000.0]
    clock = VirtualClock(scale=10, start=5000.0, monotonic=lambda: wall[0], wall=lambda: wall[0])
    wall[0] = 1001.0  # virtual 5010 reached at wall 1001
    clock.set_scale(2)
    data = orjson.loads(orjson.dumps(clock.snapshot()))
    wall[0] = 2000.0  # the fake was down for 999 s
    again = VirtualClock(scale=50, monotonic=lambda: wall[0], wall=lambda: wall[0])
    again.restore(data)
    assert again.now() == 5010.0 and again.scale == 2
    assert again.wall_at(5005.0) == pytest.approx(1000.5)
    wall[0] = 2001.0
    assert again.now() == 5012.0


def test_a_smaller_journal_keeps_the_newest_saved_entries():
    big = Journal(max_entries=10)
    for n in range(6):
        big.record(float(n), float(n), "pixverse", "op", "GET", f"/{n}", "", 200, 1.0,
                   request_body=b"x" * 10, response_body=b"y" * 5)
    small = Journal(max_entries=3)
    small.restore(orjson.loads(orjson.dumps(big.snapshot())))
    assert [e.path for e in small] == ["/3", "/4", "/5"]
    assert small.bytes == 3 * 15
    assert small.record(9.0, 9.0, None, None, "GET", "/x", "", 404, 1.0) == 7  # the sequence goes on
