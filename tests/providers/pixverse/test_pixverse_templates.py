"""PixVerse effect templates: the template list, template video generation through
img/generate, image template generation and the image result."""
from __future__ import annotations

import pytest
from yarl import URL

from support.pixverse import (
    ACTION_FIGURE,
    COUPLE,
    FOREVER_US,
    I2V,
    I2V_SEED,
    IMAGE_RESULT,
    IMAGE_TEMPLATE,
    MICROWAVE,
    RESULT,
    SUBJECT_3,
    T2V,
    T2V_SEED,
    TEMPLATES,
    VENOM,
    assert_error,
    balance,
    call,
    downloaded,
    finish,
    image_bytes,
    result,
    upload_id,
)


async def test_template_list(client):
    every = (await call(client, "GET", TEMPLATES))["Resp"]
    assert every["total"] == 12 and len(every["effect_items"]) == 12
    venom = next(t for t in every["effect_items"] if t["template_id"] == VENOM)
    assert venom == {"template_id": VENOM, "display_name": "We Are Venom!",
                     "display_prompt": "Transform into a [BLACK] Venom", "template_type": 1, "effect_type": 1,
                     "qualities": ["360p", "540p", "720p", "1080p"], "duration": 5}
    images = (await call(client, "GET", TEMPLATES, params={"type": 2}))["Resp"]
    assert images["total"] == 2 and {t["template_type"] for t in images["effect_items"]} == {2}
    page = (await call(client, "GET", TEMPLATES, params={"type": 1, "page": 2, "pageSize": 10}))["Resp"]
    assert page["total"] == 10 and page["effect_items"] == []


@pytest.mark.parametrize("params, code", [
    ({"type": 3}, 400017), ({"pageSize": 15}, 400017), ({"page": 0}, 400017), ({"page": "x"}, 400013),
])
async def test_template_list_errors(client, params, code):
    assert_error(await call(client, "GET", TEMPLATES, params=params), code)


async def test_template_video_flow(client, frozen):
    img = await upload_id(client, image_bytes(400, 400))
    before = await balance(frozen)
    created = await call(client, "POST", I2V, json={**I2V_SEED, "img_id": img, "template_id": VENOM, "quality": "720p"})
    assert created["ErrCode"] == 0, created
    assert await balance(frozen) == before - 60  # effects cost what image-to-video costs
    await finish(frozen, created["Resp"]["video_id"])
    done = await result(client, created["Resp"]["video_id"])
    assert done["status"] == 1 and (done["outputWidth"], done["outputHeight"]) == (720, 720)
    info = await downloaded(client, done["url"])
    assert (info.width, info.height) == (720, 720)


async def test_multi_image_template(client, frozen):
    a, b = await upload_id(client), await upload_id(client)
    body = {k: v for k, v in I2V_SEED.items() if k != "img_id"}
    created = await call(client, "POST", I2V, json={**body, "img_ids": [a, b], "template_id": FOREVER_US})
    assert created["ErrCode"] == 0, created
    await finish(frozen, created["Resp"]["video_id"])
    assert (await result(client, created["Resp"]["video_id"]))["status"] == 1


async def test_template_video_errors(client):
    img = await upload_id(client)
    other = await upload_id(client)
    body = {k: v for k, v in I2V_SEED.items() if k != "img_id"}
    cases = [
        ({"img_id": img, "template_id": SUBJECT_3}, 500070),
        ({"img_id": img, "template_id": 111}, 500070),
        ({"img_id": img, "template_id": MICROWAVE, "quality": "1080p"}, 500071),
        ({"img_id": img, "template_id": ACTION_FIGURE}, 400017),         # an image template
        ({"img_id": img, "template_id": FOREVER_US}, 400017),            # needs two images
        ({"img_ids": [img, other, img], "template_id": FOREVER_US}, 400017),
        ({"img_ids": [img, other]}, 400011),                             # img_ids without a template
        ({"img_id": img, "img_ids": [img], "template_id": VENOM}, 400017),
        ({}, 400011),
        ({"img_ids": [img, 5], "template_id": FOREVER_US}, 400032),
        ({"img_id": img, "template_id": "303624537709312"}, 400013),
    ]
    for change, code in cases:
        assert_error(await call(client, "POST", I2V, json={**body, **change}), code)
    assert_error(await call(client, "POST", T2V, json={**T2V_SEED, "template_id": ACTION_FIGURE}), 400017)
    assert_error(await call(client, "POST", T2V, json={**T2V_SEED, "template_id": SUBJECT_3}), 500070)
    assert_error(await call(client, "POST", T2V, json={**T2V_SEED, "template_id": MICROWAVE,
                                                      "quality": "1080p"}), 500071)


async def test_text_to_video_takes_the_pages_example_template(client, frozen):
    """PixVerse's Text-to-Video reference page: ``template_id`` documented with example 302325299692608
    (the image-to-video page's example too)."""
    body = {**T2V_SEED, "template_id": 302325299692608, "aspect_ratio": "9:16"}
    created = await call(client, "POST", T2V, json=body)
    assert created["ErrCode"] == 0, created
    await finish(frozen, created["Resp"]["video_id"])
    done = await result(client, created["Resp"]["video_id"])
    assert done["status"] == 1 and (done["outputWidth"], done["outputHeight"]) == (540, 960)
    assert (await call(client, "POST", T2V, json={**T2V_SEED, "template_id": VENOM}))["ErrCode"] == 0


async def test_image_template_flow(client, frozen):
    img = await upload_id(client, image_bytes(600, 800))
    before = await balance(frozen)
    created = await call(client, "POST", IMAGE_TEMPLATE, json={"img_ids": [img], "template_id": ACTION_FIGURE})
    assert created["ErrCode"] == 0, created
    image_id = created["Resp"]["image_id"]
    assert await balance(frozen) == before - 20
    pending = await call(client, "GET", IMAGE_RESULT.format(image_id))
    assert pending["Resp"] == {"image_id": image_id, "status": 5, "url": ""}
    await finish(frozen, image_id)
    done = (await call(client, "GET", IMAGE_RESULT.format(image_id)))["Resp"]
    assert done["status"] == 1 and done["url"].endswith(".png")
    png = await client.get(URL(done["url"]).path)
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(await png.read())).size == (720, 960)


async def test_image_template_errors(client):
    img, other = await upload_id(client), await upload_id(client)
    cases = [
        ({"img_ids": [img], "template_id": VENOM}, 400017),
        ({"img_ids": [img], "template_id": COUPLE}, 400017),
        ({"img_ids": [], "template_id": ACTION_FIGURE}, 400017),
        ({"img_ids": [img]}, 400011),
        ({"img_ids": [img, 1], "template_id": COUPLE}, 400032),
        ({"img_ids": [img], "template_id": 1}, 500070),
    ]
    for body, code in cases:
        assert_error(await call(client, "POST", IMAGE_TEMPLATE, json=body), code)
    assert (await call(client, "POST", IMAGE_TEMPLATE, json={"img_ids": [img, other], "template_id": COUPLE}))[
        "ErrCode"] == 0


async def test_image_and_video_results_do_not_mix(client, frozen):
    img = await upload_id(client)
    image_id = (await call(client, "POST", IMAGE_TEMPLATE, json={"img_ids": [img], "template_id": ACTION_FIGURE}))[
        "Resp"]["image_id"]
    video_id = (await call(client, "POST", T2V, json=T2V_SEED))["Resp"]["video_id"]
    assert_error(await call(client, "GET", RESULT.format(image_id)), 500008)
    assert_error(await call(client, "GET", IMAGE_RESULT.format(video_id)), 500008)
    assert_error(await call(client, "GET", IMAGE_RESULT.format(image_id), key="other-key"), 500008)
    assert_error(await call(client, "GET", IMAGE_RESULT.format(12345)), 500008)
    assert_error(await call(client, "GET", IMAGE_RESULT.format("abc")), 400013)
    # An image job is not a source video either.
    assert_error(await call(client, "POST", "/openapi/v2/video/sound_effect/generate",
                            json={"source_video_id": image_id}), 500008)
