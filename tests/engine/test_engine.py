"""Engine: virtual clock, derived job status, bounded storage, seeded randomness."""
from __future__ import annotations

import pytest

from mockserver.engine import Engine
from mockserver.engine.clock import VirtualClock
from mockserver.engine.jobs import FAILED, MODERATED, QUEUED, RUNNING, SUCCEEDED, Job, Plan
from mockserver.engine.store import JobStore, Upload, UploadStore
from mockserver.settings import Settings


class FakeMonotonic:
    """A hand-driven wall clock to feed VirtualClock, so no test sleeps."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_clock_scales_wall_time():
    wall = FakeMonotonic()
    clock = VirtualClock(scale=100, start=1000.0, monotonic=wall)
    wall.t = 1.5
    assert clock.now() == pytest.approx(1150.0)


def test_clock_freeze_advance_and_rescale():
    wall = FakeMonotonic()
    clock = VirtualClock(scale=10, start=0.0, monotonic=wall)
    clock.freeze()
    wall.t = 50
    assert clock.now() == 0.0
    assert clock.advance(30) == 30.0
    assert clock.wall_delay(10) == float("inf")
    clock.unfreeze()
    wall.t = 51
    assert clock.now() == pytest.approx(40.0)
    clock.set_scale(2)
    wall.t = 52
    assert clock.now() == pytest.approx(42.0)
    assert clock.wall_delay(10) == pytest.approx(5.0)


def test_clock_maps_virtual_instants_back_to_the_wall_through_scale_changes_freezes_and_advances():
    mono = FakeMonotonic()
    wall = lambda: 5000.0 + mono.t  # noqa: E731  (wall and monotonic move together)
    clock = VirtualClock(scale=10, start=0.0, monotonic=mono, wall=wall)
    mono.t = 2                       # virtual 0..20 over wall 5000..5002
    assert clock.wall_at(15.0) == pytest.approx(5001.5)
    clock.set_scale(100)             # from virtual 20 at wall 5002, 100x
    mono.t = 3
    assert clock.wall_at(70.0) == pytest.approx(5002.5)
    clock.freeze()                   # virtual stands at 120 from wall 5003
    mono.t = 10
    assert clock.wall_at(120.0) == pytest.approx(5003.0)  # when it first got there
    assert clock.wall_at(121.0) == pytest.approx(5010.0)  # not reached while frozen: now
    clock.advance(1000)              # 120 -> 1120 at wall 5010: the skipped instants map there
    assert clock.wall_at(600.0) == pytest.approx(5010.0)
    clock.unfreeze()
    mono.t = 11
    assert clock.wall_at(1170.0) == pytest.approx(5010.5)
    assert clock.wall_at(1320.0) == pytest.approx(5012.0)  # ahead: projected at 100x
    assert clock.wall_at(-10.0) == pytest.approx(4999.0)   # before the start: the first scale
    assert clock.wall_at(15.0) == pytest.approx(5001.5)    # the past stays where it was


def test_clock_history_is_bounded():
    from mockserver.engine import clock as clock_module

    mono = FakeMonotonic()
    clock = VirtualClock(scale=1, start=0.0, monotonic=mono, wall=lambda: mono.t)
    for _ in range(clock_module.HISTORY_MAX * 3):
        clock.advance(1)
        mono.t += 1
    assert len(clock._seg_virtual) <= clock_module.HISTORY_MAX
    assert clock.wall_at(clock.now() - 1) == pytest.approx(mono.t - 1)


@pytest.mark.parametrize("bad", [0, -1])
def test_clock_rejects_bad_scale(bad):
    with pytest.raises(ValueError):
        VirtualClock(scale=bad)
    with pytest.raises(ValueError):
        VirtualClock().set_scale(bad)


def test_clock_never_goes_back():
    with pytest.raises(ValueError):
        VirtualClock().advance(-1)


def _job(outcome=SUCCEEDED, created=0.0, queue=10.0, run=100.0, job_id="j", provider="p", key="k", kind="t2v"):
    return Job(id=job_id, provider=provider, kind=kind, api_key=key, created_at=created,
               plan=Plan(queue, run, outcome), width=640, height=360, duration=5)


@pytest.mark.parametrize("outcome", [SUCCEEDED, FAILED, MODERATED])
def test_status_by_time(outcome):
    job = _job(outcome)
    assert [job.status(t, "time") for t in (0, 9.9, 10, 109.9, 110, 10**6)] == [
        QUEUED, QUEUED, RUNNING, RUNNING, outcome, outcome]


def test_status_by_polls():
    job = _job(FAILED)
    seen = []
    for _ in range(5):
        job.polls += 1
        seen.append(job.status(10**9, "polls", queued_polls=1, running_polls=2))
    assert seen == [QUEUED, RUNNING, RUNNING, FAILED, FAILED]


def test_manual_mode_waits_for_a_forced_state():
    job = _job()
    assert job.status(10**9, "manual") == QUEUED
    job.forced = MODERATED
    assert job.status(0, "manual") == MODERATED


def test_store_bounds_job_count_oldest_first():
    store = JobStore(max_jobs=3, retention_s=10**9)
    for i in range(5):
        store.add(_job(job_id=str(i)), now=0)
    assert len(store) == 3
    assert store.get("p", "0", 0) is None and store.get("p", "1", 0) is None
    assert store.get("p", "4", 0) is not None
    assert [j.id for j in store.owned("p", "k", "t2v", 0)] == ["2", "3", "4"]


def test_store_expires_finished_jobs_after_retention():
    store = JobStore(max_jobs=100, retention_s=60)
    store.add(_job(job_id="old", queue=0, run=10), now=0)
    assert store.get("p", "old", 69) is not None
    assert store.get("p", "old", 71) is None
    # Expired jobs are also swept when new ones arrive, so memory does not wait for reads.
    store.add(_job(job_id="a", queue=0, run=10), now=0)
    store.add(_job(job_id="b", created=1000), now=1000)
    assert len(store) == 1


def test_store_sweeps_expired_jobs_behind_a_dropped_one():
    # The insert's sweep skips its loop when the oldest job is live and not expired;
    # a dropped job at the front must still send it looking further.
    store = JobStore(max_jobs=100, retention_s=60)
    store.add(_job(job_id="a", queue=0, run=10), now=0)
    store.add(_job(job_id="d", created=500), now=0)
    store.add(_job(job_id="e", queue=0, run=10), now=0)
    store.remove("p", "d")                       # dropped out of order: stays in the deque
    assert store.get("p", "a", 100) is None      # expired on read: the dropped one is now first
    store.add(_job(job_id="f", created=100), now=100)
    assert len(store) == 1 and store.get("p", "e", 100) is None
    assert store.get("p", "f", 100) is not None


def test_store_counts_request_bytes_on_add_and_drop():
    store = JobStore(max_jobs=100, retention_s=60)
    # As sent (bytes, kept as is) or a dict (kept as compact JSON); empty: nothing kept.
    for job_id, request in (("a", b'{"prompt":"x"}'), ("b", {"prompt": "yy"}), ("c", b"")):
        store.add(Job(job_id, "p", "t2v", "k", 0.0, Plan(10.0, 100.0, SUCCEEDED), 640, 360, 5,
                      request=request), now=0)
    assert store.bytes == len(b'{"prompt":"x"}') + len(b'{"prompt":"yy"}')
    assert store.get("p", "a", 0).request == {"prompt": "x"} and store.get("p", "c", 0).request == {}
    store.remove("p", "a")
    assert store.bytes == len(b'{"prompt":"yy"}')


def test_upload_store_is_bounded_by_bytes():
    store = UploadStore(max_bytes=10)
    for i in range(3):
        store.add(Upload(id=str(i), provider="p", api_key="k", kind="image",
                         content_type="image/png", data=b"x" * 4))
    assert store.get("p", "0") is None
    assert store.get("p", "2") is not None


def test_upload_store_is_bounded_by_count():
    store = UploadStore(max_bytes=10**9, max_items=2)
    for i in range(3):
        store.add(Upload(id=str(i), provider="p", api_key="k", kind="image",
                         content_type="image/png", data=b""))
    assert store.get("p", "0") is None and store.get("p", "2") is not None


def _engine(**overrides) -> Engine:
    return Engine(Settings(**overrides))


def test_same_seed_same_ids_and_plans():
    def run(engine: Engine):
        return [(engine.new_uuid(), engine.new_hex(), engine.new_int_id(), engine.new_token(),
                 engine.plan("720p", 5)) for _ in range(3)]

    assert run(_engine(seed=7)) == run(_engine(seed=7))
    assert run(_engine(seed=7)) != run(_engine(seed=8))


def test_plan_scales_with_resolution_and_duration():
    engine = _engine(seed=1, generation_jitter=0.0)
    assert engine.plan("720p", 5).run_s == pytest.approx(60.0)
    assert engine.plan("720p", 8).run_s == pytest.approx(96.0)
    assert engine.plan("1080p", 5).run_s == pytest.approx(90.0)


def test_outcome_rates():
    assert {_engine(seed=1, moderation_rate=1.0).plan("720p", 5).outcome} == {MODERATED}
    assert {_engine(seed=1, failure_rate=1.0).plan("720p", 5).outcome} == {FAILED}


def test_ids_have_provider_shapes():
    engine = _engine(seed=3)
    assert len(engine.new_hex(32)) == 32 and int(engine.new_hex(32), 16) >= 0
    assert 10**14 <= engine.new_int_id() < 2**53
    assert len(engine.new_token(21)) == 21
    assert engine.new_uuid()[14] == "4"


def test_settings_precedence(tmp_path, monkeypatch):
    profile = tmp_path / "p.yaml"
    profile.write_text("settings:\n  time_scale: 7\n  port: 9000\n  seed: 1\n")
    monkeypatch.setenv("PIXVERSE_MOCK_PORT", "9100")
    s = Settings.load(profile, seed=5, time_scale=None)
    assert (s.time_scale, s.port, s.seed) == (7.0, 9100, 5)
