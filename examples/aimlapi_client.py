"""AI/ML API PixVerse V5 text-to-video: submit, poll, return the video URL.

Base URL ends in ``/v2``; auth ``Authorization: Bearer <key>``.  POST
/v2/video/generations ``{"model": "pixverse/v5/text-to-video", "prompt", ...}`` answers
``{"id", "status": "queued"}``; GET /v2/video/generations?generation_id=<id> answers
``status`` queued | generating | completed (``video.url``) | error (``error.name``:
ModerationError or another).  The docs' examples poll every 10-15 s.  No webhooks.
A submit is not idempotent: one whose answer was lost raises SubmitUncertain.
"""
from __future__ import annotations

import asyncio
from typing import Any

from .common import ContentModerated, GenerationFailed, ProviderClient, ProviderError, Sleep, SubmitUncertain, Waiter

BASE_URL = "https://api.aimlapi.com/v2"
MODEL = "pixverse/v5/text-to-video"


class AimlapiClient(ProviderClient):
    def __init__(self, api_key: str, base_url: str = BASE_URL, *, sleep: Sleep = asyncio.sleep,
                 timeout: float = 30.0, poll_interval: float = 10.0, max_wait: float = 1000.0) -> None:
        super().__init__(api_key, base_url, sleep=sleep, timeout=timeout, poll_interval=poll_interval,
                         max_wait=max_wait)
        self.headers = {"Authorization": f"Bearer {api_key}"}

    async def submit(self, prompt: str, **options: Any) -> str:
        body = {"model": MODEL, "prompt": prompt, "resolution": "720p", "duration": 5, **options}
        answer = await self.request("POST", "/video/generations", safe_to_repeat=False, json=body)
        return answer.body["id"]

    async def wait(self, generation_id: str) -> str:
        waiter = Waiter(self.sleep, self.poll_interval, ceiling=15.0, max_wait=self.max_wait)
        while True:
            await waiter.wait()
            answer = await self.request("GET", "/video/generations", safe_to_repeat=True,
                                        params={"generation_id": generation_id})
            body = answer.body
            if body["status"] == "completed":
                video = body.get("video") or {}
                if not video.get("url"):
                    raise ProviderError(f"generation {generation_id} completed without a video")
                return video["url"]
            if body["status"] == "error":
                error = body.get("error") or {}
                if error.get("name") == "ModerationError":
                    raise ContentModerated(error.get("message") or "moderated")
                raise GenerationFailed(error.get("message") or "generation failed")

    async def text_to_video(self, prompt: str, **options: Any) -> str:
        return await self.wait(await self.submit(prompt, **options))


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep, timeout: float = 30.0) -> str:
    """Submit one video and wait for it: the shape ``check_client`` runs."""
    async with AimlapiClient(api_key, base_url, sleep=sleep, timeout=timeout) as client:
        return await client.text_to_video("a paper boat drifting down a rainy street")


#: What to declare to ``check_client``.
ERRORS = {"failed": GenerationFailed, "moderated": ContentModerated, "ambiguous": SubmitUncertain}
