"""pixwith.ai adapter: the docs' examples, lifecycle, media, credits and every error envelope."""
from __future__ import annotations

import copy
import re

import pytest

from mockserver.app import ADAPTERS, ENGINE, create_app
from support import download_video, make_settings, probe_video

CREATE = "/api/task/create"
GET = "/api/task/get"
CREDITS = "/api/task/get_credits"
KEY = {"Api-Key": "test-key"}
TEST_KEY = "key_00000000000000000000000000000000"

# The two example requests of pixwith.ai's PixVerse V5 docs page, verbatim.
T2V = {
    "prompt": "A cinematic shot of a cat walking through a beautiful garden",
    "model_id": "2-27",
    "options": {
        "prompt_optimization": True,
        "num_outputs": 1,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "duration": 5,
    },
}
I2V = {
    "prompt": "The cat starts walking towards the camera with smooth motion",
    "image_urls": [
        "https://cdn.pixwith.ai/images/cf0ddb5ad6a0f0c85ab4d1dceb9fd89c_0.jpeg"
    ],
    "model_id": "2-27",
    "options": {
        "prompt_optimization": True,
        "num_outputs": 1,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "duration": 5,
    },
}


def with_options(**options) -> dict:
    body = copy.deepcopy(T2V)
    body["options"].update(options)
    return body


async def post(client, path, body=None, headers=KEY) -> dict:
    resp = await client.post(path, json=body, headers=headers)
    # pixwith reports every outcome in the envelope, never in the HTTP status.
    assert resp.status == 200
    return await resp.json()


def error(message: str) -> dict:
    return {"code": 0, "message": message, "data": None}


async def own_client(aiohttp_client, **settings):
    """A strict client on an app with its own settings (the `client` fixture's are fixed)."""
    return await aiohttp_client(create_app(make_settings(**settings)))


def assert_no_violations(client) -> None:
    assert not [v for a in client.server.app[ADAPTERS].values() for v in a.violations]


@pytest.mark.parametrize("body, kind", [(T2V, "text-to-video"), (I2V, "image-to-video")])
async def test_seed_examples_create_tasks(client, engine, body, kind):
    created = await post(client, CREATE, body)
    assert created["code"] == 1 and created["message"] == "success"
    data = created["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", data["task_id"])
    assert isinstance(data["estimated_time"], int) and data["estimated_time"] > 0
    job = await engine.get_job("pixwith", data["task_id"])
    assert job.kind == kind
    assert data["estimated_time"] == round(job.plan.queue_s + job.plan.run_s)


async def test_lifecycle_three_outputs_download_as_h264(client, engine):
    created = (await post(client, CREATE, with_options(num_outputs=3)))["data"]
    task = {"task_id": created["task_id"]}

    queued = await post(client, GET, task)
    assert queued == {"code": 1, "message": "success",
                      "data": {"task_id": created["task_id"], "status": 1, "result_urls": []}}
    job = await engine.get_job("pixwith", created["task_id"])
    engine.clock.advance(job.plan.queue_s + 0.01)
    assert (await post(client, GET, task))["data"]["status"] == 1

    engine.clock.advance(job.plan.run_s)
    done = (await post(client, GET, task))["data"]
    assert done["status"] == 2
    urls = done["result_urls"]
    assert len(urls) == 3 and len(set(urls)) == 3
    for url in urls:
        width, height, duration, codec = probe_video(await download_video(client, url))
        assert (width, height, codec) == (1280, 720, "h264")
        assert abs(duration - 5) < 0.2
    assert job.polls == 3


async def test_image_to_video_aspect_ratio_and_duration_shape_the_video(client, engine):
    body = copy.deepcopy(I2V)
    body["options"].update(resolution="540p", aspect_ratio="9:16", duration=8, num_outputs=2)
    created = (await post(client, CREATE, body))["data"]
    engine.clock.advance(3600)
    done = (await post(client, GET, {"task_id": created["task_id"]}))["data"]
    assert done["status"] == 2 and len(done["result_urls"]) == 2
    width, height, duration, codec = probe_video(await download_video(client, done["result_urls"][1]))
    assert (width, height, codec) == (540, 960, "h264")
    assert abs(duration - 8) < 0.2


async def test_failed_task_reports_status_3_without_urls(aiohttp_client):
    client = await own_client(aiohttp_client, failure_rate=1.0)
    created = (await post(client, CREATE, T2V))["data"]
    client.server.app[ENGINE].clock.advance(3600)
    done = (await post(client, GET, {"task_id": created["task_id"]}))["data"]
    assert done == {"task_id": created["task_id"], "status": 3, "result_urls": []}
    assert_no_violations(client)


async def test_get_credits(client, engine):
    expected = {"code": 1, "message": "success",
                "data": {"credits": engine.settings.starting_credits}}
    resp = await client.post(CREDITS, headers=KEY)
    assert resp.status == 200 and await resp.json() == expected
    assert await post(client, CREDITS, {}) == expected


async def test_api_key_header_is_case_insensitive(client):
    assert (await post(client, CREDITS, headers={"api-key": "k"}))["code"] == 1


@pytest.mark.parametrize("headers", [{}, {"Api-Key": ""}], ids=["missing", "empty"])
async def test_auth_errors(client, headers):
    assert await post(client, CREATE, T2V, headers=headers) == error("Invalid API KEY")
    assert await post(client, CREDITS, headers=headers) == error("Invalid API KEY")


async def test_allow_list_still_accepts_documented_test_key(aiohttp_client):
    client = await own_client(aiohttp_client, api_keys=["k"])
    assert await post(client, CREATE, T2V, headers={"Api-Key": "other"}) == error("Invalid API KEY")
    assert (await post(client, CREATE, T2V, headers={"Api-Key": "k"}))["code"] == 1
    assert (await post(client, CREATE, T2V, headers={"Api-Key": TEST_KEY}))["code"] == 1
    assert (await post(client, CREDITS, headers={"Api-Key": TEST_KEY}))["code"] == 1
    assert_no_violations(client)


async def test_malformed_json(client):
    resp = await client.post(CREATE, data=b"{not json",
                             headers={**KEY, "Content-Type": "application/json"})
    assert resp.status == 200
    assert await resp.json() == error("Invalid JSON body")


def without(path: str) -> dict:
    body = copy.deepcopy(T2V)
    *parents, last = path.split(".")
    target = body
    for p in parents:
        target = target[p]
    del target[last]
    return body


@pytest.mark.parametrize("body, message", [
    (without("prompt"), "Invalid parameter: prompt is required"),
    (without("options.duration"), "Invalid parameter: options.duration is required"),
    (without("options"), "Invalid parameter: options is required"),
    (with_options(duration=6), "Invalid parameter: options.duration must be one of 5, 8"),
    (with_options(resolution="4k"),
     "Invalid parameter: options.resolution must be one of 360p, 540p, 720p, 1080p"),
    (with_options(aspect_ratio="21:9"),
     "Invalid parameter: options.aspect_ratio must be one of 16:9, 4:3, 1:1, 3:4, 9:16"),
    (with_options(duration="5"), "Invalid parameter: options.duration must be of type integer"),
    (with_options(prompt_optimization="yes"),
     "Invalid parameter: options.prompt_optimization must be of type boolean"),
    ({**T2V, "prompt": 42}, "Invalid parameter: prompt must be of type string"),
    (with_options(num_outputs=5), "Invalid parameter: options.num_outputs must be at most 4"),
    (with_options(num_outputs=0), "Invalid parameter: options.num_outputs must be at least 1"),
    ({**I2V, "image_urls": [I2V["image_urls"][0]] * 2},
     "Invalid parameter: image_urls must hold at most 1 item(s)"),
    ({**I2V, "image_urls": []}, "Invalid parameter: image_urls must hold at least 1 item(s)"),
    ({**I2V, "image_urls": ["not a url"]}, "Invalid parameter: image_urls.0 must be a valid uri"),
    ({**T2V, "model_id": "2-1"}, "Invalid model_id"),
    ({**T2V, "model_id": 227}, "Invalid model_id"),
    (without("model_id"), "Invalid parameter: model_id is required"),
    ({}, "Invalid parameter: prompt is required; model_id is required; options is required"),
    (with_options(resolution="1080p", duration=8),
     "Invalid parameter: options.duration must be 5 (1080p videos are limited to 5 seconds)"),
    ([T2V], "Invalid parameter: body must be of type object"),
    (with_options(duration=6, num_outputs=9),
     "Invalid parameter: options.num_outputs must be at most 4; options.duration must be one of 5, 8"),
], ids=["no-prompt", "no-duration", "no-options", "duration-enum", "resolution-enum",
        "aspect-enum", "duration-type", "bool-type", "prompt-type", "num-outputs-5",
        "num-outputs-0", "two-images", "no-images", "bad-url", "model-id", "model-id-type",
        "no-model-id", "empty-body", "1080p-8s", "array-body", "two-fields"])
async def test_validation_errors(client, body, message):
    assert await post(client, CREATE, body) == error(message)


async def test_1080p_5s_and_float_integers_are_accepted(client, engine):
    created = await post(client, CREATE, with_options(resolution="1080p", duration=5.0, num_outputs=2.0))
    assert created["code"] == 1
    job = await engine.get_job("pixwith", created["data"]["task_id"])
    assert (job.width, job.height, job.duration, job.outputs) == (1920, 1080, 5, 2)


async def test_unknown_fields_are_tolerated(client):
    body = with_options(seed=7)
    body["webhook_url"] = "https://example.com/hook"
    assert (await post(client, CREATE, body))["code"] == 1


async def test_get_task_errors(client):
    assert await post(client, GET, {"task_id": "0" * 32}) == error("Task not found")
    assert await post(client, GET, {}) == error("Invalid parameter: task_id is required")
    assert await post(client, GET, {"task_id": 7}) == error(
        "Invalid parameter: task_id must be of type string")
    created = (await post(client, CREATE, T2V))["data"]
    foreign = await post(client, GET, {"task_id": created["task_id"]}, headers={"Api-Key": "other"})
    assert foreign == error("Task not found")
