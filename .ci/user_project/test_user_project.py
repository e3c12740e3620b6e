"""A user's own test file: the pytest plugin from the installed wheel, nothing else.

Runs from a directory outside the checkout with only ``pixverse-mock[testing]``
installed, so it proves the entry point, the fixture and the virtual clock work in a
user's project."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_a_freepik_job_finishes_on_the_virtual_clock(pixverse_mock):
    pixverse_mock.freeze()  # nothing moves unless the test says so
    base = pixverse_mock.url("freepik")
    key = {"x-freepik-api-key": pixverse_mock.api_key}
    created = call("POST", f"{base}/v1/ai/text-to-video/pixverse-v5",
                   {"prompt": "a red fox running through fresh snow"}, key)
    task_id = created["data"]["task_id"]
    poll = f"{base}/v1/ai/text-to-video/pixverse-v5/{task_id}"
    assert call("GET", poll, headers=key)["data"]["status"] in ("CREATED", "IN_PROGRESS")
    pixverse_mock.advance(3600)
    done = call("GET", poll, headers=key)["data"]
    assert done["status"] == "COMPLETED"
    with urllib.request.urlopen(done["generated"][0], timeout=30) as video:
        assert video.read(12)[4:8] == b"ftyp"
    pixverse_mock.assert_called("freepik", "submit", times=1)
    pixverse_mock.assert_called("freepik", "poll", times=2)


def test_a_fault_rule_reaches_the_client(pixverse_mock):
    pixverse_mock.add_fault(provider="freepik", operation="submit", error=503, times=1)
    base = pixverse_mock.url("freepik")
    try:
        call("POST", f"{base}/v1/ai/text-to-video/pixverse-v5", {"prompt": "a fox"},
             {"x-freepik-api-key": pixverse_mock.api_key})
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
    else:
        raise AssertionError("the 503 fault did not fire")
    pixverse_mock.assert_called("freepik", "submit", status=503, times=1)
