"""One create -> poll -> download per provider against a running fake, as a user's
client would do it: the reference clients from the checkout's examples/, the fake
installed from the wheel.  Usage: python smoke.py http://127.0.0.1:PORT"""
from __future__ import annotations

import asyncio
import importlib
import sys

import aiohttp

from mockserver.testing import MockAdmin

PROVIDERS = ["freepik", "pixwith", "aimlapi", "pixverse"]


async def quick_sleep(seconds: float) -> None:
    # The fake runs at 1000x: a client's 5 s poll pause is 5 ms of the fake's wall time.
    await asyncio.sleep(min(seconds, 0.05))


async def one(base: str, admin: MockAdmin, provider: str) -> None:
    client = importlib.import_module(f"examples.{provider}_client")
    url = await client.generate(admin.url(provider), f"user-lane-{provider}", sleep=quick_sleep, timeout=60)
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        body = await answer.read()
    if answer.status != 200 or body[4:8] != b"ftyp" or len(body) < 1000:
        raise SystemExit(f"{provider}: {url} answered {answer.status}, {len(body)} bytes, not an MP4")
    print(f"{provider:<9} created, polled to completion, downloaded {len(body)} bytes of MP4 from {url}")


async def main(base: str) -> None:
    admin = MockAdmin(base)
    assert admin.health()["status"] == "ok", admin.health()
    for provider in PROVIDERS:
        await one(base, admin, provider)
    for provider in PROVIDERS:
        admin.assert_called(provider, "submit", times=1)
        admin.assert_called(provider, "poll", at_least=1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
