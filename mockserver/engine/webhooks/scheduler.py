"""Webhook deliveries, scheduled on the virtual clock.  The only background work of the fake.

A job's status is derived from its plan and the clock, so nothing "happens" when it
changes: this scheduler computes *when* each watched job changes status (its plan's
queue and run seconds, in time mode) and checks it then; poll-count and manual modes
change status on reads and admin forcing, which call :meth:`WebhookScheduler.notice`.
Each change the provider can see becomes a :class:`Delivery`, attempted at its due
time, retried on the provider's schedule after a failure.

Shape, for 10,000 jobs in flight and more:

- one heap of ``(due, seq, item)``: a watch's next status check or a delivery's next
  attempt, earliest first;
- one sleeper task, woken by the earliest due time, by new earlier items and by clock
  changes (advance, freeze, rescale: the clock calls :meth:`clock_changed`);
- a pool of ``max_in_flight`` workers doing the attempts; one job's deliveries are
  attempted one after another, in the order its status changed.

Provider specifics come from a :class:`Channel` the adapter supplies (which states it
reports, body, signature headers, what counts as accepted, retry schedule); the HTTP
client is an injected ``sender`` (the app wires aiohttp), so this module imports no
HTTP library.  Every attempt lands in a bounded delivery log.  Deliveries go only to
allowed hosts.  On :meth:`close`, deliveries already due are attempted within a grace
period and whatever is left is logged as ``undelivered``: none disappears silently.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import string
import time
from collections import deque
from typing import Any, Callable, Hashable, Iterable

from ..clock import VirtualClock
from ..jobs import TERMINAL, Job
from ..snapshots import next_of, rng_state, set_rng_state
from .accounts import AccountHook
from .deliveries import DELIVERED, ERROR, FAILED, REFUSED, UNDELIVERED, Channel, Delivery, Sender, SendResult, Watch
from .faults import DeliveryFault
from .hosts import host_allowed, normalise_host_url
from .redaction import redact_url, response_excerpt

log = logging.getLogger("mockserver.webhooks")

_ALNUM = string.ascii_letters + string.digits
_EPSILON = 1e-6          # virtual seconds: due times this close to now are due
_YIELD_EVERY = 500       # heap items handled before giving the event loop a turn
DEFAULT_HOLD_S = 60.0    # virtual seconds an out-of-order delivery waits at most
_SHUTDOWN_LINES = 20     # undelivered deliveries named one by one in the shutdown warning


# the scheduler -------------------------------------------------------------------------------
_CHECK, _DELIVERY, _RELEASE = 0, 1, 2


class WebhookScheduler:
    """Watches jobs, turns their status changes into deliveries, attempts them.

    ``settings`` is :class:`mockserver.settings.WebhookSettings`; ``status_at(job, t)``
    the neutral status of ``job`` at virtual time ``t``; ``progress_mode`` the
    settings' mode (time checks are scheduled only in ``time`` mode); ``on_status(job,
    state)`` is told of every status a webhook observes (refunds hang off it).
    """

    def __init__(self, clock: VirtualClock, settings: Any, *,
                 status_at: Callable[[Job, float], str],
                 progress_mode: Callable[[], str],
                 on_status: Callable[[Job, str], Any] | None = None,
                 seed: int | None = None,
                 accounts: dict[str, AccountHook] | None = None,
                 providers: Iterable[str] | None = None) -> None:
        # Providers whose deliveries a fault may select (None: any name).
        self.providers: tuple[str, ...] | None = None if providers is None else tuple(providers)
        self.clock = clock
        self.settings = settings
        self._status_at = status_at
        self._mode = progress_mode
        self._on_status = on_status
        self._rng = random.Random(None if seed is None else ("webhooks", seed).__repr__())
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, int, Any]] = []
        self._watches: dict[tuple[str, str], Watch] = {}
        self._held: dict[str, list[Delivery]] = {}
        self._pending: dict[int, Delivery] = {}  # seq -> delivery not finished (heap, held, ready)
        self.faults: list[DeliveryFault] = []
        self._fault_ids = itertools.count(1)
        self.log: deque[dict[str, Any]] = deque(maxlen=max(1, settings.log_max_entries))
        self._log_seq = itertools.count(1)
        self.counts: dict[str, int] = {k: 0 for k in (DELIVERED, FAILED, ERROR, REFUSED, UNDELIVERED)}
        # (provider, outcome) -> attempts over the process's life, never reset (metrics).
        self.lifetime_counts: dict[tuple[str, str], int] = {}
        # provider -> default account hook; (provider, api_key) -> per-key override
        self._account_defaults: dict[str, AccountHook] = dict(accounts or {})
        self._account_profile = {p: AccountHook(h.url, h.secret, h.variant) for p, h in self._account_defaults.items()}
        self._accounts: dict[tuple[str, str], AccountHook] = {}
        # runtime
        self._sender: Sender | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Queue[Delivery] | None = None
        self._busy: dict[tuple[str, str], deque[Delivery]] = {}
        self._task: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._outstanding = 0  # queued for the workers or being attempted
        self._closing = False
        self.closed = False

    # accounts ----------------------------------------------------------------------------
    def define_account(self, provider: str, hook: AccountHook) -> None:
        """Declare that ``provider`` has account-level webhooks, with ``hook`` as the
        default every key starts with (from the settings; a full reset returns to it)."""
        self._account_profile[provider] = AccountHook(hook.url, hook.secret, hook.variant)
        self._account_defaults[provider] = hook

    def account(self, provider: str, api_key: str | None = None) -> AccountHook | None:
        """The webhook of ``api_key``'s account at ``provider`` (the key's own, else
        the provider's default), None when the provider has none."""
        if api_key is not None:
            own = self._accounts.get((provider, api_key))
            if own is not None:
                return own
        return self._account_defaults.get(provider)

    def set_account(self, provider: str, api_key: str | None, *, url: str | None = ...,  # type: ignore[assignment]
                    secret: str | None = None, variant: str | None = None) -> AccountHook:
        """Change the default hook (``api_key`` None) or one key's; unset fields keep
        their current value.  Raises KeyError for a provider without account hooks."""
        base = self.account(provider, api_key)
        if base is None:
            raise KeyError(provider)
        hook = AccountHook(base.url if url is ... else url, secret or base.secret, variant or base.variant)
        if api_key is None:
            self._account_defaults[provider] = hook
        else:
            self._accounts[(provider, api_key)] = hook
        return hook

    def drop_account(self, provider: str, api_key: str | None) -> None:
        """Forget one key's override, or (``api_key`` None) every override and the
        default's changes."""
        if api_key is not None:
            self._accounts.pop((provider, api_key), None)
            return
        for key in [k for k in self._accounts if k[0] == provider]:
            del self._accounts[key]
        if provider in self._account_profile:
            p = self._account_profile[provider]
            self._account_defaults[provider] = AccountHook(p.url, p.secret, p.variant)

    def accounts(self, provider: str) -> list[dict[str, Any]]:
        return [{"api_key": k, **h.view()} for (p, k), h in self._accounts.items() if p == provider]

    # ids -----------------------------------------------------------------------------------
    def _token(self, length: int) -> str:
        # One draw of random bits, spelt in base 62 (letters and digits).
        n = self._rng.getrandbits(6 * length)
        out = []
        for _ in range(length):
            n, r = divmod(n, 62)
            out.append(_ALNUM[r])
        return "".join(out)

    def new_id(self) -> str:
        """A delivery id: ``msg_`` and 27 letters and digits (Svix's layout)."""
        return "msg_" + self._token(27)

    def nonce(self, length: int = 32) -> str:
        return self._token(length)

    def timestamp(self) -> int:
        """Unix seconds for a signature: wall time, or virtual (``timestamp_clock``)."""
        return int(self.clock.now() if self.settings.timestamp_clock == "virtual" else time.time())

    # watching ------------------------------------------------------------------------------
    @property
    def watching(self) -> int:
        return len(self._watches)

    def watch(self, job: Job, channel: Channel, url: str, context: dict[str, Any] | None = None,
              initial: Hashable | None = None) -> Watch:
        """Deliver ``job``'s status changes to ``url``.  ``initial`` is the provider
        status the client already saw (the create answer), which is no change."""
        checks = []
        if self._mode() == "time" and job.forced is None:
            checks = sorted({job.created_at + job.plan.queue_s, job.finishes_at})
        w = Watch(job, channel, url, context or {}, initial, checks)
        self._watches[(job.provider, job.id)] = w
        self._advance(w, self.clock.now())
        return w

    def notice(self, job: Job) -> None:
        """The job may have changed status outside the clock's schedule (a poll in
        poll-count mode, an admin force): deliver what changed."""
        if not self._watches:
            return
        w = self._watches.get((job.provider, job.id))
        if w is not None:
            self._advance(w, self.clock.now())

    def _advance(self, w: Watch, now: float) -> None:
        """Emit every status change of ``w`` up to ``now``, in order, and schedule its
        next check."""
        while w.checks and w.checks[0] <= now + _EPSILON and not w.done:
            t = w.checks.pop(0)
            # The plan's boundary, a hair later: created_at + queue_s may round below it.
            self._check(w, t, t + 4 * math.ulp(t) + 1e-9)
        if not w.done:
            self._check(w, now)
        if w.done or not w.checks:
            w.scheduled = None
            return
        nxt = w.checks[0]
        if w.scheduled != nxt:
            w.scheduled = nxt
            self._push(nxt, _CHECK, w)

    def _check(self, w: Watch, t: float, probe: float | None = None) -> None:
        state = self._status_at(w.job, t if probe is None else probe)
        event = w.channel.visible(state)
        if state in TERMINAL and self._on_status is not None:
            self._on_status(w.job, state)
        if event is None or event == w.last:
            return
        w.last = event
        self._new_delivery(w, state, event, min(t, self.clock.now()))
        if state in TERMINAL:
            w.done = True
            self._watches.pop((w.job.provider, w.job.id), None)

    # deliveries ----------------------------------------------------------------------------
    def _new_delivery(self, w: Watch, state: str, event: Hashable, at: float,
                      source: Delivery | None = None) -> Delivery:
        d = Delivery(id=source.id if source else self.new_id(), watch=w, state=state, event=event,
                     changed_at=at, due=at, seq=next(self._seq),
                     body=source.body if source else None, duplicate=source is not None)
        self._pending[d.seq] = d
        if source is None:
            self._apply_faults(d)
        if d.hold_s is not None:
            d.held = True
            self._held.setdefault(d.url, []).append(d)
            self._push(d.due + d.hold_s, _RELEASE, d)
        else:
            self._push(d.due, _DELIVERY, d)
        return d

    def _apply_faults(self, d: Delivery) -> None:
        for rule in self.faults:
            if not rule.matches(d):
                continue
            rule.fire()
            d.faults.append(rule.kind)
            if rule.kind == "delay":
                d.due += rule.seconds or 0.0
            elif rule.kind == "duplicate":
                d.duplicate_after = rule.seconds or 0.0
            else:
                d.hold_s = DEFAULT_HOLD_S if rule.seconds is None else rule.seconds

    def _push(self, due: float, kind: int, item: Any) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), kind, item))
        if self._heap[0][3] is item:
            self._poke()

    def clock_changed(self) -> None:
        """The clock was advanced, frozen, unfrozen or rescaled: recompute the sleep."""
        self._poke()

    def _poke(self) -> None:
        """Wake the sleeper, from its own loop or (a test driving the engine from
        another thread) thread-safely."""
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop is closed
                pass

    def _process_due(self, now: float, limit: int | None = None) -> int:
        """Move everything due by ``now`` along (at most ``limit`` heap items):
        checks emit deliveries, due deliveries go to the workers, expired holds are
        released.  Returns how many heap items were handled.  Needs :meth:`start`."""
        handled = 0
        heap = self._heap
        while heap and heap[0][0] <= now + _EPSILON and (limit is None or handled < limit):
            _, _, kind, item = heapq.heappop(heap)
            handled += 1
            if kind == _CHECK:
                if not item.done and item.scheduled is not None and item.checks \
                        and item.scheduled == item.checks[0]:
                    item.scheduled = None
                    self._advance(item, now)
            elif kind == _DELIVERY:
                if not item.cancelled and not item.finished:
                    self._enqueue(item)
            elif item.held and not item.cancelled:
                self._release(item)
        return handled

    def _enqueue(self, d: Delivery) -> None:
        assert self._ready is not None, "the webhook scheduler is not running"
        self._outstanding += 1
        self._ready.put_nowait(d)

    def _release(self, d: Delivery) -> None:
        held = self._held.get(d.url)
        if held and d in held:
            held.remove(d)
            if not held:
                del self._held[d.url]
        d.held = False
        self._enqueue(d)

    def _release_held(self, url: str, after: Delivery) -> None:
        for d in list(self._held.get(url, ())):
            if d is not after:
                self._release(d)

    # attempts -------------------------------------------------------------------------------
    async def _attempt(self, d: Delivery) -> None:
        channel = d.watch.channel
        sent_at = self.clock.now()
        entry: dict[str, Any] = {
            "seq": next(self._log_seq), "delivery_id": d.id, "provider": d.provider,
            "job_id": d.job_id, "test_id": d.watch.job.test_id, "event": d.event, "state": d.state,
            "url": redact_url(d.url), "attempt": d.attempts + 1, "changed_at": d.changed_at,
            "scheduled_at": d.due, "sent_at": sent_at, "wall_time": time.time(),
            "duplicate": d.duplicate, "faults": list(d.faults),
            "http_status": None, "response": None, "error": None, "next_attempt_at": None,
            "duration_ms": 0.0,
        }
        if not host_allowed(d.url, self.settings.allowed_hosts):
            d.finished = True
            self._finish(d, entry, REFUSED, error="host not allowed (webhooks.allowed_hosts)")
            return
        started = time.perf_counter()
        try:
            if d.body is None:
                d.body = await channel.render(d.watch, d.state)
            headers = channel.headers(d, d.body, self.timestamp())
        except Exception as exc:  # a broken channel must not kill the worker
            log.exception("webhook %s for %s/%s could not be built", d.id, d.provider, d.job_id)
            d.finished = True
            self._finish(d, entry, ERROR, error=f"could not build the delivery: {exc!r}")
            return
        entry["request_headers"] = headers
        d.attempts += 1
        assert self._sender is not None
        try:
            result = await self._sender(normalise_host_url(d.url), headers, d.body, self.settings.timeout_s)
        except Exception as exc:  # senders should not raise; be safe anyway
            result = SendResult(None, "", f"{type(exc).__name__}: {exc}")
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        entry["http_status"] = result.status
        text = result.text
        entry["response"] = response_excerpt(text, self.settings.response_max_chars) if text else text
        if result.status is not None and channel.accepted(result.status, result.text):
            d.finished = True
            self._finish(d, entry, DELIVERED)
            if d.duplicate_after is not None and not d.duplicate:
                copy = self._new_delivery(d.watch, d.state, d.event, self.clock.now() + d.duplicate_after, source=d)
                copy.faults.append("duplicate")
        else:
            outcome = FAILED if result.status is not None else ERROR
            schedule = channel.retry_schedule()
            if d.attempts <= len(schedule) and not self._closing and not d.cancelled:
                d.due = sent_at + schedule[d.attempts - 1]
                entry["next_attempt_at"] = d.due
                self._push(d.due, _DELIVERY, d)
                self._finish(d, entry, outcome, error=result.error, final=False)
            else:
                d.finished = True
                entry["gave_up"] = not self._closing
                self._finish(d, entry, outcome, error=result.error or (
                    "shutting down: no retry" if self._closing else None))
        if d.attempts == 1:
            self._release_held(d.url, d)

    def _finish(self, d: Delivery, entry: dict[str, Any], outcome: str, *, error: str | None = None,
                final: bool = True) -> None:
        entry["outcome"] = outcome
        if error is not None:
            entry["error"] = error
        self._count(d, outcome)
        self.log.append(entry)
        if final:
            self._pending.pop(d.seq, None)

    def _count(self, d: Delivery, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        key = (d.provider, outcome)
        self.lifetime_counts[key] = self.lifetime_counts.get(key, 0) + 1

    def _log_undelivered(self, d: Delivery, reason: str) -> None:
        self._pending.pop(d.seq, None)
        d.finished = True
        self._count(d, UNDELIVERED)
        self.log.append({
            "seq": next(self._log_seq), "delivery_id": d.id, "provider": d.provider, "job_id": d.job_id,
            "test_id": d.watch.job.test_id, "event": d.event, "state": d.state, "url": redact_url(d.url),
            "attempt": d.attempts + 1, "changed_at": d.changed_at, "scheduled_at": d.due, "sent_at": None,
            "wall_time": time.time(), "duplicate": d.duplicate, "faults": list(d.faults),
            "http_status": None, "response": None, "error": reason, "next_attempt_at": None,
            "duration_ms": 0.0, "outcome": UNDELIVERED,
        })

    # running --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, sender: Sender) -> None:
        """Start the sleeper and the workers on the running loop."""
        if self.running:
            return
        if self.closed:
            raise RuntimeError("a closed webhook scheduler cannot start again")
        self._sender = sender
        self._closing = False
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready = asyncio.Queue()
        # Deliveries parked before the start go through the heap as usual.
        self._workers = [asyncio.create_task(self._worker(), name=f"webhook-worker-{n}")
                         for n in range(max(1, self.settings.max_in_flight))]
        self._task = asyncio.create_task(self._run(), name="webhook-scheduler")

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            self._wake.clear()
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now + _EPSILON and not self._closing:
                self._process_due(now, _YIELD_EVERY)
                await asyncio.sleep(0)
                now = self.clock.now()
            if not self._heap:
                await self._wake.wait()
                continue
            delay = self.clock.wall_delay(self._heap[0][0] - now)
            if delay == float("inf"):
                await self._wake.wait()
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.0005))
            except asyncio.TimeoutError:
                pass

    async def _worker(self) -> None:
        assert self._ready is not None
        ready = self._ready
        while True:
            d = await ready.get()
            key = (d.provider, d.job_id)
            chain = self._busy.get(key)
            if chain is not None:  # this job has an attempt running: go after it
                chain.append(d)
                continue
            chain = self._busy[key] = deque()
            item: Delivery | None = d
            try:
                while item is not None:
                    self._in_flight += 1
                    try:
                        if not item.cancelled and not item.finished:
                            await self._attempt(item)
                    finally:
                        self._in_flight -= 1
                        self._outstanding -= 1
                        ready.task_done()
                    item = chain.popleft() if chain else None
            finally:
                self._busy.pop(key, None)

    async def drain(self, timeout: float = 30.0) -> int:
        """Attempt everything due now and wait for those attempts (and retries that
        fall due meanwhile) to finish.  Returns how many heap items were handled.
        Needs :meth:`start`.  Raises TimeoutError after ``timeout`` wall seconds."""
        if self._ready is None:
            raise RuntimeError("the webhook scheduler is not running")
        handled = 0

        async def settle() -> None:
            nonlocal handled
            while True:
                handled += self._process_due(self.clock.now())
                await self._ready.join()  # type: ignore[union-attr]
                # The sleeper may have queued something meanwhile (a duplicate's copy).
                if self._outstanding == 0 and not (
                        self._heap and self._heap[0][0] <= self.clock.now() + _EPSILON):
                    return

        await asyncio.wait_for(settle(), timeout)
        return handled

    async def close(self) -> None:
        """Stop: attempt what is due within ``shutdown_grace_s``, log the rest as
        ``undelivered``.  Safe to call twice."""
        if self.closed:
            return
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        now = self.clock.now()
        if self._ready is not None:
            for url in list(self._held):
                for d in list(self._held.get(url, ())):
                    self._release(d)
            self._process_due(now)
            try:
                await asyncio.wait_for(self._ready.join(), self.settings.shutdown_grace_s)
            except asyncio.TimeoutError:
                pass
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
        left = sorted(self._pending.values(), key=lambda d: (d.due, d.seq))
        for d in left:
            self._log_undelivered(d, "undelivered at shutdown" if d.attempts == 0
                                  else "undelivered at shutdown (retry pending)")
        changes = sum(len(w.checks) for w in self._watches.values())
        if left:
            log.warning("webhooks: %d deliveries undelivered at shutdown", len(left))
            for d in left[:_SHUTDOWN_LINES]:
                log.warning("  undelivered: %s job %s status %s to %s (%d attempts made)",
                            d.provider, d.job_id, d.event, redact_url(d.url), d.attempts)
            if len(left) > _SHUTDOWN_LINES:
                log.warning("  ... and %d more", len(left) - _SHUTDOWN_LINES)
        if changes:
            # Deliveries not yet due (the job has not reached that status): counted too.
            log.warning("webhooks: %d deliveries not yet due at shutdown (status changes still ahead "
                        "for %d watched jobs)", changes, len(self._watches))
        self._heap.clear()
        self._held.clear()
        self._busy.clear()
        self._ready = None
        self._wake = None
        self.closed = True

    # admin ------------------------------------------------------------------------------------
    def add_fault(self, fault: DeliveryFault) -> DeliveryFault:
        if fault.id is None:
            fault.id = f"wf{next(self._fault_ids)}"
        self.faults = [f for f in self.faults if f.id != fault.id] + [fault]
        return fault

    def remove_fault(self, fault_id: str | None = None) -> int:
        before = len(self.faults)
        self.faults = [] if fault_id is None else [f for f in self.faults if f.id != fault_id]
        return before - len(self.faults)

    def entries(self, provider: str | None = None, job_id: str | None = None, outcome: str | None = None,
                test_id: str | None = None, delivery_id: str | None = None) -> list[dict[str, Any]]:
        """Delivery log entries matching every filter given, oldest first."""
        return [e for e in self.log
                if (provider is None or e["provider"] == provider)
                and (job_id is None or e["job_id"] == job_id)
                and (outcome is None or e["outcome"] == outcome)
                and (test_id is None or e["test_id"] == test_id)
                and (delivery_id is None or e["delivery_id"] == delivery_id)]

    @property
    def pending(self) -> int:
        """Deliveries not finished: due later, held behind another, or awaiting a retry."""
        return len(self._pending)

    def summary(self) -> dict[str, Any]:
        return {
            "running": self.running, "watching": len(self._watches), "pending": self.pending,
            "held": sum(len(v) for v in self._held.values()), "in_flight": self._in_flight,
            "due": sum(1 for due, _, kind, item in self._heap
                       if kind == _DELIVERY and due <= self.clock.now() + _EPSILON and not item.cancelled),
            "counts": dict(self.counts), "log_size": len(self.log), "log_capacity": self.log.maxlen,
            "allowed_hosts": list(self.settings.allowed_hosts),
            "faults": [f.view() for f in self.faults],
        }

    # the state file --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Account webhooks, watched jobs, deliveries not finished, the delivery log,
        counts, delivery faults and the id rng, JSON-ready (the state file).  A
        delivery held for ``out_of_order`` is saved as due at its own time."""
        watches: list[dict[str, Any]] = []
        index: dict[int, int] = {}

        def ref(w: Watch) -> int:
            n = index.get(id(w))
            if n is None:
                n = index[id(w)] = len(watches)
                watches.append({"provider": w.job.provider, "job_id": w.job.id, "channel": w.channel.provider,
                                "url": w.url, "context": w.context, "last": w.last, "checks": w.checks,
                                "done": w.done})
            return n

        for w in self._watches.values():
            ref(w)
        deliveries = [{"id": d.id, "watch": ref(d.watch), "state": d.state, "event": d.event,
                       "changed_at": d.changed_at, "due": d.due, "attempts": d.attempts,
                       "body": None if d.body is None else d.body.decode("latin-1"),
                       "duplicate": d.duplicate, "faults": d.faults, "duplicate_after": d.duplicate_after}
                      for d in self._pending.values() if not d.cancelled and not d.finished]
        return {
            "account_defaults": {p: [h.url, h.secret, h.variant] for p, h in self._account_defaults.items()},
            "accounts": [[p, k, h.url, h.secret, h.variant] for (p, k), h in self._accounts.items()],
            "watches": watches, "deliveries": deliveries,
            "log": list(self.log), "log_seq": next_of(self._log_seq),
            "counts": self.counts, "lifetime_counts": [[p, o, n] for (p, o), n in self.lifetime_counts.items()],
            "faults": [f.view() for f in self.faults], "fault_seq": next_of(self._fault_ids),
            "rng": rng_state(self._rng),
        }

    def restore(self, data: dict[str, Any], channels: dict[str, Channel],
                job: Callable[[str, str], Job | None]) -> None:
        """Take a snapshot's state.  ``channels`` are the providers' channels by name,
        ``job(provider, id)`` the stored job: a watch whose job or channel is gone is
        dropped.  Raises ValueError (or pydantic.ValidationError) for bad data."""
        self.reset()
        for p, (url, secret, variant) in data["account_defaults"].items():
            self._account_defaults[p] = AccountHook(url, secret, variant)
        for p, k, url, secret, variant in data["accounts"]:
            self._accounts[(p, k)] = AccountHook(url, secret, variant)
        self.log.extend(data["log"])
        self._log_seq = itertools.count(int(data["log_seq"]))
        self.counts.update({k: int(v) for k, v in data["counts"].items()})
        self.lifetime_counts = {(p, o): int(n) for p, o, n in data["lifetime_counts"]}
        self.faults = [DeliveryFault.from_view(f) for f in data["faults"]]
        self._fault_ids = itertools.count(int(data["fault_seq"]))
        set_rng_state(self._rng, data["rng"])

        def hashable(value: Any) -> Hashable:
            return tuple(value) if isinstance(value, list) else value

        now = self.clock.now()
        restored: list[Watch | None] = []
        for r in data["watches"]:
            found, channel = job(r["provider"], r["job_id"]), channels.get(r["channel"])
            if found is None or channel is None:
                restored.append(None)
                continue
            w = Watch(found, channel, r["url"], r["context"], hashable(r["last"]),
                      [float(t) for t in r["checks"]], done=bool(r["done"]))
            restored.append(w)
            if not w.done:
                self._watches[(found.provider, found.id)] = w
        for r in data["deliveries"]:
            w = restored[r["watch"]]
            if w is None:
                continue
            d = Delivery(id=r["id"], watch=w, state=r["state"], event=hashable(r["event"]),
                         changed_at=float(r["changed_at"]), due=float(r["due"]), seq=next(self._seq),
                         attempts=int(r["attempts"]), body=None if r["body"] is None else r["body"].encode("latin-1"),
                         duplicate=bool(r["duplicate"]), faults=list(r["faults"]),
                         duplicate_after=r["duplicate_after"])
            self._pending[d.seq] = d
            self._push(d.due, _DELIVERY, d)
        for w in list(self._watches.values()):
            self._advance(w, now)

    def reset(self, test_id: str | None = None) -> int:
        """Forget watches and pending deliveries (all, or one test id's); a full
        reset also clears the log, the delivery faults and the account hooks set at
        run time.  Returns how many pending deliveries were dropped."""
        if test_id is None:
            dropped = len(self._pending)
            for d in self._pending.values():
                d.cancelled = True
            self._pending.clear()
            self._watches.clear()
            self._held.clear()
            self._heap.clear()
            self.log.clear()
            self.faults = []
            for k in self.counts:
                self.counts[k] = 0
            for provider in list(self._account_profile):
                self.drop_account(provider, None)
            return dropped
        doomed = [d for d in self._pending.values() if d.watch.job.test_id == test_id]
        for d in doomed:
            d.cancelled = True
            self._pending.pop(d.seq, None)
            held = self._held.get(d.url)
            if held and d in held:
                held.remove(d)
        for key in [k for k, w in self._watches.items() if w.job.test_id == test_id]:
            self._watches.pop(key).done = True
        return len(doomed)
