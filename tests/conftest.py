"""Shared fixtures: an in-process fake on aiohttp's test server, strict mode on.

Helpers (settings, media probes, provider drivers) live in the ``support`` package."""
from __future__ import annotations

import pytest

from mockserver.app import ADAPTERS, ENGINE, create_app
from mockserver.settings import Settings
from support import make_settings


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def client(aiohttp_client, settings, request):
    """A test client for the whole fake; fails the test if any response broke its contract.
    A test that also takes ``store`` gets it once per state backend (memory, Redis)."""
    if "store" in request.fixturenames:
        settings = settings.model_copy(update=request.getfixturevalue("store"))
    app = create_app(settings)
    test_client = await aiohttp_client(app)
    yield test_client
    violations = [v for a in app[ADAPTERS].values() for v in a.violations]
    assert not violations, violations


@pytest.fixture
def engine(client):
    return client.server.app[ENGINE]


@pytest.fixture
def frozen(engine):
    """The engine with its clock frozen, so only ``advance`` moves jobs along."""
    engine.clock.freeze()
    return engine


@pytest.fixture(scope="session")
def redis_server():
    """One real ``redis-server`` on a free loopback port for the whole session
    (``mockserver.testing.redis_server``); started on first use only."""
    from mockserver.testing.redis_server import start

    server = start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied (FLUSHALL) before each test that asks for it."""
    import redis

    with redis.Redis.from_url(redis_server.url) as conn:
        conn.flushall()
    return redis_server.url


@pytest.fixture(params=["memory", "redis"])
def store(request) -> dict:
    """Settings for each state backend: ``{}`` (in memory) and the session's Redis
    (emptied first); a test that takes it runs once per backend."""
    if request.param == "memory":
        return {}
    return {"redis_url": request.getfixturevalue("redis_url")}


@pytest.fixture
async def receiver(aiohttp_server):
    """A webhook receiver on 127.0.0.1 recording every POST (``support.webhooks.Receiver``)."""
    from aiohttp import web

    from support.webhooks import Receiver

    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    server = await aiohttp_server(app)
    rec.url = str(server.make_url("/hooks"))
    return rec
