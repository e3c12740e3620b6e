"""Fault rules shared by every worker pointed at one Redis.

The rules live in the hash ``<prefix>faults:rules`` (id -> order and JSON), their
budgets (``seen``/``fired`` per rule) in ``<prefix>faults:state``, the injection counts
in ``<prefix>faults:counts`` and the injection log in the list ``<prefix>faults:log``.

Each worker keeps the rules in its :class:`~.ruleset.FaultSet` as a cache, so a
request meets them without Redis and a request no rule can touch costs nothing new.
A change (admin add, remove, clear, reset) is applied locally, queued, and sent by
:meth:`RedisFaultSet.sync` in one Lua call that also bumps the rules' version; ``sync``
then has every worker reload (``Peers.ask``: each acknowledges once it has), so the
next request after the admin call returns meets the new rules in any worker.

Budgets are global: a request that meets rules asks one Lua call which, per rule,
counts ``seen``, checks ``nth`` and ``times`` and counts ``fired`` atomically, so a
``times: 1`` rule fires exactly once across workers and ``nth`` counts every worker's
requests.  (``probability`` is drawn by the worker; the rng is the worker's.)  Directive
budgets (headers, prompt markers, test keys) stay per worker.  Counts and the log are
sent in the background, like journal entries, and before every read.
"""
from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from typing import Any, Iterable, Mapping

import orjson

from ..redis_peers import FLUSH, Peers, unavailable_as_503
from .rules import FaultRule
from .ruleset import Decision, FaultContext, FaultSet, _State

log = logging.getLogger("mockserver.faults")

#: Wall seconds injection counts wait before they are sent.
FLUSH_DELAY_S = 0.002
#: The topic that has every worker reload the rules.
RELOAD = "faults"
#: Rule ids taken from the shared counter at a time.
ID_BLOCK = 16

# KEYS: rules, state, version, order.  ARGV: operations, "put" id json | "del" id | "all".
_APPLY = """
local i = 1
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'put' then
    local order = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[1], ARGV[i + 1], order .. ' ' .. ARGV[i + 2])
    redis.call('HDEL', KEYS[2], 's:' .. ARGV[i + 1], 'f:' .. ARGV[i + 1])
    i = i + 3
  elseif op == 'del' then
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    redis.call('HDEL', KEYS[2], 's:' .. ARGV[i + 1], 'f:' .. ARGV[i + 1])
    i = i + 2
  else
    redis.call('DEL', KEYS[1], KEYS[2])
    i = i + 1
  end
end
return redis.call('INCR', KEYS[3])
"""

# KEYS: rules, state.  ARGV per rule met: id, nth (0 none), times (0 none),
# probability, the worker's draw.  Returns 1 (fired) or 0 per rule.
_GATE = """
local out = {}
for i = 1, #ARGV, 5 do
  local id, fired = ARGV[i], 0
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    local seen = redis.call('HINCRBY', KEYS[2], 's:' .. id, 1)
    local nth, times = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    if nth == 0 or seen == nth then
      local done = tonumber(redis.call('HGET', KEYS[2], 'f:' .. id) or '0')
      if (times == 0 or done < times) and tonumber(ARGV[i + 4]) < tonumber(ARGV[i + 3]) then
        redis.call('HINCRBY', KEYS[2], 'f:' .. id, 1)
        fired = 1
      end
    end
  end
  out[#out + 1] = fired
end
return out
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisFaultSet(FaultSet):
    """A :class:`~.ruleset.FaultSet` whose rules, budgets, counts and log are shared
    through Redis (``redis``: a ``redis.asyncio.Redis``; ``prefix``: the key prefix;
    ``peers``: this worker's :class:`~..redis_peers.Peers`).  Call :meth:`start` on
    the running loop before the first request and :meth:`close` at shutdown."""

    shared = True

    def __init__(self, redis: Any, prefix: str, peers: Peers | None, rng: random.Random,
                 profile: Iterable[Mapping[str, Any] | FaultRule] = (), directives: bool = True,
                 log_size: int = 1000, providers: Iterable[str] | None = None) -> None:
        self._ops: list[Any] | None = None  # None while constructing: the profile is not sent
        self._pending_counts: Counter[tuple[str, str]] = Counter()
        self._pending_log: list[dict[str, Any]] = []
        super().__init__(rng, profile, directives, log_size, providers)
        self.redis = redis
        self.peers = peers
        names = ("rules", "state", "version", "order", "ids", "counts", "log", "init")
        self._key = {n: f"{prefix}faults:{n}" for n in names}
        self._apply = redis.register_script(_APPLY)
        self._gate = redis.register_script(_GATE)
        self._ops = []
        self._id_pool: list[int] = []
        self._worker = uuid.uuid4().hex[:6]
        self._flush_timer: asyncio.TimerHandle | None = None
        self._lock: asyncio.Lock | None = None
        if peers is not None:
            peers.on(RELOAD, lambda _: self.reload())
            peers.on(FLUSH, lambda _: self.flush())

    # changes: local at once, sent by sync() ------------------------------------------------
    def _new_id(self) -> str:
        while self._id_pool:
            candidate = f"f{self._id_pool.pop(0)}"
            if candidate not in self._rules:
                return candidate
        # No id reserved (a caller that did not ask sync() for any): unique all the same.
        return f"f{self._worker}-{super()._new_id()[1:]}"

    def add(self, rule: FaultRule | Mapping[str, Any], source: str = "admin") -> FaultRule:
        added = super().add(rule, source)
        if self._ops is not None:
            body = {"rule": added.model_dump(mode="json", exclude_none=True), "source": source}
            self._ops += ["put", added.id, orjson.dumps(body)]
        return added

    def remove(self, rule_id: str) -> bool:
        gone = super().remove(rule_id)
        if gone and self._ops is not None:
            self._ops += ["del", rule_id]
        return gone

    def remove_all(self) -> int:
        gone = super().remove_all()
        if self._ops is not None:
            self._ops.append("all")
        return gone

    async def start(self) -> None:
        """Subscribe (through ``peers``), put the profile's rules in Redis if no worker
        has yet, and load the rules."""
        if self.peers is not None:
            await self.peers.start()
        if await self.redis.set(self._key["init"], 1, nx=True):
            self.reset()  # queues "all" and the profile's rules
            await self._send_ops()
        else:
            self._ops = []
        await self.reload()

    async def sync(self, ids: int = 0) -> None:
        """Send this worker's changes (every worker has reloaded when it returns) and
        counts (every worker's), then reload; reserve ``ids`` new rule ids.  Raises
        StoreUnavailable when Redis does not answer."""
        async with unavailable_as_503():
            await self._sync(ids)

    async def _sync(self, ids: int) -> None:
        if ids > len(self._id_pool):
            block = max(ids, ID_BLOCK)
            last = await self.redis.incrby(self._key["ids"], block)
            self._id_pool += range(last - block + 1, last + 1)
        await self.flush()
        if self._ops:
            await self._send_ops()
            if self.peers is not None:
                await self.peers.ask(RELOAD)
        elif self.peers is not None:
            await self.peers.ask(FLUSH)
        await self.reload()

    async def _send_ops(self) -> None:
        ops, self._ops = self._ops, []
        k = self._key
        try:
            await self._apply(keys=[k["rules"], k["state"], k["version"], k["order"]], args=ops)
        except Exception:
            self._ops = (ops or []) + (self._ops or [])
            raise

    @property
    def changed(self) -> bool:
        """Whether this worker has changes :meth:`sync` has not sent yet."""
        return bool(self._ops)

    async def reload(self) -> None:
        """Take the rules, budgets, counts and log as Redis has them."""
        await self.flush()
        k = self._key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k["rules"]).hgetall(k["state"]).hgetall(k["counts"])
            pipe.lrange(k["log"], -(self.log.maxlen or 1000), -1)
            rules, state, counts, logged = await pipe.execute()
        loaded = []
        for rule_id, value in rules.items():
            order, _, body = _text(value).partition(" ")
            loaded.append((int(order), _text(rule_id), orjson.loads(body)))
        ops, self._ops = self._ops, None  # a reload is not a change
        try:
            super().remove_all()
            for _, rule_id, body in sorted(loaded):
                try:
                    rule = self._validate(body["rule"])
                except ValueError as exc:  # pydantic's ValidationError is one
                    log.warning("faults: rule %s in Redis does not validate here (%s)", rule_id, exc)
                    continue
                super().add(rule, body["source"])
        finally:
            self._ops = ops
        numbers = {_text(f): int(n) for f, n in state.items()}
        for rule_id in self._rules:
            self._state[rule_id] = _State(numbers.get(f"s:{rule_id}", 0), numbers.get(f"f:{rule_id}", 0))
        self.counts.clear()
        for field, n in counts.items():
            provider, _, kind = _text(field).partition("\x00")
            self.counts[(provider, kind)] = int(n)
        self.counts.update(self._pending_counts)
        self.log.clear()
        self.log.extend(orjson.loads(item) for item in logged)
        self.log.extend(self._pending_log)

    # requests -------------------------------------------------------------------------------
    async def decide_shared(self, ctx: FaultContext) -> Decision | None:
        """As :meth:`FaultSet.decide`, with the rules' budgets counted in Redis (one
        round trip when a rule meets the request, none otherwise)."""
        decision = self._directive_decision(ctx)
        met = []
        args: list[Any] = []
        for rule_id, rule in reversed(self._rules.items()):
            if not self._selected(rule, ctx):
                continue
            applies, error, outcome = self._effects_here(rule, ctx)
            if applies:
                met.append((rule_id, rule, error, outcome))
                draw = self.rng.random() if rule.probability < 1.0 else 0.0
                args += [rule_id, rule.nth or 0, rule.times or 0, repr(rule.probability), repr(draw)]
        if met:
            async with unavailable_as_503():
                fired = await self._gate(keys=[self._key["rules"], self._key["state"]], args=args)
            for (rule_id, rule, error, outcome), yes in zip(met, fired):
                state = self._state.get(rule_id)
                if state is not None:
                    state.seen += 1
                if int(yes):
                    if state is not None:
                        state.fired += 1
                    self._fire(rule, ctx, decision, rule_id, error, outcome)
        return decision if decision else None

    def record(self, provider: str, operation: str, decision: Decision) -> list[str]:
        kinds = super().record(provider, operation, decision)
        if kinds:  # the memory record logged it
            for kind in kinds:
                self._pending_counts[(provider, kind)] += 1
            pending = self._pending_log
            pending.append(self.log[-1])
            if len(pending) > (self.log.maxlen or 1000):  # Redis away for long: the log's own bound
                del pending[0]
            self._schedule_flush()
        return kinds

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._flush_timer = loop.call_later(FLUSH_DELAY_S, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_timer = None
        asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            log.warning("faults: cannot write counts to Redis (%s); kept and retried", exc)
            self._schedule_flush()

    async def flush(self) -> None:
        """Send the injection counts and log entries made here since the last flush
        (after any flush already on its way)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._pending_counts and not self._pending_log:
                return
            counts, self._pending_counts = self._pending_counts, Counter()
            logged, self._pending_log = self._pending_log, []
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for (provider, kind), n in counts.items():
                        pipe.hincrby(self._key["counts"], f"{provider}\x00{kind}", n)
                    if logged:
                        pipe.rpush(self._key["log"], *(orjson.dumps(e) for e in logged))
                        pipe.ltrim(self._key["log"], -(self.log.maxlen or 1000), -1)
                    await pipe.execute()
            except Exception:
                self._pending_counts.update(counts)
                self._pending_log[:0] = logged[-(self.log.maxlen or 1000):]
                raise

    async def close(self) -> None:
        """Send what is left (shutdown) and stop listening."""
        self.stop()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("faults: counts not written to Redis at shutdown (%s)", exc)
