"""What the fake records, shared through Redis: the journal, the fault rules (with their
budgets, counts and log) and the webhook schedule (with the delivery log, account
webhooks and delivery faults), for an engine whose other state is already there.

:func:`share_records` swaps an engine's in-memory stores for the Redis ones
(``redis_journal``, ``faults.redis_rules``, ``webhooks.redis_schedule``), all talking to
the other workers through one :class:`~.redis_peers.Peers`, and returns them as
:class:`SharedRecords`, whose ``start`` and ``close`` the app calls (the webhook
scheduler starts and stops with the app, as in memory).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, cast

from .faults import fault_rng
from .faults.redis_rules import RedisFaultSet
from .redis_journal import RedisJournal
from .redis_peers import FLUSH, Peers, counting_pool, unavailable_as_503
from .webhooks import WebhookScheduler
from .webhooks.redis_schedule import RedisWebhookScheduler

if TYPE_CHECKING:
    from .core import Engine

#: The records' connections name themselves (CLIENT LIST tells them from the jobs' pool).
CLIENT_NAME = "pixverse-mock-records"


@dataclass
class SharedRecords:
    """The Redis stores :func:`share_records` put into an engine, and their peers."""

    redis: Any
    peers: Peers
    journal: RedisJournal
    faults: RedisFaultSet
    webhooks: RedisWebhookScheduler

    async def start(self) -> None:
        """Subscribe to the other workers and load the shared fault rules (app start-up)."""
        await self.peers.start()
        await self.faults.start()

    async def sync(self) -> None:
        """What ``Engine.sync_records`` does, with one question to the other workers
        rather than one per store when nothing changed here (the dashboard asks this
        every second)."""
        if self.faults.changed or self.webhooks.changed:
            await self.journal.sync()
            await self.faults.sync()
            await self.webhooks.sync()
            return
        async with unavailable_as_503():
            await self.journal.flush()
            await self.faults.flush()
            await self.webhooks.flush()
            await self.peers.ask(FLUSH)
            await self.journal.pull()
            await self.faults.reload()
            await self.webhooks.reload()

    async def close(self) -> None:
        """Send what is buffered (journal entries, fault counts) and stop listening;
        the webhook scheduler closes first (with the app's scheduler hooks)."""
        await self.journal.close()
        await self.faults.close()
        await self.peers.close()
        await self.redis.aclose()


def connect(url: str, round_trips: list[int]) -> Any:
    """A client for the records: its own pool, which waits (up to 10 s) for a free
    connection rather than failing when all are busy; ``round_trips[0]`` counts what
    it sends."""
    import redis.asyncio as aioredis

    pool = counting_pool(url, round_trips, max_connections=64, timeout=10, client_name=CLIENT_NAME,
                         socket_connect_timeout=5, socket_timeout=None)
    return aioredis.Redis(connection_pool=pool)


def share_records(engine: Engine, redis: Any, prefix: str, providers: Iterable[str] | None = None,
                  webhook_providers: Iterable[str] | None = None) -> SharedRecords:
    """Put ``engine``'s journal, fault rules and webhooks in Redis (``redis``: a
    ``redis.asyncio.Redis`` of their own, closed with them: a blocking pool, as
    :func:`connect` makes, so the subscription and the waits for other workers never
    take a connection a request needs; ``prefix``: the key prefix); ``providers`` and
    ``webhook_providers`` as :class:`~.core.Engine` takes them.  Call before the
    adapters are built (they define account webhooks); the app gives the webhook
    scheduler the adapters' channels (``use_channels``)."""
    s = engine.settings
    peers = Peers(redis, prefix)
    state = engine.state
    journal = RedisJournal(redis, prefix, s.journal_max_entries, s.journal_body_limit, s.journal_max_bytes, peers)
    faults = RedisFaultSet(redis, prefix, peers, fault_rng(s.seed), s.faults, directives=s.fault_directives,
                           providers=providers)
    memory = cast(WebhookScheduler, engine.webhooks)  # the memory state's, built from the settings
    hooks = RedisWebhookScheduler(
        redis, prefix, peers, memory.clock, memory.settings, channels={}, job=engine.get_job,
        sync_clock=engine.sync_clock,
        status_at=memory._status_at, progress_mode=memory._mode,
        on_status=memory._on_status, providers=webhook_providers)
    engine.journal = state.journal = journal
    engine.faults = state.faults = faults
    engine.fault_counts = faults.counts
    engine.webhooks = state.webhooks = hooks
    engine.clock.on_change(hooks.clock_changed)
    return SharedRecords(redis, peers, journal, faults, hooks)
