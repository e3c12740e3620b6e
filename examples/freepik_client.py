"""Freepik / Magnific PixVerse V5 text-to-video: submit, poll, return the video URL.

Auth ``x-freepik-api-key``; POST /v1/ai/text-to-video/pixverse-v5 answers
``{"data": {"task_id", "status": "CREATED"}}``; GET .../{task_id} answers ``status``
CREATED | IN_PROGRESS | COMPLETED | FAILED and, once COMPLETED, ``generated: [url]``.
Freepik reports moderation as FAILED too.  This client polls; Freepik's webhooks
(``webhook_url``), which the fake delivers, are what loadtests' FreepikWebhookClient uses.  Freepik documents
no poll interval; 5 s, growing.  A submit is not idempotent: one whose answer was lost
raises SubmitUncertain (the task list, GET /v1/ai/text-to-video/pixverse-v5, would show
whether it was created).
"""
from __future__ import annotations

import asyncio
from typing import Any

from .common import GenerationFailed, ProviderClient, ProviderError, Sleep, SubmitUncertain, Waiter

BASE_URL = "https://api.freepik.com"
PATH = "/v1/ai/text-to-video/pixverse-v5"


class FreepikClient(ProviderClient):
    def __init__(self, api_key: str, base_url: str = BASE_URL, *, sleep: Sleep = asyncio.sleep,
                 timeout: float = 30.0, poll_interval: float = 5.0, max_wait: float = 900.0) -> None:
        super().__init__(api_key, base_url, sleep=sleep, timeout=timeout, poll_interval=poll_interval,
                         max_wait=max_wait)
        self.headers = {"x-freepik-api-key": api_key}

    async def submit(self, prompt: str, **options: Any) -> str:
        """Create the task; returns its id."""
        body = {"prompt": prompt, "resolution": "720p", "duration": 5, **options}
        answer = await self.request("POST", PATH, safe_to_repeat=False, json=body)
        return answer.body["data"]["task_id"]

    async def wait(self, task_id: str) -> str:
        """Poll until the task ends; returns the video URL.  Raises GenerationFailed."""
        waiter = Waiter(self.sleep, self.poll_interval, max_wait=self.max_wait)
        while True:
            await waiter.wait()
            answer = await self.request("GET", f"{PATH}/{task_id}", safe_to_repeat=True)
            data = answer.body["data"]
            if data["status"] == "COMPLETED":
                if not data.get("generated"):
                    raise ProviderError(f"task {task_id} completed without a video")
                return data["generated"][0]
            if data["status"] == "FAILED":
                raise GenerationFailed(f"task {task_id} failed (or was moderated)")

    async def text_to_video(self, prompt: str, **options: Any) -> str:
        return await self.wait(await self.submit(prompt, **options))


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep, timeout: float = 30.0) -> str:
    """Submit one video and wait for it: the shape ``check_client`` runs."""
    async with FreepikClient(api_key, base_url, sleep=sleep, timeout=timeout) as client:
        return await client.text_to_video("a red fox running through fresh snow")


#: What to declare to ``check_client``: this provider reports moderation as a failure.
ERRORS = {"failed": GenerationFailed, "moderated": GenerationFailed, "ambiguous": SubmitUncertain}
