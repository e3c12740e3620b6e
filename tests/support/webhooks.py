"""Webhook drivers: a recording receiver, a started fake with a frozen clock, Freepik jobs
with a ``webhook_url`` and the control plane's delivery log."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web

from mockserver.app import ENGINE, create_app
from support import make_settings

FREEPIK_T2V = "/v1/ai/text-to-video/pixverse-v5"
FREEPIK_KEY = {"x-freepik-api-key": "hook-key"}


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers from ``answers`` in turn, then ``default``."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    default: tuple[int, str] = (200, "ok")
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        status, text = self.answers.pop(0) if self.answers else self.default
        return web.Response(status=status, text=text)


class StubChannel:
    """A webhook channel without a provider: reports the end states (``every``: every
    state), a JSON body naming the job, an ``X-Id`` header, 200 accepted, retries after
    2 and 10 virtual seconds."""

    provider = "pixverse"

    def __init__(self, every: bool = False) -> None:
        self.every = every

    def visible(self, state):
        return state if self.every or state in ("succeeded", "failed", "moderated") else None

    async def render(self, watch, state):
        return b'{"id": "%s", "state": "%s"}' % (watch.job.id.encode(), state.encode())

    def headers(self, delivery, body, timestamp):
        return {"X-Id": delivery.id}

    def accepted(self, status, text):
        return status == 200

    def retry_schedule(self):
        return [2.0, 10.0]


async def fake(aiohttp_client, **settings):
    """A started fake (its webhook scheduler runs) with a frozen clock."""
    client = await aiohttp_client(create_app(make_settings(**settings)))
    engine = client.server.app[ENGINE]
    engine.clock.freeze()
    return client, engine


async def freepik_job(client, url: str, body: dict | None = None) -> str:
    resp = await client.post(FREEPIK_T2V, json={"prompt": "a cat", "webhook_url": url, **(body or {})},
                             headers=FREEPIK_KEY)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["data"]["task_id"]


async def deliveries(client, **query) -> list[dict]:
    resp = await client.get("/__admin/webhooks/deliveries", params={"limit": 10000, **query})
    assert resp.status == 200, await resp.text()
    return list(reversed((await resp.json())["entries"]))  # oldest first
