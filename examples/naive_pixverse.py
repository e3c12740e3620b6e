"""A naive PixVerse client: a new ``Ai-trace-id`` on every attempt, retries included.

Its bug: when a submit times out it sends it again with a fresh trace id, so PixVerse
cannot tell it is the same request, and the first attempt's job, created after all,
becomes a second job (paid for twice).
"""
from __future__ import annotations

import asyncio
import uuid

import aiohttp

from .common import ContentModerated, GenerationFailed, ProviderError, Sleep


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep, timeout: float = 30.0) -> str:
    async with aiohttp.ClientSession() as session:
        async def call(method: str, path: str, body: dict | None = None) -> dict:
            for _ in range(6):
                headers = {"API-KEY": api_key, "Ai-trace-id": str(uuid.uuid4())}  # the bug, on retries
                try:
                    async with session.request(method, base_url + path, json=body, headers=headers,
                                               timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                        answer = await resp.json(content_type=None)
                except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
                    await sleep(1)
                    continue
                if answer["ErrCode"] in (500054, 500063):
                    raise ContentModerated(answer["ErrMsg"])
                if answer["ErrCode"] in (500044, 500069, 500100):
                    await sleep(2)
                    continue
                if answer["ErrCode"] != 0:
                    raise ProviderError(answer["ErrMsg"])
                return answer["Resp"]
            raise ProviderError(path)

        created = await call("POST", "/openapi/v2/video/text/generate", {
            "prompt": "a hummingbird", "model": "v5", "aspect_ratio": "16:9", "quality": "540p", "duration": 5})
        while True:
            await sleep(4)
            resp = await call("GET", f"/openapi/v2/video/result/{created['video_id']}")
            if resp["status"] == 1:
                return resp["url"]
            if resp["status"] == 7:
                raise ContentModerated(str(created["video_id"]))
            if resp["status"] == 8:
                raise GenerationFailed(str(created["video_id"]))
