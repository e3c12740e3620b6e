"""``check_client``: run a user's "submit and wait for the video" client against the fake
under fault schedules Hypothesis chooses, and hold it to what a correct client does.

The client is a callable ``fn(base_url, api_key, **extras)``, sync or async, that submits
one generation to one provider and returns the media URL, or raises.  Extras are passed
when its signature names them:

- ``sleep``: a drop-in for ``time.sleep`` / ``asyncio.sleep`` (matching the callable)
  that moves the fake's virtual clock instead of waiting, so a client that polls every
  5 s runs in milliseconds.  Take it and use it for every wait: this is what makes the
  harness fast.  Without it, the client's own waits are real and the fake runs at
  ``time_scale`` (scale your waits down by as much);
- ``timeout``: seconds the client should give each HTTP request before giving up.  With
  it the harness also schedules submits whose answer comes after that timeout (the job
  is created, the client never hears of it): the duplicate-job trap.

Each run gets its own API key; every fault is a rule scoped to that key
(the README's Faults section), so runs never see each other's faults and a shared fake works.

Properties checked on every run (a violated one fails the check):

1. the client returns the media URL of the job it created, or raises an error declared
   for the run's outcome (``errors``): ``failed``, ``moderated``, and ``ambiguous`` for a
   submit whose answer was lost (a reset or a timeout), which a client of a provider
   without idempotency may report instead of retrying; never anything else;
2. it creates at most one job (PixVerse: a retried submit reuses its ``Ai-trace-id``;
   the others cannot dedupe, so a submit that timed out must not be sent again blindly);
3. after a 429 it waits at least ``Retry-After`` (virtual seconds, from the journal's
   timestamps) before its next request;
4. its status reads stay within what the provider's poll interval allows for the
   virtual time it waited (:data:`POLL_INTERVALS`).

A failure shows the smallest fault schedule Hypothesis shrank it to and the journal of
what the client sent.
"""
from __future__ import annotations

import asyncio
import inspect
import math
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from hypothesis import HealthCheck, Phase, example, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from .admin import MockAdmin, format_journal
from .contracts import poll_operations, provider_spec, submit_operations

__all__ = ["POLL_INTERVALS", "FAULT_KINDS",  # noqa: F822 (POLL_INTERVALS: module __getattr__)
           "CheckReport", "ClientCheckFailed", "Fault", "Schedule",
           "check_client", "schedules"]

def __getattr__(name: str) -> Any:
    # ``POLL_INTERVALS``: shortest poll interval (virtual seconds) each registered
    # provider's documentation allows (``ProviderSpec.poll_interval``, with its source).
    if name == "POLL_INTERVALS":
        return {s.name: s.poll_interval.low_s for s in _specs()}
    raise AttributeError(name)


def _specs() -> tuple[Any, ...]:
    from ..providers import specs

    return specs()

#: The fake's clock speed during a check: slow when the client's waits go through the
#: harness's ``sleep`` (then only the wall time of requests runs the clock, and slowly,
#: so timings stay sharp), fast when they are the client's own (scaled down by as much).
SLEEP_SCALE = 10.0
REAL_SLEEP_SCALE = 100.0

#: Fault kinds a schedule may hold (``faults=`` narrows them).
FAULT_KINDS = ("latency", "rate_limit", "server_error", "reset", "slow_polls", "timeout")

#: Outcomes a schedule plans for the job; the error keys a client may declare.
OUTCOMES = ("succeeded", "failed", "moderated_at_submit", "moderated_at_completion")
ERROR_KEYS = ("failed", "moderated", "ambiguous")

#: Journal lines a failure shows at most (the first and the last half).
JOURNAL_LINES = 60



# schedules -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    """One fault of a schedule, aimed at the ``nth`` submit or status read of the run.

    ``kind``: ``latency`` (``ms`` added), ``rate_limit`` (a 429 with the schedule's
    ``Retry-After``; PixVerse: ErrCode 500044), ``server_error`` (``status``; PixVerse:
    its ErrCode), ``reset`` (the connection drops before an answer), ``slow_polls``
    (every status read ``ms`` slower), ``timeout`` (the submit is answered ``ms`` late,
    after the client's timeout: the job exists, the client never learns of it).
    """

    kind: str
    on: str = "submit"
    nth: int = 1
    status: int | None = None
    ms: int | None = None

    def __str__(self) -> str:
        where = "every status read" if self.kind == "slow_polls" else f"{self.on} #{self.nth}"
        if self.kind == "latency":
            return f"{where}: {self.ms} ms late"
        if self.kind == "slow_polls":
            return f"{where}: {self.ms} ms slower"
        if self.kind == "rate_limit":
            return f"{where}: 429 Too Many Requests"
        if self.kind == "server_error":
            return f"{where}: HTTP {self.status}"
        if self.kind == "reset":
            return f"{where}: connection reset"
        return f"{where}: answered after {self.ms} ms, past the client's timeout (the job is created)"

    def rule(self, provider: str, api_key: str, retry_after: int) -> dict[str, Any]:
        ops: Any = "submit" if self.on == "submit" else sorted(poll_operations(provider))
        rule: dict[str, Any] = {"api_key": api_key, "operation": ops,
                                "description": f"check_client: {self}"}
        if self.kind != "slow_polls":
            rule["nth"] = self.nth
        if self.kind in ("latency", "slow_polls", "timeout"):
            rule["latency"] = self.ms
        elif self.kind == "rate_limit":
            rule.update(error=429, retry_after=retry_after)
        elif self.kind == "server_error":
            rule["error"] = self.status
        elif self.kind == "reset":
            rule["connection"] = "reset"
        return rule


@dataclass(frozen=True)
class Schedule:
    """What one run does to the client: the job's ``outcome`` and transient ``faults``.
    ``retry_after`` is the ``Retry-After`` (seconds) of every 429 in the run."""

    outcome: str = "succeeded"
    faults: tuple[Fault, ...] = ()
    retry_after: int = 1

    def __str__(self) -> str:
        lines = [f"outcome: {self.outcome.replace('_', ' ')}"]
        if any(f.kind == "rate_limit" for f in self.faults):
            lines.append(f"Retry-After: {self.retry_after} s")
        lines += [f"fault: {f}" for f in self.faults] or ["no faults"]
        return "\n".join(lines)

    @property
    def answer_may_be_lost(self) -> bool:
        """Whether a submit's answer never reaches the client (reset or timeout)."""
        return any(f.on == "submit" and f.kind in ("reset", "timeout") for f in self.faults)

    def rules(self, provider: str, api_key: str) -> list[dict[str, Any]]:
        """The fault rules of this run, oldest first: the outcome, then the faults (newer
        rules win a slot, so a transient error beats the outcome on the same submit)."""
        rules: list[dict[str, Any]] = []
        base = {"api_key": api_key, "operation": "submit"}
        if self.outcome == "failed":
            rules.append({**base, "outcome": "failed"})
        elif self.outcome == "moderated_at_completion":
            rules.append({**base, "outcome": "moderated"})
        elif self.outcome == "moderated_at_submit":
            rules.append({**base, "moderation": "submit"})
        rules += [f.rule(provider, api_key, self.retry_after) for f in self.faults]
        return rules


def schedules(provider: str, *, kinds: Iterable[str] = FAULT_KINDS, max_faults: int = 3,
              timeout: float | None = None, outcomes: Iterable[str] = OUTCOMES) -> st.SearchStrategy[Schedule]:
    """Fault schedules for one provider.  ``timeout`` (seconds) is the client's request
    timeout; without it no ``timeout`` faults are drawn.  Shrinks towards fewer, milder
    faults, the first submit or read, and success."""
    wanted = set(kinds)
    unknown = wanted - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
    kinds = [k for k in FAULT_KINDS if k in wanted]
    spec = provider_spec(provider)
    where = st.sampled_from(["submit", "poll"])
    nth = st.integers(1, 3)
    options: dict[str, st.SearchStrategy[Fault]] = {
        "latency": st.builds(Fault, st.just("latency"), where, nth, st.none(), st.integers(1, 40)),
        # Where the provider can answer a rate limit (PixVerse: submits only, 500044).
        "rate_limit": st.builds(Fault, st.just("rate_limit"), st.sampled_from(spec.rate_limits_on), nth),
        # HTTP 5xx the provider documents on both its submit and its status operations.
        "server_error": st.builds(Fault, st.just("server_error"), where, nth,
                                  st.sampled_from(spec.server_errors)),
        "reset": st.builds(Fault, st.just("reset"), where, nth),
        "slow_polls": st.builds(Fault, st.just("slow_polls"), st.just("poll"), st.just(1), st.none(),
                                st.integers(2, 10)),
    }
    if timeout is not None:
        # Twice the timeout: late enough that the client has surely given up.
        late = int(timeout * 2000)
        options["timeout"] = st.builds(Fault, st.just("timeout"), st.just("submit"), st.integers(1, 2),
                                       st.none(), st.just(late))
    chosen = [options[k] for k in kinds if k in options]
    faults = st.lists(st.one_of(chosen), max_size=max_faults,
                      unique_by=lambda f: (f.kind, f.on, f.nth)).map(tuple) if chosen else st.just(())
    return st.builds(Schedule, st.sampled_from([o for o in OUTCOMES if o in set(outcomes)]), faults,
                     st.integers(1, 10))


# failures ------------------------------------------------------------------------------

class ClientCheckFailed(AssertionError):
    """The client broke a property under some fault schedule; the message says which,
    under what schedule, and what it sent."""


class UnexpectedResult(ClientCheckFailed):
    """It raised something not declared for the outcome, or returned a wrong value."""


class DuplicateJobs(ClientCheckFailed):
    """It created more than one job for one call."""


class RetryAfterIgnored(ClientCheckFailed):
    """It sent a request sooner than a 429's Retry-After allowed."""


class TooManyPolls(ClientCheckFailed):
    """It read the job's status more often than the provider's poll interval allows."""


class StillWaiting(ClientCheckFailed):
    """It did not finish within the wall-clock or virtual-time budget."""


class _Stop(BaseException):
    """Raised from the harness's sleep to end a run that went on too long (a
    BaseException, so a client's ``except Exception`` cannot swallow it)."""


@dataclass
class CheckReport:
    """What :func:`check_client` ran: how many runs and their outcomes, e.g.
    ``{"url": 12, "failed": 4, "moderated": 5, "ambiguous": 2}``."""

    provider: str
    runs: int = 0
    results: Counter = field(default_factory=Counter)


# running one schedule ------------------------------------------------------------------

@dataclass
class _Run:
    returned: Any = None
    raised: BaseException | None = None
    trace: str = ""
    finished: bool = False
    timed_out: bool = False


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    # Named only: a client that takes **kwargs is not assumed to use what it is given.
    return name in params and params[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                   inspect.Parameter.KEYWORD_ONLY)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class _Clock:
    """The sleeps handed to the client: each moves the fake's clock instead of waiting,
    and ends the run (``_Stop``) once it is over budget or stopped."""

    def __init__(self, admin: MockAdmin, budget_s: float) -> None:
        self.admin = admin
        # In-process, the clock moves on the fake's own loop, without an HTTP round trip.
        self._engine = admin.engine if admin.fake is not None else None
        self.start = admin.now()
        self.budget_s = budget_s
        self.stopped = threading.Event()
        self.slept = 0.0

    def _advance(self, seconds: float) -> None:
        if self.stopped.is_set():
            raise _Stop("the harness ended this run")
        seconds = float(seconds)
        if seconds > 0:
            self.slept += seconds
            if self._engine is not None:
                now = self.admin.fake.call(self._advance_engine, seconds)
            else:
                now = self.admin.advance(seconds)
            if now - self.start > self.budget_s:
                self.stopped.set()
                raise _Stop(f"still waiting after {now - self.start:.0f} virtual seconds")

    async def _advance_engine(self, seconds: float) -> float:
        engine = self._engine
        assert engine is not None
        await engine.change_clock(advance=seconds)
        return engine.now()

    def sync_sleep(self, seconds: float) -> None:
        self._advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self._advance(seconds)
        await asyncio.sleep(0)


def _invoke(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wall_s: float) -> _Run:
    """Run the client in a thread of its own (with its own event loop when async), so
    the caller may be sync or async and a hung client cannot hang the check."""
    run = _Run()

    def target() -> None:
        try:
            async def bounded(awaitable: Any) -> Any:
                task = asyncio.ensure_future(awaitable)
                done, _ = await asyncio.wait({task}, timeout=wall_s)
                if not done:
                    run.timed_out = True
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    return None
                return task.result()

            if _is_async(fn):
                run.returned = asyncio.run(bounded(fn(*args, **kwargs)))
            else:
                result = fn(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = asyncio.run(bounded(result))
                run.returned = result
        except BaseException as exc:  # judged by the caller
            run.raised = exc
            run.trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
        finally:
            run.finished = True

    worker = threading.Thread(target=target, name="check_client", daemon=True)
    worker.start()
    worker.join(wall_s + 1.0)
    return run


def _declared(errors: Any) -> dict[str, tuple[type[BaseException], ...]]:
    if errors is None:
        return {}
    if isinstance(errors, Mapping):
        out = {}
        for key, value in errors.items():
            if key not in ERROR_KEYS:
                raise ValueError(f"unknown outcome {key!r} in errors; use {', '.join(ERROR_KEYS)}")
            out[key] = value if isinstance(value, tuple) else (value,)
        return out
    classes = errors if isinstance(errors, tuple) else (errors,)
    return {key: classes for key in ERROR_KEYS}


def _file_token(job_id: str) -> str:
    return str(job_id).replace(":", "_").replace("/", "_")


class _Checker:
    def __init__(self, fn: Callable[..., Any], provider: str, admin: MockAdmin, *, errors: Any,
                 timeout: float | None, pass_timeout: bool, pass_sleep: bool, poll_interval: float,
                 wall_s: float, budget_s: float, report: CheckReport) -> None:
        self.fn = fn
        self.provider = provider
        self.admin = admin
        self.errors = _declared(errors)
        self.timeout = timeout
        self.pass_timeout = pass_timeout
        self.pass_sleep = pass_sleep
        self.poll_interval = poll_interval
        self.wall_s = wall_s
        self.budget_s = budget_s
        self.report = report
        self.polls = poll_operations(provider)
        self.submits = submit_operations(provider)

    def __call__(self, schedule: Schedule) -> None:
        admin = self.admin
        key = f"check-{self.provider}-{uuid.uuid4().hex[:12]}"
        rules = schedule.rules(self.provider, key)
        rule_ids = [admin.add_fault(rule) for rule in rules]
        # The faults' rules come last, in order (Schedule.rules).
        fault_ids = dict(zip(rule_ids[len(rules) - len(schedule.faults):], schedule.faults))
        clock = _Clock(admin, self.budget_s)
        kwargs: dict[str, Any] = {}
        if self.pass_sleep:
            kwargs["sleep"] = clock.async_sleep if _is_async(self.fn) else clock.sync_sleep
        if self.pass_timeout:
            kwargs["timeout"] = self.timeout
        started = time.monotonic()
        try:
            run = _invoke(self.fn, (admin.url(self.provider), key), kwargs, self.wall_s)
            if not run.finished:
                clock.stopped.set()
                # A sync client cannot be stopped from outside: cut its key off the fake
                # (the rule stays; the key is never used again).
                admin.add_fault({"api_key": key, "connection": "reset", "description": "check_client: stopped"})
            if any(f.kind == "timeout" for f in schedule.faults):
                # A late submit creates its job when its latency is over: wait for it
                # before counting jobs, if one fired.
                fired = {r["id"]: r["fired"] for r in admin.faults() if r["id"] in fault_ids}
                late = [f.ms or 0 for rid, f in fault_ids.items() if f.kind == "timeout" and fired.get(rid)]
                if late:
                    time.sleep(max(0.0, max(late) / 1000 + 0.03 - (time.monotonic() - started)))
            journal = admin.journal(api_key=key)
            jobs = admin.jobs(self.provider, api_key=key)
        finally:
            for rule_id in rule_ids:
                admin.remove_fault(rule_id)
        self._judge(schedule, run, journal, jobs)

    # properties ----------------------------------------------------------------------
    def _judge(self, schedule: Schedule, run: _Run, journal: list[dict[str, Any]],
               jobs: list[dict[str, Any]]) -> None:
        def fail(cls: type[ClientCheckFailed], what: str) -> None:
            raise cls(self._explain(what, schedule, run, journal, jobs))

        self.report.runs += 1
        if not run.finished or run.timed_out:
            fail(StillWaiting, f"the client did not finish within {self.wall_s:g} s of wall time")
        if isinstance(run.raised, _Stop):
            fail(StillWaiting, f"the client was stopped: {run.raised}")
        # 1. the result
        allowed = self._allowed(schedule)
        if run.raised is None:
            url = run.returned
            if "url" not in allowed:
                fail(UnexpectedResult, f"the client returned {url!r}, but the outcome was "
                                       f"{schedule.outcome.replace('_', ' ')}: it should raise "
                                       f"{self._wanted(allowed)}")
            tokens = [_file_token(j["id"]) for j in jobs]
            if not isinstance(url, str) or "/__files/" not in url or not any(t in url for t in tokens):
                fail(UnexpectedResult, f"the client returned {url!r}, not the media URL of its job")
            self.report.results["url"] += 1
        else:
            matched = [k for k in allowed if k != "url" and isinstance(run.raised, self.errors.get(k, ()))]
            if not matched:
                fail(UnexpectedResult, f"the client raised {type(run.raised).__name__}: {run.raised}\n"
                                       f"expected {self._wanted(allowed)}")
            self.report.results[matched[0]] += 1
        # 2. one job per call
        if len(jobs) > 1:
            fail(DuplicateJobs, f"the client created {len(jobs)} jobs for one call "
                                f"({', '.join(str(j['id']) for j in jobs)})")
        # 3. Retry-After
        ordered = sorted(journal, key=lambda e: (e["time"], e["seq"]))
        for before, after in zip(ordered, ordered[1:]):
            if before["status"] == 429 and "error" in before["faults"]:
                waited = after["time"] - before["time"]
                if waited + 1e-6 < schedule.retry_after:
                    fail(RetryAfterIgnored, f"after a 429 with Retry-After: {schedule.retry_after} the client "
                                            f"sent its next request {waited:.2f} s later")
        # 4. poll count
        self._check_polls(ordered, fail)

    def _check_polls(self, ordered: list[dict[str, Any]], fail: Callable[..., None]) -> None:
        submits = [e for e in ordered if e["operation"] in self.submits]
        reads = [e for e in ordered if e["operation"] in self.polls and set(e["faults"]) <= {"latency"}]
        if not submits or not reads:
            return
        elapsed = reads[-1]["time"] - submits[0]["time"]
        allowed = math.floor(elapsed / self.poll_interval) + 2
        if len(reads) > allowed:
            fail(TooManyPolls, f"the client read the job's status {len(reads)} times in {elapsed:.1f} virtual "
                               f"seconds; one read per {self.poll_interval:g} s allows {allowed}")

    def _allowed(self, schedule: Schedule) -> set[str]:
        if schedule.outcome == "succeeded":
            allowed = {"url"}
        elif schedule.outcome == "failed":
            allowed = {"failed"}
        else:
            allowed = {"moderated"}
        if schedule.answer_may_be_lost:
            allowed.add("ambiguous")
        return allowed

    def _wanted(self, allowed: set[str]) -> str:
        words = []
        for key in sorted(allowed):
            if key == "url":
                words.append("the media URL")
            elif key in self.errors:
                words.append(f"{' or '.join(c.__name__ for c in self.errors[key])} ('{key}')")
            else:
                words.append(f"an error declared for '{key}' (none is: pass errors={{'{key}': ...}})")
        return " or ".join(words)

    def _explain(self, what: str, schedule: Schedule, run: _Run, journal: list[dict[str, Any]],
                 jobs: list[dict[str, Any]]) -> str:
        lines = [f"check_client({self.provider}): {what}", "", "fault schedule (shrunk):"]
        lines += [f"  {line}" for line in str(schedule).splitlines()]
        shown = format_journal(sorted(journal, key=lambda e: (e["time"], e["seq"]))).splitlines()
        if len(shown) > JOURNAL_LINES:
            half = JOURNAL_LINES // 2
            shown = [*shown[:half], f"  ... {len(shown) - 2 * half} more ...", *shown[-half:]]
        lines += ["", "what the client sent (virtual seconds since its first request):",
                  "\n".join(shown) or "  (nothing)"]
        lines += ["", f"jobs created: {len(jobs)}"]
        if run.raised is not None and not isinstance(run.raised, _Stop):
            lines += ["", "the client raised:", run.trace.rstrip()]
        elif run.finished and run.raised is None:
            lines += ["", f"the client returned: {run.returned!r}"]
        return "\n".join(lines)


# the entry point -----------------------------------------------------------------------

def check_client(
    fn: Callable[..., Any],
    provider: str,
    *,
    errors: Any = None,
    fake: Any = None,
    max_examples: int = 25,
    seed: int | None = None,
    faults: Iterable[str] = FAULT_KINDS,
    max_faults: int = 3,
    timeout: float = 0.15,
    poll_interval: float | None = None,
    time_scale: float | None = None,
    wall_timeout: float = 10.0,
    max_virtual_seconds: float = 3600.0,
    settings: hsettings | None = None,
) -> CheckReport:
    """Run ``fn`` under fault schedules and fail on the first property it breaks.

    ``fn(base_url, api_key[, sleep=..., timeout=...])`` submits one generation to
    ``provider`` (freepik, pixwith, aimlapi, pixverse) at ``base_url`` (already ending in
    ``/v2`` for AI/ML API) and returns the media URL or raises; sync or async.

    ``errors`` declares what the client raises per outcome: a mapping with keys
    ``failed``, ``moderated`` and ``ambiguous`` (a submit whose answer was lost) to an
    exception class or tuple, or one class (tuple) for all three.

    ``fake`` is where to run: a :class:`MockAdmin` (e.g. the ``pixverse_mock`` fixture), a
    base URL, or None to start one in this process for the check.  ``timeout`` is handed
    to clients that take it; ``poll_interval`` overrides :data:`POLL_INTERVALS`;
    ``time_scale`` is the fake's clock speed during the check (:data:`SLEEP_SCALE` for a
    client that takes ``sleep``, else :data:`REAL_SLEEP_SCALE`: what its own waits must
    be divided by); ``wall_timeout`` bounds one run in wall
    seconds and ``max_virtual_seconds`` in virtual ones.  ``faults`` picks kinds from
    :data:`FAULT_KINDS`; ``max_examples``, ``seed`` and ``settings`` tune Hypothesis.

    Returns a :class:`CheckReport`.  Raises :class:`ClientCheckFailed` (an
    AssertionError) with the shrunk schedule and the client's requests.
    """
    spec = provider_spec(provider)  # ValueError for an unknown provider
    _declared(errors)  # fail fast on a bad mapping
    pass_sleep = _accepts(fn, "sleep")
    pass_timeout = _accepts(fn, "timeout")
    if time_scale is None:
        time_scale = SLEEP_SCALE if pass_sleep else REAL_SLEEP_SCALE
    strategy = schedules(provider, kinds=faults, max_faults=max_faults,
                         timeout=timeout if pass_timeout else None)
    base = settings or hsettings(max_examples=max_examples, deadline=None, database=None,
                                 phases=(Phase.explicit, Phase.generate, Phase.shrink),
                                 report_multiple_bugs=False, print_blob=False,
                                 suppress_health_check=list(HealthCheck))
    owned = None
    if fake is None:
        from ..settings import Settings
        from .contracts import contracts_dir
        from .server import ThreadedFake

        # Explicit values win over PIXVERSE_MOCK_* variables that would get in the way.
        owned = ThreadedFake(Settings(port=0, strict=True, time_scale=time_scale, contracts_dir=contracts_dir(),
                                      api_keys=None, faults=[], progress_mode="time", fault_directives=True))
        admin = MockAdmin(owned.base_url, fake=owned, admin_token=owned.settings.admin_token)
    elif isinstance(fake, MockAdmin):
        admin = fake
    else:
        admin = MockAdmin(str(fake))
    report = CheckReport(provider)
    checker = _Checker(fn, provider, admin, errors=errors, timeout=timeout, pass_timeout=pass_timeout,
                       pass_sleep=pass_sleep, poll_interval=poll_interval or spec.poll_interval.low_s,
                       wall_s=wall_timeout, budget_s=max_virtual_seconds, report=report)

    @base
    @example(Schedule())
    @given(strategy)
    def run(schedule: Schedule) -> None:
        checker(schedule)

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        clock = admin.clock()
        try:
            if clock["scale"] != time_scale:
                admin.set_time_scale(time_scale)
            if clock["frozen"]:
                admin.unfreeze()
            run()
        finally:
            if owned is None:
                admin.set_time_scale(clock["scale"])
                if clock["frozen"]:
                    admin.freeze()
    finally:
        if owned is not None:
            owned.close()
    return report
