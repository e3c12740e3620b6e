"""A naive pixwith.ai client: polls as fast as it likes.

Its bug: it ignores ``estimated_time`` and reads the task every second, where pixwith
asks for a wait of ``estimated_time`` and then a read every 5-10 s.
"""
from __future__ import annotations

import asyncio

import aiohttp

from .common import GenerationFailed, ProviderError, Sleep


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep) -> str:
    async with aiohttp.ClientSession(headers={"Api-Key": api_key}) as session:
        async def post(path: str, body: dict) -> dict:
            for _ in range(5):
                try:
                    async with session.post(base_url + path, json=body) as resp:
                        answer = await resp.json(content_type=None)
                        if resp.status == 200:
                            if answer["code"] != 1:
                                raise ProviderError(answer["message"])
                            return answer["data"]
                        delay = float(resp.headers.get("Retry-After", 1))
                except aiohttp.ClientConnectionError:
                    delay = 1
                await sleep(delay)
            raise ProviderError(path)

        task = await post("/api/task/create", {"prompt": "a lighthouse", "model_id": "2-27", "options": {
            "prompt_optimization": False, "num_outputs": 1, "resolution": "720p", "aspect_ratio": "16:9",
            "duration": 5}})
        while True:
            await sleep(1)  # the bug
            data = await post("/api/task/get", {"task_id": task["task_id"]})
            if data["status"] == 2:
                return data["result_urls"][0]
            if data["status"] == 3:
                raise GenerationFailed(task["task_id"])
