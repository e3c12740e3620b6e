"""The engine with its shared state in Redis (``--redis redis://host:port/db``).

Several processes, on one host or many, pointed at one Redis (and one key prefix,
``redis_prefix``) act as one fake, and the state outlives them.  In Redis, through
redis-py's asyncio client and Redis's own atomic primitives (Lua scripts run whole):

=====================  ====================================================================
kind                   keys (under the prefix) and how they change
=====================  ====================================================================
jobs                   ``job:<provider>\\0<id>`` hash (the job, its poll count, forced
                       state, refund mark); ``jobs`` sorted set (creation order, bounds
                       the count, bytes in ``jobs:bytes``); ``owner:<provider>\\0<key>\\0
                       <kind>`` sorted set (list endpoints); a wall TTL beyond retention
id sequence            ``epoch``: INCR once per process start; the seeded rng draws from
                       (seed, epoch), so ids never repeat across processes or restarts,
                       and a process alone on a fresh Redis draws what the in-memory fake
                       would
virtual clock          ``clock`` hash (anchors, scale, frozen, version); read with every
                       job read, so an advance through one process is seen at the next
                       poll through any other
uploads                ``upload:<provider>\\0<id>`` hash with the bytes; ``uploads`` sorted
                       set and ``uploads:bytes``: bounded by bytes and count, oldest first
credits                ``spent:<provider>`` hash (credits spent per key; balance = starting
                       - spent): check-and-debit in one script; a refund once per job
concurrency            ``active:<provider>\\0<key>`` sorted set of jobs queued or running,
                       scored by the virtual instant they end (+inf: not by time); admit
                       drops ended ones, counts and reserves a slot in one script
rate limits            ``rate:<rule>:<per>:<scope>`` sorted sets: sliding windows, one script
trace-id replay        ``replay:<digest>``: SET NX for the first request, then its answer;
                       a repeat elsewhere waits (bounded) and replays it
=====================  ====================================================================

The journal, the fault rules (budgets, counts, log) and the webhook schedule (delivery
log, account webhooks, delivery faults) are in Redis too, under ``journal*``,
``faults:*``, ``webhooks:*`` and ``peers*``: ``redis_records.share_records`` puts them in
this engine, and they reset themselves (``sync``).

Round trips: a poll is 2 (job + clock read; the poll-count script, which also ends the
job's concurrency slot and refunds it once), a create 2 (admit; store) plus one per
rate-limit check when rules are set, for every provider.  A PixVerse trace id takes one
more on a create, and none on a poll: there it is taken in the job read's script
(``_TAKE_FIRST``).  Replayed answers are kept in the background, many per round trip,
on the records' pool (``RedisReplay``).  Redis unreachable
mid-request raises :class:`~.state.StoreUnavailable`, which the provider routes answer
as the provider's 503 (``ProviderAdapter.unavailable_reply``).
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import itertools
import logging
import math
import os
import socket
import time
from collections import deque
from typing import Any, Awaitable, Callable, Hashable, Iterable, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..settings import Settings
from .clock import VirtualClock
from .core import Engine
from .jobs import STATES, TERMINAL, Job, JobSpec, Plan
from .journal import RequestStats
from .ledger import Ledger
from .limits import CONCURRENCY, CREDITS, RATE, RateLimiter, Refusal, whole_seconds
from .redis_peers import counting_pool, unavailable_as_503
from .redis_records import connect as connect_records
from .redis_records import share_records
from .state import StoreUnavailable
from .store import Upload
from .webhooks import redact_url

log = logging.getLogger("mockserver")
T = TypeVar("T")

#: Wall seconds a repeat of a trace id waits for the first request's answer.
REPLAY_WAIT_S = 30.0
#: Replay answers kept (the oldest go first) and how long (wall seconds) at most.
REPLAY_MAX = 100_000
REPLAY_TTL_S = 24 * 3600
#: Answers waiting to be kept in Redis at most (a bound while Redis is away), and the
#: wall seconds between attempts then.
REPLAY_OUTBOX_MAX = 10_000
REPLAY_RETRY_S = 1.0
#: Wall seconds a concurrency slot reserved by ``admit`` is held for its job.
RESERVE_S = 60.0
#: Connections to Redis one process holds at most.
REDIS_CONNECTIONS = 64
#: Jobs read per round trip when the admin lists them.
_BATCH = 500
# Key names the shared records keep (redis_records.py): a full reset leaves them to the
# records, which clear themselves and keep their sequence numbers.
_RECORDS = ("journal", "faults:", "webhooks:", "peers")

# -- Lua ---------------------------------------------------------------------------------
# The job hash's fields, in the order _GET answers them (Job's attributes, shortened).
_FIELDS = ("i", "k", "a", "c", "q", "r", "o", "w", "h", "d", "n", "b", "t", "p", "$", "f", "fa")

# KEYS: job hash, clock hash.  ARGV: the clock version this process runs, then _FIELDS.
# -> {job values in _FIELDS order, clock version, the clock's fields when it changed}
_GET = """
local job = redis.call('HMGET', KEYS[1], unpack(ARGV, 2, %d))
local v = redis.call('HGET', KEYS[2], 'v')
if v == ARGV[1] then return {job, v} end
return {job, v, redis.call('HGETALL', KEYS[2])}
""" % (len(_FIELDS) + 1)

# Put before a read that is a request's first round trip (RedisReplay.once with
# reads_first): KEYS gains the replay key, ARGV the token and its lease (ms).
# -> {'busy', what the key holds} when another request has it; else the script's answer.
_TAKE_FIRST = """
if not redis.call('SET', KEYS[#KEYS], ARGV[#ARGV - 1], 'NX', 'PX', ARGV[#ARGV]) then
  return {'busy', redis.call('GET', KEYS[#KEYS])}
end
"""

# KEYS: job, spent hash, active zset.  ARGV: status by time ('' for poll-count mode),
# mode, queued polls, running polls, refunded states ",a,b,", api key, job id.
# -> false (no such job) | {polls, state, forced, forced_at}
_OBSERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local polls = redis.call('HINCRBY', KEYS[1], 'p', 1)
local f = redis.call('HMGET', KEYS[1], 'f', 'fa', 'o', '$')
local state
if f[1] then state = f[1]
elseif ARGV[2] == 'polls' then
  local q, r = tonumber(ARGV[3]), tonumber(ARGV[4])
  if polls <= q then state = 'queued' elseif polls <= q + r then state = 'running' else state = f[3] end
else state = ARGV[1] end
if state ~= 'queued' and state ~= 'running' then
  redis.call('ZREM', KEYS[3], ARGV[7])
  local cost = tonumber(f[4] or '0')
  if cost > 0 and string.find(ARGV[5], ',' .. state .. ',', 1, true) then
    if redis.call('HSETNX', KEYS[1], 'refunded', cost) == 1 then
      redis.call('HINCRBY', KEYS[2], ARGV[6], -cost)
    end
  end
end
return {polls, state, f[1] or '', f[2] or ''}
"""

# KEYS: active zset, spent hash.  ARGV: cap ('' none), virtual now, cost, starting
# credits, api key, reservation token, reservation score.
# -> {'ok'} | {'concurrency', earliest end score or ''} | {'credits'}
_ADMIT = """
if ARGV[1] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'concurrency', first[2] or ''}
  end
end
local cost = tonumber(ARGV[3])
if cost > 0 then
  local spent = tonumber(redis.call('HGET', KEYS[2], ARGV[5]) or '0')
  if tonumber(ARGV[4]) - spent < cost then return {'credits'} end
  redis.call('HINCRBY', KEYS[2], ARGV[5], cost)
end
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], ARGV[7], ARGV[6]) end
return {'ok'}
"""

# Drop one job (its index entries and bytes) by index member; local to the scripts.
_DROP = """
local function drop(prefix, member)
  local jk = prefix .. 'job:' .. member
  local info = redis.call('HMGET', jk, '_b', '_o', '_a', 'i')
  redis.call('ZREM', prefix .. 'jobs', member)
  local meta = redis.call('HGET', prefix .. 'jobs:meta', member)
  redis.call('HDEL', prefix .. 'jobs:meta', member)
  if meta then
    local m = cjson.decode(meta)
    redis.call('DECRBY', prefix .. 'jobs:bytes', m[1])
    redis.call('ZREM', m[2], m[4])
    redis.call('ZREM', m[3], m[4])
  end
  redis.call('DEL', jk)
end
"""

# KEYS: job, owner zset, active zset.  ARGV: prefix, index member, job id, tracked
# ('1'/''), active score, reservation token, max jobs, max bytes ('' none), request
# bytes, TTL ms, virtual now, retention s, progress mode, queued polls, running polls,
# then field/value pairs.  -> 1
_CREATE = _DROP + """
local prefix, member = ARGV[1], ARGV[2]
if redis.call('HEXISTS', prefix .. 'jobs:meta', member) == 1 then drop(prefix, member) end
local seq = redis.call('INCR', prefix .. 'jobs:seq')
redis.call('HSET', KEYS[1], unpack(ARGV, 16))
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('ZADD', prefix .. 'jobs', seq, member)
redis.call('ZADD', KEYS[2], seq, ARGV[3])
redis.call('HSET', prefix .. 'jobs:meta', member, cjson.encode({tonumber(ARGV[9]), KEYS[2], KEYS[3], ARGV[3]}))
if ARGV[4] == '1' then
  if ARGV[6] ~= '' then redis.call('ZREM', KEYS[3], ARGV[6]) end
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
end
local bytes = redis.call('INCRBY', prefix .. 'jobs:bytes', ARGV[9])
local maxj, maxb = tonumber(ARGV[7]), tonumber(ARGV[8])
local now = tonumber(ARGV[11])
if maxb and bytes > maxb then
  -- over the byte budget: finished jobs first, among the oldest 1024
  local q, r = tonumber(ARGV[14]), tonumber(ARGV[15])
  for _, old in ipairs(redis.call('ZRANGE', prefix .. 'jobs', 0, 1023)) do
    if bytes <= maxb then break end
    if old ~= member then
      local t = redis.call('HMGET', prefix .. 'job:' .. old, 'f', 'c', 'q', 'r', 'p')
      local done
      if t[1] then done = t[1] ~= 'queued' and t[1] ~= 'running'
      elseif not t[2] then done = true
      elseif ARGV[13] == 'time' then done = now >= tonumber(t[2]) + tonumber(t[3]) + tonumber(t[4])
      elseif ARGV[13] == 'polls' then done = tonumber(t[5] or '0') > q + r
      else done = false end
      if done then
        drop(prefix, old)
        bytes = tonumber(redis.call('GET', prefix .. 'jobs:bytes') or '0')
      end
    end
  end
end
local n = redis.call('ZCARD', prefix .. 'jobs')
while n > maxj or (maxb and bytes > maxb) do
  local oldest = redis.call('ZRANGE', prefix .. 'jobs', 0, 0)[1]
  if not oldest or oldest == member then break end
  drop(prefix, oldest)
  n = n - 1
  bytes = tonumber(redis.call('GET', prefix .. 'jobs:bytes') or '0')
end
-- a few of the oldest, expired on the virtual clock or by their TTL, go now
local keep = tonumber(ARGV[12])
for _ = 1, 8 do
  local oldest = redis.call('ZRANGE', prefix .. 'jobs', 0, 0)[1]
  if not oldest or oldest == member then break end
  local t = redis.call('HMGET', prefix .. 'job:' .. oldest, 'c', 'q', 'r', 'fa')
  if t[1] then
    local stop = t[4] and tonumber(t[4]) or (tonumber(t[1]) + tonumber(t[2]) + tonumber(t[3]))
    if now <= stop + keep then break end
  end
  drop(prefix, oldest)
end
return 1
"""

# KEYS: job, active zset.  ARGV: state, virtual now, job id.  -> 0 gone | 1
_FORCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'f', ARGV[1], 'fa', ARGV[2])
if ARGV[1] ~= 'queued' and ARGV[1] ~= 'running' then redis.call('ZREM', KEYS[2], ARGV[3])
else redis.call('ZADD', KEYS[2], 'XX', '+inf', ARGV[3]) end  -- a forced state never ends by time
return 1
"""

# KEYS: job.  ARGV: prefix, member.  -> 1 dropped | 0
_REMOVE = _DROP + """
if redis.call('HEXISTS', ARGV[1] .. 'jobs:meta', ARGV[2]) == 0 then return 0 end
drop(ARGV[1], ARGV[2])
return 1
"""

# KEYS: clock.  ARGV: anchor virtual, anchor wall, scale, frozen.  -> new version
_SET_CLOCK = """
redis.call('HSET', KEYS[1], 'av', ARGV[1], 'aw', ARGV[2], 's', ARGV[3], 'z', ARGV[4])
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""

# KEYS: upload hash.  ARGV: prefix, member, max bytes, max count, bytes, then
# field/value pairs.  -> 1
_UPLOAD = """
local prefix, member = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[1], '_b')
if old then redis.call('DECRBY', prefix .. 'uploads:bytes', old) end
redis.call('HSET', KEYS[1], '_b', ARGV[5], unpack(ARGV, 6))
redis.call('ZADD', prefix .. 'uploads', redis.call('INCR', prefix .. 'uploads:seq'), member)
local bytes = redis.call('INCRBY', prefix .. 'uploads:bytes', ARGV[5])
local n = redis.call('ZCARD', prefix .. 'uploads')
while (bytes > tonumber(ARGV[3]) or n > tonumber(ARGV[4])) and n > 1 do
  local oldest = redis.call('ZPOPMIN', prefix .. 'uploads')[1]
  local uk = prefix .. 'upload:' .. oldest
  bytes = redis.call('DECRBY', prefix .. 'uploads:bytes', redis.call('HGET', uk, '_b') or '0')
  redis.call('DEL', uk)
  n = n - 1
end
return 1
"""

# KEYS: one window per applicable rule.  ARGV: now, member, then per key its limit,
# window s.  -> '' counted | seconds to wait (nothing counted)
_RATE = """
local now, wait, full = tonumber(ARGV[1]), 0, false
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    full = true
    local first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, first + window - now)
  end
end
if full then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 + 2 * i]) * 1000) + 1000)
end
return ''
"""

# KEYS: replay key.  ARGV: token, lease ms.  -> {1} taken | {0, the stored value or false}
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {0, redis.call('GET', KEYS[1])}
"""

# KEYS: replay index.  ARGV: ttl ms, max entries, then per answer its replay key, the
# token that took it and the answer ('' drops the key: the first attempt failed).
# Only a key still holding its token changes.  -> answers kept
_REPLAY_KEEP = """
local kept = 0
for i = 3, #ARGV, 3 do
  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then
    if ARGV[i + 2] == '' then redis.call('DEL', ARGV[i])
    else
      redis.call('SET', ARGV[i], ARGV[i + 2], 'PX', ARGV[1])
      redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[1] .. ':seq'), ARGV[i])
      kept = kept + 1
    end
  end
end
while redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[2]) do
  redis.call('DEL', redis.call('ZPOPMIN', KEYS[1])[1])
end
return kept
"""

# KEYS: replay key.  ARGV: expected value.  -> 1 deleted | 0
_DEL_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_PENDING = b"\x00pending:"


_KEYS = tuple(f.encode() for f in _FIELDS)


def _num(value: float) -> str:
    return repr(float(value))


def _s(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class _Take:
    """A trace id a request is about to take: the first Redis round trip inside the
    handler carries it (``RedisEngine._claim``)."""

    __slots__ = ("rkey", "token", "owner", "claimed")

    def __init__(self, rkey: str, token: bytes, owner: asyncio.Task[Any] | None) -> None:
        self.rkey, self.token, self.owner, self.claimed = rkey, token, owner, False


class _Busy(Exception):
    """Another request holds the trace id (``stored``: its token or its answer)."""

    def __init__(self, stored: bytes | None) -> None:
        super().__init__()
        self.stored = stored


# The trace id the running request takes with its first round trip (RedisReplay.once).
_TAKING: contextvars.ContextVar[_Take | None] = contextvars.ContextVar("pixverse_mock_taking", default=None)


class RedisReplay:
    """Trace-id replay across processes: the first request of a key takes it with
    ``SET NX`` (holding a token while it runs), for a read (``reads_first``) in the
    same round trip as its first read (a job read: see ``_TAKE_FIRST``), and its answer
    (JSON) is kept for ``REPLAY_TTL_S`` in the background, batched with other
    requests' answers (``flush``; the records' pool, as the journal sends its
    entries).  A repeat anywhere waits up to ``REPLAY_WAIT_S`` wall seconds for the
    answer and replays it (a repeat on the same worker finds it here at once).  A
    first attempt that fails leaves nothing behind."""

    def __init__(self, engine: RedisEngine) -> None:
        self.engine = engine
        # Answers (b"": drop the key) not yet in Redis, by the token that took the key.
        self._outbox: dict[bytes, tuple[str, bytes]] = {}
        self._sending: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._warned = False

    def __len__(self) -> int:
        return len(self._outbox)  # answers on their way; the rest are in Redis (bounded there)

    def clear(self) -> None:
        """Nothing held here: ``RedisEngine.reset`` drops the keys (an answer still on
        its way finds its key gone and is dropped)."""

    def _key(self, key: Hashable) -> str:
        digest = hashlib.sha256(orjson.dumps(key, option=orjson.OPT_PASSTHROUGH_DATACLASS,
                                             default=repr)).hexdigest()[:32]
        return f"{self.engine.prefix}replay:{digest}"

    async def once(self, key: Hashable, make: Callable[[], Awaitable[T]],
                   reusable: Callable[[T], Awaitable[bool]] | None = None,
                   revive: Callable[[Any], T] | None = None, *, reads_first: bool = False) -> T:
        """As :meth:`~.idempotency.IdempotencyStore.once`; ``revive`` turns the
        stored JSON back into an answer (None: the JSON itself).  With ``reads_first``
        the key is taken in ``make``'s first round trip (a repeat runs ``make`` up to
        there, and no further); without, in a round trip of its own before ``make``."""
        engine = self.engine
        rkey = self._key(key)
        waited = 0.0
        pause = 0.005
        while True:
            take = _Take(rkey, _PENDING + os.urandom(8).hex().encode(), asyncio.current_task())
            mark = _TAKING.set(take)
            try:
                if not reads_first:
                    await engine._take_alone(take)
                reply = await make()
                if not take.claimed:  # the handler asked Redis nothing: take the key now
                    await engine._take_alone(take)
            except _Busy as busy:
                stored = busy.stored
            except BaseException:
                if take.claimed:
                    self._keep(rkey, take.token, b"")
                raise
            else:
                self._keep(rkey, take.token, b"" if reply is None else orjson.dumps(reply, default=_plain))
                return reply
            finally:
                _TAKING.reset(mark)
            if stored is None:
                continue
            local = stored.startswith(_PENDING)
            if local:
                stored = self._outbox.get(stored, (rkey, b""))[1]
                if not stored:  # the first request is still running, here or elsewhere
                    if waited >= REPLAY_WAIT_S:
                        raise StoreUnavailable("the first request with this trace id did not answer in time")
                    await asyncio.sleep(pause)
                    waited += pause
                    pause = min(pause * 2, 0.1)
                    continue
            earlier = orjson.loads(stored)
            replay = revive(earlier) if revive is not None else earlier
            if reusable is None or await reusable(replay):
                return replay
            if local:
                await self.flush()  # what Redis holds is the token until then
            await engine._run(engine._del_if(keys=[rkey], args=[stored]))

    def _keep(self, rkey: str, token: bytes, answer: bytes) -> None:
        self._outbox[token] = (rkey, answer)
        if len(self._outbox) > REPLAY_OUTBOX_MAX:
            # Redis away for long: these tokens' leases have ended; their repeats run anew.
            del self._outbox[next(iter(self._outbox))]
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._outbox:
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                if not self._warned:
                    log.warning("trace-id replay: cannot write to Redis at %s (%s); retried",
                                self.engine.where, exc)
                    self._warned = True
                await asyncio.sleep(REPLAY_RETRY_S)

    async def flush(self) -> None:
        """Send every answer kept so far to Redis, ``_BATCH`` per round trip.  Raises
        redis' errors (what was not sent stays)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        engine = self.engine
        async with self._lock:
            while self._outbox:
                batch = list(itertools.islice(self._outbox.items(), _BATCH))
                args: list[Any] = [int(REPLAY_TTL_S * 1000), REPLAY_MAX]
                for token, (rkey, answer) in batch:
                    args += [rkey, token, answer]
                await engine._replay_keep(keys=[f"{engine.prefix}replays"], args=args)
                for token, _ in batch:
                    self._outbox.pop(token, None)
            self._warned = False

    async def close(self) -> None:
        """Send what is left (the app's shutdown), while Redis is open."""
        if self._sending is not None and not self._sending.done():
            # Mid-send or waiting to retry: what it sent is not sent twice (a kept key
            # no longer holds its token), what it did not is sent below.
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)
        try:
            await self.flush()
        except (RedisError, OSError) as exc:
            log.warning("trace-id replay: %d answers not kept: Redis at %s: %s",
                        len(self._outbox), self.engine.where, exc)


def _plain(value: Any) -> Any:
    """JSON for a slotted dataclass answer (``Reply``) and its fields."""
    slots = getattr(type(value), "__slots__", None)
    if slots is not None and hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    raise TypeError(f"cannot keep {type(value).__name__} in Redis")


#: The peers' topic that has every worker publish its request counters.
METRICS = "metrics"


class RedisEngine(Engine):
    """:class:`~.core.Engine` whose jobs, ids, clock, uploads, credits, concurrency
    caps, rate limits and trace-id replays live in Redis at ``settings.redis_url``
    under ``settings.redis_prefix`` (module docstring).  :meth:`start` connects (the
    app calls it at start-up) and raises :class:`StoreUnavailable` when Redis does not
    answer; :meth:`close` disconnects."""

    def __init__(self, settings: Settings, providers: Iterable[str] | None = None,
                 webhook_providers: Iterable[str] | None = None) -> None:
        super().__init__(settings, providers, webhook_providers)
        assert settings.redis_url is not None
        self.prefix = settings.redis_prefix
        # Any: redis-py types every answer as a union of all it can be.
        # At most REDIS_CONNECTIONS at once: a burst of requests queues for a connection
        # (up to the socket timeout) instead of opening one connection per request.
        # Round trips this process made, per pool (exported by /__admin/metrics).
        self.round_trips: dict[str, list[int]] = {"requests": [0], "records": [0]}
        pool = counting_pool(settings.redis_url, self.round_trips["requests"], max_connections=REDIS_CONNECTIONS,
                             timeout=10, decode_responses=False, socket_connect_timeout=5, socket_timeout=10)
        self.redis: Any = aioredis.Redis(connection_pool=pool)
        self.where = redact_url(settings.redis_url)
        r = self.redis
        self._get = r.register_script(_GET)
        self._get_taking = r.register_script(_TAKE_FIRST + _GET)
        self._observe = r.register_script(_OBSERVE)
        self._admit = r.register_script(_ADMIT)
        self._create = r.register_script(_CREATE)
        self._force = r.register_script(_FORCE)
        self._remove = r.register_script(_REMOVE)
        self._set_clock = r.register_script(_SET_CLOCK)
        self._upload = r.register_script(_UPLOAD)
        self._rate = r.register_script(_RATE)
        self._take = r.register_script(_TAKE)
        self._del_if = r.register_script(_DEL_IF)
        self._replays = RedisReplay(self)
        self.idempotency = self.state.idempotency = self._replays
        # The journal, fault rules and webhooks (engine/redis_records.py).
        self.records = share_records(self, connect_records(settings.redis_url, self.round_trips["records"]),
                                     self.prefix, providers, webhook_providers)
        # Replay answers are kept in the background, batched, as journal entries are.
        self._replay_keep = self.records.redis.register_script(_REPLAY_KEEP)
        # Each worker's request counters, published when any worker is scraped; kept
        # under peers* (a reset leaves it: Prometheus counters only grow), one field per
        # process that ever ran, for a day after its last publication.
        self._stats_key = f"{self.prefix}peers:metrics"
        self._stats_field = f"{socket.gethostname()}:{os.getpid()}"
        self.records.peers.on(METRICS, self._publish_stats)
        # A VirtualClock on wall time, so anchors mean the same on every host.
        self._clock = cast(VirtualClock, self.clock)
        self._clock.rebase(time.time)
        self._clock_key = f"{self.prefix}clock"
        self._clock_version = 0
        self._refund_states = cast(Ledger, self.ledger).refunds
        self._refunds = {p: "," + ",".join(sorted(s)) + "," for p, s in self._refund_states.items()}
        self._caps = dict(settings.accounts.concurrency)
        # Slots ``admit`` reserved for jobs not yet created, per (provider, key).
        self._reserved: dict[tuple[str, str], deque[str]] = {}
        self._rate_limiter = cast(RateLimiter, self.rate_limits)
        self._seq = 0
        self._rate_virtual = settings.accounts.rate_limit_clock == "virtual"
        self._tag = os.urandom(6).hex()
        self._background: set[asyncio.Task[None]] = set()
        self.epoch = 0

    # connection ------------------------------------------------------------------------
    async def _run(self, awaitable: Awaitable[T]) -> T:
        if _TAKING.get() is not None:
            take = self._claim()
            if take is not None:  # a first round trip that cannot carry the take: one before it
                try:
                    await self._take_alone(take)
                except BaseException:
                    if inspect.iscoroutine(awaitable):
                        awaitable.close()  # never sent
                    raise
        try:
            return await awaitable
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis at {self.where} did not answer ({type(exc).__name__})") from None

    def _claim(self) -> _Take | None:
        """The trace id the running request has yet to take (RedisReplay.once), now
        its to take; None when there is none (the common case: one ContextVar read)."""
        take = _TAKING.get()
        if take is None or take.claimed or take.owner is not asyncio.current_task():
            return None
        take.claimed = True
        return take

    async def _take_alone(self, take: _Take) -> None:
        """Take ``take``'s trace id in a round trip of its own; raises _Busy when
        another request has it."""
        take.claimed = True
        try:
            answer = await self._take(keys=[take.rkey], args=[take.token, int(REPLAY_WAIT_S * 1000)])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis at {self.where} did not answer ({type(exc).__name__})") from None
        if answer[0] != 1:
            raise _Busy(answer[1])

    async def start(self) -> None:
        """Connect, take this process's epoch (its place in the id sequence), and
        adopt the shared clock or publish this one.  Raises StoreUnavailable."""
        try:
            await self.redis.ping()
            self.epoch = int(await self.redis.incr(f"{self.prefix}epoch"))
            shared = await self.redis.hgetall(self._clock_key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis at {self.where} did not answer ({exc})") from None
        seed = self.settings.seed
        if self.epoch > 1:
            # Another process (or an earlier run) drew from this Redis already.
            self.rng.seed(f"{seed}:{self.epoch}" if seed is not None else None)
        if shared:
            self._adopt(shared)
        else:
            await self._publish_clock()
        try:
            await self.records.start()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis at {self.where} did not answer ({exc})") from None

    async def close(self) -> None:
        # The webhook scheduler first (what is due is attempted, the rest stays in
        # Redis), then what the journal, fault counts and replays buffer, while Redis is open.
        await self.webhooks.close()
        await self._replays.close()
        await self.records.close()
        await self.redis.aclose(close_connection_pool=True)

    async def sync_records(self) -> None:
        await self.records.sync()

    async def _publish_stats(self, _: str = "") -> None:
        data = orjson.dumps({"requests": self.request_stats.snapshot(),
                             "round_trips": {pool: n[0] for pool, n in self.round_trips.items()}})
        redis = self.records.redis
        async with redis.pipeline(transaction=False) as pipe:
            await pipe.hset(self._stats_key, self._stats_field, data).expire(self._stats_key, 86400).execute()

    async def worker_stats(self) -> tuple[RequestStats, dict[str, int], int]:
        """Every worker's counters (they publish them when asked; a worker that stopped
        still counts with what it published last)."""
        async with unavailable_as_503():
            answered = await self.records.peers.ask(METRICS)
            published = await self.records.redis.hgetall(self._stats_key)
        snapshots = [orjson.loads(v) for v in published.values()]
        trips: dict[str, int] = {}
        for snapshot in snapshots:
            for pool, n in snapshot["round_trips"].items():
                trips[pool] = trips.get(pool, 0) + n
        return RequestStats.merged(s["requests"] for s in snapshots), trips, answered

    # clock -----------------------------------------------------------------------------
    def _adopt(self, shared: dict[bytes, bytes]) -> None:
        version = int(shared.get(b"v", 0))
        if version == self._clock_version:
            return
        self._clock_version = version
        self._clock.adopt(float(shared[b"av"]), float(shared[b"aw"]), float(shared[b"s"]), shared[b"z"] == b"1")

    async def _publish_clock(self) -> None:
        virtual, real, scale, frozen = self._clock.anchors()
        self._clock_version = int(await self._run(self._set_clock(
            keys=[self._clock_key], args=[_num(virtual), _num(real), _num(scale), "1" if frozen else "0"])))

    async def sync_clock(self) -> None:
        self._adopt(await self._run(self.redis.hgetall(self._clock_key)))

    async def change_clock(self, scale: float | None = None, freeze: bool | None = None,
                           advance: float | None = None) -> None:
        await self.sync_clock()
        try:
            await super().change_clock(scale, freeze, advance)
        finally:
            await self._publish_clock()

    # jobs ------------------------------------------------------------------------------
    def _job_key(self, provider: str, job_id: str) -> str:
        return f"{self.prefix}job:{provider}\0{job_id}"

    def _active_key(self, provider: str, api_key: str) -> str:
        return f"{self.prefix}active:{provider}\0{api_key}"

    def _job_from(self, provider: str, raw: list[bytes]) -> Job:
        return self._job_of(provider, dict(zip(raw[::2], raw[1::2])))

    def _job_of(self, provider: str, h: dict[bytes, bytes]) -> Job:
        forced_at = h.get(b"fa")
        test_id = h.get(b"t")
        job = Job(id=h[b"i"].decode(), provider=provider, kind=h[b"k"].decode(), api_key=h[b"a"].decode(),
                  created_at=float(h[b"c"]), plan=Plan(float(h[b"q"]), float(h[b"r"]), h[b"o"].decode()),
                  width=int(h[b"w"]), height=int(h[b"h"]), duration=int(h[b"d"]), outputs=int(h[b"n"]),
                  request=h.get(b"b") or None, test_id=None if test_id is None else test_id.decode(),
                  polls=int(h.get(b"p", 0)), cost=int(h.get(b"$", 0)),
                  forced=_s(h.get(b"f")), forced_at=None if forced_at is None else float(forced_at))
        return job

    def _expired(self, job: Job, now: float) -> bool:
        end = job.forced_at if job.forced_at is not None else job.created_at + job.queue_s + job.run_s
        return now > end + self.settings.retention_seconds

    async def get_job(self, provider: str, job_id: str) -> Job | None:
        keys = [self._job_key(provider, job_id), self._clock_key]
        take = self._claim() if _TAKING.get() is not None else None
        if take is None:
            answer = await self._run(self._get(keys=keys, args=[self._clock_version, *_FIELDS]))
        else:
            answer = await self._run(self._get_taking(
                keys=[*keys, take.rkey], args=[self._clock_version, *_FIELDS, take.token, int(REPLAY_WAIT_S * 1000)]))
            if answer[0] == b"busy":
                raise _Busy(answer[1])
        if len(answer) > 2:
            shared = answer[2]
            self._adopt(dict(zip(shared[::2], shared[1::2])))
        values = answer[0]
        if values[0] is None:
            return None
        job = self._job_of(provider, {k: v for k, v in zip(_KEYS, values) if v is not None})
        return None if self._expired(job, self.clock.now()) else job

    async def observe(self, job: Job) -> str:
        s = self.settings
        by_time = "" if s.progress_mode == "polls" else \
            job.status(self.clock.now(), s.progress_mode, s.queued_polls, s.running_polls)
        answer = await self._run(self._observe(
            keys=[self._job_key(job.provider, job.id), f"{self.prefix}spent:{job.provider}",
                  self._active_key(job.provider, job.api_key)],
            args=[by_time, s.progress_mode, s.queued_polls, s.running_polls,
                  self._refunds.get(job.provider, ""), job.api_key, job.id]))
        if answer is None:  # dropped meanwhile: this read still sees it
            job.polls += 1
            state = job.status(self.clock.now(), s.progress_mode, s.queued_polls, s.running_polls)
        else:
            polls, state_b, forced, forced_at = answer
            job.polls = int(polls)
            state = state_b.decode()
            if forced:
                job.forced, job.forced_at = forced.decode(), float(forced_at)
        self.webhooks.notice(job)
        return state

    async def create_job(self, spec: JobSpec) -> Job:
        job = self._new_job(spec)
        s = self.settings
        provider = job.provider
        tracked = provider in self._caps
        token = ""
        if tracked:
            reserved = self._reserved.get((provider, job.api_key))
            if reserved:
                token = reserved.popleft()
        if s.progress_mode == "time" and job.forced is None:
            score = _num(job.finishes_at)
        elif job.forced in TERMINAL:
            tracked = False
            score = "+inf"
        else:
            score = "+inf"
        request = job._request
        if request is not None and request.__class__ is not bytes:
            try:
                request = orjson.dumps(request)
            except TypeError:
                request = None
        fields: list[Any] = [
            "i", job.id, "k", job.kind, "a", job.api_key, "c", _num(job.created_at), "q", _num(job.queue_s),
            "r", _num(job.run_s), "o", job.outcome, "w", job.width, "h", job.height, "d", job.duration,
            "n", job.outputs, "p", 0, "$", job.cost]
        if request:
            fields += ["b", request]
        if job.test_id is not None:
            fields += ["t", job.test_id]
        if job.forced is not None:
            fields += ["f", job.forced, "fa", _num(job.forced_at or job.created_at)]
        scale = max(1.0, 1.0 / self.clock.scale)
        ttl_ms = int((job.queue_s + job.run_s + s.retention_seconds) * scale * 1000) + 60_000
        max_bytes = s.retention_max_request_bytes
        await self._run(self._create(
            keys=[self._job_key(provider, job.id), f"{self.prefix}owner:{provider}\0{job.api_key}\0{job.kind}",
                  self._active_key(provider, job.api_key)],
            args=[self.prefix, f"{provider}\0{job.id}", job.id, "1" if tracked else "", score, token,
                  s.retention_max_jobs, "" if max_bytes is None else max_bytes, len(request or b""), ttl_ms,
                  _num(self.clock.now()), _num(s.retention_seconds), s.progress_mode, s.queued_polls,
                  s.running_polls, *fields]))
        if token and not tracked:  # a slot reserved for a job that ends at once
            await self._run(self.redis.zrem(self._active_key(provider, job.api_key), token))
        return job

    async def admit(self, provider: str, api_key: str, cost: int, *, job: bool = True) -> Refusal | None:
        cap = self._caps.get(provider) if job else None
        now = self.clock.now()
        token = f"~{self._tag}:{self._seq}" if cap is not None else ""
        self._seq += 1
        answer = await self._run(self._admit(
            keys=[self._active_key(provider, api_key), f"{self.prefix}spent:{provider}"],
            args=["" if cap is None else cap, _num(now), cost, self.ledger.starting(provider), api_key,
                  token, _num(now + RESERVE_S * self.clock.scale)]))
        verdict = answer[0]
        if verdict == b"ok":
            if cap is not None:
                self._reserved.setdefault((provider, api_key), deque()).append(token)
            return None
        if verdict == b"credits":
            return Refusal(CREDITS)
        earliest = answer[1]
        wait = self.clock.wall_delay(float(earliest) - now) if earliest else math.inf
        return Refusal(CONCURRENCY, whole_seconds(wait) if math.isfinite(wait) else None, cap)

    async def balance(self, provider: str, api_key: str) -> int:
        spent = await self._run(self.redis.hget(f"{self.prefix}spent:{provider}", api_key))
        return self.ledger.starting(provider) - int(spent or 0)

    async def was_refunded(self, provider: str, job_id: str) -> bool:
        return bool(await self._run(self.redis.hexists(self._job_key(provider, job_id), "refunded")))

    def _settle(self, job: Job, state: str) -> None:
        # A webhook saw the end state: refund once, as a poll would (no answer awaited).
        if state in TERMINAL and job.cost > 0 and state in self._refund_states.get(job.provider, ()):
            task = asyncio.get_running_loop().create_task(self._settle_now(job, state))
            self._background.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._background.discard)

    async def _settle_now(self, job: Job, state: str) -> None:
        try:
            if await self.redis.hsetnx(self._job_key(job.provider, job.id), "refunded", job.cost):
                await self.redis.hincrby(f"{self.prefix}spent:{job.provider}", job.api_key, -job.cost)
        except (RedisError, OSError) as exc:
            log.warning("refund of job %s not recorded: Redis at %s: %s", job.id, self.where, exc)

    def _alive(self, job: Job) -> bool:
        return True  # the webhook scheduler keeps its own jobs; Redis drops them by TTL

    async def force(self, job: Job, status: str) -> None:
        if status not in STATES:
            raise ValueError(f"status must be one of {', '.join(STATES)}")
        now = self.now()
        await self._run(self._force(keys=[self._job_key(job.provider, job.id),
                                          self._active_key(job.provider, job.api_key)],
                                    args=[status, _num(now), job.id]))
        job.forced, job.forced_at = status, now
        self.webhooks.notice(job)

    async def count_jobs(self) -> int:
        return int(await self._run(self.redis.zcard(f"{self.prefix}jobs")))

    async def _jobs(self, members: list[bytes]) -> list[Job]:
        now = self.now()
        out: list[Job] = []
        for start in range(0, len(members), _BATCH):
            batch = members[start:start + _BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for member in batch:
                pipe.hgetall(self.prefix.encode() + b"job:" + member)
            for member, h in zip(batch, await self._run(pipe.execute())):
                if not h:
                    continue
                raw = [x for kv in h.items() for x in kv]
                job = self._job_from(member.split(b"\0", 1)[0].decode(), raw)
                if not self._expired(job, now):
                    out.append(job)
        return out

    async def list_jobs(self, provider: str, api_key: str, kind: str) -> list[Job]:
        ids = await self._run(self.redis.zrange(f"{self.prefix}owner:{provider}\0{api_key}\0{kind}", 0, -1))
        return await self._jobs([provider.encode() + b"\0" + i for i in ids])

    async def find_jobs(self, provider: str | None = None, status: str | None = None,
                        test_id: str | None = None, api_key: str | None = None,
                        kind: str | None = None) -> list[Job]:
        await self.sync_clock()
        members = await self._run(self.redis.zrange(f"{self.prefix}jobs", 0, -1))
        if provider is not None:
            head = provider.encode() + b"\0"
            members = [m for m in members if m.startswith(head)]
        return [job for job in await self._jobs(members)
                if (test_id is None or job.test_id == test_id)
                and (api_key is None or job.api_key == api_key)
                and (kind is None or job.kind == kind)
                and (status is None or self.status(job) == status)]

    async def reset(self, test_id: str | None = None) -> dict[str, int]:
        await self.sync_records()  # the records reset themselves: clear what every worker sent
        faults = self.faults.clear(test_id)
        if test_id is None:
            dropped = {"jobs": await self.count_jobs(), "journal": self.journal.clear(), "faults": faults}
            keep = {f"{self.prefix}{k}".encode() for k in ("clock", "epoch", "jobs:seq", "uploads:seq")}
            records = tuple(f"{self.prefix}{k}".encode() for k in _RECORDS)
            doomed = [k async for k in self.redis.scan_iter(match=f"{_glob(self.prefix)}*", count=1000)
                      if k not in keep and not k.startswith(records)]
            for start in range(0, len(doomed), _BATCH):
                await self._run(self.redis.unlink(*doomed[start:start + _BATCH]))
            self._reserved.clear()
            self.idempotency.clear()
            self.webhooks.reset()
            await self.sync_records()
            return dropped
        self.webhooks.reset(test_id)
        doomed_jobs = [job for job in await self.find_jobs(test_id=test_id)]
        for job in doomed_jobs:
            await self._run(self._remove(keys=[self._job_key(job.provider, job.id)],
                                         args=[self.prefix, f"{job.provider}\0{job.id}"]))
        journal = self.journal.clear(test_id)
        await self.sync_records()
        return {"jobs": len(doomed_jobs), "journal": journal, "faults": faults}

    # uploads ---------------------------------------------------------------------------
    async def add_upload(self, upload: Upload) -> None:
        s = self.settings
        member = f"{upload.provider}\0{upload.id}"
        await self._run(self._upload(
            keys=[f"{self.prefix}upload:{member}"],
            args=[self.prefix, member, s.retention_max_upload_bytes, s.retention_max_jobs, len(upload.data),
                  "a", upload.api_key, "k", upload.kind, "ct", upload.content_type, "data", upload.data,
                  "w", upload.width, "h", upload.height, "d", _num(upload.duration)]))

    def _upload_from(self, provider: str, upload_id: str, h: dict[bytes, bytes]) -> Upload:
        return Upload(id=upload_id, provider=provider, api_key=h[b"a"].decode(), kind=h[b"k"].decode(),
                      content_type=h[b"ct"].decode(), data=h[b"data"], width=int(h[b"w"]), height=int(h[b"h"]),
                      duration=float(h[b"d"]))

    async def get_upload(self, provider: str, upload_id: str) -> Upload | None:
        h = await self._run(self.redis.hgetall(f"{self.prefix}upload:{provider}\0{upload_id}"))
        return self._upload_from(provider, upload_id, h) if h else None

    async def newest_uploads(self, count: int) -> list[Upload]:
        members = await self._run(self.redis.zrevrange(f"{self.prefix}uploads", 0, max(count, 1) - 1))
        pipe = self.redis.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(self.prefix.encode() + b"upload:" + member)
        out = []
        for member, h in zip(members, await self._run(pipe.execute())):
            if h:
                provider, _, upload_id = member.decode().partition("\0")
                out.append(self._upload_from(provider, upload_id, h))
        return out[:count]

    # rate limits -----------------------------------------------------------------------
    async def hit_rate(self, provider: str, address: str | None, api_key: str | None) -> Refusal | None:
        keys: list[str] = []
        args: list[Any] = []
        for n, rule, scope in self._rate_limiter.windows(provider, address, api_key):
            keys.append(f"{self.prefix}rate:{n}:{rule.per}:{scope}")
            args += [rule.limit, _num(rule.window_s)]
        if not keys:
            return None
        now = self.clock.now() if self._rate_virtual else time.time()
        self._seq += 1
        wait = await self._run(self._rate(keys=keys, args=[_num(now), f"{_num(now)}:{self._tag}:{self._seq}",
                                                            *args]))
        if not wait:
            return None
        per_unit = 1 / self.clock.scale if self._rate_virtual else 1.0
        return Refusal(RATE, whole_seconds(float(wait) * per_unit))


def _glob(text: str) -> str:
    """``text`` with SCAN's glob characters escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


__all__ = ["RedisEngine", "StoreUnavailable"]
