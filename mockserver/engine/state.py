"""The engine's mutable state, behind one interface per kind of state.

Everything that changes while the fake runs lives in one of the stores below; the
engine, the provider adapters and the admin plane reach state only through them.
:class:`State` bundles one of each; :func:`memory_state` builds the in-memory stores,
the default (and the fastest: the engine holds the store objects themselves, so a
request pays no indirection for the interface).

===============  ====================================  =======================================  ==============
store            what it holds                         in-memory implementation                 in Redis
===============  ====================================  =======================================  ==============
``jobs``         jobs with their poll counts           :class:`~.store.JobStore`                yes
``uploads``      upload metadata (and bytes)           :class:`~.store.UploadStore`             yes, bytes too
``ledger``       credits per (provider, key), refunds  :class:`~.ledger.Ledger`                 yes
``concurrency``  queued/running jobs per key           :class:`~.limits.ConcurrencyCaps`        yes
``rate_limits``  sliding-window request counts         :class:`~.limits.RateLimiter`            yes
``idempotency``  trace-id replays                      :class:`~.idempotency.IdempotencyStore`  yes
``faults``       fault rules, budgets, counters        :class:`~.faults.FaultSet`               not yet
``journal``      what provider routes answered         :class:`~.journal.Journal`               not yet
``webhooks``     webhook schedule, delivery log,       :class:`~.webhooks.WebhookScheduler`     not yet
                 account webhooks
``clock``        virtual time (scale, offset, frozen)  :class:`~.clock.VirtualClock`            yes, shared
``rng``          the seeded id/plan sequence           :class:`random.Random`                   seed + epoch
===============  ====================================  =======================================  ==============

With ``redis_url`` the engine is :class:`~.redis_backend.RedisEngine`: the kinds marked
"yes" live in Redis (its module docstring gives the keys), the others in this process.

With ``redis_url`` set, ``redis_records.share_records`` puts the journal, the fault
rules and the webhook schedule in Redis, shared by every worker on that Redis:
:class:`~.redis_journal.RedisJournal` (a stream), :class:`~.faults.redis_rules.RedisFaultSet`
(rules cached per worker, budgets counted by Lua) and
:class:`~.webhooks.redis_schedule.RedisWebhookScheduler` (due deliveries under leases);
they keep the in-memory classes' reads and writes and add ``sync()``, which the admin
plane awaits (a no-op coroutine in memory).

A store is written by one event loop.  The in-memory stores' methods are synchronous
(except ``idempotency.once``: a repeat waits for the first answer); everything outside
the engine reaches jobs, uploads, credits, concurrency, rate limits and the clock's
changes through the engine's coroutines (``Engine.get_job``, ``observe``, ``admit``,
``create_job``, ``add_upload``, ``hit_rate``, ``change_clock``, ...), so a backend whose
stores are across the network (Redis) awaits there and the in-memory default answers
without suspending.  Each protocol lists what the engine calls, so another backend
knows what to provide.
"""
from __future__ import annotations

import builtins
import random
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Hashable, Iterable, Iterator, Mapping, Protocol

from .jobs import Job
from .limits import Refusal

if TYPE_CHECKING:
    from ..settings import Settings
    from .faults import Decision, FaultContext, FaultRule
    from .journal import Entry, Headers
    from .store import Upload
    from .webhooks import AccountHook, Channel, DeliveryFault, Sender, Watch


class StoreUnavailable(Exception):
    """A store across the network (Redis) did not answer: the provider routes answer
    with the provider's 503 (``ProviderAdapter.unavailable_reply``), ``serve`` exits 2
    when it happens at start-up."""


class JobStorage(Protocol):
    """Jobs keyed by (provider, id), bounded; an expired job reads as absent."""

    bytes: int

    def __len__(self) -> int: ...
    def add(self, job: Job, now: float) -> None: ...
    def get(self, provider: str, job_id: str, now: float) -> Job | None: ...
    def remove(self, provider: str, job_id: str) -> Job | None: ...
    def owned(self, provider: str, api_key: str, kind: str, now: float) -> list[Job]: ...
    def all(self) -> Iterator[Job]: ...
    def clear(self) -> None: ...


class UploadStorage(Protocol):
    """Uploads keyed by (provider, id), bounded by bytes and count."""

    def __len__(self) -> int: ...
    def add(self, upload: Upload) -> None: ...
    def get(self, provider: str, upload_id: str) -> Upload | None: ...
    def newest(self, count: int) -> list[Upload]: ...
    def clear(self) -> None: ...


class CreditLedger(Protocol):
    """Credits per (provider, API key); ``try_debit`` is the atomic check-and-debit."""

    def starting(self, provider: str) -> int: ...
    def balance(self, provider: str, api_key: str) -> int: ...
    def try_debit(self, provider: str, api_key: str, amount: int) -> bool: ...
    def settle(self, provider: str, job_id: str, api_key: str, cost: int, state: str) -> int: ...
    def was_refunded(self, provider: str, job_id: str) -> bool: ...
    def clear(self) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, data: Mapping[str, Any]) -> None: ...


class ConcurrencyCounter(Protocol):
    """Jobs queued or running per (provider, key) under a per-provider cap."""

    #: provider -> cap (empty: nothing capped, so nothing to refuse or track).
    caps: dict[str, int]

    def refuse(self, provider: str, api_key: str) -> Refusal | None: ...
    def track(self, job: Job) -> None: ...
    def clear(self) -> None: ...


class RateWindows(Protocol):
    """Sliding-window request counts; ``hit`` counts one request or refuses it."""

    def __bool__(self) -> bool: ...
    def hit(self, provider: str, address: str | None, api_key: str | None) -> Refusal | None: ...
    def clear(self) -> None: ...


class ReplayStore(Protocol):
    """The first answer per idempotency key (PixVerse Ai-trace-id), replayed."""

    def __len__(self) -> int: ...
    def once(self, key: Hashable, make: Callable[[], Awaitable[Any]],
             reusable: Callable[[Any], Awaitable[bool]] | None = None,
             revive: Callable[[Any], Any] | None = None, *, reads_first: bool = False) -> Awaitable[Any]: ...
    def clear(self) -> None: ...


class FaultRules(Protocol):
    """Fault rules with their budgets (``times``, ``nth``) and counters."""

    counts: Counter[tuple[str, str]]
    log: deque[dict[str, Any]]
    hanging: int
    stopping: bool
    directives: bool
    # The provider names rules may select (None: any) and the validation context
    # that says so.
    providers: tuple[str, ...] | None
    context: dict[str, Any] | None

    def __len__(self) -> int: ...
    def add(self, rule: FaultRule | Mapping[str, Any], source: str = ...) -> FaultRule: ...
    def get(self, rule_id: str) -> FaultRule | None: ...
    def remove(self, rule_id: str) -> bool: ...
    def list(self, test_id: str | None = None) -> builtins.list[dict[str, Any]]: ...
    def clear(self, test_id: str | None = None) -> int: ...
    def remove_all(self) -> int: ...
    def armed(self, directive: bool) -> bool: ...
    # Whether rules and budgets are shared (then a request asks ``decide_shared``).
    shared: bool

    def decide(self, ctx: FaultContext) -> Decision | None: ...
    def decide_shared(self, ctx: FaultContext) -> Awaitable[Decision | None]: ...
    # The admin plane awaits it before reading and after changing rules (``ids``: how
    # many new rule ids it is about to need): a shared rule set sends and reloads.
    def sync(self, ids: int = 0) -> Awaitable[None]: ...
    def record(self, provider: str, operation: str, decision: Decision) -> builtins.list[str]: ...
    def wait(self, seconds: float) -> Awaitable[None]: ...
    def stop(self) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, data: Mapping[str, Any]) -> None: ...


class RequestJournal(Protocol):
    """What the provider routes answered, newest last, bounded."""

    max_entries: int
    body_limit: int
    evicted: int
    watchers: int

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Entry]: ...
    def record(self, time: float, wall: float, provider: str | None, operation: str | None,
               method: str, path: str, query: str, status: int, latency_ms: float,
               *args: Any, **kwargs: Any) -> int: ...
    def keep_headers(self, seq: int, api_key: str | None, request_headers: Any,
                     response_headers: Any) -> None: ...
    def headers(self, seq: int) -> tuple[Headers, Headers] | None: ...
    def get(self, seq: int) -> Entry | None: ...
    def newest(self, count: int, criteria: dict[str, Any] | None = None) -> list[Entry]: ...
    def find(self, criteria: dict[str, Any] | None = None, since: int | None = None) -> list[Entry]: ...
    def count(self, criteria: dict[str, Any] | None = None) -> int: ...
    def clear(self, test_id: str | None = None) -> int: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, data: dict[str, Any]) -> None: ...
    # Readers await it first: a shared journal sends every worker's entries and
    # fetches the newer ones (the memory journal returns at once).
    def sync(self) -> Awaitable[None]: ...


class WebhookSchedule(Protocol):
    """Watched jobs, deliveries due, the delivery log and account webhooks."""

    settings: Any
    providers: tuple[str, ...] | None
    counts: dict[str, int]
    lifetime_counts: dict[tuple[str, str], int]
    log: deque[dict[str, Any]]
    faults: list[DeliveryFault]
    closed: bool

    @property
    def running(self) -> bool: ...

    @property
    def watching(self) -> int: ...
    @property
    def pending(self) -> int: ...
    def watch(self, job: Job, channel: Channel, url: str, context: dict[str, Any] | None = None,
              initial: Hashable | None = None) -> Watch: ...
    def notice(self, job: Job) -> None: ...
    def define_account(self, provider: str, hook: AccountHook) -> None: ...
    def account(self, provider: str, api_key: str | None = None) -> AccountHook | None: ...
    def accounts(self, provider: str) -> list[dict[str, Any]]: ...
    def entries(self, provider: str | None = None, job_id: str | None = None, outcome: str | None = None,
                test_id: str | None = None, delivery_id: str | None = None) -> list[dict[str, Any]]: ...
    def set_account(self, provider: str, api_key: str | None, *, url: str | None = ...,
                    secret: str | None = None, variant: str | None = None) -> AccountHook: ...
    def drop_account(self, provider: str, api_key: str | None) -> None: ...
    def new_id(self) -> str: ...
    def nonce(self, length: int = 32) -> str: ...
    def timestamp(self) -> int: ...
    def add_fault(self, fault: DeliveryFault) -> DeliveryFault: ...
    def clear_log(self) -> int: ...
    def use_channels(self, channels: dict[str, Channel]) -> None: ...
    # As FaultRules.sync, for the log, account webhooks and delivery faults.
    def sync(self, ids: int = 0) -> Awaitable[None]: ...
    def remove_fault(self, fault_id: str | None = None) -> int: ...
    def summary(self) -> dict[str, Any]: ...
    def reset(self, test_id: str | None = None) -> int: ...
    def clock_changed(self) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, data: dict[str, Any], channels: dict[str, Channel],
                job: Callable[[str, str], Job | None]) -> None: ...
    # Delivering runs beside the state: started and stopped with the app.
    def start(self, sender: Sender) -> Awaitable[None]: ...
    def drain(self, timeout: float = 30.0) -> Awaitable[int]: ...
    def close(self) -> Awaitable[None]: ...


class Clock(Protocol):
    """Virtual unix seconds: scaled, freezable, advanceable."""

    @property
    def scale(self) -> float: ...
    @property
    def frozen(self) -> bool: ...
    def now(self) -> float: ...
    def wall_at(self, virtual: float) -> float: ...
    def wall_delay(self, virtual_seconds: float) -> float: ...
    def set_scale(self, scale: float) -> None: ...
    def freeze(self) -> None: ...
    def unfreeze(self) -> None: ...
    def advance(self, seconds: float) -> float: ...
    def on_change(self, listener: Callable[[], None]) -> None: ...
    def anchors(self) -> tuple[float, float, float, bool]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, data: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class State:
    """One store of each kind: everything the fake would lose on a restart."""

    clock: Clock
    rng: random.Random
    jobs: JobStorage
    uploads: UploadStorage
    ledger: CreditLedger
    concurrency: ConcurrencyCounter
    rate_limits: RateWindows
    idempotency: ReplayStore
    faults: FaultRules
    journal: RequestJournal
    webhooks: WebhookSchedule


class Hooks(Protocol):
    """What the stores ask the engine (job status and liveness, refunds on a status a
    webhook observed), so they need not know the engine."""

    def status(self, job: Job) -> str: ...
    def _alive(self, job: Job) -> bool: ...
    def _wall_until(self, job: Job) -> float | None: ...
    def _settle(self, job: Job, state: str) -> None: ...


def memory_state(settings: Settings, hooks: Hooks, providers: Iterable[str] | None = None,
                 webhook_providers: Iterable[str] | None = None) -> State:
    """The in-memory stores for ``settings`` (the default backend); ``providers`` and
    ``webhook_providers`` as :class:`~.core.Engine` takes them."""
    from .clock import VirtualClock
    from .faults import FaultSet, fault_rng
    from .idempotency import IdempotencyStore
    from .jobs import TERMINAL
    from .journal import Journal
    from .ledger import Ledger
    from .limits import ConcurrencyCaps, RateLimiter
    from .store import JobStore, UploadStore
    from .webhooks import WebhookScheduler

    clock = VirtualClock(settings.time_scale)
    virtual_rates = settings.accounts.rate_limit_clock == "virtual"
    # Signature timestamps follow `timestamp_clock` unless the webhook section says.
    hooks_settings = settings.webhooks.model_copy(update={
        "timestamp_clock": settings.webhooks.timestamp_clock or settings.timestamp_clock})
    webhooks = WebhookScheduler(
        clock, hooks_settings, seed=settings.seed, providers=webhook_providers,
        status_at=lambda job, t: job.status(t, settings.progress_mode, settings.queued_polls,
                                            settings.running_polls),
        progress_mode=lambda: settings.progress_mode, on_status=hooks._settle)
    clock.on_change(webhooks.clock_changed)
    return State(
        clock=clock,
        rng=random.Random(settings.seed),
        jobs=JobStore(settings.retention_max_jobs, settings.retention_seconds,
                      settings.retention_max_request_bytes,
                      finished=lambda job: hooks.status(job) in TERMINAL),
        uploads=UploadStore(settings.retention_max_upload_bytes, settings.retention_max_jobs),
        ledger=Ledger(settings.starting_balance, settings.accounts.refunds),
        concurrency=ConcurrencyCaps(settings.accounts.concurrency, hooks.status, hooks._alive,
                                    hooks._wall_until),
        rate_limits=RateLimiter(settings.rate_rules(),
                                clock.now if virtual_rates else time.monotonic,
                                (lambda: 1 / clock.scale) if virtual_rates else (lambda: 1.0)),
        idempotency=IdempotencyStore(),
        faults=FaultSet(fault_rng(settings.seed), settings.faults, directives=settings.fault_directives,
                        providers=providers),
        journal=Journal(settings.journal_max_entries, settings.journal_body_limit,
                        settings.journal_max_bytes),
        webhooks=webhooks,
    )
