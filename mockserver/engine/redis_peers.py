"""The workers sharing one Redis, as one of them sees them: ask every worker to do
something (send its buffered journal entries, reload the fault rules) and wait until
each has done it.

Exact for the admin plane: :meth:`Peers.ask` publishes on ``<prefix>peers`` (Redis
answers how many subscribers got the message: the workers alive now), every worker's
listener runs the topic's handler and then pushes an acknowledgement onto a list only
this question uses, and the asker waits (``BLPOP``) for that many.  A worker that died
has no subscription and is not waited for; one that hangs is waited for ``timeout``
seconds at most (the answer then says how many acknowledged).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

from redis.exceptions import RedisError

from .state import StoreUnavailable

log = logging.getLogger("mockserver.redis")

#: The topic that has every worker send what it buffers (journal entries, fault counts).
FLUSH = "flush"
#: Wall seconds an asker waits for every worker to acknowledge.
ASK_TIMEOUT_S = 5.0
# The token of a message nobody acknowledges (``tell``).
_NO_ACK = "-"
#: Seconds an acknowledgement list outlives its question (none is left behind).
_ACK_TTL_S = 60


@contextlib.asynccontextmanager
async def unavailable_as_503() -> AsyncIterator[None]:
    """Redis not answering inside becomes :class:`~.state.StoreUnavailable`, which the
    provider routes and the control plane answer with a 503 (never a traceback)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"Redis did not answer ({type(exc).__name__})") from None


def counting_pool(url: str, counter: list[int], **kwargs: Any) -> Any:
    """A ``redis.asyncio.BlockingConnectionPool`` for ``url`` whose connections add one
    to ``counter[0]`` per round trip (a command, a pipeline or a script sent), which
    ``/__admin/metrics`` exports as ``pixverse_mock_redis_round_trips_total``.  The
    connection class follows the URL's scheme (``rediss://``: TLS, ``unix://``), as
    redis-py's own ``from_url`` chooses it."""
    import redis.asyncio as aioredis

    base: Any = aioredis.Connection
    if url.startswith("rediss://"):
        base = aioredis.SSLConnection
    elif url.startswith("unix://"):
        base = aioredis.UnixDomainSocketConnection

    class Counting(base):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            counter[0] += 1
            await super().send_packed_command(command, check_health)

    return aioredis.BlockingConnectionPool.from_url(url, connection_class=Counting, **kwargs)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Peers:
    """One worker's end: ``on(topic, handler)`` registers what this worker does when
    asked; :meth:`start` subscribes (needs a running loop); :meth:`ask` asks all."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.channel = f"{prefix}peers"
        self._acks = f"{prefix}peers:ack:"
        self._handlers: dict[str, list[Callable[[str], Awaitable[Any]]]] = {}
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    def on(self, topic: str, handler: Callable[[str], Awaitable[Any]]) -> None:
        """Run ``handler(arg)`` here whenever any worker asks ``topic`` (handlers of
        one topic run in the order they were added)."""
        self._handlers.setdefault(topic, []).append(handler)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="redis-peers")

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: redis-py reconnects on the next read
                log.warning("peers: listening on %s failed (%s); retrying", self.channel, exc)
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            topic, token, arg = _text(message["data"]).split(" ", 2)
            for handler in self._handlers.get(topic, ()):
                try:
                    await handler(arg)
                except Exception as exc:
                    log.warning("peers: %s failed here (%s)", topic, exc)
            if token == _NO_ACK:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    await pipe.rpush(self._acks + token, 1).expire(self._acks + token, _ACK_TTL_S).execute()
            except Exception as exc:
                log.warning("peers: cannot acknowledge %s (%s)", topic, exc)

    async def ask(self, topic: str, arg: str = "", timeout: float = ASK_TIMEOUT_S) -> int:
        """Have every worker (this one included) run ``topic``'s handler with ``arg``;
        returns how many did within ``timeout`` wall seconds."""
        token = uuid.uuid4().hex
        wanted = await self.redis.publish(self.channel, f"{topic} {token} {arg}")
        deadline = time.monotonic() + timeout
        got = 0
        key = self._acks + token
        while got < wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("peers: %d of %d workers acknowledged %s within %.1f s", got, wanted, topic, timeout)
                break
            popped = await self.redis.blpop([key], timeout=max(left, 0.01))
            if popped is None:
                continue
            got += 1
        await self.redis.delete(key)
        return got

    async def tell(self, topic: str, arg: str = "") -> None:
        """Have every worker run ``topic``'s handler with ``arg``, without waiting."""
        await self.redis.publish(self.channel, f"{topic} {_NO_ACK} {arg}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(self.channel)
                await self._pubsub.aclose()
            except Exception:  # shutting down: the connection may already be gone
                pass
            self._pubsub = None
