"""The conformance harness (mockserver.testing.harness) on small clients written here;
the reference and naive clients of examples/ are in test_examples.py."""
from __future__ import annotations

import time

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.testing import check_client
from mockserver.testing.contracts import contracts_dir
from mockserver.testing.harness import (
    FAULT_KINDS,
    ClientCheckFailed,
    Fault,
    Schedule,
    StillWaiting,
    TooManyPolls,
    UnexpectedResult,
    schedules,
)
from support import MEDIA_CACHE


@pytest.fixture(scope="session")
def pixverse_mock_settings():
    from mockserver.settings import Settings

    return Settings(port=0, strict=True, seed=0, media_cache_dir=MEDIA_CACHE, contracts_dir=contracts_dir())


class Failed(Exception):
    pass


def sync_freepik(base_url: str, api_key: str, *, sleep=time.sleep, timeout: float = 30.0) -> str:
    """A small synchronous client (requests): retries 429 after Retry-After and 5xx
    after a pause, refuses to resend a submit that got no answer."""
    url = f"{base_url}/v1/ai/text-to-video/pixverse-v5"
    headers = {"x-freepik-api-key": api_key}

    def send(method, target, repeatable, **kw):
        for attempt in range(6):
            try:
                r = requests.request(method, target, headers=headers, timeout=timeout, **kw)
            except requests.RequestException as exc:
                if not repeatable:
                    raise Failed("submit outcome unknown") from exc
                sleep(1)
                continue
            if r.status_code == 429:
                sleep(float(r.headers.get("Retry-After", 1)))
            elif r.status_code >= 500:
                sleep(2 ** attempt)
            else:
                r.raise_for_status()
                return r.json()["data"]
        raise Failed("gave up")

    task = send("POST", url, False, json={"prompt": "a cat"})["task_id"]
    while True:
        sleep(5)
        data = send("GET", f"{url}/{task}", True)
        if data["status"] == "COMPLETED":
            return data["generated"][0]
        if data["status"] == "FAILED":
            raise Failed(task)


def test_a_sync_client_passes(pixverse_mock):
    report = check_client(sync_freepik, "freepik", errors=Failed, fake=pixverse_mock, seed=3, max_examples=12)
    assert report.runs >= 12 and report.results["url"] >= 1
    assert set(report.results) <= {"url", "failed", "moderated", "ambiguous"}
    # the harness cleans up after itself: no rule of its own is left on the shared fake
    assert pixverse_mock.faults() == []


def test_an_undeclared_error_fails_with_the_shrunk_schedule():
    with pytest.raises(UnexpectedResult) as failed:
        check_client(sync_freepik, "freepik", errors={"moderated": Failed}, seed=1, max_examples=20,
                     faults=("latency",))
    message = str(failed.value)
    # shrunk to the simplest run that needs the missing declaration: a failed job, no fault
    assert "outcome: failed\n  no faults" in message
    assert "expected an error declared for 'failed'" in message
    assert "POST /v1/ai/text-to-video/pixverse-v5 -> 200" in message
    assert "Failed" in message  # the client's traceback


def test_a_wrong_result_is_caught():
    def liar(base_url, api_key, sleep):
        requests.post(f"{base_url}/v1/ai/text-to-video/pixverse-v5", headers={"x-freepik-api-key": api_key},
                      json={"prompt": "x"}, timeout=5)
        return "https://example.com/video.mp4"

    with pytest.raises(UnexpectedResult, match="not the media URL of its job"):
        check_client(liar, "freepik", errors=Exception, max_examples=1, faults=())


async def test_an_async_client_from_an_async_test(pixverse_mock):
    import aiohttp

    async def busy(base_url, api_key, sleep):
        async with aiohttp.ClientSession(headers={"Api-Key": api_key}) as s:
            async with s.post(f"{base_url}/api/task/create", json={
                    "prompt": "p", "model_id": "2-27", "options": {
                        "prompt_optimization": False, "num_outputs": 1, "resolution": "720p",
                        "aspect_ratio": "16:9", "duration": 5}}) as r:
                task = (await r.json())["data"]["task_id"]
            while True:
                await sleep(0.5)  # far too often for pixwith
                async with s.post(f"{base_url}/api/task/get", json={"task_id": task}) as r:
                    data = (await r.json())["data"]
                if data["status"] != 1:
                    return data["result_urls"][0]

    with pytest.raises(TooManyPolls, match="one read per 5 s allows"):
        check_client(busy, "pixwith", errors=Exception, fake=pixverse_mock, max_examples=3)


def test_a_client_that_never_finishes_is_stopped_in_virtual_time():
    def forever(base_url, api_key, sleep):
        requests.post(f"{base_url}/api/task/create", headers={"Api-Key": api_key}, timeout=5, json={
            "prompt": "p", "model_id": "2-27", "options": {
                "prompt_optimization": False, "num_outputs": 1, "resolution": "720p",
                "aspect_ratio": "16:9", "duration": 5}})
        while True:
            sleep(60)

    started = time.monotonic()
    with pytest.raises(StillWaiting, match="still waiting after"):
        check_client(forever, "pixwith", errors=Exception, max_examples=1, faults=(), max_virtual_seconds=600)
    assert time.monotonic() - started < 10


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown provider"):
        check_client(sync_freepik, "runway")
    with pytest.raises(ValueError, match="unknown outcome"):
        check_client(sync_freepik, "freepik", errors={"timeout": Failed})
    with pytest.raises(ValueError, match="unknown fault kinds"):
        schedules("freepik", kinds=("latency", "earthquake"))


def test_a_schedule_becomes_rules_scoped_to_the_run():
    schedule = Schedule("moderated_at_submit", (Fault("rate_limit", "poll", 2), Fault("slow_polls", "poll", 1, ms=5),
                                                Fault("timeout", "submit", 1, ms=300)), retry_after=4)
    rules = schedule.rules("aimlapi", "k")
    assert rules[0] == {"api_key": "k", "operation": "submit", "moderation": "submit"}
    assert rules[1]["error"] == 429 and rules[1]["retry_after"] == 4 and rules[1]["nth"] == 2
    assert rules[1]["operation"] == ["get_pixverse_generation_legacy", "get_video_generation"]
    assert "nth" not in rules[2] and rules[2]["latency"] == 5
    assert rules[3]["latency"] == 300 and rules[3]["operation"] == "submit"
    assert all(r["api_key"] == "k" for r in rules)
    assert schedule.answer_may_be_lost
    assert "Retry-After: 4 s" in str(schedule) and "past the client's timeout" in str(schedule)


@given(st.sampled_from(["freepik", "pixwith", "aimlapi", "pixverse"]), st.data())
@settings(max_examples=40, deadline=None, database=None)
def test_every_drawn_schedule_is_a_valid_set_of_rules(provider, data):
    from mockserver.engine.faults import FaultRule

    schedule = data.draw(schedules(provider, timeout=0.1))
    for rule in schedule.rules(provider, "key"):
        FaultRule.model_validate(rule)  # what POST /__admin/faults accepts
    if provider == "pixverse":
        assert all(f.on == "submit" for f in schedule.faults if f.kind == "rate_limit")
    assert {f.kind for f in schedule.faults} <= set(FAULT_KINDS)


def test_check_failures_are_assertion_errors():
    assert issubclass(ClientCheckFailed, AssertionError)


def test_a_hung_async_client_is_cut_off_at_the_wall_timeout():
    import asyncio

    async def hung(base_url, api_key):
        await asyncio.Event().wait()  # never finishes: only the wall timeout ends it

    started = time.monotonic()
    with pytest.raises(StillWaiting, match="did not finish within 0.3 s of wall time"):
        check_client(hung, "aimlapi", errors=Exception, max_examples=1, faults=(), wall_timeout=0.3)
    assert time.monotonic() - started < 10
