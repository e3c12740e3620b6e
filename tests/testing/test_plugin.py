"""The pytest plugin (mockserver.testing.plugin) and the MockAdmin handle it yields.

These tests use the fixtures exactly as a user's suite does: the plugin is registered
through the package's ``pytest11`` entry point, so nothing here imports it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import requests

from mockserver.testing import AdminError, MockAdmin, ThreadedFake
from mockserver.testing.contracts import contracts_dir
from support import MEDIA_CACHE, ROOT


@pytest.fixture(scope="session")
def pixverse_mock_settings():
    """Overridden as a user would: the shared test media cache."""
    from mockserver.settings import Settings

    return Settings(port=0, strict=True, seed=0, media_cache_dir=MEDIA_CACHE, contracts_dir=contracts_dir())


def freepik_submit(mock: MockAdmin, key: str | None = None, prompt: str = "a cat") -> str:
    r = requests.post(f"{mock.url('freepik')}/v1/ai/text-to-video/pixverse-v5",
                      headers={"x-freepik-api-key": key or mock.api_key}, json={"prompt": prompt}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]["task_id"]


def freepik_poll(mock: MockAdmin, task_id: str, key: str | None = None) -> requests.Response:
    return requests.get(f"{mock.url('freepik')}/v1/ai/text-to-video/pixverse-v5/{task_id}",
                        headers={"x-freepik-api-key": key or mock.api_key}, timeout=5)


def test_urls_and_a_fresh_key(pixverse_mock):
    assert pixverse_mock.base_url.startswith("http://127.0.0.1:")
    assert pixverse_mock.url("aimlapi") == pixverse_mock.base_url + "/v2"
    assert set(pixverse_mock.urls) == {"freepik", "pixwith", "aimlapi", "pixverse"}
    assert pixverse_mock.api_key.startswith("pixverse-mock-")
    assert pixverse_mock.health()["status"] == "ok"
    from mockserver.app import ENGINE

    assert pixverse_mock.fake is not None and pixverse_mock.engine is pixverse_mock.fake.app[ENGINE]


def test_a_job_completes_when_the_clock_is_advanced(pixverse_mock):
    pixverse_mock.freeze()
    task_id = freepik_submit(pixverse_mock)
    assert freepik_poll(pixverse_mock, task_id).json()["data"]["status"] == "CREATED"
    pixverse_mock.advance(3600)
    data = freepik_poll(pixverse_mock, task_id).json()["data"]
    assert data["status"] == "COMPLETED" and data["generated"][0].startswith(pixverse_mock.base_url + "/__files/")
    pixverse_mock.assert_called("freepik", "submit", times=1)
    pixverse_mock.assert_called("freepik", "poll", times=2, task_id=task_id)
    pixverse_mock.assert_called("freepik", "get_pixverse_v5_text_to_video", at_least=1, at_most=2)
    pixverse_mock.assert_not_called("pixwith")


def test_state_does_not_leak_between_tests_first(pixverse_mock):
    freepik_submit(pixverse_mock, key="leaky-key")
    assert len(pixverse_mock.jobs("freepik", api_key="leaky-key")) == 1
    pixverse_mock.add_fault(provider="pixwith", error=503)
    pixverse_mock.set_time_scale(7)


def test_state_does_not_leak_between_tests_second(pixverse_mock):
    # The previous test's job, journal entry, fault rule and clock scale are gone.
    assert pixverse_mock.jobs() == []
    assert pixverse_mock.journal() == []
    assert pixverse_mock.faults() == []
    assert pixverse_mock.clock()["scale"] != 7
    assert not pixverse_mock.clock()["frozen"]


def test_assert_called_shows_what_was_called(pixverse_mock):
    task_id = freepik_submit(pixverse_mock)
    freepik_poll(pixverse_mock, task_id)
    with pytest.raises(AssertionError) as failed:
        pixverse_mock.assert_called("freepik", "submit", times=2)
    message = str(failed.value)
    assert "expected exactly 2 call(s) of freepik submit, saw 1" in message
    assert "POST /v1/ai/text-to-video/pixverse-v5 -> 200" in message
    assert f"GET  /v1/ai/text-to-video/pixverse-v5/{task_id} -> 200" in message
    with pytest.raises(ValueError, match="needs a provider"):
        pixverse_mock.journal(operation="poll")


def test_faults_force_and_finish(pixverse_mock):
    fault = pixverse_mock.add_fault(provider="freepik", operation="submit", error=503, times=1)
    r = requests.post(f"{pixverse_mock.url('freepik')}/v1/ai/text-to-video/pixverse-v5",
                      headers={"x-freepik-api-key": pixverse_mock.api_key}, json={"prompt": "x"}, timeout=5)
    assert r.status_code == 503
    assert [f["fired"] for f in pixverse_mock.faults() if f["id"] == fault] == [1]
    pixverse_mock.assert_called("freepik", "submit", status=503, fault="error", times=1)
    first, second = freepik_submit(pixverse_mock), freepik_submit(pixverse_mock)
    assert pixverse_mock.force("freepik", first, "failed")["status"] == "failed"
    assert pixverse_mock.job("freepik", first)["request"] == {"prompt": "a cat"}
    assert pixverse_mock.finish("freepik", api_key=pixverse_mock.api_key) == [second]
    assert freepik_poll(pixverse_mock, second).json()["data"]["status"] == "COMPLETED"
    assert pixverse_mock.remove_fault(fault) and not pixverse_mock.remove_fault(fault)
    with pytest.raises(AdminError) as refused:
        pixverse_mock.add_fault(provider="nobody", error=503)
    assert refused.value.status == 400
    with pytest.raises(AdminError):
        pixverse_mock.job("freepik", "no-such-task")


async def test_async_tests_use_the_same_fixture(pixverse_mock):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{pixverse_mock.url('aimlapi')}/video/generations",
                                headers={"Authorization": f"Bearer {pixverse_mock.api_key}"},
                                json={"model": "pixverse/v5/text-to-video", "prompt": "a dog"}) as resp:
            assert resp.status == 200
            generation = (await resp.json())["id"]
    pixverse_mock.assert_called("aimlapi", "submit", times=1, task_id=generation)


def test_the_session_fixture_is_one_handle(pixverse_mock_session, pixverse_mock):
    assert pixverse_mock_session.base_url == pixverse_mock.base_url
    assert pixverse_mock_session.api_key != pixverse_mock.api_key
    key = f"session-{uuid.uuid4().hex}"
    freepik_submit(pixverse_mock_session, key=key)
    pixverse_mock_session.assert_called("freepik", "submit", api_key=key, times=1)


def test_a_handle_on_an_external_fake_marks_instead_of_resetting():
    with ThreadedFake(_settings()) as fake:
        other = MockAdmin(fake.base_url)
        freepik_submit(other)
        mock = MockAdmin(fake.base_url)  # marks the journal on creation
        assert mock.fake is None and mock.journal() == []
        freepik_submit(mock)
        mock.assert_called("freepik", "submit", times=1)
        assert len(mock.jobs("freepik")) == 2  # jobs are not marked: filter by key
        assert len(mock.jobs("freepik", api_key=mock.api_key)) == 1
        with pytest.raises(RuntimeError, match="another process"):
            mock.engine


def _settings():
    from mockserver.settings import Settings

    return Settings(port=0, strict=True, seed=0, media_cache_dir=MEDIA_CACHE, contracts_dir=contracts_dir())


USER_TEST = '''
import requests

def test_my_client(pixverse_mock):
    pixverse_mock.add_fault(provider="freepik", operation="submit", error=503, times=1)
    url = pixverse_mock.url("freepik") + "/v1/ai/text-to-video/pixverse-v5"
    headers = {"x-freepik-api-key": pixverse_mock.api_key}
    assert requests.post(url, headers=headers, json={"prompt": "a cat"}).status_code == 503
    assert requests.post(url, headers=headers, json={"prompt": "a cat"}).status_code == 200
    pixverse_mock.assert_called("freepik", "submit", times=2)

async def test_async_too(pixverse_mock):
    assert pixverse_mock.health()["status"] == "ok"
'''


def test_the_plugin_is_registered_as_an_entry_point():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "pixverse_mock"] \
        == ["mockserver.testing.plugin"]


def test_a_users_project_gets_the_fixture_against_a_running_fake(tmp_path):
    """A user's suite: no conftest, no import, a fake started elsewhere
    (--pixverse-mock-url).  The plugin is loaded by its entry-point name; every other
    installed plugin stays off to keep this fast."""
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    with ThreadedFake(_settings()) as fake:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pixverse_mock",
             "-p", "asyncio", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
             "--pixverse-mock-url", fake.base_url, str(tmp_path)],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_unmatched_lists_requests_no_route_served_with_near_misses(pixverse_mock):
    key = {"x-freepik-api-key": pixverse_mock.api_key}
    # A typo in the path: Freepik answers 404 in its words, and the journal keeps it.
    resp = requests.post(pixverse_mock.base_url + "/v1/ai/text-to-vidoe/pixverse-v5", json={"prompt": "a cat"},
                         headers=key, timeout=10)
    assert resp.status_code == 404
    freepik_submit(pixverse_mock)  # served: not listed
    [entry] = pixverse_mock.unmatched()
    assert (entry["provider"], entry["method"], entry["status"]) == ("freepik", "POST", 404)
    best = entry["near_misses"][0]
    assert (best["provider"], best["operation"], best["method"]) == (
        "freepik", "create_pixverse_v5_text_to_video", "POST")
    assert pixverse_mock.unmatched("pixwith") == []
