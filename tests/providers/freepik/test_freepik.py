"""Freepik / Magnific adapter: lifecycle, media and every documented error."""
from __future__ import annotations

import pytest

from mockserver.app import create_app
from support import download_video, make_settings, probe_video

I2V = "/v1/ai/image-to-video/pixverse-v5"
T2V = "/v1/ai/text-to-video/pixverse-v5"
TRANSITION = "/v1/ai/image-to-video/pixverse-v5-transition"
KEY = {"x-freepik-api-key": "test-key"}

# The request from the schema of Freepik's PixVerse V5 reference page, with every documented field.
SEED_REQUEST = {
    "prompt": "A cat walking through a garden",
    "image_url": "https://example.com/cat.jpg",
    "resolution": "720p",
    "duration": 5,
    "negative_prompt": "",
    "style": "anime",
    "seed": 42,
}


async def test_image_to_video_lifecycle_and_media(client, engine):
    resp = await client.post(I2V, json=SEED_REQUEST, headers=KEY)
    assert resp.status == 200
    created = (await resp.json())["data"]
    assert created["status"] == "CREATED" and created["generated"] == []
    task = f"{I2V}/{created['task_id']}"

    job = await engine.get_job("freepik", created["task_id"])
    engine.clock.advance(job.plan.queue_s + 0.01)
    running = (await (await client.get(task, headers=KEY)).json())["data"]
    assert running["status"] == "IN_PROGRESS" and running["generated"] == []

    engine.clock.advance(job.plan.run_s)
    done = (await (await client.get(task, headers=KEY)).json())["data"]
    assert done["status"] == "COMPLETED" and len(done["generated"]) == 1
    width, height, duration, codec = probe_video(await download_video(client, done["generated"][0]))
    assert (width, height, codec) == (1280, 720, "h264")
    assert abs(duration - 5) < 0.2


async def test_text_to_video_aspect_ratio_and_duration_shape_the_video(client, engine):
    body = {"prompt": "a lighthouse", "aspect_ratio": "social_story_9_16", "resolution": "540p", "duration": 8}
    created = (await (await client.post(T2V, json=body, headers=KEY)).json())["data"]
    engine.clock.advance(3600)
    done = (await (await client.get(f"{T2V}/{created['task_id']}", headers=KEY)).json())["data"]
    width, height, duration, _ = probe_video(await download_video(client, done["generated"][0]))
    assert (width, height) == (540, 960)
    assert abs(duration - 8) < 0.2


async def test_transition_and_magnific_header(client, engine):
    body = {"prompt": "morph", "first_image_url": "https://e.com/a.png", "last_image_url": "https://e.com/b.png"}
    headers = {"x-magnific-api-key": "another"}
    created = (await (await client.post(TRANSITION, json=body, headers=headers)).json())["data"]
    listed = (await (await client.get(TRANSITION, headers=headers)).json())["data"]
    assert listed == [{"task_id": created["task_id"], "status": "CREATED"}]
    # The list is per API key and per endpoint.
    assert (await (await client.get(TRANSITION, headers=KEY)).json())["data"] == []
    assert (await (await client.get(I2V, headers=headers)).json())["data"] == []


@pytest.mark.parametrize("headers, message", [
    ({}, "Missing API key"),
    ({"x-freepik-api-key": ""}, "Invalid API key"),
])
async def test_auth_errors(client, headers, message):
    resp = await client.post(I2V, json=SEED_REQUEST, headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"message": message}


async def test_allow_list_rejects_unknown_key(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(api_keys=["good"])))
    resp = await client.get(I2V, headers={"x-freepik-api-key": "bad"})
    assert resp.status == 401 and (await resp.json()) == {"message": "Invalid API key"}
    assert (await client.get(I2V, headers={"x-freepik-api-key": "good"})).status == 200


async def test_malformed_json(client):
    resp = await client.post(I2V, data=b"{not json", headers={**KEY, "Content-Type": "application/json"})
    assert resp.status == 400
    body = await resp.json()
    assert body["message"] == "Your request parameters didn't validate."
    assert body["invalid_params"][0]["name"] == "body"


@pytest.mark.parametrize("change, field", [
    ({"prompt": None}, "prompt"),
    ({"image_url": None}, "image_url"),
    ({"duration": 6}, "duration"),
    ({"resolution": "4k"}, "resolution"),
    ({"style": "noir"}, "style"),
    ({"duration": "5"}, "duration"),
    ({"image_url": "not a url"}, "image_url"),
    ({"resolution": "1080p", "duration": 8}, "duration"),
])
async def test_validation_errors_name_the_field(client, change, field):
    body = {k: v for k, v in {**SEED_REQUEST, **change}.items() if v is not None}
    resp = await client.post(I2V, json=body, headers=KEY)
    assert resp.status == 400
    problem = await resp.json()
    assert problem["message"] == "Your request parameters didn't validate."
    assert field in [p["name"] for p in problem["invalid_params"]]


async def test_wrapped_problem_setting(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(freepik={"problem_wrapped": True})))
    resp = await client.post(I2V, json={"prompt": "x"}, headers=KEY)
    assert resp.status == 400
    assert (await resp.json())["problem"]["invalid_params"] == [
        {"name": "image_url", "reason": "Parameter 'image_url' is required"}]


async def test_unknown_and_foreign_task_ids_are_404(client):
    unknown = await client.get(f"{I2V}/046b6c7f-0b8a-43b9-b35d-6489e6daee91", headers=KEY)
    assert unknown.status == 404 and await unknown.json() == {"message": "AI resource not found"}
    assert (await client.get(f"{I2V}/not-a-uuid", headers=KEY)).status == 404
    created = (await (await client.post(I2V, json=SEED_REQUEST, headers=KEY)).json())["data"]
    foreign = await client.get(f"{I2V}/{created['task_id']}", headers={"x-freepik-api-key": "other"})
    assert foreign.status == 404
    # A task is only visible at the endpoint that created it.
    assert (await client.get(f"{T2V}/{created['task_id']}", headers=KEY)).status == 404


async def test_unknown_fields_are_tolerated(client):
    resp = await client.post(I2V, json={**SEED_REQUEST, "extra": True}, headers=KEY)
    assert resp.status == 200


async def test_integral_floats_count_as_integers(client, engine):
    """JSON Schema accepts 5.0 for an integer; the media URL must still be built."""
    created = (await (await client.post(I2V, json={**SEED_REQUEST, "duration": 5.0}, headers=KEY)).json())["data"]
    engine.clock.advance(3600)
    done = await client.get(f"{I2V}/{created['task_id']}", headers=KEY)
    assert done.status == 200
    assert (await done.json())["data"]["generated"][0].endswith(f"/5s/{created['task_id']}.mp4")


async def test_an_engine_overriding_admit_is_asked_on_every_create():
    # In memory the adapter admits without the engine's coroutine; an engine with its
    # own admit (RedisEngine) must still be the one that decides.
    from mockserver.engine import Engine
    from mockserver.engine.limits import CONCURRENCY, Refusal
    from mockserver.providers import configure
    from mockserver.providers.base import Call
    from mockserver.providers.freepik.adapter import FreepikAdapter

    class Refusing(Engine):
        async def admit(self, provider, api_key, cost, *, job=True):
            return Refusal(CONCURRENCY, 7, 1)

    settings = configure(make_settings())
    memory = FreepikAdapter(Engine(settings), settings)
    refusing = FreepikAdapter(Refusing(settings), settings)
    op = memory.contract.operation("create_pixverse_v5_video")
    call = Call(None, op, "test-key", dict(SEED_REQUEST), {}, {}, None, None)  # type: ignore[arg-type]
    assert await memory.admit(call, 0) is None
    reply = await refusing.admit(call, 0)
    assert reply is not None and reply.status == 429 and reply.headers["Retry-After"] == "7"
