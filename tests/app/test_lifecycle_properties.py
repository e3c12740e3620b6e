"""Hypothesis state machines of the job lifecycle, one per provider.

Against a live fake (strict mode: a response that breaks its contract is a 500 and
fails the run), random interleavings of create, poll and virtual-clock advances must
keep: statuses only move forward, terminal states stay terminal, ids are unique,
every poll is a 200 that validates against the contract, and a completed job's media
downloads as an MP4.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from mockserver.app import ADAPTERS, ENGINE, create_app
from mockserver.testing.server import ThreadedFake
from support import make_settings

KEY = "lifecycle-key"
RESOLUTIONS = st.sampled_from(["360p", "540p", "720p"])
DURATIONS = st.sampled_from([5, 8])


@dataclass(frozen=True)
class Driver:
    """How to create and poll one provider's job, and how to read the answer.

    ``rank`` orders the provider's statuses (a poll may never see a lower rank);
    ``terminal`` are the statuses a job never leaves.
    """

    create: Callable[[requests.Session, str, str, int], str]
    poll: Callable[[requests.Session, str, str], tuple[str, list[str]]]
    rank: dict
    terminal: frozenset


def _freepik_create(s, base, resolution, duration):
    r = s.post(f"{base}/v1/ai/text-to-video/pixverse-v5", headers={"x-freepik-api-key": KEY},
               json={"prompt": "p", "resolution": resolution, "duration": duration})
    assert r.status_code == 200, r.text
    return r.json()["data"]["task_id"]


def _freepik_poll(s, base, task_id):
    r = s.get(f"{base}/v1/ai/text-to-video/pixverse-v5/{task_id}", headers={"x-freepik-api-key": KEY})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return data["status"], data["generated"]


def _pixwith_create(s, base, resolution, duration):
    r = s.post(f"{base}/api/task/create", headers={"Api-Key": KEY}, json={
        "prompt": "p", "model_id": "2-27", "options": {
            "prompt_optimization": False, "num_outputs": 2, "resolution": resolution,
            "aspect_ratio": "9:16", "duration": duration}})
    assert r.status_code == 200 and r.json()["code"] == 1, r.text
    return r.json()["data"]["task_id"]


def _pixwith_poll(s, base, task_id):
    r = s.post(f"{base}/api/task/get", headers={"Api-Key": KEY}, json={"task_id": task_id})
    assert r.status_code == 200 and r.json()["code"] == 1, r.text
    data = r.json()["data"]
    return data["status"], data["result_urls"]


def _aimlapi_create(s, base, resolution, duration):
    r = s.post(f"{base}/v2/video/generations", headers={"Authorization": f"Bearer {KEY}"}, json={
        "model": "pixverse/v5/text-to-video", "prompt": "p", "resolution": resolution, "duration": duration})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _aimlapi_poll(s, base, gen_id):
    r = s.get(f"{base}/v2/video/generations", params={"generation_id": gen_id},
              headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["status"], [body["video"]["url"]] if body.get("video") else []


def _pixverse_headers():
    return {"API-KEY": KEY, "Ai-trace-id": str(uuid.uuid4())}


def _pixverse_create(s, base, resolution, duration):
    r = s.post(f"{base}/openapi/v2/video/text/generate", headers=_pixverse_headers(), json={
        "prompt": "p", "model": "v5", "aspect_ratio": "1:1", "quality": resolution, "duration": duration})
    assert r.status_code == 200 and r.json()["ErrCode"] == 0, r.text
    return str(r.json()["Resp"]["video_id"])


def _pixverse_poll(s, base, video_id):
    r = s.get(f"{base}/openapi/v2/video/result/{video_id}", headers=_pixverse_headers())
    assert r.status_code == 200 and r.json()["ErrCode"] == 0, r.text
    resp = r.json()["Resp"]
    return resp["status"], [resp["url"]] if resp["status"] == 1 else []


DRIVERS = {
    "freepik": Driver(_freepik_create, _freepik_poll,
                      {"CREATED": 0, "IN_PROGRESS": 1, "COMPLETED": 2, "FAILED": 2},
                      frozenset({"COMPLETED", "FAILED"})),
    "pixwith": Driver(_pixwith_create, _pixwith_poll, {1: 0, 2: 2, 3: 2}, frozenset({2, 3})),
    "aimlapi": Driver(_aimlapi_create, _aimlapi_poll,
                      {"queued": 0, "generating": 1, "completed": 2, "error": 2},
                      frozenset({"completed", "error"})),
    "pixverse": Driver(_pixverse_create, _pixverse_poll, {5: 0, 1: 2, 7: 2, 8: 2}, frozenset({1, 7, 8})),
}
COMPLETED = {"freepik": "COMPLETED", "pixwith": 2, "aimlapi": "completed", "pixverse": 1}


@pytest.fixture(scope="module")
def live_app():
    app = create_app(make_settings(api_keys=[KEY], failure_rate=0.25, moderation_rate=0.25,
                                   starting_credits=10**9))
    app[ENGINE].clock.freeze()  # only the state machine moves time
    fake = ThreadedFake(app=app)
    yield app, fake.base_url
    fake.close()


@pytest.mark.parametrize("provider", list(DRIVERS))
def test_lifecycle_state_machine(live_app, provider):
    app, base = live_app
    engine = app[ENGINE]
    driver = DRIVERS[provider]
    reached: set = set()  # statuses seen across all examples: the run must reach the ends

    class Lifecycle(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        def __init__(self):
            super().__init__()
            self.session = requests.Session()
            self.seen: dict[str, object] = {}
            self.downloaded: set[str] = set()

        @rule(target=jobs, resolution=RESOLUTIONS, duration=DURATIONS)
        def create(self, resolution, duration):
            job_id = driver.create(self.session, base, resolution, duration)
            assert job_id not in self.seen, "ids must be unique"
            self.seen[job_id] = None
            return job_id

        @rule(job_id=jobs)
        def poll(self, job_id):
            status, urls = driver.poll(self.session, base, job_id)
            before = self.seen[job_id]
            if before is not None:
                assert driver.rank[status] >= driver.rank[before], (before, status)
                if before in driver.terminal:
                    assert status == before, (before, status)
            self.seen[job_id] = status
            reached.add(status)
            if status == COMPLETED[provider]:
                assert urls
                for url in urls:
                    if url not in self.downloaded:
                        media = self.session.get(url)
                        assert media.status_code == 200
                        assert media.headers["Content-Type"] == "video/mp4"
                        assert media.content[4:8] == b"ftyp"
                        self.downloaded.add(url)
            else:
                assert not urls

        @rule(seconds=st.floats(min_value=0, max_value=120))
        def advance(self, seconds):
            engine.clock.advance(seconds)

        @invariant()
        def strict_mode_saw_no_violation(self):
            assert not app[ADAPTERS][provider].violations

        def teardown(self):
            self.session.close()

    Lifecycle.TestCase.settings = settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    Lifecycle.TestCase().runTest()
    assert reached >= {COMPLETED[provider]} and reached & (driver.terminal - {COMPLETED[provider]}), reached
