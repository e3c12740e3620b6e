"""Shared fixtures: an in-process fake on aiohttp's test server, strict mode on."""
from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from mockserver.app import ADAPTERS, ENGINE, create_app
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


class ThreadedFake:
    """An app served on 127.0.0.1:<free port> from a background thread's event loop,
    so a test can alter it in-process and still point schemathesis at it."""

    def __init__(self, app):
        import asyncio
        import threading

        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()

        async def start():
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(start())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def close(self):
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
