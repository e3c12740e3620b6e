"""What the four reference clients share: their errors, one careful HTTP call and a
base class holding the session.

The policy, in one place:

- 429: wait ``Retry-After`` seconds (or the backoff, when the header is missing), retry;
- 5xx, a dropped connection, a timeout: back off (1 s, 2 s, 4 s ...) and retry, but
  only where retrying cannot create a second job: reads always, a submit only when the
  provider dedupes it (PixVerse's ``Ai-trace-id``).  Elsewhere a submit whose answer was
  lost raises :class:`SubmitUncertain`: the job may exist, and sending it again could
  pay for two;
- any other 4xx: raise :class:`ProviderError` at once.

All waiting goes through the ``sleep`` the client was built with (``asyncio.sleep`` by
default), so a test can hand in one that moves a fake clock instead.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Self

import aiohttp

Sleep = Callable[[float], Awaitable[None]]


class VideoError(Exception):
    """Base of everything the reference clients raise on purpose."""


class GenerationFailed(VideoError):
    """The provider ran the job and it failed (Freepik and pixwith also report
    moderation this way: they do not tell the two apart)."""


class ContentModerated(VideoError):
    """The provider refused the input or the result on content grounds."""


class SubmitUncertain(VideoError):
    """The submit's answer never arrived (timeout, dropped connection): a job may or
    may not exist, and this provider offers no safe way to send it again."""


class ProviderError(VideoError):
    """Any other refusal, or transient failures that outlasted the retries."""


class WaitTimeout(VideoError):
    """The job did not finish within the client's ``max_wait``."""


#: What a transient network failure looks like to aiohttp.
NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


@dataclass
class Policy:
    """Retry policy: ``retries`` more attempts after the first, backoff doubling from
    ``backoff`` seconds, each request given ``timeout`` seconds."""

    retries: int = 4
    backoff: float = 1.0
    timeout: float = 30.0


def retry_after(headers: Any, default: float) -> float:
    """The ``Retry-After`` seconds of an answer, or ``default`` without a usable one."""
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        return default


async def call(session: aiohttp.ClientSession, method: str, url: str, *, sleep: Sleep, policy: Policy,
               safe_to_repeat: bool, headers: Callable[[bool], dict[str, str]] | dict[str, str] | None = None,
               json: Any = None, params: dict[str, str] | None = None,
               transient: Callable[[Any], bool] | None = None) -> Answer:
    """One request with the policy above; returns the first answer worth reading.

    ``headers`` may be a function, called per attempt with ``fresh``: False only when the
    previous attempt's answer was lost (PixVerse then repeats its trace id, so the
    provider answers from the first attempt; after a visible error it takes a new one).
    ``transient(body)`` lets a provider that reports errors inside an HTTP 200 say "this
    one is worth retrying".  Raises SubmitUncertain,
    ProviderError.
    """
    delay = policy.backoff
    fresh = True
    for attempt in range(policy.retries + 1):
        last = attempt == policy.retries
        hdrs = headers(fresh) if callable(headers) else headers
        fresh = True
        try:
            async with session.request(method, url, headers=hdrs, json=json, params=params,
                                       timeout=aiohttp.ClientTimeout(total=policy.timeout)) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                answer = Answer(resp.status, resp.headers, body)
        except NETWORK_ERRORS as exc:
            answer = None
            problem = f"no answer ({type(exc).__name__})"
        else:
            problem = f"HTTP {answer.status}: {answer.body}"
            if answer.status < 400 and answer.body is None:
                problem = f"HTTP {answer.status} with a body that is not JSON"
        if answer is None or (answer.status < 400 and answer.body is None):
            # The request may have been carried out: repeat it only where that is harmless.
            if not safe_to_repeat:
                raise SubmitUncertain(f"{method} {url}: {problem}")
            wait, fresh = delay, False
        elif answer.status == 429:
            wait = retry_after(answer.headers, delay)
        elif answer.status >= 500:
            wait = delay
        elif answer.status >= 400:
            raise ProviderError(f"{method} {url}: {problem}")
        elif transient is not None and transient(answer.body):
            wait = delay
        else:
            return answer
        if last:
            raise ProviderError(f"{method} {url}: still failing after {attempt + 1} attempts ({problem})")
        await sleep(wait)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


class ProviderClient:
    """What each client is built on: its settings and one aiohttp session, opened by
    ``async with``.  ``timeout`` is seconds per request, ``poll_interval`` the first wait
    between polls and ``max_wait`` the seconds before WaitTimeout; each client picks its
    provider's defaults."""

    def __init__(self, api_key: str, base_url: str, *, sleep: Sleep, timeout: float, poll_interval: float,
                 max_wait: float) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.policy = Policy(timeout=timeout)
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        # The auth headers every request sends; a client whose headers change per attempt
        # (PixVerse's trace id) passes its own ``headers`` to ``request``.
        self.headers: dict[str, str] = {}
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.session is not None:
            await self.session.close()

    async def request(self, method: str, path: str, *, safe_to_repeat: bool, **options: Any) -> Answer:
        """``call`` on ``base_url + path`` with this client's session, sleep, policy and
        (unless ``headers`` is given) its ``headers``."""
        assert self.session is not None, f"use `async with {type(self).__name__}(...)`"
        options.setdefault("headers", self.headers)
        return await call(self.session, method, self.base_url + path, sleep=self.sleep, policy=self.policy,
                          safe_to_repeat=safe_to_repeat, **options)


class Waiter:
    """Poll pacing: the first wait, then ``interval`` growing by ``growth`` up to
    ``ceiling``; raises WaitTimeout once ``max_wait`` seconds went by."""

    def __init__(self, sleep: Sleep, interval: float, *, growth: float = 1.25, ceiling: float | None = None,
                 max_wait: float = 900.0) -> None:
        self.sleep = sleep
        self.interval = interval
        self.growth = growth
        self.ceiling = ceiling if ceiling is not None else interval * 3
        self.max_wait = max_wait
        self.waited = 0.0

    async def wait(self, seconds: float | None = None) -> None:
        step = self.interval if seconds is None else max(seconds, self.interval)
        if self.waited + step > self.max_wait:
            raise WaitTimeout(f"no result after {self.waited:.0f} s")
        await self.sleep(step)
        self.waited += step
        if seconds is None:
            self.interval = min(self.interval * self.growth, self.ceiling)
