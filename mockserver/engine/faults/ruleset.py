"""The rule set: which rules and directives meet a request, what they decide, and
what was injected (counts, log, hanging requests).

Provider-neutral and free of HTTP: the request pipeline (``providers/base.py``,
``files.py``) builds a :class:`FaultContext` per request, with the directives the HTTP
layer found on it (``mockserver/directives.py``), asks :meth:`FaultSet.decide` for a
:class:`Decision` and applies it.  Every random draw (``probability``, latency
distributions) comes from the ``rng`` passed in, seeded from ``settings.seed``, so the
same seed and the same requests give the same decisions.  Latency is wall-clock time,
not virtual time.
"""
from __future__ import annotations

import asyncio
import builtins
import itertools
import random
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

from pydantic import BaseModel, Field

from ..snapshots import next_of, rng_state, set_rng_state
from .rules import FILES, MAX_HANG_S, SUBMIT, FaultRule, InjectedError

#: One directive a request carries: (source: header | prompt | key, its text, the
#: parser that turns the text into a rule, raising ValueError).
Directive = tuple[str, str, Callable[[str], FaultRule]]

# Per-request directive budgets (``times``/``nth`` in a header, marker or key) are kept
# per (source, text, scope); this many at most, least recently used dropped first.
MAX_DIRECTIVE_STATES = 10_000


@dataclass(slots=True)
class FaultContext:
    """What one request looks like to the rules.

    ``submit`` says the operation submits a job (outcome and moderation effects apply
    only there); ``moderated`` that moderation at submit applies although it does not
    (an upload the provider reviews).  ``supports`` answers whether this provider can send an injected
    error on this operation; an unsupported error is dropped (the rule may still
    fire for its other effects).  ``directives`` are the ones the request carries
    (headers, prompt markers, a test key), found by the HTTP layer.
    """

    provider: str
    operation: str
    submit: bool = False
    moderated: bool = False
    api_key: str | None = None
    test_id: str | None = None
    prompt: str | None = None
    directives: Sequence[Directive] = ()
    supports: Callable[[InjectedError], bool] | None = None


@dataclass(slots=True)
class Decision:
    """What to do to one request.  Several rules may fire; latencies add up, and for
    every other slot the first rule that fills it wins (directives, then rules from
    the newest).  A connection fault beats an error."""

    latency_s: float = 0.0
    error: InjectedError | None = None
    connection: str | None = None
    hang_s: float = MAX_HANG_S
    outcome: str | None = None
    dribble_bps: int | None = None
    fired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fired or self.problems)

    @property
    def kinds(self) -> list[str]:
        """The injected fault kinds, as counted in ``FaultSet.counts``: ``latency``,
        ``error``, ``moderation`` (at submit), ``failed``/``moderated``/``succeeded``
        (a planned outcome), the connection fault's name, ``dribble``."""
        out = []
        if self.latency_s > 0:
            out.append("latency")
        if self.connection is not None:
            out.append(self.connection)
        elif self.error is not None:
            out.append(self.error.kind)
        if self.outcome is not None and self.connection not in ("reset", "hang", "empty") \
                and self.error is None:
            out.append(self.outcome)
        if self.dribble_bps is not None:
            out.append("dribble")
        return out


class RuleCounters(BaseModel):
    """A rule as stored: the fields that were set (defaults left out; ``provider`` and
    ``operation`` always lists, ``latency`` an object, ``moderation: completion`` shown
    as ``outcome: moderated``) plus where it came from and its counters
    (:meth:`FaultSet.list`; the control plane's FaultRuleView)."""

    source: Literal["profile", "admin"]
    seen: int = Field(ge=0, description="Requests the selectors met.")
    fired: int = Field(ge=0, description="Times it injected.")
    remaining: int | None = Field(ge=0, description="Firings left (null without `times`).")


@dataclass(slots=True)
class _State:
    seen: int = 0
    fired: int = 0


# the rule set ----------------------------------------------------------------------

class FaultSet:
    """The active rules plus the per-request directives, and what they injected.

    ``counts`` is a Counter keyed by ``(provider, kind)`` (kinds: see
    :attr:`Decision.kinds`); it only grows, so it maps onto a Prometheus counter.
    ``log`` keeps the latest injections; ``hanging`` counts requests held by a hang
    fault right now.
    """

    def __init__(self, rng: random.Random, profile: Iterable[Mapping[str, Any] | FaultRule] = (),
                 directives: bool = True, log_size: int = 1000, providers: Iterable[str] | None = None) -> None:
        """``providers``: the names a rule may select, ``FILES`` added (None: any name)."""
        self.rng = rng
        self.directives = directives
        self.providers: tuple[str, ...] | None = None if providers is None else (*providers, FILES)
        # pydantic's validation context for rules from outside (admin): the known names.
        self.context = None if providers is None else {"providers": self.providers}
        # A profile file's ``field: null`` means left out, as it always has (the control
        # plane and the model refuse null; users' profile files keep working).
        self._profile = [r.model_copy() if isinstance(r, FaultRule)
                         else self._validate({k: v for k, v in r.items() if v is not None}) for r in profile]
        for n, rule in enumerate(self._profile, 1):
            # Stable across resets, so a test can refer to a profile rule by id.
            rule.id = rule.id or f"profile-{n}"
        self._rules: OrderedDict[str, FaultRule] = OrderedDict()
        self._state: dict[str, _State] = {}
        self._sources: dict[str, str] = {}
        self._adhoc: OrderedDict[tuple[str, str, str | None], _State] = OrderedDict()
        self._ids = itertools.count(1)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self.hanging = 0
        # Set by ``stop`` (the app shutting down): injected waits end at once.
        self.stopping = False
        self._stopped: asyncio.Future[None] | None = None
        self.reset()

    # injected waits --------------------------------------------------------------------
    async def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (wall) of an injected wait (latency, hang), or until ``stop``."""
        if self.stopping or seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        stopped = self._stopped
        if stopped is None or stopped.get_loop() is not loop:
            stopped = self._stopped = loop.create_future()
        await asyncio.wait((stopped,), timeout=seconds)

    def stop(self) -> None:
        """End every injected wait now, and any later one at once: the fake is shutting
        down, and a 300 s hang must not hold its exit (issue 14)."""
        self.stopping = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.get_loop().call_soon_threadsafe(_resolve, self._stopped)

    # managing rules ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rules)

    def _new_id(self) -> str:
        while True:
            candidate = f"f{next(self._ids)}"
            if candidate not in self._rules:
                return candidate

    def add(self, rule: FaultRule | Mapping[str, Any], source: str = "admin") -> FaultRule:
        """Add (or, for an id already present, replace) a rule; returns it with its id.
        Raises pydantic.ValidationError for a bad rule."""
        rule = rule.model_copy() if isinstance(rule, FaultRule) else self._validate(rule)
        if rule.id is None:
            rule.id = self._new_id()
        self._rules.pop(rule.id, None)
        self._rules[rule.id] = rule
        self._state[rule.id] = _State()
        self._sources[rule.id] = source
        return rule

    def _validate(self, rule: Mapping[str, Any]) -> FaultRule:
        return FaultRule.model_validate(rule, context=self.context)

    def get(self, rule_id: str) -> FaultRule | None:
        return self._rules.get(rule_id)

    def remove(self, rule_id: str) -> bool:
        if self._rules.pop(rule_id, None) is None:
            return False
        self._state.pop(rule_id, None)
        self._sources.pop(rule_id, None)
        return True

    def list(self, test_id: str | None = None) -> list[dict[str, Any]]:
        """The rules (oldest first) with their counters, for the admin API."""
        out = []
        for rule_id, rule in self._rules.items():
            if test_id is not None and rule.test_id != test_id:
                continue
            state = self._state[rule_id]
            remaining = None if rule.times is None else max(rule.times - state.fired, 0)
            out.append(rule.public() | RuleCounters.model_validate(
                {"source": self._sources[rule_id], "seen": state.seen, "fired": state.fired,
                 "remaining": remaining}).model_dump())
        return out

    def clear(self, test_id: str | None = None) -> int:
        """Forget what tests added: only ``test_id``'s rules and directive budgets, or
        (None) everything but the profile's rules, which come back with fresh counters
        (what ``Engine.reset`` calls).  Returns how many rules went."""
        if test_id is None:
            gone = sum(1 for source in self._sources.values() if source != "profile")
            self.reset()
            return gone
        ids = [rid for rid, rule in self._rules.items() if rule.test_id == test_id]
        for rid in ids:
            self.remove(rid)
        for key in [k for k in self._adhoc if k[2] == test_id]:
            del self._adhoc[key]
        return len(ids)

    def remove_all(self) -> int:
        """Remove every rule, the profile's too, and every directive budget."""
        gone = len(self._rules)
        self._rules.clear()
        self._state.clear()
        self._sources.clear()
        self._adhoc.clear()
        return gone

    def reset(self) -> None:
        """Back to start-up: only the profile's rules, every counter of them at zero."""
        self.remove_all()
        for rule in self._profile:
            self.add(rule, source="profile")

    # the state file ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Rules with their counters and sources, directive budgets, injection counts
        and log, and the rng, JSON-ready (the state file)."""
        return {
            "rules": [{"rule": rule.model_dump(mode="json", exclude_none=True), "source": self._sources[rid],
                       "seen": self._state[rid].seen, "fired": self._state[rid].fired}
                      for rid, rule in self._rules.items()],
            "directive_budgets": [[*key, s.seen, s.fired] for key, s in self._adhoc.items()],
            "next_id": next_of(self._ids),
            "counts": [[p, k, n] for (p, k), n in self.counts.items()],
            "log": list(self.log),
            "rng": rng_state(self.rng),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replace every rule and counter with a snapshot's.  Raises ValueError (or
        pydantic.ValidationError) for a rule that does not validate."""
        self.remove_all()
        for item in data["rules"]:
            rule = self.add(item["rule"], source=item["source"])
            state = self._state[rule.id]  # type: ignore[index]  # add() gave it an id
            state.seen, state.fired = int(item["seen"]), int(item["fired"])
        for source, text, scope, seen, fired in data["directive_budgets"]:
            self._adhoc[(source, text, scope)] = _State(int(seen), int(fired))
        self._ids = itertools.count(int(data["next_id"]))
        self.counts = Counter({(p, k): int(n) for p, k, n in data["counts"]})
        self.log.clear()
        self.log.extend(data["log"])
        set_rng_state(self.rng, data["rng"])

    # deciding ------------------------------------------------------------------------
    def armed(self, directive: bool) -> bool:
        """Cheap pre-check: False means no rule or directive can touch this request
        (``directive``: whether the request carries one at all)."""
        return bool(self._rules) or (directive and self.directives)

    def decide(self, ctx: FaultContext) -> Decision | None:
        """What to inject into the request ``ctx`` describes; None for nothing.
        Counts ``seen``/``fired`` on the rules it considers."""
        decision = Decision()
        if self.directives:
            for source, text, parse in ctx.directives:
                try:
                    rule = parse(text)
                except ValueError as exc:
                    decision.problems.append(f"{source} {text!r}: {exc}")
                    continue
                self._consider(rule, self._directive_state(rule, source, text, ctx), ctx,
                               decision, source)
        for rule_id, rule in reversed(self._rules.items()):
            if self._selected(rule, ctx):
                self._consider(rule, self._state[rule_id], ctx, decision, rule_id)
        return decision if decision else None

    def record(self, provider: str, operation: str, decision: Decision) -> builtins.list[str]:
        """Count what ``decision`` injects; returns its kinds."""
        kinds = decision.kinds
        for kind in kinds:
            self.counts[(provider, kind)] += 1
        if kinds:
            self.log.append({"provider": provider, "operation": operation, "kinds": kinds,
                             "latency_ms": round(decision.latency_s * 1000, 3),
                             "rules": list(decision.fired)})
        return kinds

    def _directive_state(self, rule: FaultRule, source: str, text: str, ctx: FaultContext) -> _State:
        if rule.times is None and rule.nth is None:
            return _State()
        # One budget per directive and test (or key, without a test id).
        key = (source, text, ctx.test_id if ctx.test_id is not None else f"key:{ctx.api_key}")
        state = self._adhoc.get(key)
        if state is None:
            state = self._adhoc[key] = _State()
            while len(self._adhoc) > MAX_DIRECTIVE_STATES:
                self._adhoc.popitem(last=False)
        else:
            self._adhoc.move_to_end(key)
        return state

    @staticmethod
    def _selected(rule: FaultRule, ctx: FaultContext) -> bool:
        if rule.provider is None:
            if ctx.provider == FILES:
                return False
        elif ctx.provider not in rule.provider:
            return False
        if rule.operation is not None and ctx.operation not in rule.operation \
                and not (ctx.submit and SUBMIT in rule.operation):
            return False
        if rule.api_key is not None and rule.api_key != ctx.api_key:
            return False
        if rule.test_id is not None and rule.test_id != ctx.test_id:
            return False
        if rule.prompt_contains is not None and (not ctx.prompt or rule.prompt_contains not in ctx.prompt):
            return False
        return True

    @staticmethod
    def _effects_here(rule: FaultRule, ctx: FaultContext) -> tuple[bool, InjectedError | None, str | None]:
        """(any effect applies here, the error to send, the outcome to plan)."""
        files = ctx.provider == FILES
        error = None if files else rule.injected_error
        if error is not None and not error.moderation and ctx.supports is not None \
                and not ctx.supports(error):
            error = None
        if error is not None and error.moderation and not (ctx.submit or ctx.moderated):
            error = None
        outcome = rule.outcome if ctx.submit and not files else None
        dribble = rule.dribble_bps is not None and files
        applies = bool(rule.latency is not None or rule.connection is not None or error is not None
                       or outcome is not None or dribble)
        return applies, error, outcome

    def _consider(self, rule: FaultRule, state: _State, ctx: FaultContext, decision: Decision,
                  tag: str) -> None:
        applies, error, outcome = self._effects_here(rule, ctx)
        if not applies:
            return
        state.seen += 1
        if rule.nth is not None and state.seen != rule.nth:
            return
        if rule.times is not None and state.fired >= rule.times:
            return
        if rule.probability < 1.0 and self.rng.random() >= rule.probability:
            return
        state.fired += 1
        decision.fired.append(tag)
        if rule.latency is not None:
            decision.latency_s += rule.latency.draw(self.rng)
        if rule.connection is not None and decision.connection is None:
            decision.connection = rule.connection
            decision.hang_s = rule.hang_s
        if error is not None and decision.error is None:
            decision.error = error
        if outcome is not None and decision.outcome is None:
            decision.outcome = outcome
        if rule.dribble_bps is not None and ctx.provider == FILES and decision.dribble_bps is None:
            decision.dribble_bps = rule.dribble_bps


def fault_rng(seed: int | None) -> random.Random:
    """The faults' own random source: seeded from ``settings.seed`` but separate from
    the engine's, so adding a rule does not change the ids the engine hands out."""
    return random.Random(None if seed is None else f"pixverse-mock-faults:{seed}")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
