"""A naive Freepik client: ``raise_for_status()`` and nothing else.

Its bug: a single 429 or 503 escapes as ``aiohttp.ClientResponseError``, an exception
nobody declared for that outcome, where a retry would have succeeded.
"""
from __future__ import annotations

import asyncio

import aiohttp

from .common import GenerationFailed, Sleep

PATH = "/v1/ai/text-to-video/pixverse-v5"


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep) -> str:
    headers = {"x-freepik-api-key": api_key}
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with session.post(base_url + PATH, headers=headers, json={"prompt": "a fox"}) as resp:
            task_id = (await resp.json())["data"]["task_id"]
        while True:
            await sleep(5)
            async with session.get(f"{base_url}{PATH}/{task_id}", headers=headers) as resp:
                data = (await resp.json())["data"]
            if data["status"] == "COMPLETED":
                return data["generated"][0]
            if data["status"] == "FAILED":
                raise GenerationFailed(task_id)
