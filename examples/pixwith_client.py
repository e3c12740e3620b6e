"""pixwith.ai PixVerse V5 (model ``2-27``) text-to-video: submit, wait, return the URL.

Auth ``Api-Key``; every answer is ``{"code", "message", "data"}`` with ``code`` 1 for
success and 0 for an error (HTTP 200: read ``code``, not the status); rate limits and
server failures come as HTTP 429/5xx.  POST /api/task/create answers ``task_id`` and
``estimated_time``; POST /api/task/get answers ``status`` 1 processing, 2 completed
(``result_urls``), 3 failed (moderation included).  pixwith's guidance: wait
``estimated_time``, then poll every 5-10 s.  No webhooks.  A submit is not idempotent:
one whose answer was lost raises SubmitUncertain.
"""
from __future__ import annotations

import asyncio
from typing import Any

from .common import GenerationFailed, ProviderClient, ProviderError, Sleep, SubmitUncertain, Waiter

BASE_URL = "https://api.pixwith.ai"
MODEL_ID = "2-27"


class PixwithClient(ProviderClient):
    def __init__(self, api_key: str, base_url: str = BASE_URL, *, sleep: Sleep = asyncio.sleep,
                 timeout: float = 30.0, poll_interval: float = 5.0, max_wait: float = 900.0) -> None:
        super().__init__(api_key, base_url, sleep=sleep, timeout=timeout, poll_interval=poll_interval,
                         max_wait=max_wait)
        self.headers = {"Api-Key": api_key}

    async def _post(self, path: str, body: dict[str, Any], *, safe_to_repeat: bool) -> dict[str, Any]:
        answer = await self.request("POST", path, safe_to_repeat=safe_to_repeat, json=body)
        if answer.body.get("code") != 1:
            raise ProviderError(f"{path}: {answer.body.get('message')}")
        return answer.body["data"]

    async def submit(self, prompt: str, **options: Any) -> tuple[str, int]:
        """Create the task; returns (task id, estimated seconds)."""
        opts = {"prompt_optimization": False, "num_outputs": 1, "resolution": "720p",
                "aspect_ratio": "16:9", "duration": 5, **options}
        data = await self._post("/api/task/create", {"prompt": prompt, "model_id": MODEL_ID, "options": opts},
                                safe_to_repeat=False)
        return data["task_id"], int(data.get("estimated_time") or 0)

    async def wait(self, task_id: str, estimated_time: int = 0) -> str:
        """Wait ``estimated_time``, then poll; returns the first video URL."""
        waiter = Waiter(self.sleep, self.poll_interval, max_wait=self.max_wait)
        await waiter.wait(estimated_time)
        while True:
            data = await self._post("/api/task/get", {"task_id": task_id}, safe_to_repeat=True)
            if data["status"] == 2:
                if not data.get("result_urls"):
                    raise ProviderError(f"task {task_id} completed without a video")
                return data["result_urls"][0]
            if data["status"] == 3:
                raise GenerationFailed(f"task {task_id} failed (or was moderated)")
            await waiter.wait()

    async def text_to_video(self, prompt: str, **options: Any) -> str:
        return await self.wait(*await self.submit(prompt, **options))


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep, timeout: float = 30.0) -> str:
    """Submit one video and wait for it: the shape ``check_client`` runs."""
    async with PixwithClient(api_key, base_url, sleep=sleep, timeout=timeout) as client:
        return await client.text_to_video("a lighthouse in a storm, waves crashing")


#: What to declare to ``check_client``: this provider reports moderation as a failure.
ERRORS = {"failed": GenerationFailed, "moderated": GenerationFailed, "ambiguous": SubmitUncertain}
