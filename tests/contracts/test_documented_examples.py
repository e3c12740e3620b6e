"""Every documented response example, replayed against the fake (issue 15, item 9).

One table per provider: each row is a response example from the provider's public
documents (a row's name says which: its API reference, guide or docs pages), the request
that example answers, and what the fake must be set to for it (an era, a fault).  The fake's answer must
have the example's keys, nesting and JSON types (values may differ: ids, URLs and
times are the fake's own).  Every difference is listed, with its reason, in the
contract's ``info.x-fake-notes`` as ``{example: <row name>, differences: [...]}``;
the test allows exactly those, and fails on a note naming no row.

A difference reads ``missing a.b`` (documented, not sent), ``extra a.b`` (sent, not
in the example) or ``type a.b: <documented> -> <sent>``.  Lists compare their first
items.  An integer where the example shows a float is no difference (JSON numbers).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import pytest
import yaml

from mockserver.app import ENGINE, create_app
from support import CONTRACTS, make_settings
from support.pixverse import I2V, T2V_SEED, call, finish, image_bytes, media_id, source_video, upload_id, video_bytes

Driver = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Example:
    name: str           # how the contract's notes name it
    documented: Any     # the example as the document shows it
    answer: Driver      # (client, engine) -> the fake's answer body to the example's request
    settings: dict[str, Any] = field(default_factory=dict)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def differences(documented: Any, sent: Any, path: str = "") -> set[str]:
    """How ``sent`` differs from ``documented`` in keys, nesting and types."""
    here = path or "(body)"
    if isinstance(documented, dict) and isinstance(sent, dict):
        out = {f"missing {path}{k}" for k in documented if k not in sent}
        out |= {f"extra {path}{k}" for k in sent if k not in documented}
        for k in documented.keys() & sent.keys():
            out |= differences(documented[k], sent[k], f"{path}{k}.")
        return out
    if isinstance(documented, list) and isinstance(sent, list):
        return differences(documented[0], sent[0], f"{path}0.") if documented and sent else set()
    was, now = json_type(documented), json_type(sent)
    if was == now or (was, now) == ("number", "integer"):
        return set()
    return {f"type {here.rstrip('.')}: {was} -> {now}"}


def allowed(provider: str) -> dict[str, set[str]]:
    notes = yaml.safe_load((CONTRACTS / f"{provider}.yaml").read_text())["info"]["x-fake-notes"]
    return {n["example"]: set(n.get("differences", ())) for n in notes if isinstance(n, dict)}


async def check(aiohttp_client, provider: str, example: Example) -> None:
    app = create_app(make_settings(**example.settings))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    engine.clock.freeze()
    sent = await example.answer(client, engine)
    assert differences(example.documented, sent) == allowed(provider).get(example.name, set()), sent


def test_differences_are_found():
    doc = {"a": 1, "b": {"c": "x", "d": [{"e": 1.5}]}, "f": None}
    assert differences(doc, {"a": 2, "b": {"c": 3, "d": [{"e": 2}], "g": 1}}) == {
        "type b.c: string -> integer", "extra b.g", "missing f"}
    assert differences(doc, doc) == set()


def every_note_names_a_row(provider: str, table: list[Example]) -> None:
    assert set(allowed(provider)) <= {e.name for e in table}


# Freepik / Magnific --------------------------------------------------------------------
FREEPIK_I2V = "/v1/ai/image-to-video/pixverse-v5"
FP_KEY = {"x-freepik-api-key": "k"}
FP_BODY = {"prompt": "a cat", "image_url": "https://example.com/cat.jpg"}
FP_TASK = {"generated": [], "task_id": "046b6c7f-0b8a-43b9-b35d-6489e6daee91", "status": "IN_PROGRESS"}


async def fp(client, method: str, path: str = FREEPIK_I2V, headers=FP_KEY, **kwargs) -> Any:
    return await (await client.request(method, path, headers=headers, **kwargs)).json()


async def fp_created(client, engine) -> str:
    return (await fp(client, "POST", json=FP_BODY))["data"]["task_id"]


async def fp_completed(client, engine) -> Any:
    task = await fp_created(client, engine)
    engine.clock.advance(3600)
    return await fp(client, "GET", f"{FREEPIK_I2V}/{task}")


async def fp_list(client, engine) -> Any:
    await fp_created(client, engine)
    return await fp(client, "GET")


async def fp_fault(client, status: int) -> Any:
    return await fp(client, "POST", headers={**FP_KEY, "X-Mock-Fault": f"error={status}"}, json=FP_BODY)


FREEPIK = [
    Example("Freepik reference: 200 success - in progress task", {"data": FP_TASK},
            lambda c, e: fp(c, "POST", json=FP_BODY)),
    Example("Freepik reference: 200 task status (generated URLs)",
            {"data": {**FP_TASK, "generated": ["https://openapi-generator.tech"], "status": "CREATED"}},
            fp_completed),
    Example("Magnific spec: GET list", {"data": [{"task_id": FP_TASK["task_id"], "status": "CREATED"}]}, fp_list),
    Example("Freepik reference: 400 application/json", {"message": "Parameter 'page' must be greater than 0"},
            lambda c, e: fp(c, "POST", json={"prompt": "no image"})),
    Example("Freepik reference: 400 application/problem+json",
            {"message": "Your request parameters didn't validate.",
             "invalid_params": [{"name": "page", "reason": "Parameter 'page' must be greater than 0"}]},
            lambda c, e: fp(c, "POST", json={"prompt": "no image"})),
    Example("Freepik reference: 401 invalid_api_key", {"message": "Invalid API key"},
            lambda c, e: fp(c, "POST", headers={"x-freepik-api-key": "not-allowed"}, json=FP_BODY),
            {"api_keys": ["k"]}),
    Example("Freepik reference: 401 missing_api_key", {"message": "Missing API key"},
            lambda c, e: fp(c, "POST", headers={}, json=FP_BODY)),
    Example("Freepik reference: 500", {"message": "Internal Server Error"}, lambda c, e: fp_fault(c, 500)),
    Example("Freepik reference: 503", {"message": "Service Unavailable. Please try again later."},
            lambda c, e: fp_fault(c, 503)),
    Example("Magnific spec: 404 (other task endpoints)", {"message": "AI resource not found"},
            lambda c, e: fp(c, "GET", f"{FREEPIK_I2V}/{uuid.uuid4()}")),
    Example("Magnific spec: 429 (stock downloads)", {"message": "Too many requests"}, lambda c, e: fp_fault(c, 429)),
]


@pytest.mark.parametrize("example", FREEPIK, ids=lambda e: e.name)
async def test_freepik_examples(aiohttp_client, example):
    await check(aiohttp_client, "freepik", example)


# pixwith.ai ----------------------------------------------------------------------------
PW_KEY = {"Api-Key": "k"}
PW_CREATE = {"prompt": "A cinematic shot of a cat walking through a beautiful garden", "model_id": "2-27",
             "options": {"prompt_optimization": True, "num_outputs": 1, "resolution": "720p",
                         "aspect_ratio": "16:9", "duration": 5}}


async def pw(client, path: str, body: Any = None, headers=PW_KEY) -> Any:
    return await (await client.post(path, json=body, headers=headers)).json()


async def pw_completed(client, engine) -> Any:
    task = (await pw(client, "/api/task/create", PW_CREATE))["data"]["task_id"]
    engine.clock.advance(3600)
    return await pw(client, "/api/task/get", {"task_id": task})


PIXWITH = [
    Example("pixwith.ai docs: create response",
            {"code": 1, "message": "success", "data": {"task_id": "d425ab4dc256f0ebaa84862b9cea8a3d",
                                                        "estimated_time": 150}},
            lambda c, e: pw(c, "/api/task/create", PW_CREATE)),
    Example("pixwith.ai docs: get task (its field table)",
            {"code": 1, "message": "success",
             "data": {"task_id": "cf0ddb5ad6a0f0c85ab4d1dceb9fd89c", "status": 2,
                      "result_urls": ["https://cdn.pixwith.ai/images/cf0ddb5ad6a0f0c85ab4d1dceb9fd89c_0.jpeg"]}},
            pw_completed),
    Example("pixwith.ai docs: get_credits", {"code": 1, "data": {"credits": 500}},
            lambda c, e: pw(c, "/api/task/get_credits")),
    Example("pixwith.ai docs: error envelope", {"code": 0, "message": "Invalid API KEY", "data": None},
            lambda c, e: pw(c, "/api/task/get_credits", headers={})),
]


@pytest.mark.parametrize("example", PIXWITH, ids=lambda e: e.name)
async def test_pixwith_examples(aiohttp_client, example):
    await check(aiohttp_client, "pixwith", example)


# AI/ML API -----------------------------------------------------------------------------
AIML = "/v2/generate/video/pixverse/generation"
AIML_UNIVERSAL = "/v2/video/generations"
AI_KEY = {"Authorization": "Bearer k"}
AI_2025 = {"model": "pixverse/v5/image-to-video", "prompt": "Mona Lisa puts on glasses with her hands.",
           "image_url": "https://s2-111386.kwimgs.com/bs2/mmu-aiplatform-temp/kling/20240620/1.jpeg",
           "duration": 5}
AI_2026 = {"model": "pixverse/v5/image-to-video",
           "image_url": "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/news-presenter.jpg",
           "prompt": "A young news presenter standing in the studio, facing the camera directly.",
           "lip_sync_tts_content": "Hello and welcome. This is our latest news update, and here are the headlines.",
           "lip_sync_tts_speaker": "Chloe"}
ERA_2025 = {"aimlapi": {"era": "2025"}}


async def ai(client, method: str, path: str, headers=AI_KEY, **kwargs) -> Any:
    return await (await client.request(method, path, headers=headers, **kwargs)).json()


async def ai_finished(client, engine, path: str, body: dict) -> Any:
    created = await ai(client, "POST", path, json=body)
    engine.clock.advance(3600)
    return await ai(client, "GET", path, params={"generation_id": created["id"]})


AIMLAPI = [
    Example("AI/ML API docs: 2025 create",
            {"id": "8ac142d3-7c9f-4071-bdc6-d0f2d3d9b327:pixverse/v5/image-to-video", "status": "queued",
             "meta": {"usage": {"tokens_used": 420000}}},
            lambda c, e: ai(c, "POST", AIML, json=AI_2025), ERA_2025),
    Example("AI/ML API docs: 2025 completed",
            {"id": "8ac142d3-7c9f-4071-bdc6-d0f2d3d9b327:pixverse/v5/image-to-video", "status": "completed",
             "video": {"url": "https://cdn.aimlapi.com/eagle/files/elephant/uCLDKRtL_AeOrRAwiR8UH_output.mp4",
                       "content_type": "video/mp4", "file_name": "output.mp4", "file_size": 4259218}},
            lambda c, e: ai_finished(c, e, AIML, AI_2025), ERA_2025),
    Example("AI/ML API docs: 2026 create", {"id": "3yFHGAkECD5RPnpL11mHe", "status": "queued",
                                      "meta": {"usage": {"credits_used": 2000000}}},
            lambda c, e: ai(c, "POST", AIML_UNIVERSAL, json=AI_2026)),
    Example("AI/ML API docs: 2026 completed",
            {"id": "3yFHGAkECD5RPnpL11mHe", "status": "succeeded",
             "video": {"url": "https://cdn.aimlapi.com/panda/pixverse%2Fmp4%2Fmedia%2Fweb%2Fori%2FJVT.mp4"}},
            lambda c, e: ai_finished(c, e, AIML_UNIVERSAL, AI_2026)),
    Example("AI/ML API docs: failed generation",
            {"id": "3yFHGAkECD5RPnpL11mHe", "status": "error", "error": {"name": "n", "message": "m"}},
            lambda c, e: ai_finished(c, e, AIML_UNIVERSAL, AI_2026), {"failure_rate": 1.0}),
    Example("AI/ML API docs: error body (429 example)",
            {"message": "Too Many Requests", "path": "/v2/video/generations",
             "requestId": "798b860e-98c2-4e8e-8c50-550bcfc2eccc", "statusCode": "429",
             "timestamp": "2025-03-11T07:13:27.813Z"},
            lambda c, e: ai(c, "POST", AIML_UNIVERSAL, headers={**AI_KEY, "X-Mock-Fault": "error=429"},
                            json=AI_2026)),
    Example("AI/ML API docs: balance (its field list)",
            {"balance": 10000000, "lowBalance": False, "lowBalanceThreshold": 10000,
             "lastUpdated": "2025-11-25T17:45:00Z", "autoDebitStatus": "disabled", "status": "current",
             "statusExplanation": "Balance is current and up to date"},
            lambda c, e: ai(c, "GET", "/v1/billing/balance")),
]


@pytest.mark.parametrize("example", AIMLAPI, ids=lambda e: e.name)
async def test_aimlapi_examples(aiohttp_client, example):
    await check(aiohttp_client, "aimlapi", example)


# PixVerse platform ----------------------------------------------------------------------
def envelope(resp: Any, msg: str = "Success") -> dict[str, Any]:
    return {"ErrCode": 0, "ErrMsg": msg, "Resp": resp}


RESULT_EXAMPLE = {"create_time": "string", "id": 0, "modify_time": "string", "negative_prompt": "string",
                  "outputHeight": 0, "outputWidth": 0, "prompt": "string", "resolution_ratio": 0, "seed": 0,
                  "size": 0, "status": 5, "style": "string", "url": "string"}
VIDEO_ID = envelope({"video_id": 0})
VIDEO_ID_CREDITS = envelope({"video_id": 0, "credits": 0})


async def px_result(client, engine, done: bool) -> Any:
    img = await upload_id(client)
    created = await call(client, "POST", I2V, json={"duration": 5, "img_id": img, "model": "v5",
                                                    "prompt": "string", "quality": "540p"})
    if done:
        await finish(engine, created["Resp"]["video_id"])
    return await call(client, "GET", f"/openapi/v2/video/result/{created['Resp']['video_id']}")


async def px_upload(client, engine) -> Any:
    return await call(client, "POST", "/openapi/v2/image/upload",
                      data={"image_url": "https://media.pixverse.ai/openapi%2Ftest_image_auto.jpg"})


async def px_moderated_upload(client, engine) -> Any:
    resp = await client.post("/openapi/v2/image/upload", data={"image_url": "https://e.com/a.png"},
                             headers={"API-KEY": "k", "Ai-trace-id": str(uuid.uuid4()),
                                      "X-Mock-Fault": "moderation=submit"})
    assert resp.status == 500
    return await resp.json()


async def px_post(client, path: str, body: dict) -> Any:
    return await call(client, "POST", f"/openapi/v2/{path}", json=body)


async def px_on_video(client, engine, path: str, **body) -> Any:
    return await px_post(client, path, {"source_video_id": await source_video(client, engine), **body})


async def px_multi(client, engine) -> Any:
    frames = [{"img_id": await upload_id(client), "duration": 3, "prompt": ""} for _ in range(4)]
    return await px_post(client, "video/multi_transition/generate",
                         {"multi_transition": [*frames, {"img_id": frames[0]["img_id"], "duration": 0, "prompt": ""}],
                          "model": "v5", "quality": "360p"})


async def px_swap(client, engine) -> Any:
    video = await source_video(client, engine)
    mask = (await px_post(client, "video/mask/selection", {"source_video_id": video, "keyframe_id": 1}))["Resp"]
    return await px_post(client, "video/swap/generate", {
        "source_video_id": video, "keyframe_id": 1, "mask_id": mask["mask_info"][0]["mask_id"],
        "img_id": await upload_id(client), "quality": "360p"})


async def px_mimic(client, engine) -> Any:
    return await px_post(client, "video/mimic/generate", {
        "video_media_id": await media_id(client, video_bytes("mp4", 64, 36, seconds=2)),
        "img_id": await upload_id(client), "quality": "540p"})


async def px_image_result(client, engine) -> Any:
    created = await px_post(client, "image/template/generate",
                            {"img_ids": [await upload_id(client, image_bytes(600, 800))],
                             "template_id": 340000000000001})
    await finish(engine, created["Resp"]["image_id"])
    return await call(client, "GET", f"/openapi/v2/image/result/{created['Resp']['image_id']}")


PIXVERSE = [
    Example("PixVerse guide: upload image", envelope({"img_id": 0, "img_url": "string"}, "string"), px_upload),
    Example("PixVerse guide: image-to-video", envelope({"video_id": 0}, "success"),
            lambda c, e: px_result_created(c, e)),
    Example("PixVerse guide: video result, status 5", envelope(RESULT_EXAMPLE, "string"),
            lambda c, e: px_result(c, e, done=False)),
    Example("PixVerse guide: video result, status 1", envelope({**RESULT_EXAMPLE, "status": 1}, "string"),
            lambda c, e: px_result(c, e, done=True)),
    Example("PixVerse reference: upload image", envelope({"img_id": 0, "img_url": "string"}, "string"), px_upload),
    Example("PixVerse reference: upload image, 500 (moderation)",
            {"err_code": 500052, "err_msg": "图片未过审，疑含敏感内容，请修改后重试。", "resp": "string"},
            px_moderated_upload),
    Example("PixVerse reference: upload media",
            envelope({"media_id": 0, "media_type": "audio", "url": "https://media.pixverse.ai/aaa.mp3"}, "success"),
            lambda c, e: call(c, "POST", "/openapi/v2/media/upload",
                              data={"file_url": "https://media.pixverse.ai/aaa.mp3"})),
    Example("PixVerse reference: lip sync", VIDEO_ID,
            lambda c, e: px_on_video(c, e, "video/lip_sync/generate", lip_sync_tts_speaker_id="Auto",
                                     lip_sync_tts_content="hello")),
    Example("PixVerse reference: tts list", envelope({"total": 15, "data": [{"speaker_id": "7", "name": "Harper"}]}),
            lambda c, e: call(c, "GET", "/openapi/v2/video/lip_sync/tts_list",
                              params={"page_num": 1, "page_size": 15})),
    Example("PixVerse reference: extend", VIDEO_ID,
            lambda c, e: px_on_video(c, e, "video/extend/generate", prompt="across the universe",
                                     seed=123123, quality="540p", duration=5, model="v4.5")),
    Example("PixVerse reference: restyle", VIDEO_ID_CREDITS,
            lambda c, e: px_on_video(c, e, "video/restyle/generate", restyle_id=350000000000001,
                                     seed=937433858)),
    Example("PixVerse reference: multi-transition", VIDEO_ID_CREDITS, px_multi),
    Example("PixVerse reference: swap", VIDEO_ID_CREDITS, px_swap),
    Example("PixVerse docs: mask selection (swap guide)",
            envelope({"keyframe_id": 1, "keyframe_url": "u", "credits": 2,
                      "mask_info": [{"mask_id": "0", "mask_name": "person", "mask_url": "u"}]}),
            lambda c, e: px_on_video(c, e, "video/mask/selection", keyframe_id=1)),
    Example("PixVerse docs: mimic", envelope({"video_id": 0, "credit": 0}), px_mimic),
    Example("PixVerse docs: balance", envelope({"account_id": 0, "credit_monthly": 0, "credit_package": 0}),
            lambda c, e: call(c, "GET", "/openapi/v2/account/balance")),
    Example("PixVerse docs: effect templates list", envelope({"effect_items": []}),
            lambda c, e: call(c, "GET", "/openapi/v2/video/effects/templates/list")),
    Example("PixVerse docs: image template", envelope({"image_id": 0}),
            lambda c, e: px_image_template(c, e)),
    Example("PixVerse docs: image result", envelope({"image_id": 0, "status": 1, "url": "u"}), px_image_result),
    Example("PixVerse docs: business error", {"ErrCode": 400017, "ErrMsg": "Invalid parameter", "Resp": None},
            lambda c, e: px_post(c, "video/text/generate", {**T2V_SEED, "quality": "4k"})),
]


async def px_result_created(client, engine) -> Any:
    return await px_post(client, "video/img/generate", {"duration": 5, "model": "v5", "prompt": "string",
                                                        "quality": "540p", "img_id": await upload_id(client)})


async def px_image_template(client, engine) -> Any:
    return await px_post(client, "image/template/generate",
                         {"img_ids": [await upload_id(client)], "template_id": 340000000000001})


@pytest.mark.parametrize("example", PIXVERSE, ids=lambda e: e.name)
async def test_pixverse_examples(aiohttp_client, example):
    await check(aiohttp_client, "pixverse", example)


@pytest.mark.parametrize("provider, table", [("freepik", FREEPIK), ("pixwith", PIXWITH),
                                             ("aimlapi", AIMLAPI), ("pixverse", PIXVERSE)])
def test_every_example_note_names_a_row(provider, table):
    every_note_names_a_row(provider, table)
