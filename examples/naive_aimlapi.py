"""A naive AI/ML API client: retries, but on its own schedule.

Its bug: after a 429 it waits a fixed second, whatever ``Retry-After`` said.
"""
from __future__ import annotations

import asyncio

import aiohttp

from .common import ContentModerated, GenerationFailed, ProviderError, Sleep


async def _request(session: aiohttp.ClientSession, sleep: Sleep, method: str, url: str, **kwargs):
    for _ in range(8):
        try:
            async with session.request(method, url, **kwargs) as resp:
                if resp.status == 429 or resp.status >= 500:
                    await sleep(1)  # the bug: Retry-After is never read
                    continue
                return await resp.json()
        except aiohttp.ClientConnectionError:
            await sleep(1)
    raise ProviderError(url)


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep) -> str:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        created = await _request(session, sleep, "POST", f"{base_url}/video/generations",
                                 json={"model": "pixverse/v5/text-to-video", "prompt": "a boat"})
        while True:
            await sleep(10)
            body = await _request(session, sleep, "GET", f"{base_url}/video/generations",
                                  params={"generation_id": created["id"]})
            if body["status"] == "completed":
                return body["video"]["url"]
            if body["status"] == "error":
                if body["error"]["name"] == "ModerationError":
                    raise ContentModerated(body["error"]["message"])
                raise GenerationFailed(body["error"]["message"])
