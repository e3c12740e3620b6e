"""Body timestamps read like the Date header at any time scale (``timestamp_clock``).

At 1000x, after an hour's advance, the virtual clock is hours ahead of the wall: AI/ML
API's error ``timestamp`` and PixVerse's ``create_time``/``modify_time`` still report
wall instants, unless ``timestamp_clock: virtual`` keeps the virtual ones.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest

from support import make_settings

PIXVERSE_T2V = {"aspect_ratio": "16:9", "duration": 5, "model": "v5", "prompt": "a fox", "quality": "540p"}


def pixverse_headers() -> dict[str, str]:
    return {"API-KEY": "k", "Ai-trace-id": str(uuid.uuid4())}


def seconds_apart(body_time: str, date_header: str) -> float:
    return abs(datetime.fromisoformat(body_time.replace("Z", "+00:00")).timestamp()
               - parsedate_to_datetime(date_header).timestamp())


@pytest.fixture
def settings(request):
    return make_settings(time_scale=1000.0, **getattr(request, "param", {}))


async def bodies(client, engine):
    """A PixVerse video created, then finished an hour (virtual) later; an AI/ML error."""
    created = await (await client.post("/openapi/v2/video/text/generate", json=PIXVERSE_T2V,
                                       headers=pixverse_headers())).json()
    engine.clock.advance(3600)
    result = await client.get(f"/openapi/v2/video/result/{created['Resp']['video_id']}",
                              headers=pixverse_headers())
    error = await client.post("/v2/video/generations", json={})  # no key: 401 with a timestamp
    return result, (await result.json())["Resp"], error, await error.json()


async def test_body_timestamps_are_wall_instants_by_default(client, engine):
    result, video, error, body = await bodies(client, engine)
    assert video["status"] == 1
    assert engine.clock.now() - datetime.now().timestamp() > 3600  # the clock is far ahead
    for stamp in (video["create_time"], video["modify_time"]):
        assert seconds_apart(stamp, result.headers["Date"]) <= 2
    assert seconds_apart(body["timestamp"], error.headers["Date"]) <= 2


@pytest.mark.parametrize("settings", [{"timestamp_clock": "virtual"}], indirect=True)
async def test_timestamp_clock_virtual_keeps_the_virtual_instants(client, engine):
    result, video, error, body = await bodies(client, engine)
    # The job's virtual run (tens of seconds) shows between the two; on the wall it took ms.
    created = datetime.fromisoformat(video["create_time"].replace("Z", "+00:00"))
    modified = datetime.fromisoformat(video["modify_time"].replace("Z", "+00:00"))
    assert (modified - created).total_seconds() >= 30
    assert seconds_apart(body["timestamp"], error.headers["Date"]) >= 3600
    assert engine.webhooks.settings.timestamp_clock == "virtual"  # signatures follow it


@pytest.mark.parametrize("settings", [{"timestamp_clock": "virtual", "webhooks": {"timestamp_clock": "wall"}}],
                         indirect=True)
async def test_the_webhook_setting_still_overrides_for_signatures(client, engine):
    assert engine.webhooks.settings.timestamp_clock == "wall"
