"""What the tests share, imported as ``from support import ...`` (tests/ is on ``pythonpath``):
settings, paths, media probes and one valid create request per provider.  Fixtures stay in
conftest.py; provider drivers are ``support.pixverse`` and ``support.webhooks``.
"""
from __future__ import annotations

import io
from pathlib import Path

import av

from mockserver.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
MEDIA_CACHE = ROOT / ".cache" / "test-media"


def make_settings(**overrides) -> Settings:
    """Test settings: strict contract checks, fixed seed, shared media cache."""
    base = dict(strict=True, seed=1234, media_cache_dir=MEDIA_CACHE)
    base.update(overrides)
    return Settings(**base)


def probe_video(data: bytes) -> tuple[int, int, float, str]:
    """(width, height, duration seconds, codec) of an MP4 held in memory."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        duration = container.duration / 1_000_000 if container.duration else float(
            stream.frames / stream.average_rate)
        return stream.width, stream.height, duration, stream.codec_context.name


async def download_video(client, url: str) -> bytes:
    """GET a result URL the fake handed out (absolute) through the test client."""
    from yarl import URL

    path = URL(url).path
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "video/mp4"
    return await resp.read()


# provider -> (create path, auth headers, valid body)
CREATE = {
    "freepik": ("/v1/ai/text-to-video/pixverse-v5", {"x-freepik-api-key": "k"}, {"prompt": "a cat"}),
    "pixwith": ("/api/task/create", {"Api-Key": "k"},
                {"prompt": "a cat", "model_id": "2-27", "options": {
                    "prompt_optimization": True, "resolution": "720p", "aspect_ratio": "16:9", "duration": 5,
                    "num_outputs": 1}}),
    "aimlapi": ("/v2/video/generations", {"Authorization": "Bearer k"},
                {"model": "pixverse/v5/text-to-video", "prompt": "a cat"}),
    "pixverse": ("/openapi/v2/video/text/generate", {"API-KEY": "k"},
                 {"prompt": "a cat", "model": "v5", "duration": 5, "quality": "540p", "aspect_ratio": "16:9"}),
}
PROVIDERS = list(CREATE)

# A pixwith.ai text-to-video body (the control plane's tests create jobs with it).
PIXWITH_T2V = {"prompt": "a cat in a garden", "model_id": "2-27",
               "options": {"prompt_optimization": True, "num_outputs": 1, "resolution": "720p",
                           "aspect_ratio": "16:9", "duration": 5}}
