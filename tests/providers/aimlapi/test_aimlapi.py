"""AI/ML API adapter: the docs' two Python examples, both id formats, every documented error."""
from __future__ import annotations

import io
import re
from datetime import datetime
from urllib.parse import quote

import av
import pytest

from mockserver.providers import configure
from mockserver.settings import Settings
from support import download_video, make_settings, probe_video

UNIVERSAL = "/v2/video/generations"
LEGACY = "/v2/generate/video/pixverse/generation"
BALANCE = "/v1/billing/balance"
KEY = {"Authorization": "Bearer test-key"}

I2V = {"model": "pixverse/v5/image-to-video", "prompt": "Mona Lisa puts on glasses with her hands.",
       "image_url": "https://s2-111386.kwimgs.com/bs2/mmu-aiplatform-temp/kling/20240620/1.jpeg"}
T2V = {"model": "pixverse/v5/text-to-video", "prompt": "a lighthouse in a storm"}
TRANSITION = {"model": "pixverse/v5/transition", "prompt": "day turns to night",
              "image_url": "https://example.com/day.png", "tail_image_url": "https://example.com/night.png"}

UNAUTHORIZED = ("This request requires a valid API key. You can create a new API key on the "
                "Billing page: https://aimlapi.com/app/keys")
NANOID = re.compile(r"[A-Za-z0-9]{21}")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


async def assert_error(resp, status: int, path: str, message: str, *, exact: bool = True) -> dict:
    """Check the documented error body and return it."""
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["message"] == message if exact else body["message"].startswith(message), body
    assert body["path"] == path
    assert body["statusCode"] == status
    assert NANOID.fullmatch(body["requestId"])
    assert datetime.fromisoformat(body["timestamp"]).utcoffset().total_seconds() == 0
    assert body["timestamp"].endswith("Z")
    return body


async def drive_to_end(client, engine, path: str, gen_id: str, headers=KEY) -> dict:
    """Poll as the docs' examples do, moving the virtual clock instead of sleeping."""
    while True:
        body = await (await client.get(path, params={"generation_id": gen_id}, headers=headers)).json()
        if body["status"] not in ("queued", "generating"):
            return body
        engine.clock.advance(10)


# The docs' examples ----------------------------------------------------------------------

async def test_seed_example_1_legacy_path(client, engine):
    """AI/ML API's "pixverse/v5/image-to-video" page, "Full Example": only the base URL and the key differ."""
    api_key = "<YOUR_AIMLAPI_KEY>"
    base_url = "/v2"

    async def generate_video():
        url = f"{base_url}/generate/video/pixverse/generation"
        headers = {"Authorization": f"Bearer {api_key}"}
        data = {
            "model": "pixverse/v5/image-to-video",
            "prompt": "Mona Lisa puts on glasses with her hands.",
            "image_url": "https://s2-111386.kwimgs.com/bs2/mmu-aiplatform-temp/kling/20240620/1.jpeg",
            "duration": 5,
        }
        response = await client.post(url, json=data, headers=headers)
        assert response.status < 400, await response.text()
        return await response.json()

    async def get_video(gen_id):
        url = f"{base_url}/generate/video/pixverse/generation"
        params = {"generation_id": gen_id}
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        response = await client.get(url, params=params, headers=headers)
        return await response.json()

    gen_response = await generate_video()
    assert gen_response == {"id": gen_response["id"], "status": "queued",
                            "meta": {"usage": {"credits_used": 420000}}}
    gen_id = gen_response.get("id")
    assert NANOID.fullmatch(gen_id)

    start_time = engine.clock.now()
    timeout = 600
    seen = []
    response_data = None
    while engine.clock.now() - start_time < timeout:
        response_data = await get_video(gen_id)
        status = response_data.get("status")
        seen.append(status)
        if status == "queued" or status == "generating":
            engine.clock.advance(10)  # the example waits 10 s here
        else:
            break
    assert response_data["status"] == "completed", seen
    assert "generating" in seen
    assert set(response_data) == {"id", "status", "video"} and response_data["id"] == gen_id
    width, height, duration, codec = probe_video(await download_video(client, response_data["video"]["url"]))
    assert (width, height, codec) == (1280, 720, "h264")
    assert abs(duration - 5) < 0.2


async def test_seed_example_2_lip_sync_universal_path(client, engine):
    """The same page's "Full Example #2: Lip-Sync": only the URL host and the key differ."""
    api_key = "<YOUR_AIMLAPI_KEY>"
    url = "/v2/video/generations"
    headers = {"Authorization": f"Bearer {api_key}"}
    data = {
        "model": "pixverse/v5/image-to-video",
        "image_url": "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/news-presenter.jpg",
        "prompt": "A young news presenter standing in the studio, facing the camera directly, eyes always on the "
                  "camera, calm and professional, very still posture, minimal head movement, no sudden gestures, "
                  "with a gentle friendly smile, confident stance, studio lighting, broadcast framing, realistic "
                  "style, neutral background activity.",
        "lip_sync_tts_content": "Hello and welcome. This is our latest news update, and here are the headlines.",
        "lip_sync_tts_speaker": "Chloe",
    }
    response = await client.post(url, json=data, headers=headers)
    assert response.status < 400, await response.text()
    gen_response = await response.json()
    gen_id = gen_response.get("id")
    assert gen_response["status"] == "queued"

    start_time = engine.clock.now()
    timeout = 1000
    response_data = None
    while engine.clock.now() - start_time < timeout:
        response = await client.get(url, params={"generation_id": gen_id},
                                    headers={**headers, "Content-Type": "application/json"})
        response_data = await response.json()
        if response_data.get("status") in ["queued", "generating"]:
            engine.clock.advance(15)  # the example waits 15 s here
        else:
            break
    assert response_data["status"] == "completed"
    width, height, duration, codec = probe_video(await download_video(client, response_data["video"]["url"]))
    assert (width, height, codec) == (1280, 720, "h264")
    assert abs(duration - 5) < 0.2


# Lifecycle and shapes ---------------------------------------------------------------------

async def test_statuses_follow_the_plan(client, engine):
    created = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
    job = engine.get_job("aimlapi", created["id"])
    query = {"generation_id": created["id"]}
    engine.clock.freeze()
    assert await (await client.get(UNIVERSAL, params=query, headers=KEY)).json() == {
        "id": created["id"], "status": "queued"}
    engine.clock.advance(job.plan.queue_s + 0.01)
    assert (await (await client.get(UNIVERSAL, params=query, headers=KEY)).json())["status"] == "generating"
    engine.clock.advance(job.plan.run_s)
    assert (await (await client.get(UNIVERSAL, params=query, headers=KEY)).json())["status"] == "completed"
    assert job.polls == 3


async def test_text_to_video_aspect_ratio_resolution_and_duration_shape_the_video(client, engine):
    body = {**T2V, "aspect_ratio": "9:16", "resolution": "540p", "duration": 8}
    created = await (await client.post(UNIVERSAL, json=body, headers=KEY)).json()
    assert created["meta"]["usage"]["credits_used"] == 504000
    done = await drive_to_end(client, engine, UNIVERSAL, created["id"])
    width, height, duration, codec = probe_video(await download_video(client, done["video"]["url"]))
    assert (width, height, codec) == (540, 960, "h264")
    assert abs(duration - 8) < 0.2


async def test_transition_completes(client, engine):
    resp = await client.post(LEGACY, json=TRANSITION, headers=KEY)
    assert resp.status == 200
    done = await drive_to_end(client, engine, LEGACY, (await resp.json())["id"])
    assert done["status"] == "completed" and done["video"]["url"].endswith(".mp4")
    assert engine.get_job("aimlapi", done["id"]).kind == "transition"


async def test_a_generation_is_visible_on_both_paths(client):
    first = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
    second = await (await client.post(LEGACY, json=T2V, headers=KEY)).json()
    for gen_id in (first["id"], second["id"]):
        for path in (UNIVERSAL, LEGACY):
            resp = await client.get(path, params={"generation_id": gen_id}, headers=KEY)
            assert resp.status == 200 and (await resp.json())["id"] == gen_id


@pytest.mark.parametrize("resolution, duration, credits", [
    ("360p", 5, 315000), ("540p", 5, 315000), ("720p", 5, 420000), ("720p", 8, 672000),
    ("1080p", 5, 840000), ("360p", 8, 504000),
])
async def test_credits_used_scale_with_resolution_and_duration(client, resolution, duration, credits):
    body = {**I2V, "resolution": resolution, "duration": duration}
    created = await (await client.post(UNIVERSAL, json=body, headers=KEY)).json()
    assert created["meta"] == {"usage": {"credits_used": credits}}


async def test_undocumented_fields_are_tolerated(client):
    # The SDK sends extras such as `n` and `response_format`.
    body = {**I2V, "n": 1, "response_format": "url", "aspect_ratio": "1:1"}
    assert (await client.post(UNIVERSAL, json=body, headers=KEY)).status == 200


async def test_bearer_scheme_is_case_insensitive(client):
    resp = await client.post(UNIVERSAL, json=T2V, headers={"Authorization": "bearer k"})
    assert resp.status == 200


async def test_completed_video_has_the_four_documented_fields_and_its_real_size(client, engine):
    """The same page's 2025 run log: ``video: {url, content_type, file_name, file_size}``."""
    created = await (await client.post(UNIVERSAL, json=T2V, headers=KEY)).json()
    done = await drive_to_end(client, engine, UNIVERSAL, created["id"])
    video = done["video"]
    assert set(video) == {"url", "content_type", "file_name", "file_size"}
    assert (video["content_type"], video["file_name"]) == ("video/mp4", "output.mp4")
    data = await download_video(client, video["url"])
    assert video["file_size"] == len(data) > 0


def audio_streams(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return len(container.streams.audio)


@pytest.mark.parametrize("body, audio", [
    (I2V, 1),                                       # "generates videos with synchronized audio"
    ({**T2V, "lip_sync_tts_content": "Hello and welcome.", "lip_sync_tts_speaker": "Chloe"}, 1),
    (T2V, 0),
    (TRANSITION, 0),
])
async def test_audio_track_where_the_docs_promise_sound(client, engine, body, audio):
    created = await (await client.post(UNIVERSAL, json=body, headers=KEY)).json()
    done = await drive_to_end(client, engine, UNIVERSAL, created["id"])
    data = await download_video(client, done["video"]["url"])
    assert audio_streams(data) == audio
    assert done["video"]["file_size"] == len(data)


class TestEra2025:
    """``aimlapi.era: "2025"``: uuid-model ids, uuid requestIds and ``tokens_used`` together."""

    @pytest.fixture
    def settings(self):
        return make_settings(aimlapi={"era": "2025"})

    async def test_ids_and_usage_key_change_together(self, client):
        created = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
        assert re.fullmatch(UUID + ":pixverse/v5/image-to-video", created["id"])
        assert created["meta"] == {"usage": {"tokens_used": 420000}}
        error = await (await client.post(UNIVERSAL, json=I2V)).json()
        assert re.fullmatch(UUID, error["requestId"])


async def test_era_2026_is_the_default(client):
    created = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
    assert NANOID.fullmatch(created["id"]) and created["meta"] == {"usage": {"credits_used": 420000}}


def test_id_format_is_an_alias_of_the_era(tmp_path):
    def era(**overrides):
        return configure(make_settings(**overrides)).aimlapi.active_era

    assert era() == "2026"
    assert era(aimlapi={"id_format": "uuid-model"}) == "2025"
    assert era(aimlapi={"id_format": "nanoid"}) == "2026"
    assert era(aimlapi={"id_format": "uuid-model", "era": "2026"}) == "2026"
    profile = tmp_path / "p.yaml"
    profile.write_text("settings:\n  aimlapi:\n    id_format: uuid-model\n")
    assert configure(Settings.load(profile)).aimlapi.active_era == "2025"


class TestUuidModelIds:
    """The older ``aimlapi.id_format`` setting, kept as an alias of era 2025."""

    @pytest.fixture
    def settings(self):
        return make_settings(aimlapi={"id_format": "uuid-model"})

    async def test_ids_carry_the_model_and_read_back_raw_or_encoded(self, client, engine):
        created = await (await client.post(LEGACY, json=I2V, headers=KEY)).json()
        gen_id = created["id"]
        assert re.fullmatch(UUID + ":pixverse/v5/image-to-video", gen_id)
        engine.clock.advance(3600)
        # The SDK pastes the id into the query unencoded; requests percent-encodes it.
        for query in (gen_id, quote(gen_id, safe="")):
            for path in (UNIVERSAL, LEGACY):
                resp = await client.get(f"{path}?generation_id={query}", headers=KEY)
                assert resp.status == 200, await resp.text()
                done = await resp.json()
                assert done["id"] == gen_id and done["status"] == "completed"
        url = done["video"]["url"]
        assert url.endswith(gen_id.replace(":", "_").replace("/", "_") + ".mp4")
        width, height, _, _ = probe_video(await download_video(client, url))
        assert (width, height) == (1280, 720)

    async def test_text_to_video_id_names_its_model(self, client):
        created = await (await client.post(UNIVERSAL, json=T2V, headers=KEY)).json()
        assert created["id"].endswith(":pixverse/v5/text-to-video")

    async def test_request_ids_are_uuids(self, client):
        body = await (await client.post(UNIVERSAL, json=I2V)).json()
        assert re.fullmatch(UUID, body["requestId"])


class TestFailedGenerations:
    @pytest.fixture
    def settings(self):
        return make_settings(failure_rate=1.0)

    async def test_failure_is_reported_in_band(self, client, engine):
        created = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
        done = await drive_to_end(client, engine, UNIVERSAL, created["id"])
        assert done["status"] == "error" and "video" not in done
        assert done["error"]["name"] == "GenerationError" and done["error"]["message"]


class TestModeratedGenerations:
    @pytest.fixture
    def settings(self):
        return make_settings(moderation_rate=1.0)

    async def test_moderation_is_reported_in_band(self, client, engine):
        created = await (await client.post(LEGACY, json=T2V, headers=KEY)).json()
        done = await drive_to_end(client, engine, LEGACY, created["id"])
        assert done["status"] == "error"
        assert done["error"]["name"] == "ModerationError"


# Balance ------------------------------------------------------------------------------

async def test_balance(client, engine):
    resp = await client.get(BALANCE, headers=KEY)
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "balance": engine.ledger.balance("aimlapi", "test-key"),
        "lowBalance": False,
        "lowBalanceThreshold": 10000,
        "lastUpdated": body["lastUpdated"],
        "autoDebitStatus": "disabled",
        "status": "current",
        "statusExplanation": "Balance is current and up to date",
    }
    assert datetime.fromisoformat(body["lastUpdated"]).utcoffset().total_seconds() == 0


async def test_low_balance_flag(aiohttp_client):
    from mockserver.app import create_app

    client = await aiohttp_client(create_app(make_settings(starting_credits=500)))
    body = await (await client.get(BALANCE, headers=KEY)).json()
    assert body["balance"] == 500 and body["lowBalance"] is True


# Errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic xyz"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer"},
])
@pytest.mark.parametrize("method, path", [("post", UNIVERSAL), ("post", LEGACY), ("get", BALANCE),
                                          ("get", f"{UNIVERSAL}?generation_id=x")])
async def test_auth_errors(client, headers, method, path):
    resp = await getattr(client, method)(path, json=I2V if method == "post" else None, headers=headers)
    await assert_error(resp, 401, path.split("?")[0], UNAUTHORIZED)


async def test_allow_list_rejects_unknown_key(aiohttp_client):
    from mockserver.app import create_app

    client = await aiohttp_client(create_app(make_settings(api_keys=["good"])))
    resp = await client.get(BALANCE, headers={"Authorization": "Bearer bad"})
    await assert_error(resp, 401, BALANCE, UNAUTHORIZED)
    assert (await client.get(BALANCE, headers={"Authorization": "Bearer good"})).status == 200


async def test_malformed_json(client):
    resp = await client.post(UNIVERSAL, data=b'{"model": ', headers={**KEY, "Content-Type": "application/json"})
    await assert_error(resp, 400, UNIVERSAL, "Body validation error\nInvalid JSON in request body")


@pytest.mark.parametrize("body, detail", [
    ({k: v for k, v in I2V.items() if k != "prompt"}, 'Required at "prompt"'),
    ({k: v for k, v in I2V.items() if k != "model"}, 'Required at "model"'),
    ({**I2V, "model": "pixverse/v9/image-to-video"},
     "Invalid enum value. Expected 'pixverse/v5/image-to-video' | 'pixverse/v5/text-to-video' | "
     "'pixverse/v5/transition', received 'pixverse/v9/image-to-video' at \"model\""),
    ({**I2V, "resolution": "4k"},
     "Invalid enum value. Expected '360p' | '540p' | '720p' | '1080p', received '4k' at \"resolution\""),
    ({**I2V, "duration": 6}, "Invalid enum value. Expected 5 | 8, received '6' at \"duration\""),
    ({**I2V, "duration": "5"}, 'Expected number, received string at "duration"'),
    ({**I2V, "duration": 5.5}, 'Expected integer, received float at "duration"'),
    ({**I2V, "resolution": "1080p", "duration": 8},
     'The 1080p quality option does not support 8-second videos at "duration"'),
    ({k: v for k, v in TRANSITION.items() if k != "tail_image_url"}, 'Required at "tail_image_url"'),
    ({**T2V, "aspect_ratio": "21:9"},
     "Invalid enum value. Expected '16:9' | '4:3' | '1:1' | '3:4' | '9:16', received '21:9' at \"aspect_ratio\""),
    ({**I2V, "style": "noir"},
     "Invalid enum value. Expected 'anime' | '3d_animation' | 'clay' | 'comic' | 'cyberpunk', "
     "received 'noir' at \"style\""),
    ({**I2V, "lip_sync_tts_speaker": "Bob"}, "Invalid enum value. Expected 'Harper'"),
    ({**I2V, "image_url": "not a url"}, 'Invalid url at "image_url"'),
    ({**I2V, "seed": "42"}, 'Expected number, received string at "seed"'),
    ([I2V], "Expected object, received array"),
])
@pytest.mark.parametrize("path", [UNIVERSAL, LEGACY])
async def test_body_validation_errors(client, path, body, detail):
    resp = await client.post(path, json=body, headers=KEY)
    error = await assert_error(resp, 400, path, "Body validation error\n", exact=False)
    assert detail in error["message"].split("\n", 1)[1]


async def test_validation_reports_every_problem_of_the_chosen_model(client):
    body = {"model": "pixverse/v5/transition", "resolution": "4k", "duration": 6}
    error = await (await client.post(UNIVERSAL, json=body, headers=KEY)).json()
    lines = error["message"].split("\n")
    assert lines[0] == "Body validation error"
    assert {'Required at "prompt"', 'Required at "image_url"', 'Required at "tail_image_url"'} <= set(lines)
    assert any(line.endswith('at "resolution"') for line in lines)
    assert any(line.endswith('at "duration"') for line in lines)


async def test_empty_body_asks_for_a_model(client):
    resp = await client.post(UNIVERSAL, data=b"", headers={**KEY, "Content-Type": "application/json"})
    await assert_error(resp, 400, UNIVERSAL, 'Body validation error\nRequired at "model"')


@pytest.mark.parametrize("path", [UNIVERSAL, LEGACY])
async def test_missing_generation_id(client, path):
    resp = await client.get(path, headers=KEY)
    await assert_error(resp, 400, path, 'Query validation error\nRequired at "generation_id"')


@pytest.mark.parametrize("path", [UNIVERSAL, LEGACY])
async def test_unknown_id_is_404(client, path):
    resp = await client.get(path, params={"generation_id": "3yFHGAkECD5RPnpL11mHe"}, headers=KEY)
    await assert_error(resp, 404, path, "Not Found")


async def test_another_keys_id_is_404(client):
    created = await (await client.post(UNIVERSAL, json=I2V, headers=KEY)).json()
    resp = await client.get(UNIVERSAL, params={"generation_id": created["id"]},
                            headers={"Authorization": "Bearer someone-else"})
    await assert_error(resp, 404, UNIVERSAL, "Not Found")
