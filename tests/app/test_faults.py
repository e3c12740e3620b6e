"""Faults over HTTP: every kind through every way to ask for it (profile, admin API,
X-Mock-* headers, prompt markers, test API keys), with each provider's exact wire result.

The fake runs in strict mode: every injected error must keep to its contract.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yaml

from mockserver.app import ADAPTERS, ENGINE, create_app
from mockserver.providers.base import ProviderAdapter
from mockserver.providers.pixverse import PixverseAdapter
from mockserver.providers.pixverse import faults as pixverse_faults
from support import ROOT, make_settings

ERRMSG = {int(c): m for c, m in yaml.safe_load((ROOT / "contracts" / "pixverse.yaml").read_text())
          ["x-errcodes"].items()}
AIML_403 = ("You've run out of credits. Please top up your balance or update your payment method "
            "to continue: https://aimlapi.com/app/billing/")
QUICK = aiohttp.ClientTimeout(total=5)


# fixtures -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _pixverse_fault_hooks(monkeypatch):
    """Until the lead wires pixverse/faults.py onto the adapter, wire it here."""
    if PixverseAdapter.fault_reply is ProviderAdapter.fault_reply:
        monkeypatch.setattr(PixverseAdapter, "fault_reply", pixverse_faults.fault_reply)
        monkeypatch.setattr(PixverseAdapter, "fault_supported", pixverse_faults.fault_supported)
        monkeypatch.setattr(PixverseAdapter, "submit_operations", pixverse_faults.SUBMIT_OPERATIONS)


async def add_rule(client, **rule) -> dict:
    resp = await client.post("/__admin/faults", json=rule)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["faults"][0]


# the four providers ------------------------------------------------------------------
@dataclass
class Provider:
    name: str
    create_path: str
    key_headers: Any
    create_body: Any
    task_id: Any
    poll: Any
    state: Any

    def headers(self, key: str = "test-key", **extra: str) -> dict[str, str]:
        return {**self.key_headers(key), **extra}

    async def create(self, client, prompt: str = "a lighthouse", key: str = "test-key", **headers):
        return await client.post(self.create_path, json=self.create_body(prompt),
                                 headers=self.headers(key, **headers))


def pixverse_headers(key: str) -> dict[str, str]:
    return {"API-KEY": key, "Ai-Trace-Id": str(uuid.uuid4())}


FREEPIK = Provider(
    "freepik", "/v1/ai/text-to-video/pixverse-v5", lambda k: {"x-freepik-api-key": k},
    lambda p: {"prompt": p}, lambda j: j["data"]["task_id"],
    lambda c, t, h: c.get(f"/v1/ai/text-to-video/pixverse-v5/{t}", headers=h),
    lambda j: j["data"]["status"])
PIXWITH = Provider(
    "pixwith", "/api/task/create", lambda k: {"Api-Key": k},
    lambda p: {"prompt": p, "model_id": "2-27", "options": {
        "prompt_optimization": False, "num_outputs": 1, "resolution": "540p",
        "aspect_ratio": "16:9", "duration": 5}},
    lambda j: j["data"]["task_id"],
    lambda c, t, h: c.post("/api/task/get", json={"task_id": t}, headers=h),
    lambda j: j["data"]["status"])
AIMLAPI = Provider(
    "aimlapi", "/v2/video/generations", lambda k: {"Authorization": f"Bearer {k}"},
    lambda p: {"model": "pixverse/v5/text-to-video", "prompt": p}, lambda j: j["id"],
    lambda c, t, h: c.get("/v2/video/generations", params={"generation_id": t}, headers=h),
    lambda j: (j["status"], j.get("error")))
PIXVERSE = Provider(
    "pixverse", "/openapi/v2/video/text/generate", pixverse_headers,
    lambda p: {"prompt": p, "model": "v5", "duration": 5, "quality": "540p", "aspect_ratio": "16:9"},
    lambda j: j["Resp"]["video_id"],
    lambda c, t, h: c.get(f"/openapi/v2/video/result/{t}", headers=h),
    lambda j: j["Resp"]["status"])
PROVIDERS = [FREEPIK, PIXWITH, AIMLAPI, PIXVERSE]
BY_NAME = {p.name: p for p in PROVIDERS}
ids = [p.name for p in PROVIDERS]

# What each provider's terminal poll shows for a planned outcome.
MODERATED = {"freepik": "FAILED", "pixwith": 3, "pixverse": 7,
             "aimlapi": ("error", {"name": "ModerationError",
                                  "message": "The request was rejected by content moderation."})}
FAILED = {"freepik": "FAILED", "pixwith": 3, "pixverse": 8,
          "aimlapi": ("error", {"name": "GenerationError",
                                "message": "The video generation failed. Please try again."})}
RUNNING = {"freepik": ("CREATED", "IN_PROGRESS"), "pixwith": (1,), "pixverse": (5,),
           "aimlapi": (("queued", None), ("generating", None))}


async def poll(client, p: Provider, task, key: str = "test-key"):
    resp = await p.poll(client, task, p.headers(key))
    assert resp.status == 200, await resp.text()
    return p.state(await resp.json())


async def finished(client, engine, p: Provider, create_resp, key: str = "test-key"):
    """The state a created job ends in, after a virtual hour."""
    assert create_resp.status == 200, await create_resp.text()
    task = p.task_id(await create_resp.json())
    engine.clock.advance(3600)
    return await poll(client, p, task, key)


# injected HTTP errors: every status, every provider -----------------------------------------
def expected_error(p: Provider, status: int) -> tuple[int, dict] | None:
    """(HTTP status, body) of an injected error on the create operation; None where the
    provider never sends it there (the rule does not fire)."""
    if p.name == "freepik":
        bodies = {400: {"message": "Your request parameters didn't validate.", "invalid_params": []},
                  401: {"message": "Invalid API key"},
                  403: {"message": "User is not authorized to access this resource"},
                  429: {"message": "Too many requests"}, 500: {"message": "Internal Server Error"},
                  503: {"message": "Service Unavailable. Please try again later."}}
        return (status, bodies[status]) if status in bodies else None
    if p.name == "pixwith":
        in_band = {400: "Invalid parameter", 401: "Invalid API KEY", 403: "Credits not enough"}
        http = {429: "Too many requests", 500: "Internal server error", 502: "Bad gateway",
                503: "Service unavailable", 504: "Gateway timeout"}
        if status in in_band:
            return 200, {"code": 0, "message": in_band[status], "data": None}
        return (status, {"code": 0, "message": http[status], "data": None}) if status in http else None
    if p.name == "aimlapi":
        messages = {400: "Body validation error", 401: ("This request requires a valid API key. You can "
                    "create a new API key on the Billing page: https://aimlapi.com/app/keys"),
                    403: AIML_403, 429: "Too Many Requests", 500: "Internal server error",
                    502: "Bad Gateway", 503: "Service unavailable", 504: "Generation timeout"}
        return (status, {"message": messages[status], "statusCode": status,
                         "path": p.create_path}) if status in messages else None
    codes = {400: 400017, 401: 10005, 403: 500020, 404: 500008, 429: 500044, 500: 500100,
             502: 500069, 503: 500069, 504: 500069}
    code = codes[status]
    message = {10005: "apiKey is not registered"}.get(code) or ERRMSG.get(code) or \
        "Internal error, please try again later"
    return 200, {"ErrCode": code, "ErrMsg": message, "Resp": None}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_admin_error_on_submit_has_the_providers_wire_shape(client, engine, p, status):
    rule = await add_rule(client, provider=p.name, operation="submit", error=status)
    resp = await p.create(client)
    body = await resp.json()
    expected = expected_error(p, status)
    if expected is None:  # not something this provider sends on create: served normally
        assert resp.status == 200 and "X-Mock-Fault-Injected" not in resp.headers
        assert (await (await client.get(f"/__admin/faults/{rule['id']}")).json())["seen"] == 0
        return
    http_status, subset = expected
    assert resp.status == http_status
    assert {k: body[k] for k in subset} == subset, body
    if p.name == "aimlapi":
        assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    if http_status == 429:
        assert resp.headers["Retry-After"] == "1"
    else:
        assert "Retry-After" not in resp.headers
    assert resp.headers["X-Mock-Fault-Injected"] == "error"
    assert engine.fault_counts[(p.name, "error")] == 1
    assert len(engine.jobs) == 0  # nothing was created


async def test_error_on_a_poll_and_a_custom_message(client, engine, store):
    task = FREEPIK.task_id(await (await FREEPIK.create(client)).json())
    await add_rule(client, provider="freepik", operation="get_pixverse_v5_text_to_video",
                   error=404, message="gone fishing")
    resp = await FREEPIK.poll(client, task, FREEPIK.headers())
    assert resp.status == 404 and await resp.json() == {"message": "gone fishing"}


async def test_retry_after_seconds_and_pixverse_errcode(client):
    await add_rule(client, error=429, errcode=500069, retry_after=7)
    resp = await AIMLAPI.create(client)
    assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    resp = await PIXVERSE.create(client)
    assert await resp.json() == {"ErrCode": 500069, "ErrMsg": ERRMSG[500069], "Resp": None}
    assert "Retry-After" not in resp.headers


# the other ways to ask for an error -------------------------------------------------------
@pytest.mark.parametrize("way", ["header", "prompt", "key", "profile"])
@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_error_503_through_every_way(aiohttp_client, p, way):
    settings = make_settings(faults=[{"provider": p.name, "error": 503}] if way == "profile" else [])
    app = create_app(settings)
    client = await aiohttp_client(app)
    kwargs: dict[str, Any] = {}
    if way == "header":
        kwargs = {"X-Mock-Fault": "error=503"}
    elif way == "prompt":
        kwargs = {"prompt": "a lighthouse [mock:error=503]"}
    elif way == "key":
        kwargs = {"key": "mock_error_503-lighthouse"}
    prompt = kwargs.pop("prompt", "a lighthouse")
    key = kwargs.pop("key", "test-key")
    resp = await p.create(client, prompt=prompt, key=key, **kwargs)
    http_status, subset = expected_error(p, 503)
    body = await resp.json()
    assert resp.status == http_status and {k: body[k] for k in subset} == subset
    assert not [v for a in app[ADAPTERS].values() for v in a.violations]


async def test_times_fail_first_n_then_succeed_per_test_id(client, store):
    headers = {"X-Mock-Fault": "error=503,times=2"}
    statuses = [(await FREEPIK.create(client, **headers, **{"X-Mock-Test-Id": "A"})).status
                for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await FREEPIK.create(client, **headers, **{"X-Mock-Test-Id": "B"})).status == 503
    # the same through the admin API and a test key
    await add_rule(client, provider="aimlapi", error=500, times=1)
    assert [(await AIMLAPI.create(client)).status for _ in range(2)] == [500, 200]
    assert [(await PIXWITH.create(client, key="mock_error_502_times_1")).status
            for _ in range(2)] == [502, 200]


async def test_nth_request_and_selectors(client, engine, store):
    task = FREEPIK.task_id(await (await FREEPIK.create(client)).json())
    await add_rule(client, provider="freepik", operation="get_pixverse_v5_text_to_video", nth=3, error=500)
    polls = [(await FREEPIK.poll(client, task, FREEPIK.headers())).status for _ in range(4)]
    assert polls == [200, 200, 500, 200]
    await add_rule(client, api_key="unlucky", error=503)
    await add_rule(client, test_id="T9", error=500)
    await add_rule(client, prompt_contains="volcano", provider="pixwith", error=429)
    assert (await AIMLAPI.create(client)).status == 200
    assert (await AIMLAPI.create(client, key="unlucky")).status == 503
    assert (await AIMLAPI.create(client, **{"X-Mock-Test-Id": "T9"})).status == 500
    assert (await PIXWITH.create(client, prompt="a volcano")).status == 429
    assert (await FREEPIK.create(client, prompt="a volcano")).status == 200


async def test_probability_decisions_replay_with_the_same_seed(aiohttp_client):
    async def run(seed: int) -> list:
        app = create_app(make_settings(seed=seed))
        client = await aiohttp_client(app)
        await add_rule(client, provider="aimlapi", error=503, probability=0.5,
                       latency={"median_ms": 1, "sigma": 1, "cap_ms": 4})
        out = [(await AIMLAPI.create(client)).status for _ in range(16)]
        latencies = [e["latency_ms"] for e in app[ENGINE].faults.log]
        ids = [j.id for j in app[ENGINE].jobs.all()]
        return [out, latencies, ids]

    first = await run(11)
    assert first == await run(11)
    assert first != await run(12)
    assert 3 < first[0].count(503) < 13


# moderation and failure ---------------------------------------------------------------------
async def test_pixverse_moderation_at_submit_is_500063_for_text_and_500054_for_images(client, engine):
    resp = await PIXVERSE.create(client, prompt="[mock:moderation=submit] a cat")
    assert await resp.json() == {"ErrCode": 500063, "ErrMsg": ERRMSG[500063], "Resp": None}
    upload = await client.post("/openapi/v2/image/upload", data={"image_url": "https://e.com/a.png"},
                               headers=pixverse_headers("test-key"))
    img_id = (await upload.json())["Resp"]["img_id"]
    body = {"prompt": "a cat", "model": "v5", "duration": 5, "quality": "540p", "img_id": img_id}
    resp = await client.post("/openapi/v2/video/img/generate", json=body,
                             headers={**pixverse_headers("test-key"), "X-Mock-Fault": "moderation=submit"})
    assert await resp.json() == {"ErrCode": 500054, "ErrMsg": ERRMSG[500054], "Resp": None}
    assert len(engine.jobs) == 0
    balance = await client.get("/openapi/v2/account/balance", headers=pixverse_headers("test-key"))
    assert (await balance.json())["Resp"]["credit_monthly"] == engine.settings.starting_credits
    assert engine.fault_counts[("pixverse", "moderation")] == 2


@pytest.mark.parametrize("way", ["rule", "errcode", "header", "key"])
async def test_pixverse_image_upload_moderation_is_the_documented_http_500(client, engine, way):
    """PixVerse's Upload Image reference page: HTTP 500 ``{err_code: 500052, err_msg, resp}``, lower-case keys."""
    headers, key = {}, "test-key"
    if way == "rule":
        await add_rule(client, provider="pixverse", operation="upload_image", moderation="submit", times=1)
    elif way == "errcode":
        await add_rule(client, provider="pixverse", operation="upload_image", errcode=500052, times=1)
    elif way == "header":
        headers = {"X-Mock-Fault": "moderation=submit"}
    else:
        key = "mock_moderation_submit"
    resp = await client.post("/openapi/v2/image/upload", data={"image_url": "https://e.com/a.png"},
                             headers={**pixverse_headers(key), **headers})
    assert resp.status == 500
    assert await resp.json() == {"err_code": 500052, "err_msg": ERRMSG[500052], "resp": ""}
    assert not engine.uploads._items  # nothing stored
    if way in ("rule", "errcode"):  # the budget is spent: the next upload is reviewed and passes
        again = await client.post("/openapi/v2/image/upload", data={"image_url": "https://e.com/a.png"},
                                  headers=pixverse_headers(key))
        assert (await again.json())["ErrCode"] == 0


@pytest.mark.parametrize("way", ["admin", "header", "prompt", "key", "profile"])
@pytest.mark.parametrize("p", [FREEPIK, PIXWITH, AIMLAPI], ids=["freepik", "pixwith", "aimlapi"])
async def test_resellers_accept_a_submit_moderation_and_fail_it_at_the_first_poll(aiohttp_client, p, way):
    settings = make_settings(faults=[{"moderation": "submit"}] if way == "profile" else [])
    app = create_app(settings)
    client = await aiohttp_client(app)
    prompt, key, headers = "a cat", "test-key", {}
    if way == "admin":
        await add_rule(client, moderation="submit", operation="submit")
    elif way == "header":
        headers = {"X-Mock-Fault": "moderation=submit"}
    elif way == "prompt":
        prompt = "a cat [mock:moderation=submit]"
    elif way == "key":
        key = "mock_moderation_submit"
    resp = await p.create(client, prompt=prompt, key=key, **headers)
    assert resp.status == 200
    task = p.task_id(await resp.json())
    assert await poll(client, p, task, key) == MODERATED[p.name]  # no virtual time passed
    assert app[ENGINE].fault_counts[(p.name, "moderation")] == 1
    assert not [v for a in app[ADAPTERS].values() for v in a.violations]


@pytest.mark.parametrize("way", ["admin", "header", "prompt", "key", "profile"])
@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_moderation_at_completion_through_every_way(aiohttp_client, p, way):
    settings = make_settings(faults=[{"provider": p.name, "moderation": "completion"}]
                             if way == "profile" else [])
    app = create_app(settings)
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    prompt, key, headers = "a cat", "test-key", {}
    if way == "admin":
        await add_rule(client, provider=p.name, outcome="moderated")
    elif way == "header":
        headers = {"X-Mock-Outcome": "moderated"}
    elif way == "prompt":
        prompt = "[mock:moderation] a cat"
    elif way == "key":
        key = "mock_moderation"
    resp = await p.create(client, prompt=prompt, key=key, **headers)
    task = p.task_id(await resp.json())
    assert await poll(client, p, task, key) in RUNNING[p.name]  # runs as usual first
    assert await finished(client, engine, p, resp, key) == MODERATED[p.name]
    assert engine.fault_counts[(p.name, "moderated")] == 1


@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_generation_failure(client, engine, p):
    resp = await p.create(client, prompt="[mock:fail] a cat")
    assert await finished(client, engine, p, resp) == FAILED[p.name]
    resp = await p.create(client, key="mock_fail-2")
    assert await finished(client, engine, p, resp, "mock_fail-2") == FAILED[p.name]


async def test_outcome_rules_only_spend_their_budget_on_submits(client, engine, store):
    task = PIXWITH.task_id(await (await PIXWITH.create(client)).json())
    await add_rule(client, outcome="failed", times=1)
    await poll(client, PIXWITH, task)  # a poll neither meets nor spends the rule
    first, second = await PIXWITH.create(client), await PIXWITH.create(client)
    assert await finished(client, engine, PIXWITH, first) == 3
    assert await finished(client, engine, PIXWITH, second) == 2


# latency --------------------------------------------------------------------------------
@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_latency_header_is_wall_time(client, p):
    start = time.perf_counter()
    resp = await p.create(client, **{"X-Mock-Latency-Ms": "30"})
    elapsed = time.perf_counter() - start
    assert resp.status == 200 and 0.030 <= elapsed < 1.0
    assert resp.headers["X-Mock-Fault-Injected"] == "latency"


async def test_latency_through_admin_prompt_key_and_profile(aiohttp_client):
    app = create_app(make_settings(faults=[{"provider": "pixverse", "latency": {"ms": 25}}]))
    client = await aiohttp_client(app)
    await add_rule(client, provider="freepik", latency={"min_ms": 20, "max_ms": 30})
    cases = [(PIXVERSE, {}), (FREEPIK, {}), (AIMLAPI, {"prompt": "[mock:slow=25] x"}),
             (PIXWITH, {"key": "mock_slow_25"})]
    for p, kw in cases:
        start = time.perf_counter()
        resp = await p.create(client, **kw)
        assert resp.status == 200 and 0.020 <= time.perf_counter() - start < 1.0, p.name
    log = list(app[ENGINE].faults.log)
    assert [e["provider"] for e in log] == ["pixverse", "freepik", "aimlapi", "pixwith"]
    assert 20 <= log[1]["latency_ms"] <= 30 and log[0]["latency_ms"] == 25


async def test_no_rules_no_fault_machinery(client, engine, store):
    resp = await FREEPIK.create(client)
    assert "X-Mock-Fault-Injected" not in resp.headers and not engine.faults.log


# connection faults ----------------------------------------------------------------------------
async def expect_connection_error(coro, kind):
    with pytest.raises(kind):
        async with await coro as resp:
            await resp.read()


@pytest.mark.parametrize("p", PROVIDERS, ids=ids)
async def test_connection_faults_by_header(client, engine, p):
    url = client.make_url(p.create_path)
    session = client.session

    def send(fault: str, timeout=QUICK):
        return session.post(url, json=p.create_body("a cat"), timeout=timeout,
                            headers=p.headers("test-key", **{"X-Mock-Fault": fault}))

    await expect_connection_error(send("reset"), aiohttp.ClientOSError)
    await expect_connection_error(send("empty"), aiohttp.ServerDisconnectedError)
    await expect_connection_error(send("truncated"), aiohttp.ClientPayloadError)
    async with send("malformed") as resp:
        raw = await resp.read()
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(raw)
        with pytest.raises(ValueError):
            await resp.json()
        assert raw.startswith(b"{")
    # a hang ends when the client gives up
    start = time.perf_counter()
    await expect_connection_error(send("hang", aiohttp.ClientTimeout(total=0.15)), TimeoutError)
    assert time.perf_counter() - start < 1.0
    # the fake is fine afterwards, and handled the jobs of malformed and truncated answers
    assert (await p.create(client)).status == 200
    assert len(engine.jobs) == 3
    assert {k for (prov, k) in engine.fault_counts if prov == p.name} == \
        {"reset", "empty", "truncated", "malformed", "hang"}


async def test_hang_is_bounded_and_released_when_the_client_leaves(client, engine):
    await add_rule(client, provider="aimlapi", connection="hang", hang_s=0.2)
    start = time.perf_counter()
    await expect_connection_error(AIMLAPI.create(client), aiohttp.ServerDisconnectedError)
    assert 0.2 <= time.perf_counter() - start < 2.0
    # a long hang ends as soon as the client disconnects
    await add_rule(client, provider="pixwith", connection="hang", hang_s=300)
    url = client.make_url(PIXWITH.create_path)
    await expect_connection_error(
        client.session.post(url, json=PIXWITH.create_body("x"), headers=PIXWITH.headers(),
                            timeout=aiohttp.ClientTimeout(total=0.1)), TimeoutError)
    # The server notices within its 50 ms poll; wait for that condition (bounded), not a time.
    released = time.perf_counter()
    while engine.faults.hanging and time.perf_counter() - released < 2.0:
        await asyncio.sleep(0.01)
    assert engine.faults.hanging == 0
    assert time.perf_counter() - released < 0.5


async def test_connection_faults_through_admin_prompt_key_and_profile(aiohttp_client):
    app = create_app(make_settings(faults=[{"provider": "pixwith", "connection": "empty"}]))
    client = await aiohttp_client(app)
    await add_rule(client, provider="freepik", connection="reset", times=1)
    await expect_connection_error(FREEPIK.create(client), aiohttp.ClientOSError)
    assert (await FREEPIK.create(client)).status == 200  # times: 1
    await expect_connection_error(PIXWITH.create(client), aiohttp.ServerDisconnectedError)
    await expect_connection_error(AIMLAPI.create(client, prompt="x [mock:truncated]"),
                                  aiohttp.ClientPayloadError)
    async with await PIXVERSE.create(client, key="mock_malformed") as resp:
        with pytest.raises(ValueError):
            await resp.json()


# media downloads ---------------------------------------------------------------------------
async def test_dribbled_download_and_files_opt_in(client, engine, store):
    url = "/__files/images/640x360/slow.png"
    plain = await client.get(url)
    data = await plain.read()
    await add_rule(client, connection="reset")                      # not for /__files
    assert (await (await client.get(url)).read()) == data
    await client.delete("/__admin/faults")
    await add_rule(client, provider="files", dribble_bps=len(data) * 5)  # about 0.2 s
    start = time.perf_counter()
    resp = await client.get(url)
    assert await resp.read() == data and resp.headers["Content-Type"] == "image/png"
    assert 0.15 <= time.perf_counter() - start < 2.0
    assert engine.fault_counts[("files", "dribble")] == 1
    start = time.perf_counter()
    resp = await client.get(url, headers={"X-Mock-Dribble-Bps": str(len(data) * 10)})
    assert await resp.read() == data and time.perf_counter() - start >= 0.08
    await client.delete("/__admin/faults")
    await add_rule(client, provider="files", operation="image", connection="truncated")
    await expect_connection_error(client.get(url), aiohttp.ClientPayloadError)


# the admin API ------------------------------------------------------------------------------
async def test_admin_faults_crud(client, engine, store):
    created = await (await client.post("/__admin/faults", json=[
        {"error": 503, "provider": "freepik", "times": 2, "test_id": "T"},
        {"id": "slow", "latency": {"median_ms": 50, "cap_ms": 100}}])).json()
    first, slow = created["faults"]
    assert first == {"id": first["id"], "error": 503, "provider": ["freepik"], "times": 2,
                     "test_id": "T", "source": "admin", "seen": 0, "fired": 0, "remaining": 2}
    assert slow["id"] == "slow" and slow["latency"]["dist"] == "lognormal"
    assert (await FREEPIK.create(client, **{"X-Mock-Test-Id": "T"})).status == 503
    listed = await (await client.get("/__admin/faults")).json()
    assert [r["id"] for r in listed["faults"]] == [first["id"], "slow"]
    assert listed["faults"][0]["remaining"] == 1
    assert {"provider": "freepik", "kind": "error", "count": 1} in listed["injected"]
    assert [r["id"] for r in (await (await client.get("/__admin/faults?test_id=T")).json())["faults"]] \
        == [first["id"]]
    assert (await (await client.get("/__admin/faults/slow")).json())["id"] == "slow"
    # replace by id
    await add_rule(client, id="slow", latency=1)
    assert (await (await client.get("/__admin/faults/slow")).json())["latency"] == {"ms": 1.0}
    assert await (await client.delete("/__admin/faults/slow")).json() == {"deleted": 1}
    assert (await client.delete("/__admin/faults/slow")).status == 404
    assert (await client.get("/__admin/faults/slow")).status == 404
    assert await (await client.delete("/__admin/faults?test_id=T")).json() == {"deleted": 1}
    bad = await client.post("/__admin/faults", json={"error": 418, "provider": "openai"})
    assert bad.status == 400
    errors = (await bad.json())["errors"]
    assert {e["field"] for e in errors} == {"error", "provider"}
    assert (await client.post("/__admin/faults", data=b"{", headers={"Content-Type": "application/json"})).status == 400
    nulls = await client.post("/__admin/faults", json={"error": 500, "times": None,
                                                        "latency": {"ms": 1, "cap_ms": None}})
    assert nulls.status == 400
    assert {e["field"] for e in (await nulls.json())["errors"]} == {"times", "latency.cap_ms"}
    assert (await client.post("/__admin/faults", json=[])).status == 400
    assert len(engine.faults) == 0


async def test_reset_restores_the_profile_and_delete_removes_it(aiohttp_client):
    app = create_app(make_settings(faults=[{"provider": "aimlapi", "error": 502, "times": 1}]))
    client = await aiohttp_client(app)
    assert (await AIMLAPI.create(client)).status == 502
    assert (await AIMLAPI.create(client)).status == 200
    await add_rule(client, error=500)
    await app[ENGINE].reset()
    rules = (await (await client.get("/__admin/faults")).json())["faults"]
    assert [(r["source"], r["fired"]) for r in rules] == [("profile", 0)]
    assert (await AIMLAPI.create(client)).status == 502
    assert await (await client.delete("/__admin/faults")).json() == {"deleted": 1}
    assert (await AIMLAPI.create(client)).status == 200


async def test_a_bad_directive_is_reported_and_ignored(client, store):
    resp = await FREEPIK.create(client, **{"X-Mock-Fault": "explode"})
    assert resp.status == 200
    assert "unknown directive 'explode'" in resp.headers["X-Mock-Fault-Error"]
    resp = await FREEPIK.create(client, prompt="[mock:error=418] x")
    assert resp.status == 200 and "error must be one of" in resp.headers["X-Mock-Fault-Error"]
    resp = await FREEPIK.create(client, prompt="[mock:drag\u00f6n\r\nSet-Cookie: x=1] x")
    assert resp.status == 200 and "Set-Cookie" not in resp.headers
    assert "unknown directive 'drag\\xf6n" in resp.headers["X-Mock-Fault-Error"]


async def test_directives_off(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(fault_directives=False)))
    resp = await FREEPIK.create(client, key="mock_error_503", **{"X-Mock-Fault": "error=500"})
    assert resp.status == 200


def test_pixverse_submit_operations_are_its_job_creating_handlers(settings):
    adapter = create_app(settings)[ADAPTERS]["pixverse"]
    assert pixverse_faults.SUBMIT_OPERATIONS <= set(adapter.handlers)
    assert adapter.submit_ops == pixverse_faults.SUBMIT_OPERATIONS
    assert {"get_video_result", "upload_image", "get_account_balance"}.isdisjoint(adapter.submit_ops)
