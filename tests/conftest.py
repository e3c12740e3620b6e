"""Shared fixtures: an in-process fake on aiohttp's test server, strict mode on."""
from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from mockserver.app import ADAPTERS, ENGINE, create_app
from mockserver.testing.server import ThreadedFake  # noqa: F401  (re-exported for tests)
from mockserver.settings import Settings

MEDIA_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "test-media"


def make_settings(**overrides) -> Settings:
    """Test settings: strict contract checks, fixed seed, shared media cache."""
    base = dict(strict=True, seed=1234, media_cache_dir=MEDIA_CACHE)
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def client(aiohttp_client, settings):
    """A test client for the whole fake; fails the test if any response broke its contract."""
    app = create_app(settings)
    test_client = await aiohttp_client(app)
    yield test_client
    violations = [v for a in app[ADAPTERS].values() for v in a.violations]
    assert not violations, violations


@pytest.fixture
def engine(client):
    return client.server.app[ENGINE]


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
