"""PixVerse video operations beyond text/image/transition: lip sync, extend, sound
effect, fusion, restyle, multi-transition, mask selection and swap, modify, mimic.

Each has a happy path through its whole chain (upload or generate -> operation ->
result -> download and probe) and a test for each ErrCode it documents.
"""
from __future__ import annotations

import uuid

import pytest
from yarl import URL

from mockserver.app import ADAPTERS, ENGINE, create_app
from support import make_settings
from support.pixverse import (
    EXTEND,
    EXTEND_SEED,
    FUSION,
    FUSION_SEED,
    KEY,
    LIP_SYNC,
    MASK,
    MIMIC,
    MODIFY,
    MULTI,
    RESTYLE,
    RESTYLE_LIST,
    SOUND,
    SWAP,
    T2V,
    T2V_SEED,
    TRANSITION,
    TRANSITION_SEED,
    TTS,
    TTS_LIST,
    assert_error,
    audio_bytes,
    balance,
    call,
    downloaded,
    finish,
    finished,
    image_bytes,
    media_id,
    result,
    source_video,
    upload_id,
    video_bytes,
)


async def created(client, path: str, body: dict, key: str = KEY) -> dict:
    answer = await call(client, "POST", path, key, json=body)
    assert answer["ErrCode"] == 0, answer
    return answer["Resp"]


async def finished_id(client, engine, path: str, body: dict) -> dict:
    done = await finished(client, engine, path, body)
    assert done["status"] == 1
    return done


# lip sync ------------------------------------------------------------------------------
@pytest.mark.parametrize("video_source, audio_source", [
    ("source_video_id", "audio_media_id"), ("source_video_id", "tts"),
    ("video_media_id", "audio_media_id"), ("video_media_id", "tts"),
])
async def test_lip_sync_four_combinations(client, frozen, video_source, audio_source):
    if video_source == "source_video_id":
        body, size, seconds = {"source_video_id": await source_video(client, frozen)}, (960, 540), 5
    else:
        # 640x350 rounds to the nearest quality and ratio: 360p 16:9.
        upload = video_bytes("mov", 640, 350, seconds=3)
        body, size, seconds = {"video_media_id": await media_id(client, upload)}, (640, 360), 3
    if audio_source == "tts":
        body.update(TTS)
        cost = 4 * 3  # 40 UTF-8 bytes -> 3 started blocks of 15
    else:
        body["audio_media_id"] = await media_id(client, audio_bytes("mp3", 2.5), filename="a.mp3")
        cost = 4 * 3  # 2.5 s -> 3 started seconds
    before = await balance(frozen)
    video_id = (await created(client, LIP_SYNC, body))["video_id"]
    assert await balance(frozen) == before - cost
    assert (await frozen.get_job("pixverse", str(video_id))).kind == "lip-sync"
    await finish(frozen, video_id)
    done = await result(client, video_id)
    assert done["status"] == 1 and done["has_audio"] is True
    assert (done["outputWidth"], done["outputHeight"]) == size
    info = await downloaded(client, done["url"])
    assert (info.width, info.height, info.has_audio) == (*size, True)
    assert abs(info.duration_s - seconds) < 0.3


async def test_lip_sync_either_or_rules(client, frozen):
    video = await source_video(client, frozen)
    audio = await media_id(client, audio_bytes("wav", 1), filename="a.wav")
    cases = [
        ({**TTS}, 400011),                                            # no video source
        ({"source_video_id": video}, 400011),                         # no audio source
        ({"source_video_id": video, "lip_sync_tts_speaker_id": "1"}, 400011),  # speaker without content
        ({"source_video_id": video, "video_media_id": 1, **TTS}, 400017),
        ({"source_video_id": video, "audio_media_id": audio, **TTS}, 400017),
        ({"source_video_id": video, "audio_media_id": audio, "lip_sync_tts_content": "x"}, 400017),
        ({"source_video_id": video, "lip_sync_tts_speaker_id": "99", "lip_sync_tts_content": "x"}, 400017),
        ({"source_video_id": str(video), **TTS}, 400013),
    ]
    for body, code in cases:
        assert_error(await call(client, "POST", LIP_SYNC, json=body), code)
    # The speaker list's "Auto" and the example's "auto" are one speaker.
    assert (await call(client, "POST", LIP_SYNC, json={"source_video_id": video, **TTS,
                                                        "lip_sync_tts_speaker_id": "Auto"}))["ErrCode"] == 0


async def test_lip_sync_media_of_the_wrong_kind(client, frozen):
    video = await source_video(client, frozen)
    clip = await media_id(client)
    audio = await media_id(client, audio_bytes("mp3", 1), filename="a.mp3")
    image = await upload_id(client)
    assert_error(await call(client, "POST", LIP_SYNC, json={"source_video_id": video, "audio_media_id": clip}), 400017)
    assert_error(await call(client, "POST", LIP_SYNC, json={"video_media_id": audio, **TTS}), 400017)
    assert_error(await call(client, "POST", LIP_SYNC, json={"video_media_id": image, **TTS}), 400017)


async def test_lip_sync_unknown_and_foreign_ids(client, frozen):
    foreign_video = await source_video(client, frozen, key="other-key")
    foreign_media = await media_id(client, key="other-key")
    video = await source_video(client, frozen)
    for body in [{"source_video_id": 123456789, **TTS}, {"source_video_id": foreign_video, **TTS},
                 {"video_media_id": 123456789, **TTS}, {"video_media_id": foreign_media, **TTS},
                 {"source_video_id": video, "audio_media_id": 987654321}]:
        assert_error(await call(client, "POST", LIP_SYNC, json=body), 500008)


async def test_source_must_be_a_finished_video(client, frozen):
    pending = (await created(client, T2V, T2V_SEED))["video_id"]
    assert_error(await call(client, "POST", LIP_SYNC, json={"source_video_id": pending, **TTS}), 400017)


@pytest.mark.parametrize("outcome, code", [("moderated", 500064), ("failed", 400017)])
async def test_source_that_did_not_succeed(client, frozen, outcome, code):
    video_id = (await created(client, T2V, T2V_SEED))["video_id"]
    (await frozen.get_job("pixverse", str(video_id))).plan.outcome = outcome
    await finish(frozen, video_id)
    assert (await result(client, video_id))["status"] == {"moderated": 7, "failed": 8}[outcome]
    assert_error(await call(client, "POST", LIP_SYNC, json={"source_video_id": video_id, **TTS}), code)


async def test_tts_list_pages_the_15_speakers(client):
    first = (await call(client, "GET", TTS_LIST, params={"page_num": 1, "page_size": 2}))["Resp"]
    assert first == {"total": 15, "data": [{"speaker_id": "7", "name": "Harper"}, {"speaker_id": "8", "name": "Ava"}]}
    everything = (await call(client, "GET", TTS_LIST, params={"page_num": "1", "page_size": "100"}))["Resp"]
    assert len(everything["data"]) == 15 and everything["data"][-1] == {"speaker_id": "Auto", "name": "Auto"}
    last = (await call(client, "GET", TTS_LIST, params={"page_num": 8, "page_size": 2}))["Resp"]
    assert last["data"] == [{"speaker_id": "Auto", "name": "Auto"}]
    assert (await call(client, "GET", TTS_LIST, params={"page_num": 9, "page_size": 2}))["Resp"]["data"] == []


@pytest.mark.parametrize("params, code", [
    ({"page_size": 2}, 400011), ({"page_num": 1}, 400011), ({"page_num": "one", "page_size": 2}, 400013),
    ({"page_num": 0, "page_size": 2}, 400017), ({"page_num": 1, "page_size": 0}, 400017),
])
async def test_tts_list_errors(client, params, code):
    assert_error(await call(client, "GET", TTS_LIST, params=params), code)


# extend --------------------------------------------------------------------------------
async def test_generate_extend_result(client, frozen):
    video = await source_video(client, frozen, aspect_ratio="9:16")
    before = await balance(frozen)
    extended = (await created(client, EXTEND, {**EXTEND_SEED, "source_video_id": video, "quality": "720p"}))
    assert await balance(frozen) == before - 60  # priced like text-to-video: 720p 5 s
    await finish(frozen, extended["video_id"])
    done = await result(client, extended["video_id"])
    assert done["status"] == 1 and done["prompt"] == "across the universe" and done["seed"] == 123123
    assert (done["outputWidth"], done["outputHeight"]) == (720, 1280)
    info = await downloaded(client, done["url"])
    assert (info.width, info.height, info.has_audio) == (720, 1280, False)
    assert abs(info.duration_s - 10) < 0.3  # the source's 5 s plus 5


async def test_extend_an_upload(client, frozen):
    clip = await media_id(client, video_bytes("webm", 96, 96, seconds=3))
    done = await finished_id(client, frozen, EXTEND, {**EXTEND_SEED, "video_media_id": clip, "duration": 8})
    assert (done["outputWidth"], done["outputHeight"]) == (540, 540)
    assert abs((await downloaded(client, done["url"])).duration_s - 11) < 0.3


@pytest.mark.parametrize("change, code", [
    ({"prompt": None}, 400011), ({"source_video_id": None}, 400011),
    ({"video_media_id": 1}, 400017), ({"quality": "1080p", "duration": 8}, 400017),
    ({"motion_mode": "fast", "model": "v5"}, 400017), ({"model": "v6"}, 400017),
    ({"prompt": "p" * 2049}, 400018), ({"negative_prompt": "n" * 2049}, 400019),
    ({"source_video_id": 42}, 500008), ({"duration": "5"}, 400013),
])
async def test_extend_errors(client, frozen, change, code):
    body = {**EXTEND_SEED, "source_video_id": await source_video(client, frozen), **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(await call(client, "POST", EXTEND, json=body), code)


async def test_pixverse_clients_extend_request_without_seed(client, frozen):
    """pixverse-mcp's PixverseClient.extend_video sends no ``seed`` (issue 15): accepted,
    and the result reports the seed drawn for it."""
    video = await source_video(client, frozen)
    body = {"prompt": "The fox keeps running", "model": "v5", "duration": 5, "quality": "540p",
            "source_video_id": video, "motion_mode": "normal"}
    done = await finished_id(client, frozen, EXTEND, body)
    assert isinstance(done["seed"], int) and 0 <= done["seed"] <= 2_147_483_647


async def test_pixverse_clients_fusion_request_without_seed(client, frozen):
    """pixverse-mcp's PixverseClient.fusion_video: v4.5, no ``seed``."""
    hero, castle = await upload_id(client, image_bytes(300, 300)), await upload_id(client)
    body = {"image_references": [{"type": "subject", "img_id": hero, "ref_name": "hero"},
                                 {"type": "background", "img_id": castle, "ref_name": "castle"}],
            "prompt": "@hero walks in front of @castle", "model": "v4.5", "duration": 5,
            "quality": "540p", "aspect_ratio": "16:9"}
    done = await finished_id(client, frozen, FUSION, body)
    assert isinstance(done["seed"], int)


class TestReferenceRequiredFields:
    """``pixverse.required_fields: reference``: the reference pages' required lists."""

    @pytest.fixture
    def settings(self):
        return make_settings(pixverse={"required_fields": "reference"})

    async def test_extend_and_fusion_need_a_seed(self, client, frozen):
        video = await source_video(client, frozen)
        extend = {k: v for k, v in EXTEND_SEED.items() if k != "seed"}
        assert_error(await call(client, "POST", EXTEND, json={**extend, "source_video_id": video}), 400011)
        assert (await call(client, "POST", EXTEND, json={**EXTEND_SEED, "source_video_id": video}))["ErrCode"] == 0
        img = await upload_id(client)
        fusion = {k: v for k, v in FUSION_SEED.items() if k != "seed"}
        refs = [{"type": "subject", "img_id": img, "ref_name": "dog"}]
        assert_error(await call(client, "POST", FUSION, json={**fusion, "image_references": refs}), 400011)
        # The transition page's five lip-sync and sound-effect fields, required there only.
        frames = {"first_frame_img": img, "last_frame_img": img}
        assert_error(await call(client, "POST", TRANSITION, json={**TRANSITION_SEED, **frames}), 400011)
        extras = {"sound_effect_switch": "false", "sound_effect_content": "", "lip_sync_switch": "false",
                  "lip_sync_tts_content": "", "lip_sync_tts_speaker_id": "Auto"}
        done = await call(client, "POST", TRANSITION, json={**TRANSITION_SEED, **frames, **extras})
        assert done["ErrCode"] == 0, done


# sound effect --------------------------------------------------------------------------
async def test_sound_effect_adds_audio(client, frozen):
    video = await source_video(client, frozen, duration=8, quality="360p")
    before = await balance(frozen)
    sound = await created(client, SOUND, {"source_video_id": video, "original_sound_switch": True,
                                          "sound_effect_content": "rain"})
    assert await balance(frozen) == before - 20  # 8 s: two started 5 s blocks
    await finish(frozen, sound["video_id"])
    done = await result(client, sound["video_id"])
    assert done["has_audio"] is True and (done["outputWidth"], done["outputHeight"]) == (640, 360)
    assert "/__files/videos-audio/" in done["url"]
    info = await downloaded(client, done["url"])
    assert info.has_audio and abs(info.duration_s - 8) < 0.3
    head = await client.head(URL(done["url"]).path)
    assert head.status == 200


async def test_sound_effect_errors(client, frozen):
    clip = await media_id(client)
    assert_error(await call(client, "POST", SOUND, json={"sound_effect_content": "x"}), 400011)
    assert_error(await call(client, "POST", SOUND, json={"video_media_id": clip, "source_video_id": 1}), 400017)
    assert_error(await call(client, "POST", SOUND, json={"video_media_id": 5}), 500008)
    assert (await call(client, "POST", SOUND, json={"video_media_id": clip}))["ErrCode"] == 0


async def test_audio_video_route_rejects_bad_shapes(client):
    assert (await client.get("/__files/videos-audio/17x16/2s/x.mp4")).status == 404
    assert (await client.get("/__files/videos-audio/16x16/31s/x.mp4")).status == 404


# fusion --------------------------------------------------------------------------------
async def test_fusion_flow(client, frozen):
    dog, room = await upload_id(client, image_bytes(300, 300)), await upload_id(client)
    refs = [{"type": "subject", "img_id": dog, "ref_name": "dog"},
            {"type": "background", "img_id": room, "ref_name": "room"}]
    done = await finished_id(client, frozen, FUSION, {**FUSION_SEED, "image_references": refs, "aspect_ratio": "4:3"})
    assert (done["outputWidth"], done["outputHeight"]) == (720, 540) and done["prompt"] == "@dog plays at @room"
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (720, 540)


async def test_fusion_errors(client, frozen):
    mine, foreign = await upload_id(client), await upload_id(client, key="other-key")

    def ref(name="dog", img=mine, kind="subject"):
        return {"type": kind, "img_id": img, "ref_name": name}

    cases = [
        ({"image_references": [{"type": "subject", "img_id": mine}]}, 400011),
        ({"image_references": []}, 400017),
        ({"image_references": [ref("a"), ref("b"), ref("c"), ref("d")], "prompt": "@a"}, 400017),
        ({"image_references": [ref(), ref()], "prompt": "@dog"}, 400017),
        ({"image_references": [ref()], "prompt": "@dog and @cat"}, 400017),
        ({"image_references": [ref(kind="prop")], "prompt": "@dog"}, 400017),
        ({"image_references": [ref()], "prompt": "@dog", "model": "v4"}, 400017),
        ({"image_references": [ref()], "prompt": "@dog", "quality": "1080p", "duration": 8}, 400017),
        ({"image_references": [ref()], "prompt": "@dog " + "p" * 2048}, 400018),
        ({"image_references": [ref(img=foreign)], "prompt": "@dog"}, 400032),
    ]
    for change, code in cases:
        body = {k: v for k, v in {**FUSION_SEED, **change}.items() if v is not None}
        assert_error(await call(client, "POST", FUSION, json=body), code)
    # Unmentioned references and addresses mid-word are fine.
    body = {**FUSION_SEED, "image_references": [ref(), ref("room")], "prompt": "@dog writes to a@b.c"}
    assert (await call(client, "POST", FUSION, json=body))["ErrCode"] == 0


# restyle -------------------------------------------------------------------------------
async def test_restyle_list_then_restyle(client, frozen):
    presets = (await call(client, "GET", RESTYLE_LIST, params={"page_num": 1, "page_size": 3}))["Resp"]
    assert presets["total"] == 7 and len(presets["data"]) == 3
    restyle_id = presets["data"][0]["restyle_id"]
    video = await source_video(client, frozen, quality="720p")
    before = await balance(frozen)
    resp = await created(client, RESTYLE, {"source_video_id": video, "restyle_id": restyle_id, "seed": 937433858})
    assert resp["credits"] == 60 and await balance(frozen) == before - 60  # 720p, 5 s
    await finish(frozen, resp["video_id"])
    done = await result(client, resp["video_id"])
    assert (done["outputWidth"], done["outputHeight"], done["seed"]) == (1280, 720, 937433858)
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (1280, 720) and abs(info.duration_s - 5) < 0.3


async def test_restyle_an_upload_by_prompt(client, frozen):
    clip = await media_id(client, video_bytes("mp4", 640, 360, seconds=12, fps=2))
    resp = await created(client, RESTYLE, {"video_media_id": clip, "restyle_prompt": "claymation"})
    assert resp["credits"] == 108  # 360p: 45 per 5 s, 12 s
    await finish(frozen, resp["video_id"])
    assert (await downloaded(client, (await result(client, resp["video_id"]))["url"])).duration_s > 11


async def test_restyle_list_defaults_and_errors(client):
    assert len((await call(client, "GET", RESTYLE_LIST))["Resp"]["data"]) == 7
    assert_error(await call(client, "GET", RESTYLE_LIST, params={"page_num": 0}), 400017)
    assert_error(await call(client, "GET", RESTYLE_LIST, params={"page_size": "x"}), 400013)


async def test_restyle_errors(client, frozen):
    video = await source_video(client, frozen)
    webm = await media_id(client, video_bytes("webm"))
    long = await media_id(client, video_bytes("mp4", seconds=17, fps=1))
    cases = [
        ({"source_video_id": video}, 400011),
        ({"source_video_id": video, "restyle_id": 350000000000001, "restyle_prompt": "x"}, 400017),
        ({"source_video_id": video, "restyle_id": 1}, 400017),
        ({"video_media_id": webm, "restyle_prompt": "x"}, 400017),
        ({"video_media_id": long, "restyle_prompt": "x"}, 400017),
        ({"source_video_id": video, "restyle_prompt": "x" * 2049}, 400018),
        ({"source_video_id": video, "restyle_prompt": "x", "seed": -1}, 400017),
        ({"source_video_id": 77, "restyle_prompt": "x"}, 500008),
    ]
    for body, code in cases:
        assert_error(await call(client, "POST", RESTYLE, json=body), code)


# multi-transition ----------------------------------------------------------------------
async def test_multi_transition_flow(client, frozen):
    a, b, c = (await upload_id(client, image_bytes(720, 1280)), await upload_id(client), await upload_id(client))
    body = {"multi_transition": [{"img_id": a, "duration": 3, "prompt": "walk"}, {"img_id": b, "duration": 4},
                                 {"img_id": c, "duration": 0, "prompt": ""}],
            "model": "v5", "quality": "720p"}
    resp = await created(client, MULTI, body)
    assert resp["credits"] == 84  # 720p: 60 per 5 s, 7 s
    await finish(frozen, resp["video_id"])
    done = await result(client, resp["video_id"])
    assert (done["outputWidth"], done["outputHeight"]) == (720, 1280)
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (720, 1280) and abs(info.duration_s - 7) < 0.3


async def test_multi_transition_errors(client):
    a, foreign = await upload_id(client), await upload_id(client, key="other-key")

    def frames(*durations, img=a):
        return [{"img_id": img, **({} if d is None else {"duration": d})} for d in durations]

    cases = [
        (frames(None, None), 400011),            # first keyframe without duration
        (frames(3, None, None), 400011),
        (frames(3), 400017),                     # fewer than 2
        (frames(*[2] * 8), 400017),              # more than 7
        (frames(0, None), 400017),               # a segment of 0 s
        (frames(20, 11, None), 400017),          # 31 s in all
        (frames(3, None, img=foreign), 400032),
        ([{"duration": 3}, {"img_id": a}], 400011),
        (frames(3, 3) + [{"img_id": a, "prompt": "x" * 2049}], 400018),
    ]
    for keyframes, code in cases:
        assert_error(await call(client, "POST", MULTI, json={"multi_transition": keyframes, "model": "v5",
                                                             "quality": "360p"}), code)
    # The last keyframe's duration is optional either way.
    ok = {"multi_transition": frames(15, 15, 9), "model": "v5", "quality": "360p"}
    assert (await call(client, "POST", MULTI, json=ok))["ErrCode"] == 0


# mask selection and swap ---------------------------------------------------------------
async def test_mask_selection_then_swap(client, frozen):
    video = await source_video(client, frozen)
    person = await upload_id(client, image_bytes(200, 400))
    before = await balance(frozen)
    selection = await created(client, MASK, {"source_video_id": video, "keyframe_id": 12})
    assert await balance(frozen) == before - 2 and selection["credits"] == 2
    assert selection["keyframe_id"] == 12
    assert [m["mask_name"] for m in selection["mask_info"]] == ["person", "object", "background"]
    assert all(isinstance(m["mask_id"], str) for m in selection["mask_info"])
    for url in [selection["keyframe_url"], selection["mask_info"][0]["mask_url"]]:
        png = await client.get(URL(url).path)
        assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    swap = await created(client, SWAP, {"source_video_id": video, "keyframe_id": 12, "img_id": person,
                                        "mask_id": selection["mask_info"][0]["mask_id"], "quality": "360p"})
    assert swap["credits"] == 45
    await finish(frozen, swap["video_id"])
    done = await result(client, swap["video_id"])
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (640, 360) and abs(info.duration_s - 5) < 0.3


async def test_mask_selection_of_an_upload(client, frozen):
    clip = await media_id(client, video_bytes("mov", 64, 36, seconds=2))  # 16 frames
    default = await created(client, MASK, {"video_media_id": clip})
    assert default["keyframe_id"] == 1
    assert (await created(client, MASK, {"video_media_id": clip, "keyframe_id": 0}))["keyframe_id"] == 1
    assert (await created(client, MASK, {"video_media_id": clip, "keyframe_id": 16}))["keyframe_id"] == 16
    assert_error(await call(client, "POST", MASK, json={"video_media_id": clip, "keyframe_id": 17}), 400017)


async def test_mask_selection_errors(aiohttp_client):
    app = create_app(make_settings(starting_credits=46))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    engine.clock.freeze()
    video = await source_video(client, engine)  # leaves 1 credit
    vp8 = await media_id(client, video_bytes("webm"))
    assert_error(await call(client, "POST", MASK, json={"source_video_id": video, "keyframe_id": 41}), 400017)
    assert_error(await call(client, "POST", MASK, json={"video_media_id": vp8}), 400017)
    assert_error(await call(client, "POST", MASK, json={"keyframe_id": 1}), 400011)
    assert_error(await call(client, "POST", MASK, json={"source_video_id": 3}), 500008)
    assert_error(await call(client, "POST", MASK, json={"source_video_id": video}), 500090)
    assert await balance(engine) == 1
    assert not app[ADAPTERS]["pixverse"].violations


async def test_swap_needs_the_mask_of_that_selection(client, frozen):
    video, other = await source_video(client, frozen), await source_video(client, frozen)
    person = await upload_id(client)
    mask = (await created(client, MASK, {"source_video_id": video, "keyframe_id": 3}))["mask_info"][1]["mask_id"]
    base = {"source_video_id": video, "keyframe_id": 3, "mask_id": mask, "img_id": person, "quality": "540p"}
    cases = [
        ({"source_video_id": other}, 400017),     # mask of another video
        ({"keyframe_id": 4}, 400017),             # another keyframe
        ({"mask_id": "0"}, 400017),
        ({"keyframe_id": 41}, 400017),            # past the last frame (5 s at 8 fps)
        ({"quality": "1080p"}, 400017),
        ({"mask_id": None}, 400011),
        ({"keyframe_id": None}, 400011),
        ({"img_id": 5}, 400032),
        ({"mask_id": 7}, 400013),
    ]
    for change, code in cases:
        body = {k: v for k, v in {**base, **change}.items() if v is not None}
        assert_error(await call(client, "POST", SWAP, json=body), code)
    assert (await call(client, "POST", SWAP, json=base))["ErrCode"] == 0


# modify --------------------------------------------------------------------------------
async def test_modify_with_masks(client, frozen):
    video = await source_video(client, frozen, aspect_ratio="1:1")
    selection = await created(client, MASK, {"source_video_id": video, "keyframe_id": 9})
    masks = [m["mask_id"] for m in selection["mask_info"]]
    body = {"source_video_id": video, "prompt": "make @selection0 red", "quality": "720p", "mask_ids": masks[:2],
            "mask_urls": ["https://e.com/m.png"]}
    done = await finished_id(client, frozen, MODIFY, body)
    assert (done["outputWidth"], done["outputHeight"]) == (720, 720) and done["prompt"] == "make @selection0 red"
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (720, 720)


async def test_modify_errors(client, frozen):
    video, other = await source_video(client, frozen), await source_video(client, frozen)
    other_mask = (await created(client, MASK, {"source_video_id": other}))["mask_info"][0]["mask_id"]
    base = {"source_video_id": video, "prompt": "p", "quality": "540p"}
    cases = [
        ({"prompt": None}, 400011), ({"quality": "1080p"}, 400017), ({"mask_ids": [other_mask]}, 400017),
        ({"mask_ids": ["1", "2", "3", "4"]}, 400017), ({"mask_urls": ["a", "b", "c", "d"]}, 400017),
        ({"prompt": "p" * 2049}, 400018), ({"source_video_id": 9}, 500008),
    ]
    for change, code in cases:
        body = {k: v for k, v in {**base, **change}.items() if v is not None}
        assert_error(await call(client, "POST", MODIFY, json=body), code)


# mimic ---------------------------------------------------------------------------------
async def test_mimic_flow(client, frozen):
    dance = await media_id(client, video_bytes("mp4", 640, 360, seconds=4, audio=True))
    person = await upload_id(client, image_bytes(540, 960))
    before = await balance(frozen)
    resp = await created(client, MIMIC, {"video_media_id": dance, "img_id": person, "quality": "540p"})
    assert resp["credit"] == 40 and await balance(frozen) == before - 40  # 10 per second, 4 s
    await finish(frozen, resp["video_id"])
    done = await result(client, resp["video_id"])
    assert (done["outputWidth"], done["outputHeight"]) == (540, 960)
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (540, 960) and abs(info.duration_s - 4) < 0.3


async def test_mimic_errors(client, frozen):
    video = await source_video(client, frozen)
    person = await upload_id(client)
    cases = [
        ({"source_video_id": video, "quality": "540p"}, 400011),
        ({"source_video_id": video, "img_id": person, "quality": "1080p"}, 400017),
        ({"source_video_id": video, "img_id": 3, "quality": "540p"}, 400032),
        ({"video_media_id": 3, "img_id": person, "quality": "540p"}, 500008),
    ]
    for body, code in cases:
        assert_error(await call(client, "POST", MIMIC, json=body), code)


# cross-cutting -------------------------------------------------------------------------
async def test_a_repeated_trace_id_creates_one_job_on_every_generate(client, frozen, store):
    video = await source_video(client, frozen)
    trace = str(uuid.uuid4())
    first = await call(client, "POST", SOUND, trace=trace, json={"source_video_id": video})
    again = await call(client, "POST", SOUND, trace=trace, json={"source_video_id": video})
    assert first == again and len(await frozen.list_jobs("pixverse", KEY, "sound-effect")) == 1


async def test_insufficient_balance_on_a_chained_operation(aiohttp_client):
    app = create_app(make_settings(starting_credits=50))
    client = await aiohttp_client(app)
    engine = app[ENGINE]
    engine.clock.freeze()
    video = await source_video(client, engine)  # 45, leaves 5
    assert_error(await call(client, "POST", SOUND, json={"source_video_id": video}), 500090)
    assert len(await engine.list_jobs("pixverse", KEY, "sound-effect")) == 0 and await balance(engine) == 5
    assert not app[ADAPTERS]["pixverse"].violations


async def test_generate_switches_add_audio_and_cost(client, frozen):
    body = {**T2V_SEED, "sound_effect_switch": True, "lip_sync_switch": True,
            "lip_sync_tts_speaker_id": "1", "lip_sync_tts_content": "a" * 16}
    before = await balance(frozen)
    done = await finished_id(client, frozen, T2V, body)
    assert await balance(frozen) == before - (45 + 10 + 8)
    assert done["has_audio"] is True and (await downloaded(client, done["url"])).has_audio


async def test_result_of_a_source_chain_stays_consistent(client, frozen):
    """generate -> extend -> extend: each link reads the previous output's shape."""
    video = await source_video(client, frozen, quality="360p")
    once = await finished_id(client, frozen, EXTEND, {**EXTEND_SEED, "source_video_id": video, "quality": "360p"})
    twice = await finished_id(client, frozen, EXTEND, {**EXTEND_SEED, "source_video_id": once["id"],
                                                       "quality": "360p", "duration": 8})
    assert abs((await downloaded(client, twice["url"])).duration_s - 18) < 0.3
