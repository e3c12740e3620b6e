"""PixVerse platform V5 text-to-video: submit, poll, return the video URL.

Auth ``API-KEY``, plus ``Ai-trace-id``: a UUID per request.  Every answer is HTTP 200
``{"ErrCode", "ErrMsg", "Resp"}``: ErrCode 0 is success.  POST
/openapi/v2/video/text/generate answers ``Resp.video_id``; GET
/openapi/v2/video/result/{id} answers ``Resp.status`` 5 generating, 1 done (``url``),
7 moderated, 8 failed.  Moderation at submit is ErrCode 500054 (image input) or 500063;
500044 (too many concurrent jobs) and 500069/500100 (overload, internal) are worth a
retry after a pause.  PixVerse's guidance: poll every 3-5 s.

The trace id is PixVerse's idempotency key: a repeated one creates nothing and replays
the first answer.  So a submit whose answer was lost (timeout, dropped connection) is
sent again with the *same* trace id (no second job), while a request that got a visible
error, and every status read, gets a *new* one (a repeated read would replay a stale
status forever).  The webhook PixVerse offers is configured in its console, not per
request (the fake delivers it, README "Webhooks"); this client polls.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .common import ContentModerated, GenerationFailed, ProviderClient, ProviderError, Sleep, Waiter

BASE_URL = "https://app-api.pixverse.ai"
MODERATED = {500054, 500063}
TRANSIENT = {500044, 500069, 500100}


class PixverseClient(ProviderClient):
    def __init__(self, api_key: str, base_url: str = BASE_URL, *, sleep: Sleep = asyncio.sleep,
                 timeout: float = 30.0, poll_interval: float = 4.0, max_wait: float = 900.0) -> None:
        super().__init__(api_key, base_url, sleep=sleep, timeout=timeout, poll_interval=poll_interval,
                         max_wait=max_wait)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One PixVerse call; returns ``Resp``.  Raises ContentModerated, ProviderError."""
        trace = [str(uuid.uuid4())]

        def headers(fresh: bool) -> dict[str, str]:
            if fresh:
                trace[0] = str(uuid.uuid4())
            return {"API-KEY": self.api_key, "Ai-trace-id": trace[0]}

        answer = await self.request(method, path, safe_to_repeat=True, headers=headers, json=body,
                                    transient=lambda b: isinstance(b, dict) and b.get("ErrCode") in TRANSIENT)
        code = answer.body.get("ErrCode")
        if code in MODERATED:
            raise ContentModerated(f"{answer.body.get('ErrMsg')} (ErrCode {code})")
        if code != 0:
            raise ProviderError(f"{path}: ErrCode {code}: {answer.body.get('ErrMsg')}")
        return answer.body["Resp"]

    async def submit(self, prompt: str, **options: Any) -> int:
        body = {"prompt": prompt, "model": "v5", "aspect_ratio": "16:9", "quality": "540p", "duration": 5,
                **options}
        return (await self._call("POST", "/openapi/v2/video/text/generate", body))["video_id"]

    async def wait(self, video_id: int) -> str:
        waiter = Waiter(self.sleep, self.poll_interval, ceiling=5.0, max_wait=self.max_wait)
        while True:
            await waiter.wait()
            resp = await self._call("GET", f"/openapi/v2/video/result/{video_id}")
            if resp["status"] == 1:
                return resp["url"]
            if resp["status"] == 7:
                raise ContentModerated(f"video {video_id} was moderated")
            if resp["status"] == 8:
                raise GenerationFailed(f"video {video_id} failed")

    async def text_to_video(self, prompt: str, **options: Any) -> str:
        return await self.wait(await self.submit(prompt, **options))


async def generate(base_url: str, api_key: str, *, sleep: Sleep = asyncio.sleep, timeout: float = 30.0) -> str:
    """Submit one video and wait for it: the shape ``check_client`` runs."""
    async with PixverseClient(api_key, base_url, sleep=sleep, timeout=timeout) as client:
        return await client.text_to_video("a hummingbird hovering over a red flower")


#: What to declare to ``check_client``.  No ``ambiguous``: a lost answer is retried
#: under the same trace id, never given up on.
ERRORS = {"failed": GenerationFailed, "moderated": ContentModerated}
