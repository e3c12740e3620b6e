"""The request journal in a Redis stream, shared by every worker pointed at one Redis.

A request's entry costs no Redis round trip on its way out: :meth:`RedisJournal.record`
puts it in a local outbox (the memory :class:`~.journal.Journal`, so clipping and bounds
are the same code), and a background flush sends the outbox a few milliseconds later
(``FLUSH_DELAY_S``) in one Lua call, which numbers the entries from one shared counter
(the stream ids are ``<seq>-0``, so ``seq`` orders entries across workers) and keeps
the stream within ``journal_max_entries`` and ``journal_max_bytes`` exactly as the
memory journal does (the oldest go first, counted in ``evicted``).  The trim is done in
the script rather than with ``XADD MAXLEN ~``: an approximate trim could not say how
many entries went, nor keep the byte bound.

Readers (the admin plane, the dashboard, the pytest plugin through any worker) first
``await sync()``, which flushes this worker's outbox (so a request that has just been
answered is seen) and pulls what the stream gained since the last read into a local
mirror; the read methods of :class:`~.journal.Journal` then answer from the mirror.
A clear (all, or one test id) is queued in order with the entries and applied by
``sync``; every clear bumps a generation number, upon which mirrors reload.

Nothing already accepted is lost: a failed flush puts its entries back (the outbox
keeps its bounds) and is tried again; :meth:`close` flushes.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson

from .journal import _TEST, HEADERS_KEPT, Journal, Stored, _stored_bytes, from_row, to_row
from .redis_peers import FLUSH, Peers, unavailable_as_503

log = logging.getLogger("mockserver.journal")

#: Wall seconds an entry waits in the outbox before it is sent (with those after it).
FLUSH_DELAY_S = 0.002
#: An outbox this full is sent at once.
FLUSH_BATCH = 500
#: Wall seconds before a failed flush is tried again.
RETRY_S = 0.5
#: Entries read per XRANGE when a mirror reloads.
READ_BATCH = 2000

# KEYS: stream, seq, bytes, evicted.  ARGV: max_entries, max_bytes, entries the
# outbox evicted before they were sent (over its bounds while Redis was away), then per entry
# its packed row, its stored body bytes, its test id ("" none, else "=" .. id) and
# its kept headers ("" none).
_APPEND = """
local max_entries, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
local len = redis.call('XLEN', KEYS[1])
local evicted = tonumber(ARGV[3])
-- Entries the worker's own buffer already pushed out (the batch's oldest) take their
-- numbers too, so entries are numbered as the in-memory journal numbers them.
if evicted > 0 then redis.call('INCRBY', KEYS[2], evicted) end
for i = 4, #ARGV, 4 do
  local seq = redis.call('INCR', KEYS[2])
  local fields = {'p', ARGV[i], 'n', ARGV[i + 1]}
  if ARGV[i + 2] ~= '' then
    fields[#fields + 1] = 't'; fields[#fields + 1] = string.sub(ARGV[i + 2], 2)
  end
  if ARGV[i + 3] ~= '' then
    fields[#fields + 1] = 'h'; fields[#fields + 1] = ARGV[i + 3]
  end
  redis.call('XADD', KEYS[1], seq .. '-0', unpack(fields))
  bytes = bytes + tonumber(ARGV[i + 1])
  len = len + 1
  while len > 1 and (len > max_entries or bytes > max_bytes) do
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
    local f = first[2]
    for j = 1, #f, 2 do
      if f[j] == 'n' then bytes = bytes - tonumber(f[j + 1]) end
    end
    redis.call('XDEL', KEYS[1], first[1])
    len = len - 1
    evicted = evicted + 1
  end
end
redis.call('SET', KEYS[3], bytes)
if evicted > 0 then redis.call('INCRBY', KEYS[4], evicted) end
return len
"""

# KEYS: stream, bytes, evicted, generation.  ARGV: "" (everything) or "=" .. test id.
_CLEAR = """
redis.call('INCR', KEYS[4])
if ARGV[1] == '' then
  local n = redis.call('XLEN', KEYS[1])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return n
end
local test_id = string.sub(ARGV[1], 2)
local dropped, freed, from = 0, 0, '-'
while true do
  local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1000)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local f, t, n = e[2], nil, 0
    for j = 1, #f, 2 do
      if f[j] == 't' then t = f[j + 1] elseif f[j] == 'n' then n = tonumber(f[j + 1]) end
    end
    if t == test_id then
      redis.call('XDEL', KEYS[1], e[1])
      dropped = dropped + 1
      freed = freed + n
    end
  end
  from = '(' .. batch[#batch][1]
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
return dropped
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJournal(Journal):
    """The journal of several workers, in the Redis stream ``<prefix>journal``.

    ``redis`` is a ``redis.asyncio.Redis`` client (either ``decode_responses``);
    ``prefix`` the key prefix (setting ``redis_prefix``).  Bounds and reads are the
    memory :class:`~.journal.Journal`'s; reads see the stream as of the last
    :meth:`sync`.  ``watchers`` (an open dashboard) is this worker's: headers are kept
    for the requests this worker answers while its dashboard is open.
    """

    def __init__(self, redis: Any, prefix: str, max_entries: int, body_limit: int, max_bytes: int,
                 peers: Peers | None = None) -> None:
        super().__init__(max_entries, body_limit, max_bytes)
        self.redis = redis
        # Every worker's outbox is sent before a read (None: only this one's).
        self.peers = peers
        if peers is not None:
            peers.on(FLUSH, lambda _: self.flush())
        self._keys = [f"{prefix}journal{suffix}" for suffix in ("", ":seq", ":bytes", ":evicted", ":generation")]
        self._append = redis.register_script(_APPEND)
        self._clear = redis.register_script(_CLEAR)
        self._outbox = Journal(max_entries, body_limit, max_bytes)
        # Entries and clears not yet in Redis, in the order they happened: ("entries",
        # (stored, headers)) and ("clear", test id or None).
        self._queued: deque[tuple[str, Any]] = deque()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._generation: int | None = None
        self._warned = False

    # writing (the request path) ------------------------------------------------------------
    def record(self, *args: Any, **kwargs: Any) -> int:
        """As :meth:`Journal.record`; the entry reaches Redis within ``FLUSH_DELAY_S``.
        The number returned names the entry for :meth:`keep_headers` only."""
        outbox = self._outbox
        seq = outbox.record(*args, **kwargs)
        if self._flush_timer is None and outbox._entries:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a test driving the store by hand): sent by sync()
                return seq
            delay = 0.0 if len(outbox._entries) >= FLUSH_BATCH else FLUSH_DELAY_S
            self._flush_timer = loop.call_later(delay, self._start_flush)
        return seq

    def keep_headers(self, seq: int, api_key: str | None, request_headers: Any,
                     response_headers: Any | None) -> None:
        self._outbox.keep_headers(seq, api_key, request_headers, response_headers)

    def _start_flush(self) -> None:
        self._flush_timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # Redis away: kept, tried again
            if not self._warned:
                log.warning("journal: cannot write to Redis (%s); entries kept and retried", exc)
                self._warned = True
            loop = asyncio.get_running_loop()
            if self._flush_timer is None:
                self._flush_timer = loop.call_later(RETRY_S, self._start_flush)

    def _take_outbox(self) -> None:
        outbox = self._outbox
        if outbox._entries:
            self._queued.append(("entries", (list(outbox._entries), dict(outbox._headers), outbox.evicted)))
            outbox._entries.clear()
            outbox._headers.clear()
            outbox.bytes = outbox.evicted = 0
            # Redis away for long: the oldest queued entries go first (counted), as
            # they would from the stream.
            excess = sum(len(item[0]) for kind, item in self._queued if kind == "entries") - self.max_entries
            for n, (kind, item) in enumerate(self._queued):
                if excess <= 0:
                    break
                if kind == "entries" and item[0]:
                    cut = min(excess, len(item[0]))
                    self._queued[n] = (kind, (item[0][cut:], item[1], item[2] + cut))
                    excess -= cut

    async def flush(self) -> None:
        """Send every entry and clear recorded so far to Redis, in order.  Raises
        redis' errors (what was not sent stays queued)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._take_outbox()
            while self._queued:
                kind, item = self._queued[0]
                if kind == "entries":
                    await self._send(*item)
                else:
                    await self._clear(keys=[self._keys[0], self._keys[2], self._keys[3], self._keys[4]],
                                      args=["" if item is None else "=" + item])
                self._queued.popleft()
            self._warned = False

    async def _send(self, entries: list[Stored], headers: dict[int, Any], evicted: int) -> None:
        args: list[Any] = [self.max_entries, self.max_bytes, evicted]
        for e in entries:
            kept = headers.get(e[0])
            args += [orjson.dumps(to_row(e)), _stored_bytes(e), "" if e[_TEST] is None else "=" + e[_TEST],
                     b"" if kept is None else orjson.dumps(kept)]
        await self._append(keys=self._keys[:4], args=args)

    # reading ---------------------------------------------------------------------------------
    async def sync(self) -> None:
        """Have every worker send its entries (this one's at least), then bring the
        mirror up to the stream.  Raises StoreUnavailable when Redis does not answer."""
        async with unavailable_as_503():
            await self.flush()
            if self.peers is not None:
                await self.peers.ask(FLUSH)
            await self.pull()

    async def pull(self) -> None:
        """Bring the mirror up to the stream (what the workers have sent)."""
        stream, _, bytes_key, evicted_key, generation_key = self._keys
        last = self._entries[-1][0] if self._entries else 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(generation_key).get(evicted_key).get(bytes_key)
            pipe.xrange(stream, f"({last}-0", "+").xrange(stream, "-", "+", count=1)
            generation, evicted, size, newer, first = await pipe.execute()
        generation = int(generation or 0)
        if generation != self._generation:
            self._generation = generation
            self._entries.clear()
            self._headers.clear()
            newer = await self._read_all()
        self._take(newer)
        entries = self._entries
        oldest = int(_text(first[0][0]).split("-")[0]) if first else None
        while entries and (oldest is None or entries[0][0] < oldest):
            self._headers.pop(entries.popleft()[0], None)
        self.evicted, self.bytes = int(evicted or 0), int(size or 0)

    async def _read_all(self) -> list[Any]:
        out: list[Any] = []
        start = "-"
        while True:
            batch = await self.redis.xrange(self._keys[0], start, "+", count=READ_BATCH)
            out += batch
            if len(batch) < READ_BATCH:
                return out
            start = f"({_text(batch[-1][0])}"

    def _take(self, raw: list[Any]) -> None:
        entries, kept = self._entries, self._headers
        for stream_id, fields in raw:
            fields = {_text(k): v for k, v in fields.items()}
            seq = int(_text(stream_id).split("-")[0])
            row = orjson.loads(fields["p"])
            row[0] = seq
            entries.append(from_row(row))
            if "h" in fields:
                request, response = orjson.loads(fields["h"])
                kept[seq] = (tuple(map(tuple, request)), tuple(map(tuple, response)))
                while len(kept) > HEADERS_KEPT:
                    del kept[next(iter(kept))]

    def clear(self, test_id: str | None = None) -> int:
        """Drop every entry (or one test id's) from the mirror at once and from the
        stream at the next :meth:`sync` (entries recorded before this call go too,
        later ones stay).  Returns how many the mirror held."""
        self._take_outbox()
        self._queued.append(("clear", test_id))
        return super().clear(test_id)

    async def close(self) -> None:
        """Send what is left (shutdown); a Redis that cannot take it is logged."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        try:
            await self.flush()
        except Exception as exc:
            lost = sum(len(item[0]) for kind, item in self._queued if kind == "entries")
            log.warning("journal: %d entries not written to Redis at shutdown (%s)", lost, exc)
