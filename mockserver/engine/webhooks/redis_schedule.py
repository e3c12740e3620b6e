"""Webhook deliveries shared by every worker pointed at one Redis.

What is shared and how:

- **Due deliveries**: a sorted set ``<prefix>webhooks:due`` (delivery id -> due, virtual
  seconds) with each delivery's state in the hash ``<prefix>webhooks:d``.  A worker
  takes what is due with one Lua call that moves it to ``<prefix>webhooks:leased``
  (score: wall unix seconds the lease ends), so each attempt is made by exactly one
  worker; the attempt's end removes it (delivered, given up) or puts it back as due
  later (a retry, with its attempt count and body).  A lease that runs out (the worker
  died mid-flight) puts the delivery back as due, and another worker attempts it.
- **Watches** (when a job's status changes) stay with the worker that created the job:
  it turns each change into a delivery and hands it to Redis (in poll-count and
  manual modes, a worker that answers a poll or a force tells it, in order, over
  pub/sub).  A worker that dies loses the changes its jobs have not made yet (the
  deliveries already handed over are not lost).  Out-of-order holds are also that
  worker's.
- **The delivery log and counts**, **account webhooks** (PixVerse's console setting) and
  **delivery faults** live in Redis; a change through the admin plane has every worker
  reload before it returns (``Peers``), the log and counts are sent in the background
  and before every read.  A delivery fault's ``times`` is counted per worker.
- Delivery ids are drawn from an unseeded source (two workers with one seed would draw
  the same ones).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from typing import Any, Awaitable, Callable, Hashable

import orjson

from ..clock import VirtualClock
from ..jobs import Job
from ..redis_peers import FLUSH, Peers, unavailable_as_503
from .accounts import AccountHook
from .deliveries import Channel, Delivery, Watch
from .faults import DeliveryFault
from .scheduler import _DELIVERY, WebhookScheduler

log = logging.getLogger("mockserver.webhooks")

#: The topic that has every worker reload account webhooks and delivery faults.
RELOAD = "webhooks"
#: The topic that tells the worker watching a job that it may have changed status.
NOTICE = "notice"
#: Wall seconds between looks at the shared schedule for what this worker was not told
#: of (other workers' retries, leases run out); a worker takes the deliveries it hands
#: over, and those a clock change makes due, at once.
POLL_S = 0.25
#: Deliveries taken per look.
CLAIM_BATCH = 100

# KEYS: due, leased, payloads, busy.  ARGV: virtual now, wall now, lease seconds, most
# to take.  Leases that ran out go back to due first (at the due time their state
# records).  A job's deliveries are attempted one after another: one whose job has
# another delivery leased (``busy``: job -> delivery id) waits.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local p = redis.call('HGET', KEYS[3], id)
  if p then redis.call('ZADD', KEYS[1], cjson.decode(p)['due'], id) end
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
local until_ = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, id in ipairs(ids) do
  local p = redis.call('HGET', KEYS[3], id)
  if p then
    local d = cjson.decode(p)
    local job = d['provider'] .. '\0' .. d['job_id']
    local holder = redis.call('HGET', KEYS[4], job)
    if (not holder) or holder == id or (not redis.call('ZSCORE', KEYS[2], holder)) then
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], until_, id)
      redis.call('HSET', KEYS[4], job, id)
      out[#out + 1] = p
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

# KEYS: due, leased, payloads, busy.  ARGV: delivery id, its job ("provider\0id"), its
# state ("" when it is finished) and due time.  An attempt's end.
_SETTLE = """
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[4], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[4], ARGV[2]) end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 0
"""

# KEYS: due, leased, payloads.  ARGV: "" (all) or the test id whose deliveries go.
_DROP = """
if ARGV[1] == '' then
  local n = redis.call('HLEN', KEYS[3])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return n
end
local n = 0
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if cjson.decode(all[i + 1])['test_id'] == ARGV[1] then
    redis.call('HDEL', KEYS[3], all[i]); redis.call('ZREM', KEYS[1], all[i]); redis.call('ZREM', KEYS[2], all[i])
    n = n + 1
  end
end
return n
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hashable(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


class RedisWebhookScheduler(WebhookScheduler):
    """A :class:`~.scheduler.WebhookScheduler` whose due deliveries, log, counts,
    account webhooks and delivery faults are shared through Redis.

    ``channels`` are the providers' channels by name and ``job(provider, id)`` the
    stored job (awaitable), so a worker can attempt a delivery another created;
    ``sync_clock()`` adopts a clock change made through another worker (each look at
    the schedule and each drain start with it);
    ``lease_s`` is how long (wall seconds) a taken delivery is this worker's (default:
    twice the send timeout, plus 5 s).
    """

    def __init__(self, redis: Any, prefix: str, peers: Peers | None, clock: VirtualClock, settings: Any, *,
                 channels: dict[str, Channel], job: Callable[[str, str], Awaitable[Job | None]],
                 sync_clock: Callable[[], Awaitable[None]] | None = None,
                 lease_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(clock, settings, **kwargs)
        self._rng = random.Random()
        self.redis = redis
        self.peers = peers
        self.channels = channels
        self._job = job
        # Brings the clock up to a change another worker made (None: the clock is ours).
        self._sync_clock = sync_clock
        self.lease_s = lease_s if lease_s is not None else 2 * settings.timeout_s + 5
        names = ("due", "leased", "d", "busy", "log", "counts", "accounts", "faults", "fault_ids")
        self._key = {n: f"{prefix}webhooks:{n}" for n in names}
        self._claim = redis.register_script(_CLAIM)
        self._drop = redis.register_script(_DROP)
        self._settle = redis.register_script(_SETTLE)
        # Writes not yet in Redis, in order: (id, job key, state or "" when finished, due).
        self._outbox: list[tuple[str, str, bytes | str, float]] = []
        self._resets: list[str | None] = []
        self._attempts_made = 0
        # One look at the schedule at a time (the runner's, drain's), enqueueing included,
        # so drain's wait covers what the runner took.
        self._taking = asyncio.Lock()
        self._fault_pool: list[int] = []
        self._pending_log: list[dict[str, Any]] = []
        self._pending_counts: Counter[str] = Counter()
        self._changes: list[tuple[Any, ...]] = []  # account and fault changes for sync()
        self._lock: asyncio.Lock | None = None
        self._flush_soon: asyncio.Handle | None = None
        self._told: deque[str] = deque(maxlen=10_000)
        self._telling: asyncio.Task[None] | None = None
        if peers is not None:
            peers.on(RELOAD, lambda _: self.reload())
            peers.on(FLUSH, lambda _: self.flush())
            peers.on(NOTICE, self._noticed)

    # deliveries go to Redis -------------------------------------------------------------------
    def _push(self, due: float, kind: int, item: Any) -> None:
        if kind != _DELIVERY:
            super()._push(due, kind, item)
            return
        # Redis's from now on: another worker may finish it.
        self._pending.pop(item.seq, None)
        self._outbox.append((item.id, f"{item.watch.job.provider}\x00{item.job_id}", self._payload(item), item.due))
        self._schedule_flush()

    def notice(self, job: Job) -> None:
        """As :meth:`WebhookScheduler.notice`; ``job`` is a fresh read of the shared
        job (its polls, its forced state), which the watch takes.  A job watched by
        another worker (it created the job) changes status on reads and forces only
        in poll-count and manual modes: that worker is told (no wait)."""
        w = self._watches.get((job.provider, job.id)) if self._watches else None
        if w is not None:
            w.job = job
            self._advance(w, self.clock.now())
        elif self.peers is not None and self._mode() != "time":
            # In order, so the watching worker sees each read's status in turn.
            self._told.append(f"{job.provider}\x00{job.id}\x00{job.polls}")
            if self._telling is None or self._telling.done():
                self._telling = asyncio.get_running_loop().create_task(self._tell())

    async def _tell(self) -> None:
        while self._told:
            try:
                await self.peers.tell(NOTICE, self._told[0])  # type: ignore[union-attr]  # notice() checked
            except Exception as exc:
                log.warning("webhooks: cannot tell the other workers of a status change (%s)", exc)
            self._told.popleft()

    async def _noticed(self, key: str) -> None:
        """Another worker read (``polls``: the job's reads then) or forced a job: if
        this worker watches it, deliver what changed."""
        provider, job_id, polls = key.split("\x00")
        if (provider, job_id) in self._watches:
            job = await self._job(provider, job_id)
            if job is not None:
                job.polls = min(job.polls, int(polls))
                self.notice(job)

    def _release(self, d: Delivery) -> None:
        self._unhold(d)
        d.due = min(d.due, self.clock.now())
        self._push(d.due, _DELIVERY, d)

    def _payload(self, d: Delivery) -> bytes:
        return orjson.dumps({
            "id": d.id, "provider": d.watch.job.provider, "job_id": d.job_id, "channel": d.provider,
            "test_id": d.watch.job.test_id, "url": d.url, "context": d.watch.context, "state": d.state,
            "event": d.event, "changed_at": d.changed_at, "due": d.due, "attempts": d.attempts,
            "body": None if d.body is None else d.body.decode("latin-1"), "duplicate": d.duplicate,
            "faults": d.faults, "duplicate_after": d.duplicate_after})

    async def _delivery(self, raw: Any) -> Delivery | None:
        r = orjson.loads(raw)
        job, channel = await self._job(r["provider"], r["job_id"]), self.channels.get(r["channel"])
        if job is None or channel is None:
            log.warning("webhooks: delivery %s dropped (job %s/%s or its channel is gone)",
                        r["id"], r["provider"], r["job_id"])
            self._outbox.append((r["id"], f"{r['provider']}\x00{r['job_id']}", "", 0.0))
            return None
        event = _hashable(r["event"])
        watch = Watch(job, channel, r["url"], r["context"], event, [], done=True)
        return Delivery(id=r["id"], watch=watch, state=r["state"], event=event, changed_at=float(r["changed_at"]),
                        due=float(r["due"]), seq=next(self._seq), attempts=int(r["attempts"]),
                        body=None if r["body"] is None else r["body"].encode("latin-1"),
                        duplicate=bool(r["duplicate"]), faults=list(r["faults"]),
                        duplicate_after=r["duplicate_after"])

    async def _attempt(self, d: Delivery) -> None:
        self._attempts_made += 1
        await super()._attempt(d)

    def _may_retry(self) -> bool:
        return True  # shutting down too: another worker (or the next start) makes it

    def _finish(self, d: Delivery, entry: dict[str, Any], outcome: str, *, error: str | None = None,
                final: bool = True) -> None:
        super()._finish(d, entry, outcome, error=error, final=final)
        if final:  # before a duplicate's copy (same id) is handed over
            self._outbox.append((d.id, f"{d.watch.job.provider}\x00{d.job_id}", "", 0.0))
            self._schedule_flush()
        self._pending_log.append(entry)
        self._pending_counts[outcome] += 1

    async def _take_due(self) -> int:
        """Take what is due (and what a dead worker's lease left) for this worker's pool."""
        k = self._key
        async with self._taking:
            raw = await self._claim(keys=[k["due"], k["leased"], k["d"], k["busy"]],
                                    args=[repr(self.clock.now() + 1e-6), repr(time.time()), repr(self.lease_s),
                                          CLAIM_BATCH])
            for payload in raw:
                d = await self._delivery(payload)
                if d is not None:
                    self._enqueue(d)
        return len(raw)

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            self._wake.clear()
            await self._adopt_clock()
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now + 1e-6 and not self._closing:
                self._process_due(now, 500)  # watches' checks and holds: this worker's
                await asyncio.sleep(0)
                now = self.clock.now()
            try:
                await self.flush()
                while await self._take_due() >= CLAIM_BATCH:
                    pass
            except Exception as exc:  # Redis away: the deliveries wait there, or in the outbox
                log.warning("webhooks: Redis unavailable (%s)", exc)
            delay = POLL_S
            if self._heap:
                delay = min(delay, max(self.clock.wall_delay(self._heap[0][0] - self.clock.now()), 0.0005))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    async def drain(self, timeout: float = 30.0) -> int:
        """As :meth:`WebhookScheduler.drain`, taking due deliveries from Redis too."""
        if self._ready is None:
            raise RuntimeError("the webhook scheduler is not running")
        handled = 0
        await self._adopt_clock()

        async def settle() -> None:
            nonlocal handled
            while True:
                attempts = self._attempts_made
                handled += self._process_due(self.clock.now())
                await self.flush()
                taken = await self._take_due()
                handled += taken
                await self._ready.join()  # type: ignore[union-attr]
                await self.flush()
                # An attempt's end may have made due what waited behind it (the same
                # job's next delivery, a duplicate): look again until a look finds nothing.
                if not taken and attempts == self._attempts_made and self._outstanding == 0 and not (
                        self._heap and self._heap[0][0] <= self.clock.now() + 1e-6):
                    return

        await asyncio.wait_for(settle(), timeout)
        return handled

    async def _adopt_clock(self) -> None:
        if self._sync_clock is not None:
            try:
                await self._sync_clock()
            except Exception as exc:  # Redis away: the clock as it stood
                log.warning("webhooks: cannot read the shared clock (%s)", exc)

    # writes -----------------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        if self._flush_soon is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._flush_soon = loop.call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_soon = None
        asyncio.get_running_loop().create_task(self._flush_quietly())
        self._poke()

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            log.warning("webhooks: cannot write to Redis (%s); kept and retried", exc)

    async def flush(self) -> None:
        """Send handed-over deliveries, finished ones, log entries and counts (after
        any flush already on its way)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not (self._outbox or self._pending_log or self._pending_counts):
                return
            outbox, self._outbox = self._outbox, []
            logged, self._pending_log = self._pending_log, []
            counts, self._pending_counts = self._pending_counts, Counter()
            k = self._key
            size = self.log.maxlen or 1000
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for delivery_id, job, state, due in outbox:
                        await self._settle(keys=[k["due"], k["leased"], k["d"], k["busy"]],
                                           args=[delivery_id, job, state, repr(due)], client=pipe)
                    if logged:
                        pipe.rpush(k["log"], *(orjson.dumps(e) for e in logged)).ltrim(k["log"], -size, -1)
                    for outcome, n in counts.items():
                        pipe.hincrby(k["counts"], outcome, n)
                    await pipe.execute()
            except Exception:
                self._outbox[:0] = outbox
                self._pending_log[:0] = logged[-size:]
                self._pending_counts.update(counts)
                raise

    # shared settings: accounts and delivery faults ---------------------------------------------
    def set_account(self, provider: str, api_key: str | None, *, url: str | None = ...,  # type: ignore[assignment]
                    secret: str | None = None, variant: str | None = None) -> AccountHook:
        hook = super().set_account(provider, api_key, url=url, secret=secret, variant=variant)
        self._changes.append(("account", provider, api_key or "", orjson.dumps([hook.url, hook.secret, hook.variant])))
        return hook

    def drop_account(self, provider: str, api_key: str | None) -> None:
        super().drop_account(provider, api_key)
        self._changes.append(("drop", provider, api_key or ""))

    def add_fault(self, fault: DeliveryFault) -> DeliveryFault:
        if fault.id is None and self._fault_pool:
            fault.id = f"wf{self._fault_pool.pop(0)}"
        added = super().add_fault(fault)
        self._changes.append(("fault", added.id or "", added.model_dump_json(exclude_none=True)))
        return added

    def use_channels(self, channels: dict[str, Channel]) -> None:
        self.channels.update(channels)

    def clear_log(self) -> int:
        n = super().clear_log()
        self._pending_log.clear()
        self._changes.append(("clearlog",))
        return n

    def remove_fault(self, fault_id: str | None = None) -> int:
        gone = super().remove_fault(fault_id)
        self._changes.append(("unfault", fault_id or ""))
        return gone

    async def sync(self, ids: int = 0) -> None:
        """Send this worker's changes (every worker has reloaded when it returns),
        have every worker send its log and counts, and reload them here.  ``ids``:
        delivery fault ids about to be needed (taken from a shared counter).  Raises
        StoreUnavailable when Redis does not answer."""
        async with unavailable_as_503():
            await self._sync(ids)

    async def _sync(self, ids: int) -> None:
        if ids:
            last = await self.redis.incrby(self._key["fault_ids"], ids)
            self._fault_pool += range(last - ids + 1, last + 1)
        await self.flush()
        if self._resets:
            await self.drop_shared()
        changes, self._changes = self._changes, []
        if changes:
            k = self._key
            async with self.redis.pipeline(transaction=True) as pipe:
                for change in changes:
                    kind = change[0]
                    if kind == "account":
                        pipe.hset(k["accounts"], f"{change[1]}\x00{change[2]}", change[3])
                    elif kind == "drop":
                        if change[2]:
                            pipe.hdel(k["accounts"], f"{change[1]}\x00{change[2]}")
                        else:
                            pipe.eval("for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do "
                                      "if string.sub(f, 1, #ARGV[1]) == ARGV[1] then redis.call('HDEL', KEYS[1], f) "
                                      "end end return 0", 1, k["accounts"], f"{change[1]}\x00")
                    elif kind == "fault":
                        pipe.hset(k["faults"], change[1], change[2])
                    elif kind == "unfault" and change[1]:
                        pipe.hdel(k["faults"], change[1])
                    elif kind == "unfault":
                        pipe.delete(k["faults"])
                    elif kind == "clearlog":
                        pipe.delete(k["log"])
                    else:  # reset
                        pipe.delete(k["log"], k["counts"], k["accounts"], k["faults"])
                await pipe.execute()
        if self.peers is not None:
            await self.peers.ask(RELOAD if changes else FLUSH)
        await self.reload()

    @property
    def changed(self) -> bool:
        """Whether this worker has changes or resets :meth:`sync` has not sent yet."""
        return bool(self._changes or self._resets)

    async def reload(self) -> None:
        await self.flush()
        k = self._key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(k["log"], -(self.log.maxlen or 1000), -1).hgetall(k["counts"])
            pipe.hgetall(k["accounts"]).hgetall(k["faults"])
            logged, counts, accounts, faults = await pipe.execute()
        self.log.clear()
        self.log.extend(orjson.loads(e) for e in logged)
        self.log.extend(self._pending_log)
        for outcome in self.counts:
            self.counts[outcome] = 0
        for outcome, n in counts.items():
            self.counts[_text(outcome)] = int(n)
        for outcome, n in self._pending_counts.items():
            self.counts[outcome] += n
        for provider in list(self._account_profile):
            WebhookScheduler.drop_account(self, provider, None)
        for field, value in accounts.items():
            provider, _, api_key = _text(field).partition("\x00")
            url, secret, variant = orjson.loads(value)
            if api_key:
                self._accounts[(provider, api_key)] = AccountHook(url, secret, variant)
            else:
                self._account_defaults[provider] = AccountHook(url, secret, variant)
        fired = {f.id: f.fired for f in self.faults}
        self.faults = [DeliveryFault.model_validate_json(v) for _, v in sorted(faults.items())]
        for f in self.faults:
            f._fired = fired.get(f.id, 0)

    def reset(self, test_id: str | None = None) -> int:
        dropped = super().reset(test_id)
        if test_id is None:
            self._changes = [("reset",)]
            self._outbox.clear()
        self._resets.append(test_id)
        return dropped

    async def start(self, sender: Any) -> None:
        if self.peers is not None:
            await self.peers.start()
        await self.reload()
        await super().start(sender)

    async def close(self) -> None:
        """Stop; deliveries not attempted stay in Redis for the other workers (or the
        next start): one this worker had taken comes back when its lease runs out."""
        await super().close()
        try:
            await self.flush()
        except Exception as exc:
            log.warning("webhooks: not all written to Redis at shutdown (%s)", exc)

    async def drop_shared(self) -> int:
        """Apply queued resets to the shared schedule (deliveries of one test id, or
        all); returns how many deliveries went."""
        resets, self._resets = self._resets, []
        k = self._key
        gone = 0
        for test_id in resets:
            gone += int(await self._drop(keys=[k["due"], k["leased"], k["d"], k["busy"]], args=[test_id or ""]))
        return gone
