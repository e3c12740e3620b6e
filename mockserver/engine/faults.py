"""Fault rules -> decisions: latency, errors, moderation, outcomes, connection faults.

Provider-neutral and free of aiohttp.  The request pipeline
(``providers/base.py``) builds a :class:`FaultContext` per request, asks
:meth:`FaultSet.decide` for a :class:`Decision` and applies it; each adapter turns an
:class:`InjectedError` into its own wire body.  the README is the user guide.

Where rules come from, all evaluated by the same code:

- rules: a profile's ``faults:`` list (settings) and ``POST /__admin/faults``, as
  :class:`FaultRule`;
- directives carried by one request: the ``X-Mock-Fault``, ``X-Mock-Latency-Ms`` and
  ``X-Mock-Outcome`` headers, ``[mock:...]`` markers in the prompt and ``mock_...`` API
  keys.  They parse into the same :class:`FaultRule` (see :func:`parse_directive`).

Every random draw (``probability``, latency distributions) comes from the ``rng`` the
engine passes in, seeded from ``settings.seed``, so the same seed and the same
requests give the same decisions.  Latency is wall-clock time, not virtual time.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
import re
from collections import Counter, OrderedDict, deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterable, Iterator, Literal, Mapping

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

#: HTTP statuses a rule's ``error`` may ask for.  Each provider sends the ones its
#: contract documents for the operation (PixVerse and pixwith map some in-band).
HTTP_ERRORS = (400, 401, 403, 404, 429, 500, 502, 503, 504)
CONNECTION_FAULTS = ("reset", "hang", "empty", "malformed", "truncated")
OUTCOMES = ("succeeded", "failed", "moderated")
#: A hang never lasts longer than this (wall seconds); it ends sooner when the client leaves.
MAX_HANG_S = 300.0
#: The pseudo-provider of media downloads under ``/__files``; rules reach it only by name.
FILES = "files"
#: The pseudo-operation naming every operation that submits a generation job.
SUBMIT = "submit"

# Request headers the pipeline reads (case-insensitive on the wire).
FAULT_HEADER = "X-Mock-Fault"
LATENCY_HEADER = "X-Mock-Latency-Ms"
OUTCOME_HEADER = "X-Mock-Outcome"
DRIBBLE_HEADER = "X-Mock-Dribble-Bps"
TEST_ID_HEADER = "X-Mock-Test-Id"

PROMPT_MARKER = re.compile(r"\[mock:([^\]]*)\]")
KEY_PREFIX = "mock_"

# Per-request directive budgets (``times``/``nth`` in a header, marker or key) are kept
# per (source, text, scope); this many at most, least recently used dropped first.
MAX_DIRECTIVE_STATES = 10_000


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; everything else keeps its type and strict
    # validation rejects what JSON would not call an integer (true, "5", 5.5).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
# Rules come as JSON: no coercion ("503" is not 503, true is not 1).
_STRICT = ConfigDict(extra="forbid", strict=True)
# Bounds that keep every value serialisable (64-bit JSON) and every draw finite.
MAX_MS = 600_000.0      # no latency parameter above 10 minutes
MAX_COUNT = 10**9       # times, nth
MAX_RATE = 10**12       # bytes per second


class Latency(BaseModel):
    """Added wall-clock delay, drawn per request.

    ``fixed`` waits ``ms``; ``uniform`` draws between ``min_ms`` and ``max_ms``;
    ``lognormal`` draws around ``median_ms`` with shape ``sigma`` (the spread of
    ``ln(ms)``).  No draw exceeds ``cap_ms``.  A bare number means fixed
    milliseconds; ``dist`` is inferred from the fields given when absent
    (``median_ms``: lognormal, ``min_ms``/``max_ms``: uniform, in either order).
    """

    model_config = _STRICT

    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float | None = Field(None, ge=0, le=MAX_MS)
    min_ms: float | None = Field(None, ge=0, le=MAX_MS)
    max_ms: float | None = Field(None, ge=0, le=MAX_MS)
    median_ms: float | None = Field(None, gt=0, le=MAX_MS)
    sigma: float = Field(0.5, ge=0, le=5)
    cap_ms: float = Field(60_000.0, ge=0, le=MAX_MS)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"dist": "fixed", "ms": data}
        if isinstance(data, dict) and "dist" not in data:
            if "median_ms" in data:
                return {**data, "dist": "lognormal"}
            if "min_ms" in data or "max_ms" in data:
                return {**data, "dist": "uniform"}
        return data

    @model_validator(mode="after")
    def _complete(self) -> "Latency":
        if self.dist == "fixed" and self.ms is None:
            raise ValueError("fixed latency needs ms")
        if self.dist == "uniform":
            if self.min_ms is None or self.max_ms is None:
                raise ValueError("uniform latency needs min_ms and max_ms")
            if self.min_ms > self.max_ms:
                self.min_ms, self.max_ms = self.max_ms, self.min_ms
        if self.dist == "lognormal" and self.median_ms is None:
            raise ValueError("lognormal latency needs median_ms")
        return self

    def draw(self, rng: random.Random) -> float:
        """One delay in wall seconds."""
        if self.dist == "fixed":
            ms = float(self.ms or 0.0)
        elif self.dist == "uniform":
            ms = rng.uniform(self.min_ms or 0.0, self.max_ms or 0.0)
        else:
            ms = rng.lognormvariate(math.log(self.median_ms or 1.0), self.sigma)
        return min(ms, self.cap_ms) / 1000.0


class FaultRule(BaseModel):
    """One fault rule.  Selectors narrow which requests it meets (all must hold);
    ``nth``/``times``/``probability`` decide whether it fires there; effects say what
    happens.  A rule needs at least one effect.

    Selectors: ``provider`` and ``operation`` (operationIds, or ``"submit"`` for every
    operation that submits a job; one name or a list), ``api_key``, ``test_id`` (the
    ``X-Mock-Test-Id`` header), ``prompt_contains`` (a substring of the prompt).
    ``nth`` fires only on the n-th request the selectors met (1-based).  ``times``
    fires at most that often, then the rule is spent ("fail the first N times, then
    succeed").  ``probability`` is the chance to fire on a met request.

    Effects: ``latency`` (ms or :class:`Latency`); ``error`` (an HTTP status of
    :data:`HTTP_ERRORS`, in the provider's documented body) with ``retry_after``
    seconds on 429 (0 leaves the header out) and an optional ``message``; ``errcode``
    (a PixVerse ErrCode, which PixVerse prefers to ``error``); ``moderation``
    (``submit``: the input is rejected at submit; ``completion``: the job ends
    moderated, same as ``outcome: moderated``); ``outcome`` (the job's planned end:
    succeeded, failed or moderated); ``connection`` (reset, hang for ``hang_s`` at
    most, empty, malformed, truncated); ``dribble_bps`` (media downloads under
    ``/__files`` at this many bytes per second; rules reach ``/__files`` only with
    ``provider: files``).
    """

    model_config = _STRICT

    id: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = None
    # selectors
    provider: list[str] | None = Field(None, min_length=1)
    operation: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    api_key: str | None = None
    test_id: str | None = None
    prompt_contains: str | None = Field(None, min_length=1)
    nth: JsonInt | None = Field(None, ge=1, le=MAX_COUNT)
    # budget
    times: JsonInt | None = Field(None, ge=1, le=MAX_COUNT)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    # effects
    latency: Latency | None = None
    error: JsonInt | None = None
    errcode: JsonInt | None = Field(None, ge=-(2**31), le=2**31 - 1)
    retry_after: JsonInt = Field(1, ge=0, le=86_400)
    message: str | None = None
    moderation: Literal["submit", "completion"] | None = None
    outcome: Literal["succeeded", "failed", "moderated"] | None = None
    connection: Literal["reset", "hang", "empty", "malformed", "truncated"] | None = None
    hang_s: float = Field(MAX_HANG_S, gt=0, le=MAX_HANG_S)
    dribble_bps: JsonInt | None = Field(None, ge=1, le=MAX_RATE)

    @field_validator("provider", "operation", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # The names come from whoever validates (FaultSet: the registry's, injected);
        # without a context any name is taken and simply never matches.
        known = (info.context or {}).get("providers")
        for name in value or ():
            if known is not None and name not in known:
                raise ValueError(f"unknown provider {name!r}; one of {', '.join(known)}")
        return value

    @field_validator("error")
    @classmethod
    def _known_status(cls, value: int | None) -> int | None:
        if value is not None and value not in HTTP_ERRORS:
            raise ValueError(f"error must be one of {', '.join(map(str, HTTP_ERRORS))}")
        return value

    @field_validator("errcode")
    @classmethod
    def _nonzero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("errcode 0 is success")
        return value

    @model_validator(mode="after")
    def _effects(self) -> "FaultRule":
        if self.moderation == "completion":
            if self.outcome not in (None, "moderated"):
                raise ValueError("moderation: completion contradicts outcome")
            self.outcome, self.moderation = "moderated", None
        if self.moderation == "submit" and (self.error is not None or self.errcode is not None):
            raise ValueError("moderation: submit is an error of its own; drop error/errcode")
        if not self.has_effect:
            raise ValueError("a fault rule needs an effect: latency, error, errcode, moderation, "
                             "outcome, connection or dribble_bps")
        return self

    @property
    def has_effect(self) -> bool:
        return any(v is not None for v in (self.latency, self.error, self.errcode, self.moderation,
                                           self.outcome, self.connection, self.dribble_bps))

    @property
    def injected_error(self) -> "InjectedError | None":
        if self.moderation == "submit":
            return InjectedError(moderation=True, message=self.message)
        if self.error is None and self.errcode is None:
            return None
        return InjectedError(status=self.error, errcode=self.errcode, retry_after=self.retry_after,
                             message=self.message)

    def public(self) -> dict[str, Any]:
        """The rule as the admin API shows it (unset fields left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"id": self.id}


@dataclass(frozen=True, slots=True)
class InjectedError:
    """What an adapter turns into its own error answer (``ProviderAdapter.fault_reply``).

    ``status`` is an HTTP status of :data:`HTTP_ERRORS`; ``errcode`` a PixVerse ErrCode
    (PixVerse uses it before ``status``); ``moderation`` a submit-time moderation
    rejection; ``retry_after`` the seconds for a 429's ``Retry-After`` (0: none);
    ``message`` replaces the body's message where the provider's body has one.
    """

    status: int | None = None
    errcode: int | None = None
    moderation: bool = False
    retry_after: int = 1
    message: str | None = None

    @property
    def kind(self) -> str:
        return "moderation" if self.moderation else "error"


@dataclass(slots=True)
class FaultContext:
    """What one request looks like to the rules.

    ``submit`` says the operation submits a job (outcome and moderation effects apply
    only there); ``moderated`` that moderation at submit applies although it does not
    (an upload the provider reviews).  ``supports`` answers whether this provider can send an injected
    error on this operation; an unsupported error is dropped (the rule may still
    fire for its other effects).  The ``*_header`` fields are the raw ``X-Mock-*``
    header values.
    """

    provider: str
    operation: str
    submit: bool = False
    moderated: bool = False
    api_key: str | None = None
    test_id: str | None = None
    prompt: str | None = None
    fault_header: str | None = None
    latency_header: str | None = None
    outcome_header: str | None = None
    dribble_header: str | None = None
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


@dataclass(frozen=True, slots=True)
class PlannedOutcome:
    """A job's outcome forced by a fault.  ``immediate``: the job reads as finished
    from its first poll (a reseller's answer to moderation at submit)."""

    outcome: str
    immediate: bool = False


_PLANNED: ContextVar[PlannedOutcome | None] = ContextVar("pixverse_mock_planned_outcome", default=None)


@contextmanager
def planned_outcome(planned: PlannedOutcome | None) -> Iterator[None]:
    """Jobs created inside this block (by ``Engine.create_job``) get ``planned``."""
    token = _PLANNED.set(planned)
    try:
        yield
    finally:
        _PLANNED.reset(token)


def current_planned_outcome() -> PlannedOutcome | None:
    return _PLANNED.get()


@dataclass(slots=True)
class _State:
    seen: int = 0
    fired: int = 0


# directives ------------------------------------------------------------------------

_WORD_EFFECTS: dict[str, dict[str, Any]] = {
    "moderation": {"outcome": "moderated"},
    "moderated": {"outcome": "moderated"},
    "fail": {"outcome": "failed"},
    "failed": {"outcome": "failed"},
    "succeed": {"outcome": "succeeded"},
    "succeeded": {"outcome": "succeeded"},
    **{name: {"connection": name} for name in CONNECTION_FAULTS},
}
_ALIASES = {"slow": "latency", "latency_ms": "latency", "retry": "retry_after",
            "retry-after": "retry_after", "p": "probability", "dribble": "dribble_bps",
            "hang_s": "hang"}
_VALUE_KEYS = {"error", "errcode", "latency", "retry_after", "probability", "times", "nth",
               "moderation", "outcome", "connection", "hang", "dribble_bps"}


def _latency_value(text: str) -> Any:
    low, sep, high = text.partition("-")
    if sep:
        return {"dist": "uniform", "min_ms": float(low), "max_ms": float(high)}
    return float(text)


def _directive_fields(items: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """``[(name, value|None)]`` -> FaultRule fields.  Raises ValueError."""
    out: dict[str, Any] = {}
    for raw_name, value in items:
        name = _ALIASES.get(raw_name, raw_name)
        if value is None:
            if name not in _WORD_EFFECTS:
                raise ValueError(f"unknown directive {raw_name!r}")
            out.update(_WORD_EFFECTS[name])
            continue
        if name not in _VALUE_KEYS:
            raise ValueError(f"unknown directive {raw_name!r}")
        if name == "latency":
            out["latency"] = _latency_value(value)
        elif name == "hang":
            out["connection"], out["hang_s"] = "hang", float(value)
        elif name == "moderation":
            out["moderation"] = value
        elif name in ("outcome", "connection"):
            out[name] = value
        elif name == "probability":
            out[name] = float(value)
        else:
            out[name] = int(value)
    return out


@functools.lru_cache(maxsize=1024)
def parse_directive(text: str) -> FaultRule:
    """A header or prompt-marker directive -> a rule (without selectors).

    Grammar: items separated by ``,`` or ``;``, each ``name`` or ``name=value``:
    ``error=503``, ``errcode=500044``, ``retry_after=5``, ``moderation`` (the job ends
    moderated), ``moderation=submit``, ``fail``, ``outcome=failed``, ``slow=200`` /
    ``latency=200`` / ``latency=100-300`` (ms, fixed or uniform), ``reset``, ``hang``,
    ``hang=5`` (seconds), ``empty``, ``malformed``, ``truncated``, ``dribble=20000``,
    ``times=2``, ``nth=3``, ``p=0.5``.  Raises ValueError (with the reason) for
    anything else.
    """
    items = []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        items.append((name.strip().lower(), value.strip() if sep else None))
    if not items:
        raise ValueError("empty directive")
    try:
        return FaultRule(**_directive_fields(items))
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None


@functools.lru_cache(maxsize=1024)
def parse_key_directive(api_key: str) -> FaultRule:
    """A test API key -> a rule, like Stripe's test cards.

    ``mock_`` then ``_``-separated items, a value following its name:
    ``mock_error_503``, ``mock_errcode_500044``, ``mock_moderation_submit``,
    ``mock_moderation``, ``mock_fail``, ``mock_slow_2000``, ``mock_reset``,
    ``mock_error_503_times_2``.  Anything after the first ``-`` is ignored, so tests
    can use distinct keys (``mock_fail-test42``).  Raises ValueError.
    """
    body = api_key[len(KEY_PREFIX):].split("-", 1)[0]
    tokens = [t for t in body.lower().split("_") if t]
    items: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        key = _ALIASES.get(name, name)
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        takes_value = key in _VALUE_KEYS and nxt is not None and (
            key not in _WORD_EFFECTS or re.fullmatch(r"[0-9.]+|submit|completion", nxt))
        if takes_value:
            items.append((name, nxt))
            i += 2
        else:
            items.append((name, None))
            i += 1
    if not items:
        raise ValueError("empty test key")
    return parse_directive(",".join(n if v is None else f"{n}={v}" for n, v in items))


def _outcome_directive(text: str) -> FaultRule:
    return parse_directive(f"outcome={text.strip().lower()}")


def _latency_directive(text: str) -> FaultRule:
    return parse_directive(f"latency={text.strip()}")


def _dribble_directive(text: str) -> FaultRule:
    return parse_directive(f"dribble={text.strip()}")


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
        self._profile = [r.model_copy() if isinstance(r, FaultRule) else self._validate(r) for r in profile]
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
        for rule in self._rules.values():
            if test_id is not None and rule.test_id != test_id:
                continue
            state = self._state[rule.id]
            remaining = None if rule.times is None else max(rule.times - state.fired, 0)
            out.append(rule.public() | {"source": self._sources[rule.id], "seen": state.seen,
                                        "fired": state.fired, "remaining": remaining})
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

    # deciding ------------------------------------------------------------------------
    def armed(self, api_key: str | None, prompt: Any, headers: Mapping[str, str]) -> bool:
        """Cheap pre-check: False means no rule or directive can touch this request."""
        if self._rules:
            return True
        if not self.directives:
            return False
        return bool(
            (api_key and api_key.startswith(KEY_PREFIX))
            or (isinstance(prompt, str) and "[mock:" in prompt)
            or FAULT_HEADER in headers or LATENCY_HEADER in headers or OUTCOME_HEADER in headers
        )

    def decide(self, ctx: FaultContext) -> Decision | None:
        """What to inject into the request ``ctx`` describes; None for nothing.
        Counts ``seen``/``fired`` on the rules it considers."""
        decision = Decision()
        if self.directives:
            for source, text, parse in self._directives(ctx):
                try:
                    rule = parse(text)
                except ValueError as exc:
                    decision.problems.append(f"{source} {text!r}: {exc}")
                    continue
                self._consider(rule, self._directive_state(rule, source, text, ctx), ctx,
                               decision, source)
        for rule in reversed(self._rules.values()):
            if self._selected(rule, ctx):
                self._consider(rule, self._state[rule.id], ctx, decision, rule.id)
        return decision if decision else None

    def record(self, provider: str, operation: str, decision: Decision) -> list[str]:
        """Count what ``decision`` injects; returns its kinds."""
        kinds = decision.kinds
        for kind in kinds:
            self.counts[(provider, kind)] += 1
        if kinds:
            self.log.append({"provider": provider, "operation": operation, "kinds": kinds,
                             "latency_ms": round(decision.latency_s * 1000, 3),
                             "rules": list(decision.fired)})
        return kinds

    def _directives(self, ctx: FaultContext) -> Iterator[tuple[str, str, Callable[[str], FaultRule]]]:
        if ctx.fault_header:
            yield "header", ctx.fault_header, parse_directive
        if ctx.latency_header:
            yield "header", ctx.latency_header, _latency_directive
        if ctx.outcome_header:
            yield "header", ctx.outcome_header, _outcome_directive
        if ctx.dribble_header:
            yield "header", ctx.dribble_header, _dribble_directive
        if ctx.prompt and "[mock:" in ctx.prompt:
            for marker in PROMPT_MARKER.findall(ctx.prompt):
                yield "prompt", marker, parse_directive
        if ctx.api_key and ctx.api_key.startswith(KEY_PREFIX):
            yield "key", ctx.api_key, parse_key_directive

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
