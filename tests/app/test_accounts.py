"""Accounts: credit ledgers, out-of-credits answers, concurrency caps and rate limits.

Balances are read through each provider's own balance endpoint where it has one;
time is the virtual clock (frozen, then advanced), except where a test checks the
wall-clock ``Retry-After`` of an unfrozen clock.
"""
from __future__ import annotations

import math
import uuid

import pytest

from mockserver.app import ENGINE, create_app
from mockserver.engine.limits import RateLimiter
from mockserver.providers import configure, rate_limit_presets
from mockserver.settings import Settings
from support import make_settings
from support.pixverse import ERRMSG, assert_error

PIXVERSE_T2V = "/openapi/v2/video/text/generate"
PIXVERSE_RESULT = "/openapi/v2/video/result/{}"
PIXVERSE_BALANCE = "/openapi/v2/account/balance"
AIML = "/v2/video/generations"
AIML_BALANCE = "/v1/billing/balance"
PIXWITH_CREATE = "/api/task/create"
PIXWITH_GET = "/api/task/get"
PIXWITH_CREDITS = "/api/task/get_credits"
FREEPIK_T2V = "/v1/ai/text-to-video/pixverse-v5"

KEY = "acct-key"
AIML_403 = ("You've run out of credits. Please top up your balance or update your payment method "
            "to continue: https://aimlapi.com/app/billing/")


def pv_headers(key: str = KEY) -> dict[str, str]:
    return {"API-KEY": key, "Ai-Trace-Id": str(uuid.uuid4())}


def aiml_headers(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pw_headers(key: str = KEY) -> dict[str, str]:
    return {"Api-Key": key}


def fp_headers(key: str = KEY) -> dict[str, str]:
    return {"x-freepik-api-key": key}


PV_BODY = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "a fox", "quality": "720p"}
AIML_BODY = {"model": "pixverse/v5/text-to-video", "prompt": "a fox", "resolution": "720p", "duration": 5}


def pw_body(resolution: str = "720p", duration: int = 5, outputs: int = 1) -> dict:
    return {"prompt": "a fox", "model_id": "2-27",
            "options": {"prompt_optimization": False, "num_outputs": outputs, "resolution": resolution,
                        "aspect_ratio": "16:9",
                        "duration": duration}}


async def fake(aiohttp_client, **settings):
    client = await aiohttp_client(create_app(make_settings(**settings)))
    engine = client.server.app[ENGINE]
    engine.clock.freeze()
    return client, engine


async def pv_balance(client, key: str = KEY) -> int:
    body = await (await client.get(PIXVERSE_BALANCE, headers=pv_headers(key))).json()
    return body["Resp"]["credit_monthly"]


async def aiml_balance(client, key: str = KEY) -> int:
    return (await (await client.get(AIML_BALANCE, headers=aiml_headers(key))).json())["balance"]


async def pw_balance(client, key: str = KEY) -> int:
    return (await (await client.post(PIXWITH_CREDITS, headers=pw_headers(key))).json())["data"]["credits"]


async def pv_submit(client, body: dict | None = None, key: str = KEY) -> dict:
    resp = await client.post(PIXVERSE_T2V, json={**PV_BODY, **(body or {})}, headers=pv_headers(key))
    assert resp.status == 200
    return await resp.json()


async def pv_poll(client, video_id: int, key: str = KEY) -> int:
    body = await (await client.get(PIXVERSE_RESULT.format(video_id), headers=pv_headers(key))).json()
    return body["Resp"]["status"]


# starting balances ----------------------------------------------------------------------------
async def test_starting_balances_per_provider(aiohttp_client):
    client, _ = await fake(aiohttp_client)
    assert await pv_balance(client) == 100_000
    assert await aiml_balance(client) == 100_000_000  # AI/ML API credits are tiny: 420,000 a clip
    assert await pw_balance(client) == 100_000


async def test_starting_balance_settings_precedence(aiohttp_client):
    client, _ = await fake(aiohttp_client, starting_credits=777,
                           accounts={"starting_credits": {"pixwith": 500}})
    assert await pw_balance(client) == 500          # the provider's own setting
    assert await pv_balance(client) == 777          # the explicit top-level one
    assert await aiml_balance(client) == 777        # explicit top-level beats the AI/ML default
    assert configure(Settings()).starting_balance("aimlapi") == 100_000_000
    assert configure(Settings(accounts={"starting_credits": {"aimlapi": 5}})).starting_balance("aimlapi") == 5
    # Unbound settings know no provider's default: the top-level balance.
    assert Settings().starting_balance("aimlapi") == 100_000


# balance arithmetic ---------------------------------------------------------------------------
async def test_pixverse_debit_at_submit_nothing_at_completion_refund_of_moderation_once(aiohttp_client):
    client, engine = await fake(aiohttp_client)
    ok = (await pv_submit(client))["Resp"]["video_id"]                      # 720p 5 s: 60
    eight = (await pv_submit(client, {"duration": 8, "quality": "540p"}))["Resp"]["video_id"]  # 90
    moderated = (await pv_submit(client, {"prompt": "a fox [mock:outcome=moderated]"}))["Resp"]["video_id"]
    assert await pv_balance(client) == 100_000 - 60 - 90 - 60
    engine.clock.advance(3600)
    assert await pv_poll(client, ok) == 1 and await pv_poll(client, eight) == 1
    assert await pv_balance(client) == 100_000 - 210          # completion changes nothing
    assert await pv_poll(client, moderated) == 7
    assert await pv_balance(client) == 100_000 - 150          # status 7: refunded
    for _ in range(3):
        assert await pv_poll(client, moderated) == 7
    assert await pv_balance(client) == 100_000 - 150          # exactly once


async def test_pixverse_failed_generation_is_not_refunded(aiohttp_client):
    client, engine = await fake(aiohttp_client, failure_rate=1.0)
    video_id = (await pv_submit(client))["Resp"]["video_id"]
    engine.clock.advance(3600)
    assert await pv_poll(client, video_id) == 8
    assert await pv_balance(client) == 100_000 - 60


async def test_pixverse_refund_is_not_made_before_the_outcome_is_observed(aiohttp_client):
    client, engine = await fake(aiohttp_client, moderation_rate=1.0)
    video_id = (await pv_submit(client))["Resp"]["video_id"]
    engine.clock.advance(3600)
    assert await pv_balance(client) == 100_000 - 60   # nobody has looked yet
    assert await pv_poll(client, video_id) == 7
    assert await pv_balance(client) == 100_000


async def test_aimlapi_debits_credits_used_and_never_refunds(aiohttp_client):
    client, engine = await fake(aiohttp_client, moderation_rate=1.0)
    resp = await client.post(AIML, json={**AIML_BODY, "resolution": "1080p"}, headers=aiml_headers())
    created = await resp.json()
    assert created["meta"]["usage"]["credits_used"] == 840_000
    assert await aiml_balance(client) == 100_000_000 - 840_000
    engine.clock.advance(3600)
    polled = await (await client.get(AIML, params={"generation_id": created["id"]}, headers=aiml_headers())).json()
    assert polled["status"] == "error"
    assert await aiml_balance(client) == 100_000_000 - 840_000


@pytest.mark.parametrize("resolution, duration, outputs, cost", [
    ("360p", 5, 1, 45), ("540p", 8, 1, 90), ("720p", 5, 2, 120), ("1080p", 5, 3, 360)])
async def test_pixwith_debits_its_inferred_cost_per_output(aiohttp_client, resolution, duration, outputs, cost):
    client, engine = await fake(aiohttp_client)
    resp = await client.post(PIXWITH_CREATE, json=pw_body(resolution, duration, outputs), headers=pw_headers())
    task_id = (await resp.json())["data"]["task_id"]
    assert await pw_balance(client) == 100_000 - cost
    engine.clock.advance(3600)
    body = await (await client.post(PIXWITH_GET, json={"task_id": task_id}, headers=pw_headers())).json()
    assert body["data"]["status"] == 2
    assert await pw_balance(client) == 100_000 - cost


async def test_freepik_costs_nothing(aiohttp_client):
    client, engine = await fake(aiohttp_client)
    resp = await client.post(FREEPIK_T2V, json={"prompt": "a fox"}, headers=fp_headers())
    assert resp.status == 200
    assert engine.ledger.balance("freepik", KEY) == engine.ledger.starting("freepik")


async def test_balances_are_per_key_and_per_provider(aiohttp_client):
    client, _ = await fake(aiohttp_client)
    await pv_submit(client, key="a")
    await client.post(PIXWITH_CREATE, json=pw_body(), headers=pw_headers("a"))
    assert await pv_balance(client, "a") == 100_000 - 60
    assert await pv_balance(client, "b") == 100_000
    assert await pw_balance(client, "a") == 100_000 - 60
    assert await aiml_balance(client, "a") == 100_000_000


# out of credits ------------------------------------------------------------------------------
async def test_pixverse_out_of_credits_is_500090_and_creates_nothing(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"starting_credits": {"pixverse": 100}})
    assert (await pv_submit(client))["ErrCode"] == 0
    body = await pv_submit(client)
    assert_error(body, 500090)
    assert await pv_balance(client) == 40
    assert len(engine.find_jobs(provider="pixverse")) == 1


async def test_aimlapi_out_of_credits_is_403_with_its_message(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"starting_credits": {"aimlapi": 500_000}})
    assert (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).status == 200
    resp = await client.post(AIML, json=AIML_BODY, headers=aiml_headers())
    assert resp.status == 403
    body = await resp.json()
    assert body["message"] == AIML_403 and body["statusCode"] == 403 and body["path"] == AIML
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert await aiml_balance(client) == 80_000
    assert len(engine.find_jobs(provider="aimlapi")) == 1


async def test_pixwith_out_of_credits_is_code_0_credits_not_enough(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"starting_credits": {"pixwith": 100}})
    resp = await client.post(PIXWITH_CREATE, json=pw_body(outputs=2), headers=pw_headers())
    assert resp.status == 200
    assert await resp.json() == {"code": 0, "message": "Credits not enough", "data": None}
    assert await pw_balance(client) == 100
    assert engine.find_jobs(provider="pixwith") == []


# concurrency caps ----------------------------------------------------------------------------
async def test_pixverse_cap_is_500044_until_a_job_finishes(aiohttp_client):
    client, engine = await fake(aiohttp_client, queue_seconds=(1, 1), generation_jitter=0,
                                accounts={"concurrency": {"pixverse": 2}})
    first = (await pv_submit(client))["Resp"]["video_id"]
    await pv_submit(client)
    assert_error(await pv_submit(client), 500044)
    assert await pv_balance(client) == 100_000 - 120       # the refused submit costs nothing
    assert (await pv_submit(client, key="other"))["ErrCode"] == 0  # per key
    job = engine.get_job("pixverse", str(first))
    engine.clock.advance(job.finishes_at - engine.now() - 1)
    assert_error(await pv_submit(client), 500044)          # still running
    engine.clock.advance(1.01)                              # both end on the clock, unpolled
    assert (await pv_submit(client))["ErrCode"] == 0
    assert (await pv_submit(client))["ErrCode"] == 0
    assert_error(await pv_submit(client), 500044)


async def test_aimlapi_cap_is_429_too_many_requests(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"concurrency": {"aimlapi": 1}})
    assert (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).status == 200
    resp = await client.post(AIML, json=AIML_BODY, headers=aiml_headers())
    assert resp.status == 429
    body = await resp.json()
    assert body["message"] == "Too Many Requests" and body["statusCode"] == 429
    assert "Retry-After" not in resp.headers  # frozen clock: no end in sight
    assert await aiml_balance(client) == 100_000_000 - 420_000
    engine.clock.advance(3600)
    assert (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).status == 200


async def test_freepik_cap_is_429_with_retry_after_until_the_first_job_ends(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(time_scale=1, accounts={"concurrency": {"freepik": 1}})))
    engine = client.server.app[ENGINE]
    created = await (await client.post(FREEPIK_T2V, json={"prompt": "a fox"}, headers=fp_headers())).json()
    resp = await client.post(FREEPIK_T2V, json={"prompt": "a fox"}, headers=fp_headers())
    assert resp.status == 429
    assert await resp.json() == {"message": "Too many requests"}
    job = engine.get_job("freepik", created["data"]["task_id"])
    expected = math.ceil(job.finishes_at - engine.now())
    assert int(resp.headers["Retry-After"]) in (expected, expected + 1)


async def test_pixwith_cap_is_http_429_with_its_envelope(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"concurrency": {"pixwith": 1}})
    assert (await (await client.post(PIXWITH_CREATE, json=pw_body(), headers=pw_headers())).json())["code"] == 1
    resp = await client.post(PIXWITH_CREATE, json=pw_body(), headers=pw_headers())
    assert resp.status == 429
    assert await resp.json() == {"code": 0, "message": "Too many requests", "data": None}
    assert await pw_balance(client) == 100_000 - 60


async def test_in_poll_count_mode_a_job_counts_until_it_is_read_to_its_end(aiohttp_client):
    client, engine = await fake(aiohttp_client, progress_mode="polls", queued_polls=1, running_polls=1,
                                accounts={"concurrency": {"pixverse": 1}})
    video_id = (await pv_submit(client))["Resp"]["video_id"]
    engine.clock.advance(86_400)  # time does not end it
    assert_error(await pv_submit(client), 500044)
    assert [await pv_poll(client, video_id) for _ in range(3)] == [5, 5, 1]
    assert (await pv_submit(client))["ErrCode"] == 0


async def test_a_forced_end_frees_the_slot(aiohttp_client):
    client, engine = await fake(aiohttp_client, accounts={"concurrency": {"aimlapi": 1}})
    created = await (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).json()
    assert (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).status == 429
    engine.force(engine.get_job("aimlapi", created["id"]), "failed")
    assert (await client.post(AIML, json=AIML_BODY, headers=aiml_headers())).status == 200


# rate limits ---------------------------------------------------------------------------------
def test_freepik_preset_windows():
    """50 hits/s over 5 s (250) and 10 hits/s on average over 2 minutes (1200), per IP."""
    now = [1000.0]
    limiter = RateLimiter(rate_limit_presets()["freepik"], lambda: now[0])
    for _ in range(250):
        assert limiter.hit("freepik", "1.2.3.4", "k") is None
    refusal = limiter.hit("freepik", "1.2.3.4", "k")
    assert refusal is not None and refusal.kind == "rate" and refusal.retry_after == 5
    assert limiter.hit("freepik", "5.6.7.8", "k") is None   # per address
    assert limiter.hit("pixverse", "1.2.3.4", "k") is None  # Freepik only
    accepted = 250
    while True:  # keep to 250 per 5 s until the 2-minute window fills
        now[0] += 5.0
        refusal = None
        for _ in range(250):
            refusal = limiter.hit("freepik", "1.2.3.4", "k")
            if refusal is not None:
                break
            accepted += 1
        if refusal is not None:
            break
    assert accepted == 1200
    assert refusal.retry_after == 120 - (now[0] - 1000.0)  # until the first hits leave the window


async def test_freepik_preset_on_the_virtual_clock_answers_429_with_retry_after(aiohttp_client):
    client, engine = await fake(aiohttp_client, time_scale=1,
                                accounts={"rate_limit_presets": ["freepik"], "rate_limit_clock": "virtual"})
    for _ in range(250):
        assert (await client.get(FREEPIK_T2V, headers=fp_headers())).status == 200
    resp = await client.get(FREEPIK_T2V, headers=fp_headers())
    assert resp.status == 429
    assert await resp.json() == {"message": "Too many requests"}
    assert resp.headers["Retry-After"] == "5"
    assert (await client.get(AIML_BALANCE, headers=aiml_headers())).status == 200  # other providers
    engine.clock.advance(5)
    assert (await client.get(FREEPIK_T2V, headers=fp_headers())).status == 200


async def test_per_key_rule_in_each_providers_words(aiohttp_client):
    rule = {"limit": 2, "window_s": 60, "per": "key"}
    client, engine = await fake(aiohttp_client, time_scale=1,
                                accounts={"rate_limits": [rule], "rate_limit_clock": "virtual"})
    for _ in range(2):
        assert (await client.get(AIML_BALANCE, headers=aiml_headers())).status == 200
    resp = await client.get(AIML_BALANCE, headers=aiml_headers())
    assert resp.status == 429 and resp.headers["Retry-After"] == "60"
    assert (await resp.json())["message"] == "Too Many Requests"
    assert (await client.get(AIML_BALANCE, headers=aiml_headers("another"))).status == 200

    for _ in range(2):
        await client.post(PIXWITH_CREDITS, headers=pw_headers())
    resp = await client.post(PIXWITH_CREDITS, headers=pw_headers())
    assert resp.status == 429 and resp.headers["Retry-After"] == "60"
    assert await resp.json() == {"code": 0, "message": "Too many requests", "data": None}

    for _ in range(2):
        await client.get(PIXVERSE_BALANCE, headers=pv_headers())
    resp = await client.get(PIXVERSE_BALANCE, headers=pv_headers())
    assert resp.status == 200  # PixVerse documents no HTTP 429
    assert_error(await resp.json(), 500044, ERRMSG[500044])


async def test_wall_clock_windows_by_default(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(
        accounts={"rate_limits": [{"limit": 2, "window_s": 60, "per": "ip"}]})))
    for _ in range(2):
        assert (await client.get(FREEPIK_T2V, headers=fp_headers())).status == 200
    resp = await client.get(FREEPIK_T2V, headers=fp_headers("other-key"))  # per IP, not key
    assert resp.status == 429 and 59 <= int(resp.headers["Retry-After"]) <= 60


async def test_rate_limits_are_off_by_default(aiohttp_client):
    client, engine = await fake(aiohttp_client)
    assert not engine.rate_limits
    for _ in range(300):
        assert (await client.get(FREEPIK_T2V, headers=fp_headers())).status == 200


async def test_full_reset_restores_balances_and_windows(aiohttp_client):
    client, engine = await fake(aiohttp_client, time_scale=1, accounts={
        "rate_limits": [{"limit": 1, "window_s": 60, "per": "key"}], "rate_limit_clock": "virtual",
        "concurrency": {"pixverse": 1}})
    assert (await pv_submit(client))["ErrCode"] == 0
    assert_error(await pv_submit(client), 500044)
    await client.post("/__admin/reset", json={})
    assert engine.ledger.balance("pixverse", KEY) == 100_000
    assert (await pv_submit(client))["ErrCode"] == 0


# API key policy ------------------------------------------------------------------------------
async def test_api_key_policy(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings()))
    assert (await pv_submit(client, key="anything-goes"))["ErrCode"] == 0
    client = await aiohttp_client(create_app(make_settings(api_keys=["allowed"])))
    assert (await pv_submit(client, key="nope"))["ErrCode"] == 10005
    assert (await pv_submit(client, key="allowed"))["ErrCode"] == 0
    body = await (await client.post(PIXWITH_CREDITS, headers=pw_headers("key_00000000000000000000000000000000"))).json()
    assert body["code"] == 1  # pixwith's documented test key works with any allow-list
