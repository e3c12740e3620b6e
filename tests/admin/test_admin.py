"""The control plane: every /__admin route, the request journal, metrics.

Each answer is also checked against contracts/admin.yaml (strict mode turns a broken
admin answer into a 500 and records it; the fixture fails the test on any).
"""
from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
import yaml
from pydantic import ValidationError

from mockserver.admin import ADMIN_CONTRACT, ADMIN_VIOLATIONS, METRICS
from mockserver.app import ENGINE, create_app
from mockserver.settings import Settings
from support import PIXWITH_T2V, ROOT, make_settings

FREEPIK_T2V = "/v1/ai/text-to-video/pixverse-v5"
FREEPIK_KEY = "freepik-secret-key-0001"
PIXWITH_KEY = "pixwith-secret-key-0002"
AIML_KEY = "aimlapi-secret-key-0003"
PIXVERSE_KEY = "pixverse-secret-key-0004"


JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def admin(client):
    """The test client; fails the test if an admin answer broke contracts/admin.yaml."""
    yield client
    violations = client.server.app[ADMIN_VIOLATIONS]
    assert not violations, violations


# helpers ----------------------------------------------------------------------------------
async def freepik_create(client, test_id: str | None = None, key: str = FREEPIK_KEY, prompt: str = "a cat") -> str:
    headers = {"x-freepik-api-key": key, **({"X-Mock-Test-Id": test_id} if test_id else {})}
    resp = await client.post(FREEPIK_T2V, json={"prompt": prompt}, headers=headers)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["data"]["task_id"]


async def freepik_poll(client, task_id: str, test_id: str | None = None, key: str = FREEPIK_KEY):
    headers = {"x-freepik-api-key": key, **({"X-Mock-Test-Id": test_id} if test_id else {})}
    return await client.get(f"{FREEPIK_T2V}/{task_id}", headers=headers)


async def pixwith_create(client, test_id: str | None = None) -> str:
    headers = {"Api-Key": PIXWITH_KEY, **({"X-Mock-Test-Id": test_id} if test_id else {})}
    resp = await client.post("/api/task/create", json=PIXWITH_T2V, headers=headers)
    body = await resp.json()
    assert body["code"] == 1, body
    return body["data"]["task_id"]


async def pixwith_poll(client, task_id: str, test_id: str | None = None) -> dict:
    headers = {"Api-Key": PIXWITH_KEY, **({"X-Mock-Test-Id": test_id} if test_id else {})}
    return await (await client.post("/api/task/get", json={"task_id": task_id}, headers=headers)).json()


async def journal(client, **params) -> dict:
    resp = await client.get("/__admin/journal", params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def admin_json(resp, status: int = 200) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


# routes and contract -----------------------------------------------------------------------
def test_admin_contract_describes_every_admin_route_and_is_valid_openapi():
    from openapi_spec_validator import validate

    document = yaml.safe_load((ROOT / "contracts" / "admin.yaml").read_text())
    validate(document)
    app = create_app(make_settings())
    contract = app[ADMIN_CONTRACT]
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/__admin/")
              and r.method != "HEAD"}
    # aiohttp spells the job route's regex variable in its canonical form.
    served = {(m, p.replace("{job_id:[\\s\\S]+}", "{job_id}")) for m, p in served}
    documented = {(op.method, op.path) for op in contract.operations.values()}
    assert served == documented


def test_admin_contract_provider_enums_come_from_the_registry():
    """The file lists no provider; the served contract lists the registry's."""
    from mockserver.engine.faults import FILES
    from mockserver.providers import names

    schemas = yaml.safe_load((ROOT / "contracts" / "admin.yaml").read_text())["components"]["schemas"]
    assert "enum" not in schemas["FaultProvider"] and "enum" not in schemas["Provider"]
    served = create_app(Settings())[ADMIN_CONTRACT].document["components"]["schemas"]
    assert tuple(served["FaultProvider"]["enum"]) == (*names(), FILES)
    assert tuple(served["Provider"]["enum"]) == names()


async def test_health(admin):
    body = await admin_json(await admin.get("/__admin/health"))
    assert body["status"] == "ok" and body["jobs"] == 0 and body["journal"] == 0
    await freepik_create(admin)
    body = await admin_json(await admin.get("/__admin/health"))
    assert body["jobs"] == 1 and body["journal"] == 1


async def test_clock_read_freeze_advance_scale(admin):
    frozen = await admin_json(await admin.post("/__admin/clock", json={"freeze": True}))
    assert frozen["frozen"] is True
    assert (await admin_json(await admin.get("/__admin/clock")))["now"] == frozen["now"]
    moved = await admin_json(await admin.post("/__admin/clock", json={"advance": 90}))
    assert moved["now"] == pytest.approx(frozen["now"] + 90)
    scaled = await admin_json(await admin.post("/__admin/clock", json={"scale": 7, "freeze": False}))
    assert scaled["scale"] == 7 and scaled["frozen"] is False
    for bad in ({"advance": -1}, {"scale": 0}, {"speed": 2}, {}, [1]):
        body = await admin_json(await admin.post("/__admin/clock", json=bad), 400)
        assert body["message"]
    assert (await admin.post("/__admin/clock", data=b"{nope", headers=JSON)).status == 400


async def test_redirect_to_the_page(admin):
    resp = await admin.get("/__admin", allow_redirects=False)
    assert resp.status == 301 and resp.headers["Location"] == "/__admin/"


# journal ------------------------------------------------------------------------------------
async def test_journal_records_each_provider_with_operation_task_id_and_masked_key(admin):
    t = "t-journal"
    task = await freepik_create(admin, t)
    assert (await freepik_poll(admin, task, t)).status == 200

    pw = await pixwith_create(admin, t)
    await pixwith_poll(admin, pw, t)

    aiml = {"Authorization": f"Bearer {AIML_KEY}", "X-Mock-Test-Id": t}
    gen = await (await admin.post("/v2/video/generations", headers=aiml,
                                  json={"model": "pixverse/v5/text-to-video", "prompt": "p"})).json()
    await admin.get("/v2/video/generations", params={"generation_id": gen["id"]}, headers=aiml)

    pv = {"API-KEY": PIXVERSE_KEY, "Ai-Trace-Id": str(uuid.uuid4()), "X-Mock-Test-Id": t}
    created = await (await admin.post("/openapi/v2/video/text/generate", headers=pv, json={
        "aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "p", "quality": "540p"})).json()
    video_id = created["Resp"]["video_id"]
    await admin.get(f"/openapi/v2/video/result/{video_id}", headers={**pv, "Ai-Trace-Id": str(uuid.uuid4())})

    page = await journal(admin, test_id=t)
    seen = [(e["provider"], e["operation"], e["task_id"]) for e in reversed(page["entries"])]
    assert seen == [
        ("freepik", "create_pixverse_v5_text_to_video", task),
        ("freepik", "get_pixverse_v5_text_to_video", task),
        ("pixwith", "create_task", pw),
        ("pixwith", "get_task", pw),
        ("aimlapi", "create_video_generation", gen["id"]),
        ("aimlapi", "get_video_generation", gen["id"]),
        ("pixverse", "text_to_video", str(video_id)),
        ("pixverse", "get_video_result", str(video_id)),
    ]
    first = page["entries"][-1]
    assert first["api_key"] == "free...0001" and FREEPIK_KEY not in str(page)
    assert first["method"] == "POST" and first["path"] == FREEPIK_T2V and first["status"] == 200
    assert first["request_body"] == '{"prompt": "a cat"}'
    assert task in first["response_body"]
    assert first["latency_ms"] >= 0 and first["wall"] > 0 and first["time"] > 0
    assert [e["seq"] for e in page["entries"]] == sorted((e["seq"] for e in page["entries"]), reverse=True)
    listed = await admin.get(FREEPIK_T2V, headers={"x-freepik-api-key": FREEPIK_KEY})
    assert listed.status == 200
    assert (await journal(admin, operation="get_pixverse_v5_text_to_videos"))["entries"][0]["task_id"] is None
    aiml_poll = page["entries"][2]
    assert aiml_poll["query"] == f"generation_id={gen['id']}" and aiml_poll["request_body"] is None


async def test_journal_filters(admin):
    a = await freepik_create(admin, "A")
    await freepik_create(admin, "B", key="another-key-9999")
    await freepik_poll(admin, a, "A")
    await freepik_poll(admin, "no-such-task", "A")          # 404
    await admin.post(FREEPIK_T2V, json={"prompt": "p"})     # 401, no key
    await admin.get("/v1/ai/nowhere")                       # no route

    assert (await journal(admin))["count"] == 6
    assert (await journal(admin, test_id="A"))["count"] == 3
    assert (await journal(admin, provider="freepik", operation="create_pixverse_v5_text_to_video"))["count"] == 3
    assert (await journal(admin, status="200"))["count"] == 3
    assert {e["status"] for e in (await journal(admin, status="4xx"))["entries"]} == {401, 404}
    assert (await journal(admin, task_id=a))["count"] == 2
    assert (await journal(admin, api_key="another-key-9999"))["count"] == 1
    assert (await journal(admin, api_key="another...9999"))["count"] == 0  # the raw key, not the mask
    assert (await journal(admin, path=FREEPIK_T2V, method="post"))["count"] == 3
    assert (await journal(admin, path=FREEPIK_T2V + "/*"))["count"] == 2
    unmatched = (await journal(admin, path="/v1/ai/nowhere"))["entries"]
    assert [(e["provider"], e["operation"], e["status"]) for e in unmatched] == [("freepik", None, 404)]
    unauth = (await journal(admin, status="401"))["entries"][0]
    assert unauth["api_key"] is None and unauth["provider"] == "freepik"

    everything = await journal(admin, limit=2)
    assert len(everything["entries"]) == 2 and everything["count"] == 6
    newest = everything["entries"][0]["seq"]
    assert (await journal(admin, since=newest - 1))["count"] == 1
    assert everything["capacity"] == 10_000 and everything["size"] == 6 and everything["evicted"] == 0

    for bad in ({"status": "teapot"}, {"limit": "0"}, {"color": "red"}, {"provider": "acme"}):
        assert (await admin.get("/__admin/journal", params=bad)).status == 400, bad


async def test_verify_exactly_three_polls_of_a_task(admin):
    t = "t-verify"
    x = await pixwith_create(admin, t)
    y = await pixwith_create(admin, t)
    for _ in range(3):
        await pixwith_poll(admin, x, t)
    await pixwith_poll(admin, y, t)

    ok = await admin_json(await admin.post("/__admin/journal/verify", json={
        "provider": "pixwith", "operation": "get_task", "task_id": x, "times": 3}))
    assert ok == {"ok": True, "count": 3, "expected": {"times": 3},
                  "criteria": {"provider": "pixwith", "operation": "get_task", "task_id": x}}

    miss = await admin_json(await admin.post("/__admin/journal/verify", json={
        "provider": "pixwith", "operation": "get_task", "task_id": x, "test_id": t, "times": 2}), 409)
    assert miss["ok"] is False and miss["count"] == 3
    assert miss["message"] == "expected exactly 2 matching request(s), saw 3"
    assert [e["task_id"] for e in miss["seen"]] == [x, x, x]
    nearby = {(n["operation"], n["task_id"]): n["count"] for n in miss["nearby"]}
    assert nearby == {("create_task", x): 1, ("create_task", y): 1, ("get_task", x): 3, ("get_task", y): 1}

    async def verify(expect=200, **body):
        return await admin_json(await admin.post("/__admin/journal/verify", json=body), expect)

    await verify(operation="get_task", at_least=4)
    await verify(operation="get_task", at_least=5, expect=409)
    await verify(operation="get_task", at_most=3, expect=409)
    await verify(operation="get_task", at_least=1, at_most=4)
    await verify(operation="create_task")                  # at least once by default
    await verify(operation="get_video_result", expect=409)
    await verify(operation="get_video_result", times=0)
    await verify(status="2xx", times=6)
    masked = await verify(api_key=PIXWITH_KEY, times=6)
    assert masked["criteria"] == {"api_key": "pixw...0002"}
    for bad in ({"times": 1, "at_least": 1}, {"times": -1}, {"times": "3"}, {"colour": 1},
                {"status": "teapot"}):
        assert (await admin.post("/__admin/journal/verify", json=bad)).status == 400, bad
    assert (await admin.post("/__admin/journal/verify")).status == 400


async def test_journal_clear_all_or_one_test(admin):
    await freepik_create(admin, "A")
    await freepik_create(admin, "B")
    assert await admin_json(await admin.delete("/__admin/journal", params={"test_id": "A"})) == {
        "journal": 1, "test_id": "A"}
    assert [e["test_id"] for e in (await journal(admin))["entries"]] == ["B"]
    assert (await admin_json(await admin.delete("/__admin/journal")))["journal"] == 1
    assert (await journal(admin))["count"] == 0


@pytest.mark.parametrize("settings", [make_settings(journal_max_entries=3, journal_body_limit=10)])
async def test_journal_is_a_bounded_ring_and_says_what_it_evicted(admin):
    task_id = await freepik_create(admin)
    for _ in range(4):
        assert (await freepik_poll(admin, task_id)).status == 200
    page = await journal(admin)
    assert page["size"] == 3 and page["capacity"] == 3 and page["evicted"] == 2
    assert [e["seq"] for e in page["entries"]] == [5, 4, 3]
    assert page["entries"][0]["response_body"].startswith('{"data":{"...[+')  # 10 bytes kept
    miss = await admin_json(await admin.post("/__admin/journal/verify", json={"task_id": task_id,
                                                                               "times": 5}), 409)
    assert "2 older entries were evicted" in miss["message"]


@pytest.mark.parametrize("settings", [make_settings(journal_max_entries=0)])
async def test_a_journal_turned_off_keeps_nothing_and_says_so(admin):
    task_id = await freepik_create(admin)
    assert (await freepik_poll(admin, task_id)).status == 200
    page = await journal(admin)
    assert page["size"] == 0 and page["capacity"] == 0 and page["entries"] == []
    miss = await admin_json(await admin.post("/__admin/journal/verify", json={"task_id": task_id}), 409)
    assert "the journal is off" in miss["message"]


def test_journal_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PIXVERSE_MOCK_JOURNAL_MAX_ENTRIES", "0")
    monkeypatch.setenv("PIXVERSE_MOCK_JOURNAL_BODY_LIMIT", "64")
    engine = create_app(Settings.load(None))[ENGINE]
    assert engine.journal.max_entries == 0 and engine.journal.body_limit == 64
    monkeypatch.setenv("PIXVERSE_MOCK_JOURNAL_MAX_ENTRIES", "-1")
    with pytest.raises(ValidationError):
        Settings.load(None)


async def test_bodies_are_clipped_and_multipart_is_described_not_read(admin):
    long_prompt = "x" * 5000
    await freepik_create(admin, prompt=long_prompt)
    entry = (await journal(admin))["entries"][0]
    sent = json.dumps({"prompt": long_prompt})  # what aiohttp's json= sends
    assert entry["request_body"] == sent[:2048] + f"...[+{len(sent) - 2048} bytes]"

    import io

    import aiohttp
    from PIL import Image
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(png, "PNG")
    form = aiohttp.FormData()
    form.add_field("image", png.getvalue(), filename="a.png", content_type="image/png")
    resp = await admin.post("/openapi/v2/image/upload", data=form,
                            headers={"API-KEY": PIXVERSE_KEY, "Ai-Trace-Id": str(uuid.uuid4())})
    assert resp.status == 200
    body = await resp.json()
    assert body["ErrCode"] == 0, body
    entry = (await journal(admin, operation="upload_image"))["entries"][0]
    assert entry["request_body"].startswith("<multipart/form-data, ") and entry["request_body"].endswith(" bytes>")
    assert entry["task_id"] is None  # an image id is not a job


async def test_a_crashing_handler_is_journaled_as_500(admin, engine, monkeypatch):
    task = await freepik_create(admin)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "get_job", boom)
    assert (await freepik_poll(admin, task)).status == 500
    entry = (await journal(admin))["entries"][0]
    assert entry["status"] == 500 and entry["task_id"] == task and entry["response_body"] is None


async def test_unserved_paths_and_methods_answer_in_the_providers_words_and_are_journaled(admin):
    missing = await admin.post("/v1/ai/nowhere", data=b'{"prompt": "x"}', headers={"Content-Type": "application/json"})
    assert missing.status == 404 and await missing.json() == {"message": "Not Found"}
    wrong_method = await admin.delete(FREEPIK_T2V, headers={"x-freepik-api-key": FREEPIK_KEY})
    assert wrong_method.status == 405 and wrong_method.headers["Allow"] == "GET,HEAD,POST"  # the list, and submit
    assert await wrong_method.json() == {"message": "Method Not Allowed"}
    outside = await admin.get("/nowhere")  # under no provider's prefix: aiohttp's words
    assert outside.status == 404 and await outside.text() == "404: Not Found"
    entries = (await journal(admin))["entries"]
    assert [(e["method"], e["path"], e["status"], e["provider"], e["operation"]) for e in entries] == [
        ("GET", "/nowhere", 404, None, None), ("DELETE", FREEPIK_T2V, 405, "freepik", None),
        ("POST", "/v1/ai/nowhere", 404, "freepik", None)]
    assert entries[2]["request_body"] == '{"prompt": "x"}' and entries[1]["api_key"] == "free...0001"
    assert json.loads(entries[1]["response_body"]) == {"message": "Method Not Allowed"}
    metrics = await (await admin.get("/__admin/metrics")).text()
    assert 'pixverse_mock_requests_total{operation="unmatched",provider="freepik",status="405"} 1.0' in metrics
    assert 'pixverse_mock_requests_total{operation="unmatched",provider="none",status="404"} 1.0' in metrics


@pytest.mark.parametrize("method, path, status, body", [
    # The AI/ML API SDK's inherited OpenAI video call; the gateway's error body.
    ("POST", "/v1/videos", 404, {"message": "Cannot POST /v1/videos", "path": "/v1/videos",
                                 "statusCode": 404}),
    ("DELETE", "/v2/video/generations", 405, {"message": "Cannot DELETE /v2/video/generations",
                                              "path": "/v2/video/generations", "statusCode": 405}),
    # pixverse-mcp's PixverseClient.get_video_credits, and an unknown /openapi path.
    ("GET", "/video/credits/317982208110208", 404, {"ErrCode": 500008, "ErrMsg": "Requested data not found",
                                                    "Resp": None}),
    ("GET", "/openapi/v2/video/upscale/generate", 404, {"ErrCode": 500008, "ErrMsg": "Requested data not found",
                                                        "Resp": None}),
    ("GET", "/openapi/v2/video/text/generate", 405, {"ErrCode": 400017, "ErrMsg": "Invalid parameter", "Resp": None}),
    ("POST", "/api/task/pre_url", 404, {"code": 0, "message": "Not Found", "data": None}),
    ("GET", "/api/task/create", 405, {"code": 0, "message": "Method Not Allowed", "data": None}),
])
async def test_each_provider_answers_unknown_paths_in_its_error_shape(admin, method, path, status, body):
    resp = await admin.request(method, path, headers={"Authorization": "Bearer k", "API-KEY": "k"})
    assert resp.status == status and resp.content_type == "application/json"
    answer = await resp.json()
    assert {k: answer[k] for k in body} == body
    if "requestId" in answer or "timestamp" in answer:
        assert set(answer) == {"message", "path", "requestId", "statusCode", "timestamp"}
    else:
        assert set(answer) == set(body)
    if status == 405:
        assert resp.headers["Allow"]
    entry = (await journal(admin, path=path))["entries"][0]
    assert entry["status"] == status and entry["provider"] is not None


async def test_admin_and_media_requests_are_not_journaled(admin):
    await admin.get("/__admin/health")
    await admin.get("/__files/nothing-here")
    await admin.get("/__admin/nothing-here")
    assert (await journal(admin))["count"] == 0


# jobs ---------------------------------------------------------------------------------------
async def test_jobs_list_filters_and_masks(admin):
    a = await freepik_create(admin, "A")
    b = await freepik_create(admin, "B", key="another-key-9999")
    p = await pixwith_create(admin, "A")
    listed = await admin_json(await admin.get("/__admin/jobs"))
    assert listed["count"] == 3 and [j["id"] for j in listed["jobs"]] == [p, b, a]
    assert listed["jobs"][1]["api_key"] == "anot...9999" and "request" not in listed["jobs"][0]

    async def ids(**params):
        return [j["id"] for j in (await admin_json(await admin.get("/__admin/jobs", params=params)))["jobs"]]

    assert await ids(provider="freepik") == [b, a]
    assert await ids(test_id="A") == [p, a]
    assert await ids(api_key="another-key-9999") == [b]
    assert await ids(kind="text-to-video", provider="pixwith") == [p]
    assert await ids(status="queued") == [p, b, a]
    assert await ids(status="succeeded") == []
    assert await ids(limit=1) == [p]
    for bad in ({"status": "done"}, {"provider": "acme"}, {"limit": "x"}, {"test_id": ""}):
        assert (await admin.get("/__admin/jobs", params=bad)).status == 400, bad


async def test_job_inspect_does_not_count_as_a_poll(admin):
    task = await freepik_create(admin, "A")
    job = await admin_json(await admin.get(f"/__admin/jobs/freepik/{task}"))
    assert job["id"] == task and job["test_id"] == "A" and job["polls"] == 0
    assert job["request"] == {"prompt": "a cat"} and job["status"] == "queued"
    assert job["outcome"] == "succeeded" and job["forced"] is None
    assert (await admin_json(await admin.get("/__admin/jobs/freepik/nope"), 404))["message"] == "job not found"
    assert (await admin.get(f"/__admin/jobs/pixwith/{task}")).status == 404


@pytest.mark.parametrize("settings", [make_settings(progress_mode="manual")])
async def test_force_transitions_drive_the_provider_answer(admin):
    task = await freepik_create(admin)
    assert (await (await freepik_poll(admin, task)).json())["data"]["status"] == "CREATED"

    async def force(status: str, expect: int = 200) -> dict:
        return await admin_json(await admin.post(f"/__admin/jobs/freepik/{task}", json={"status": status}), expect)

    forced = await force("running")
    assert forced["status"] == "running" and forced["forced"] == "running" and forced["forced_at"]
    assert (await (await freepik_poll(admin, task)).json())["data"]["status"] == "IN_PROGRESS"
    await force("succeeded")
    done = (await (await freepik_poll(admin, task)).json())["data"]
    assert done["status"] == "COMPLETED" and done["generated"]
    await force("moderated")
    assert (await (await freepik_poll(admin, task)).json())["data"]["status"] == "FAILED"

    for bad in ({"status": "done"}, {}, {"status": "failed", "extra": 1}):
        assert (await admin.post(f"/__admin/jobs/freepik/{task}", json=bad)).status == 400, bad
    assert (await admin.post("/__admin/jobs/freepik/nope", json={"status": "failed"})).status == 404
    assert (await admin.post(f"/__admin/jobs/acme/{task}", json={"status": "failed"})).status == 400


@pytest.mark.parametrize("settings", [make_settings(aimlapi={"id_format": "uuid-model"})])
async def test_job_ids_with_slashes_are_reachable(admin):
    headers = {"Authorization": f"Bearer {AIML_KEY}"}
    gen = await (await admin.post("/v2/video/generations", headers=headers,
                                  json={"model": "pixverse/v5/text-to-video", "prompt": "p"})).json()
    assert "/" in gen["id"]
    job = await admin_json(await admin.get(f"/__admin/jobs/aimlapi/{gen['id']}"))
    assert job["id"] == gen["id"]
    forced = await admin_json(await admin.post(f"/__admin/jobs/aimlapi/{gen['id']}", json={"status": "failed"}))
    assert forced["status"] == "failed"


# reset --------------------------------------------------------------------------------------
def quiet_rule(test_id: str | None) -> dict:
    """A fault rule scoped to a test id that no request in these tests meets."""
    return {"operation": "get_account_balance", "error": 500, **({"test_id": test_id} if test_id else {})}


async def test_reset_one_test_id_leaves_other_tests_alone(admin, engine):
    engine.faults.add(quiet_rule("A"))
    engine.faults.add(quiet_rule("B"))
    engine.faults.add(quiet_rule(None))
    a1, a2 = await freepik_create(admin, "A"), await pixwith_create(admin, "A")
    b1 = await freepik_create(admin, "B")
    untagged = await freepik_create(admin)
    await freepik_poll(admin, b1, "B")

    dropped = await admin_json(await admin.post("/__admin/reset", json={"test_id": "A"}))
    assert dropped == {"status": "reset", "test_id": "A", "jobs": 2, "journal": 2, "faults": 1}
    assert sorted(str(r.get("test_id")) for r in engine.faults.list()) == ["B", "None"]
    assert (await admin.get(f"/__admin/jobs/freepik/{a1}")).status == 404
    assert (await admin.get(f"/__admin/jobs/pixwith/{a2}")).status == 404
    assert (await freepik_poll(admin, a1, "A")).status == 404       # gone for the client too
    assert (await pixwith_poll(admin, a2, "A"))["code"] != 1
    assert (await freepik_poll(admin, b1, "B")).status == 200
    remaining = {j["id"] for j in (await admin_json(await admin.get("/__admin/jobs")))["jobs"]}
    assert remaining == {b1, untagged}
    tests = Counter(e["test_id"] for e in (await journal(admin))["entries"])
    assert tests == {"B": 3, None: 1, "A": 2}  # A's two polls after the reset

    by_query = await admin_json(await admin.post("/__admin/reset", params={"test_id": "B"}))
    assert by_query["jobs"] == 1 and by_query["faults"] == 1 and len(engine.faults) == 1


async def test_full_reset(admin, engine):
    engine.faults.add(quiet_rule("A"))
    await freepik_create(admin, "A")
    await freepik_create(admin)
    dropped = await admin_json(await admin.post("/__admin/reset"))
    assert dropped == {"status": "reset", "test_id": None, "jobs": 2, "journal": 2, "faults": 1}
    assert len(engine.jobs) == 0 and len(engine.journal) == 0 and len(engine.faults) == 0
    for bad in ({"test_id": ""}, {"test_id": 3}, {"everything": True}):
        assert (await admin.post("/__admin/reset", json=bad)).status == 400, bad
    assert (await admin.post("/__admin/reset", data=b"[", headers=JSON)).status == 400


# metrics ------------------------------------------------------------------------------------
async def test_metrics_series_after_some_requests(admin, engine):
    engine.faults.add({"provider": "pixwith", "operation": "get_task", "error": 500, "times": 2})
    task = await freepik_create(admin)
    await freepik_poll(admin, task)
    await freepik_poll(admin, task)
    await admin.post(FREEPIK_T2V, json={"prompt": "p"})
    pw = await pixwith_create(admin)
    for _ in range(3):
        await pixwith_poll(admin, pw)
    await admin.post(f"/__admin/jobs/freepik/{task}", json={"status": "succeeded"})

    resp = await admin.get("/__admin/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    expected = [
        'pixverse_mock_requests_total{operation="create_pixverse_v5_text_to_video",provider="freepik",'
        'status="200"} 1.0',
        'pixverse_mock_requests_total{operation="get_pixverse_v5_text_to_video",provider="freepik",'
        'status="200"} 2.0',
        'pixverse_mock_requests_total{operation="create_pixverse_v5_text_to_video",provider="freepik",'
        'status="401"} 1.0',
        'pixverse_mock_requests_total{operation="create_task",provider="pixwith",status="200"} 1.0',
        'pixverse_mock_request_duration_seconds_count{operation="get_pixverse_v5_text_to_video",'
        'provider="freepik"} 2.0',
        'pixverse_mock_request_duration_seconds_bucket{le="+Inf",operation="create_task",provider="pixwith"} 1.0',
        'pixverse_mock_jobs{provider="freepik",state="succeeded"} 1.0',
        'pixverse_mock_jobs{provider="freepik",state="queued"} 0.0',
        'pixverse_mock_jobs{provider="pixwith",state="queued"} 1.0',
        'pixverse_mock_faults_injected_total{kind="error",provider="pixwith"} 2.0',
        "pixverse_mock_journal_entries 8.0",
        "pixverse_mock_requests_hanging 0.0",
    ]
    for line in expected:
        assert line in text, line
    assert "/__admin" not in text  # the control plane itself is not counted


async def test_each_app_has_its_own_registry(aiohttp_client):
    one = await aiohttp_client(create_app(make_settings()))
    two = await aiohttp_client(create_app(make_settings()))
    await one.get("/v1/ai/nowhere")
    assert 'status="404"' in await (await one.get("/__admin/metrics")).text()
    assert 'status="404"' not in await (await two.get("/__admin/metrics")).text()
    assert one.server.app[METRICS].registry is not two.server.app[METRICS].registry


# the page (markup only; tests/admin/test_admin_browser.py renders it in Chromium) -------------------
async def test_page_lists_jobs_requests_and_faults_escaped(admin, engine):
    engine.faults.add({**quiet_rule("<b>A</b>"), "description": "<i>evil</i>"})
    evil = "<script>alert(1)</script>"
    task = await freepik_create(admin, evil)
    resp = await admin.get("/__admin/")
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    # Scripts only from the fake's own files: nothing inline, nothing injected runs.
    assert "script-src 'self';" in csp and "unsafe-inline'; img" in csp and "script-src 'self' 'unsafe" not in csp
    html = await resp.text()
    assert task in html and "create_pixverse_v5_text_to_video" in html
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;evil&lt;/i&gt;" in html and "<i>" not in html and "Active faults (1)" in html
    scoped = await (await admin.get("/__admin/", params={"test_id": "other"})).text()
    assert task not in scoped and "No jobs." in scoped
    assert '<meta http-equiv="refresh" content="5">' in await (await admin.get("/__admin/?refresh=5")).text()
    assert (await admin.get("/__admin/?limit=0")).status == 400
    # The filter form without scripts sends every field, empty ones too.
    blank = await admin.get("/__admin/?provider=&api_key=&test_id=&status=&http_status=&window=")
    assert blank.status == 200 and task in await blank.text()
    assert (await admin.get("/__admin/?provider=nobody")).status == 400


async def test_page_timeline_in_poll_count_mode(aiohttp_client):
    """Without time-driven progress, bars show the present state; a finished job ends
    at the poll that finished it."""
    client = await aiohttp_client(create_app(make_settings(progress_mode="polls", queued_polls=1,
                                                           running_polls=1)))
    task = await freepik_create(client)
    html = await (await client.get("/__admin/")).text()
    row = html.split(f'data-job="freepik/{task}">')[1].split("</div></div>")[0]
    assert "seg st-queued" in row and "end " not in row
    for _ in range(3):
        await freepik_poll(client, task)
    html = await (await client.get("/__admin/")).text()
    row = html.split(f'data-job="freepik/{task}">')[1].split("</div></div>")[0]
    assert "seg st-running" in row and "end st-succeeded" in row and row.count("tick poll") == 3


async def test_page_timeline_window(admin, engine):
    import re
    old = await freepik_create(admin)
    engine.clock.advance(600)
    new = await freepik_create(admin)
    fit = await (await admin.get("/__admin/")).text()
    assert f'data-job="freepik/{old}"' in fit and f'data-job="freepik/{new}"' in fit
    html = await (await admin.get("/__admin/", params={"window": "60"})).text()
    t0, t1 = map(float, re.search(r'data-t0="([0-9.]+)" data-t1="([0-9.]+)"', html).groups())
    assert t1 - t0 == pytest.approx(60, abs=0.01) and t0 < engine.clock.now() < t1
    # The old job ended long before the window: off the timeline, still in the jobs table.
    assert f'data-job="freepik/{old}"' not in html.split('id="timeline-live"')[1].split("</section>")[0]
    assert f'data-job="freepik/{new}"' in html and old in html


async def read_event(stream) -> dict:
    """The next ``state`` event of a dashboard event stream."""
    lines = []
    while True:
        line = (await stream.content.readline()).decode()
        if line == "\n" and lines:
            break
        if line.startswith(("event:", "data:")):
            lines.append(line)
    assert lines[0] == "event: state\n"
    return json.loads(lines[1][len("data: "):])


async def test_event_stream_sends_sections_as_they_change_and_keeps_headers_while_open(admin, engine):
    first = await freepik_create(admin, "T1")
    stream = await admin.get("/__admin/events", params={"test_id": "T1"})
    assert stream.status == 200 and stream.content_type == "text/event-stream"
    state = await read_event(stream)
    assert first in state["sections"]["jobs"] and set(state["clock"]) == {"now", "scale", "frozen"}
    assert engine.journal.watchers == 1
    second = await freepik_create(admin, "T1", key="secret-key-123456")
    await freepik_create(admin, "T2")  # another test's: filtered out
    state = await read_event(stream)
    assert second in state["sections"]["jobs"] and "timeline" in state["sections"]
    assert "faults" not in state["sections"]  # unchanged sections are not re-sent
    stream.close()

    seq = engine.journal.find({"test_id": "T1"})[-1].seq
    entry = await admin_json(await admin.get(f"/__admin/journal/entries/{seq}"))
    assert entry["seq"] == seq and json.loads(entry["request_body"]) == {"prompt": "a cat"}
    headers = dict(entry["request_headers"])
    assert headers["x-freepik-api-key"] == "secr...3456" and headers["X-Mock-Test-Id"] == "T1"
    assert "secret-key-123456" not in json.dumps(entry)
    assert dict(entry["response_headers"])["Content-Type"].startswith("application/json")
    assert entry["curl"].startswith("curl -sS -X POST http://127.0.0.1:")
    assert "-H 'x-freepik-api-key: secr...3456'" in entry["curl"]
    assert entry["curl"].endswith("""--data-raw '{"prompt": "a cat"}'""")

    # Before any dashboard watched, no headers: the curl falls back on the contract's key header.
    before = engine.journal.find({"task_id": first})[0]
    entry = await admin_json(await admin.get(f"/__admin/journal/entries/{before.seq}"))
    assert entry["request_headers"] is None and "-H 'x-freepik-api-key: free...0001'" in entry["curl"]
    await admin_json(await admin.get("/__admin/journal/entries/999999"), 404)
    assert (await admin.get("/__admin/journal/entries/0")).status == 400


async def test_dashboard_assets_are_served_from_the_package(admin):
    js = await admin.get("/__admin/static/dashboard.js")
    assert js.status == 200 and js.content_type == "application/javascript"
    assert "EventSource" in await js.text()
    css = await admin.get("/__admin/static/dashboard.css")
    assert css.status == 200 and css.content_type == "text/css"
    await admin_json(await admin.get("/__admin/static/nothing.js"), 404)


async def test_injected_faults_are_journaled_and_verifiable(admin, engine):
    x = await pixwith_create(admin, "F")
    engine.faults.add({"provider": "pixwith", "operation": "get_task", "error": 500, "times": 2})
    for _ in range(3):
        await pixwith_poll(admin, x, "F")
    polls = (await journal(admin, operation="get_task"))["entries"]
    assert [e["faults"] for e in polls] == [[], ["error"], ["error"]]
    assert (await journal(admin, fault="any"))["count"] == 2
    await admin_json(await admin.post("/__admin/journal/verify", json={
        "task_id": x, "fault": "error", "times": 2}))
    resp = await pixwith_poll(admin, x, "F")
    assert resp["code"] == 1  # the rule is spent


async def test_connection_faults_are_journaled_as_client_closed(admin, engine):
    task = await freepik_create(admin)
    engine.faults.add({"provider": "freepik", "operation": "get_pixverse_v5_text_to_video",
                       "connection": "reset", "times": 1})
    import aiohttp
    with pytest.raises(aiohttp.ClientError):
        await freepik_poll(admin, task)
    entry = (await journal(admin))["entries"][0]
    assert entry["status"] == 499 and entry["faults"] == ["reset"] and entry["task_id"] == task


# unmatched requests ------------------------------------------------------------------------
async def test_unmatched_requests_newest_first_with_three_near_misses(admin):
    await admin.get("/api/task/stauts", headers={"Api-Key": PIXWITH_KEY, "X-Mock-Test-Id": "t-1"})
    await admin.delete("/nowhere/at/all")
    await freepik_create(admin)  # served: not listed
    resp = await admin.get("/__admin/requests/unmatched")
    assert resp.status == 200
    body = await resp.json()
    assert body["count"] == 2
    newest, oldest = body["entries"]
    assert (newest["provider"], newest["path"], newest["status"]) == (None, "/nowhere/at/all", 404)
    assert (oldest["provider"], oldest["path"], oldest["test_id"]) == ("pixwith", "/api/task/stauts", "t-1")
    assert len(oldest["near_misses"]) == 3
    scores = [m["similarity"] for m in oldest["near_misses"]]
    assert scores == sorted(scores, reverse=True)
    assert oldest["near_misses"][0]["provider"] == "pixwith"
    assert oldest["near_misses"][0]["path"].startswith("/api/task/")
    # Filters: one test id, one provider; a served request never shows up.
    only = await (await admin.get("/__admin/requests/unmatched", params={"test_id": "t-1"})).json()
    assert [e["path"] for e in only["entries"]] == ["/api/task/stauts"]
    none = await (await admin.get("/__admin/requests/unmatched", params={"provider": "freepik"})).json()
    assert none == {"count": 0, "entries": []}


def test_the_route_table_is_the_admin_contract():
    from mockserver.admin.routes import ROUTES
    contract = yaml.safe_load((ROOT / "mockserver" / "contracts" / "admin.yaml").read_text())
    documented = {op["operationId"] for item in contract["paths"].values()
                  for op in item.values() if isinstance(op, dict) and "operationId" in op}
    assert sorted(op_id for _, _, op_id in ROUTES) == sorted(documented)
    app = create_app(make_settings())
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/__admin") and r.method != "HEAD"}
    tabled = {(m, "/__admin" + p.replace(r"{job_id:[\s\S]+}", "{job_id}")) for m, p, _ in ROUTES}
    assert registered - tabled == {("GET", "/__admin")}  # the redirect to /__admin/
    assert tabled <= registered
