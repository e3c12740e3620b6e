"""PixVerse platform adapter: the guide's upload -> generate -> poll flow, trace-id
replay, credits and every documented error envelope.

The helpers (requests, uploads, synthetic media, finishing jobs on the virtual clock)
are the PixVerse driver in ``support.pixverse``.
"""
from __future__ import annotations

import uuid

import pytest
from yarl import URL

from mockserver.app import ADAPTERS, ENGINE, create_app
from support import download_video, make_settings, probe_video
from support.pixverse import (
    BALANCE,
    I2V,
    I2V_SEED,
    KEY,
    RESULT,
    RESULT_FIELDS,
    T2V,
    T2V_SEED,
    TRANSITION,
    TRANSITION_SEED,
    UPLOAD,
    assert_error,
    balance,
    call,
    finish,
    form,
    headers,
    image_bytes,
    upload,
    upload_id,
)


# the guide's flow ----------------------------------------------------------------------
@pytest.mark.parametrize("quality, size", [("540p", (960, 540)), ("720p", (1280, 720))])
async def test_image_to_video_guide_flow(client, frozen, quality, size):
    png = image_bytes(1280, 720)
    uploaded = await upload(client, png)
    assert uploaded["ErrCode"] == 0 and uploaded["ErrMsg"] == "success"
    img_id, img_url = uploaded["Resp"]["img_id"], uploaded["Resp"]["img_url"]
    assert isinstance(img_id, int) and img_url.endswith(".png")
    served = await client.get(URL(img_url).path)
    assert served.status == 200 and served.headers["Content-Type"] == "image/png"
    assert await served.read() == png

    created = await call(client, "POST", I2V, json={**I2V_SEED, "img_id": img_id, "quality": quality})
    assert created["ErrCode"] == 0 and created["ErrMsg"] == "success"
    video_id = created["Resp"]["video_id"]
    assert isinstance(video_id, int)

    pending = await call(client, "GET", RESULT.format(video_id))
    assert pending["ErrCode"] == 0
    resp = pending["Resp"]
    assert set(resp) == RESULT_FIELDS
    assert resp["status"] == 5 and resp["url"] == "" and resp["size"] == 0
    assert resp["modify_time"] == resp["create_time"]
    assert resp["create_time"].endswith("Z") and "T" in resp["create_time"]

    await finish(frozen, video_id)
    done = (await call(client, "GET", RESULT.format(video_id)))["Resp"]
    assert set(done) == RESULT_FIELDS
    assert done["status"] == 1 and done["id"] == video_id
    assert (done["prompt"], done["negative_prompt"], done["style"], done["seed"]) == ("string", "string", "", 0)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["resolution_ratio"] == min(size)
    assert done["has_audio"] is False
    # Wall instants (timestamp_clock): the advance that finished it took no wall time.
    assert done["create_time"] == resp["create_time"] and done["modify_time"] >= done["create_time"]
    video = await download_video(client, done["url"])
    width, height, duration, codec = probe_video(video)
    assert (width, height, codec) == (*size, "h264")
    assert abs(duration - 5) < 0.2
    assert done["size"] == len(video)


@pytest.mark.parametrize("aspect_ratio, size", [("16:9", (960, 540)), ("9:16", (540, 960))])
async def test_text_to_video_seed_example(client, frozen, aspect_ratio, size):
    created = await call(client, "POST", T2V, json={**T2V_SEED, "aspect_ratio": aspect_ratio})
    video_id = created["Resp"]["video_id"]
    await finish(frozen, video_id)
    done = (await call(client, "GET", RESULT.format(video_id)))["Resp"]
    assert done["status"] == 1 and (done["outputWidth"], done["outputHeight"]) == size
    assert (await frozen.get_job("pixverse", str(video_id))).kind == "text-to-video"
    width, height, _, _ = probe_video(await download_video(client, done["url"]))
    assert (width, height) == size


async def test_transition_flow_takes_the_first_frames_shape(client, frozen):
    first = await upload_id(client, image_bytes(720, 1280))
    last = await upload_id(client, image_bytes(1280, 720, "JPEG"))
    body = {**TRANSITION_SEED, "first_frame_img": first, "last_frame_img": last,
            # The transition page types the switches as strings, the others as booleans.
            "sound_effect_switch": "false", "lip_sync_switch": False}
    created = await call(client, "POST", TRANSITION, json=body)
    assert created["ErrCode"] == 0, created
    video_id = created["Resp"]["video_id"]
    assert (await frozen.get_job("pixverse", str(video_id))).kind == "transition"
    await finish(frozen, video_id)
    done = (await call(client, "GET", RESULT.format(video_id)))["Resp"]
    assert done["status"] == 1 and (done["outputWidth"], done["outputHeight"]) == (540, 960)
    assert done["prompt"] == "transform into a puppy" and done["negative_prompt"] == ""


async def test_seed_is_drawn_when_absent_and_style_echoed(client, frozen):
    body = {k: v for k, v in T2V_SEED.items() if k != "seed"}
    created = await call(client, "POST", T2V, json={**body, "model": "v3.5", "style": "anime"})
    done = (await call(client, "GET", RESULT.format(created["Resp"]["video_id"])))["Resp"]
    assert 0 <= done["seed"] <= 2147483647 and done["style"] == "anime"


async def test_undocumented_fields_from_pixverse_client_are_tolerated(client, frozen):
    img_id = await upload_id(client)
    body = {**I2V_SEED, "img_id": img_id, "water_mark": False, "play_bgm": False,
            "sound_effect_switch": False, "camera_movement": "zoom_in"}
    assert (await call(client, "POST", I2V, json=body))["ErrCode"] == 0


# uploads -------------------------------------------------------------------------------
async def test_upload_by_url_is_recorded_without_fetching(client, frozen):
    url = "https://media.pixverse.ai/openapi%2Ff4c512d1-0110-4360-8515-d84d788ca8d1test_image_auto.jpg"
    uploaded = await call(client, "POST", UPLOAD, data=form(image_url=url))
    assert uploaded["ErrCode"] == 0 and uploaded["Resp"]["img_url"] == url
    created = await call(client, "POST", I2V, json={**I2V_SEED, "img_id": uploaded["Resp"]["img_id"]})
    video_id = created["Resp"]["video_id"]
    await finish(frozen, video_id)
    done = (await call(client, "GET", RESULT.format(video_id)))["Resp"]
    # Unknown size: the default aspect ratio (16:9).
    assert (done["outputWidth"], done["outputHeight"]) == (960, 540)


async def test_upload_by_url_urlencoded(client):
    url = "https://example.com/cat.webp"
    uploaded = await call(client, "POST", UPLOAD, data={"image_url": url})
    assert uploaded["ErrCode"] == 0 and uploaded["Resp"]["img_url"] == url


async def test_concurrent_duplicates_create_one_upload(client, engine):
    import asyncio

    trace = str(uuid.uuid4())
    first, second = await asyncio.gather(*(
        call(client, "POST", UPLOAD, trace=trace, data=form(image=(image_bytes(), "a.png")))
        for _ in range(2)))
    assert first == second and first["ErrCode"] == 0


@pytest.mark.parametrize("fmt, ext, content_type", [
    ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")])
async def test_upload_detects_format_from_bytes(client, fmt, ext, content_type):
    data = image_bytes(64, 48, fmt)
    resp = await upload(client, data, filename="misnamed.png")
    assert resp["Resp"]["img_url"].endswith(f".{ext}")
    served = await client.get(URL(resp["Resp"]["img_url"]).path)
    assert served.headers["Content-Type"] == content_type and await served.read() == data


async def test_upload_with_both_fields_takes_the_file(client):
    resp = await call(client, "POST", UPLOAD,
                      data=form(image=(image_bytes(), "a.png"), image_url="https://example.com/b.jpg"))
    assert resp["ErrCode"] == 0 and "/__files/uploads/pixverse/" in resp["Resp"]["img_url"]


# trace id ------------------------------------------------------------------------------
async def test_repeated_trace_id_on_a_post_replays_and_creates_nothing(client, frozen, store):
    trace = str(uuid.uuid4())
    first = await call(client, "POST", T2V, trace=trace, json=T2V_SEED)
    again = await call(client, "POST", T2V, trace=trace.upper(), json={**T2V_SEED, "prompt": "other"})
    assert again == first
    assert len(await frozen.list_jobs("pixverse", KEY, "text-to-video")) == 1
    assert await balance(frozen) == 100_000 - 45
    # Another key with the same trace id is another request.
    other = await call(client, "POST", T2V, key="other-key", trace=trace, json=T2V_SEED)
    assert other["Resp"]["video_id"] != first["Resp"]["video_id"]


async def test_repeated_trace_id_on_upload_returns_the_first_image(client, store):
    trace = str(uuid.uuid4())
    first = await call(client, "POST", UPLOAD, trace=trace, data=form(image=(image_bytes(), "a.png")))
    again = await call(client, "POST", UPLOAD, trace=trace, data=form(image=(image_bytes(64, 64), "b.png")))
    assert again == first


async def test_repeated_trace_id_on_a_poll_replays_the_stale_answer(client, frozen, store):
    video_id = (await call(client, "POST", T2V, json=T2V_SEED))["Resp"]["video_id"]
    trace = str(uuid.uuid4())
    assert (await call(client, "GET", RESULT.format(video_id), trace=trace))["Resp"]["status"] == 5
    await finish(frozen, video_id)
    # The documented "stuck in generating" symptom ...
    assert (await call(client, "GET", RESULT.format(video_id), trace=trace))["Resp"]["status"] == 5
    # ... which a fresh trace id cures.
    assert (await call(client, "GET", RESULT.format(video_id)))["Resp"]["status"] == 1


async def test_trace_id_replay_off_makes_polls_fresh(aiohttp_client):
    app = create_app(make_settings(pixverse={"trace_id_replay": False}))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    engine.clock.freeze()
    trace = str(uuid.uuid4())
    video_id = (await call(client, "POST", T2V, trace=trace, json=T2V_SEED))["Resp"]["video_id"]
    # POSTs stay idempotent whatever the setting.
    assert (await call(client, "POST", T2V, trace=trace, json=T2V_SEED))["Resp"]["video_id"] == video_id
    poll = str(uuid.uuid4())
    assert (await call(client, "GET", RESULT.format(video_id), trace=poll))["Resp"]["status"] == 5
    await finish(engine, video_id)
    assert (await call(client, "GET", RESULT.format(video_id), trace=poll))["Resp"]["status"] == 1
    assert not app[ADAPTERS]["pixverse"].violations


@pytest.mark.parametrize("header", ["Ai-trace-id", "ai-trace-id", "AI-TRACE-ID"])
async def test_trace_header_name_is_case_insensitive(client, header):
    resp = await client.get(BALANCE, headers={"api-key": KEY, header: str(uuid.uuid4())})
    assert (await resp.json())["ErrCode"] == 0


@pytest.mark.parametrize("trace, code", [(None, 400011), ("", 400011), ("  ", 400011),
                                         ("not-a-uuid", 400017), ("12345", 400017)])
async def test_trace_id_errors(client, trace, code):
    sent = {"API-KEY": KEY} if trace is None else {"API-KEY": KEY, "Ai-trace-id": trace}
    resp = await client.post(T2V, json=T2V_SEED, headers=sent)
    assert resp.status == 200
    assert_error(await resp.json(), code)


# credits -------------------------------------------------------------------------------
async def test_balance_shape_and_stable_account_id(client):
    first = await call(client, "GET", BALANCE)
    assert first["ErrCode"] == 0
    assert first["Resp"]["credit_monthly"] == 100_000 and first["Resp"]["credit_package"] == 0
    assert (await call(client, "GET", BALANCE))["Resp"]["account_id"] == first["Resp"]["account_id"]
    assert (await call(client, "GET", BALANCE, key="k2"))["Resp"]["account_id"] != first["Resp"]["account_id"]


@pytest.mark.parametrize("change, cost", [
    ({}, 45), ({"quality": "360p"}, 45), ({"duration": 8}, 90), ({"quality": "720p"}, 60),
    ({"quality": "720p", "duration": 8}, 120), ({"quality": "1080p"}, 120),
    ({"model": "v4.5", "motion_mode": "fast"}, 90), ({"model": "v4", "motion_mode": "fast", "quality": "720p"}, 120),
])
async def test_balance_decreases_by_the_documented_cost(client, change, cost):
    await call(client, "POST", T2V, json={**T2V_SEED, **change})
    assert (await call(client, "GET", BALANCE))["Resp"]["credit_monthly"] == 100_000 - cost


async def test_insufficient_balance(aiohttp_client):
    app = create_app(make_settings(starting_credits=50))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    assert (await call(client, "POST", T2V, json=T2V_SEED))["ErrCode"] == 0
    assert_error(await call(client, "POST", T2V, json=T2V_SEED), 500090)
    assert len(await engine.list_jobs("pixverse", KEY, "text-to-video")) == 1
    assert (await call(client, "GET", BALANCE))["Resp"]["credit_monthly"] == 5
    assert not app[ADAPTERS]["pixverse"].violations


# auth ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sent", [{}, {"API-KEY": ""}, {"API-KEY": "   "}])
async def test_missing_or_empty_key(client, sent):
    resp = await client.post(T2V, json=T2V_SEED, headers={**sent, "Ai-trace-id": str(uuid.uuid4())})
    assert resp.status == 200
    assert_error(await resp.json(), 10005, "apiKey is not registered")


async def test_key_header_name_is_case_insensitive(client):
    resp = await client.get(BALANCE, headers={"api-key": KEY, "ai-trace-id": str(uuid.uuid4())})
    assert (await resp.json())["ErrCode"] == 0


async def test_custom_auth_error_and_allow_list(aiohttp_client):
    app = create_app(make_settings(api_keys=["good"],
                                   pixverse={"auth_err_code": 400012, "auth_err_msg": "Invalid account"}))
    client = await aiohttp_client(app)
    assert_error(await call(client, "GET", BALANCE, key="bad"), 400012, "Invalid account")
    assert (await call(client, "GET", BALANCE, key="good"))["ErrCode"] == 0
    assert not app[ADAPTERS]["pixverse"].violations


# request validation --------------------------------------------------------------------
async def test_malformed_json(client):
    resp = await client.post(T2V, data=b"{not json",
                             headers={**headers(), "Content-Type": "application/json"})
    assert_error(await resp.json(), 400013)


async def test_body_that_is_not_an_object(client):
    assert_error(await call(client, "POST", T2V, json=[T2V_SEED]), 400013)


@pytest.mark.parametrize("field", ["aspect_ratio", "duration", "model", "prompt", "quality"])
async def test_missing_required_field(client, field):
    body = {k: v for k, v in T2V_SEED.items() if k != field}
    assert_error(await call(client, "POST", T2V, json=body), 400011)


async def test_empty_body_is_missing_fields(client):
    assert_error(await call(client, "POST", T2V, data=b""), 400011)


@pytest.mark.parametrize("path, change", [
    (T2V, {"duration": "5"}), (T2V, {"seed": "0"}), (T2V, {"prompt": 5}),
    (I2V, {"img_id": "123"}), (TRANSITION, {"first_frame_img": 1.5}),
])
async def test_wrong_type(client, path, change):
    base = {T2V: T2V_SEED, I2V: I2V_SEED, TRANSITION: TRANSITION_SEED}[path]
    assert_error(await call(client, "POST", path, json={**base, **change}), 400013)


@pytest.mark.parametrize("change", [
    {"model": "v6"}, {"quality": "4k"}, {"duration": 10}, {"aspect_ratio": "2:1"},
    {"motion_mode": "slow"}, {"style": "noir"}, {"seed": -1}, {"seed": 2147483648},
    {"quality": "1080p", "duration": 8},
    {"motion_mode": "fast"},  # on v5
    {"model": "v4.5", "motion_mode": "fast", "duration": 8},
    {"model": "v4.5", "motion_mode": "fast", "quality": "1080p"},
])
async def test_invalid_parameter(client, change):
    assert_error(await call(client, "POST", T2V, json={**T2V_SEED, **change}), 400017)


async def test_accepted_boundaries(client):
    ok = {"prompt": "p" * 2048, "negative_prompt": "n" * 2048, "seed": 2147483647,
          "motion_mode": "normal", "quality": "1080p"}
    assert (await call(client, "POST", T2V, json={**T2V_SEED, **ok}))["ErrCode"] == 0


@pytest.mark.parametrize("path", [T2V, I2V, TRANSITION])
async def test_prompt_too_long(client, path):
    base = {T2V: T2V_SEED, I2V: I2V_SEED, TRANSITION: TRANSITION_SEED}[path]
    assert_error(await call(client, "POST", path, json={**base, "prompt": "p" * 2049}), 400018)


async def test_negative_prompt_too_long(client):
    assert_error(await call(client, "POST", T2V, json={**T2V_SEED, "negative_prompt": "n" * 2049}), 400019)


async def test_bad_requests_cost_nothing(client, engine):
    await call(client, "POST", T2V, json={**T2V_SEED, "motion_mode": "fast"})
    await call(client, "POST", I2V, json={**I2V_SEED, "img_id": 1})
    assert await balance(engine) == 100_000
    assert len(engine.jobs) == 0


# images and ids ------------------------------------------------------------------------
async def test_unknown_and_foreign_img_id(client):
    assert_error(await call(client, "POST", I2V, json={**I2V_SEED, "img_id": 12345}), 400032)
    foreign = await upload_id(client, key="other-key")
    assert_error(await call(client, "POST", I2V, json={**I2V_SEED, "img_id": foreign}), 400032)


async def test_transition_checks_both_frames(client):
    mine = await upload_id(client)
    foreign = await upload_id(client, key="other-key")
    for first, last in [(mine, foreign), (foreign, mine), (mine, 99)]:
        body = {**TRANSITION_SEED, "first_frame_img": first, "last_frame_img": last}
        assert_error(await call(client, "POST", TRANSITION, json=body), 400032)


async def test_unknown_foreign_and_malformed_video_id(client):
    assert_error(await call(client, "GET", RESULT.format(123456789)), 500008)
    video_id = (await call(client, "POST", T2V, json=T2V_SEED))["Resp"]["video_id"]
    assert_error(await call(client, "GET", RESULT.format(video_id), key="other-key"), 500008)
    assert_error(await call(client, "GET", RESULT.format("abc")), 400013)


async def test_non_image_bytes_named_png(client):
    assert_error(await upload(client, b"definitely not an image", filename="cat.png"), 500032)


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
async def test_unsupported_image_format(client, fmt):
    assert_error(await upload(client, image_bytes(32, 32, fmt), filename="x.png"), 500032)


async def test_truncated_png_is_unreadable(client):
    png = image_bytes(256, 256)
    assert_error(await upload(client, png[: len(png) // 2]), 500031)


async def test_image_over_the_pixel_limit(aiohttp_client):
    app = create_app(make_settings(pixverse={"max_image_pixels": 100}))
    client = await aiohttp_client(app)
    assert_error(await upload(client, image_bytes(101, 50)), 500030)
    assert (await upload(client, image_bytes(100, 100)))["ErrCode"] == 0
    assert not app[ADAPTERS]["pixverse"].violations


async def test_image_over_the_byte_limit(aiohttp_client):
    app = create_app(make_settings(pixverse={"max_image_bytes": 1000}))
    client = await aiohttp_client(app)
    big = image_bytes(64, 64, "BMP")  # uncompressed, so surely over 1000 bytes
    assert len(big) > 1000
    assert_error(await upload(client, big), 500030)
    assert not app[ADAPTERS]["pixverse"].violations


async def test_upload_that_is_not_multipart(client):
    assert_error(await call(client, "POST", UPLOAD, json={"image_url": "https://e.com/a.png"}), 400013)
    assert_error(await call(client, "POST", UPLOAD, data=b"raw bytes"), 400013)


async def test_broken_multipart_body(client):
    body = b"--xyz\r\nno headers here"
    resp = await client.post(UPLOAD, data=body, headers={
        **headers(), "Content-Type": "multipart/form-data; boundary=abc"})
    assert resp.status == 200
    assert_error(await resp.json(), 400013)


async def test_upload_with_neither_field(client):
    assert_error(await call(client, "POST", UPLOAD, data=form(other="x")), 400011)
    assert_error(await call(client, "POST", UPLOAD, data=form(image=(b"", "empty.png"))), 400011)


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "not a url", "/local/a.png", "file:///etc/passwd"])
async def test_upload_bad_image_url(client, url):
    assert_error(await call(client, "POST", UPLOAD, data=form(image_url=url)), 500042)


async def test_multipart_part_with_undecodable_headers(client):
    """A part header with raw non-ASCII bytes (found by schemathesis) is a binding error, not a 500."""
    body = (b"--abc\r\nContent-Disposition: form-data; name=\"6pH\xf2\xbb\xb6\x87\x10\"\r\n\r\nx\r\n--abc--\r\n")
    resp = await client.post(UPLOAD, data=body, headers={
        **headers(), "Content-Type": "multipart/form-data; boundary=abc"})
    assert resp.status == 200
    assert_error(await resp.json(), 400013)
