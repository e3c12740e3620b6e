"""Idempotency keys: the first answer per key, replayed for every repeat.

Used for PixVerse's Ai-trace-id, which its docs (the "PixVerse API LLM.txt" page,
``pixverse-api-llm-txt-2109771m0``) say creates nothing when reused and returns the
earlier result; its guides blame "video stuck in generating" on polling with one
trace id.  ``IdempotencyStore`` keeps those answers, bounded, in insertion order.
Provider-neutral: the stored answers are whatever the caller produces.
"""
from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")

#: How many (key, trace id, operation) answers are kept; the oldest go first.
MAX_ENTRIES = 100_000

#: A hyphenated RFC 4122 UUID, any version, any case (what ``format: uuid`` means).
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class IdempotencyStore(Generic[T]):
    """Bounded map from an idempotency key to the first answer produced for it.

    A repeat that arrives while the first request is still being handled waits for
    it instead of running the handler a second time, so concurrent duplicates are
    idempotent too.  A first attempt that raises leaves nothing behind.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, asyncio.Future[T | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    async def once(
        self,
        key: Hashable,
        make: Callable[[], Awaitable[T]],
        reusable: Callable[[T], Awaitable[bool]] | None = None,
        revive: Callable[[Any], T] | None = None,
        *,
        reads_first: bool = False,
    ) -> T:
        """The remembered answer for ``key`` if ``await reusable(answer)`` accepts it
        (None: any answer is), else ``await make()``, remembered for next time.
        ``revive`` rebuilds an answer from its JSON where a store keeps JSON (Redis);
        this store keeps the answer itself.  ``reads_first``: ``make`` changes nothing
        (no id drawn, nothing fetched) before its first read of the state, so a shared
        store may take the key in that read (RedisReplay); ignored here."""
        while (pending := self._entries.get(key)) is not None:
            # shield: a repeat whose client hangs up must not cancel the first request.
            earlier = pending.result() if pending.done() else await asyncio.shield(pending)
            if earlier is not None and (reusable is None or await reusable(earlier)):
                return earlier
            if self._entries.get(key) is pending:
                del self._entries[key]
        slot: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._entries[key] = slot
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        reply: T | None = None
        try:
            reply = await make()
            return reply
        finally:
            if reply is None and self._entries.get(key) is slot:
                del self._entries[key]
            # None tells waiting repeats that the first attempt failed: they retry.
            slot.set_result(reply)
