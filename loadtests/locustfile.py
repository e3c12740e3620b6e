"""Locust scenarios: real client traffic for every registered PixVerse V5 provider.

Each simulated user is one integration worker running whole jobs, one after another:
submit -> wait -> poll at the provider's documented interval (scaled by the fake's
time scale, read from ``GET /__admin/clock``) -> download the result video(s).

=====================  ======  ===============================================================
user class             weight  flow
=====================  ======  ===============================================================
FreepikClient          35      POST /v1/ai/{image,text}-to-video/pixverse-v5[-transition],
                               GET .../{task-id} every 3-5 s, download ``generated[0]``
AimlapiClient          25      POST /v2/video/generations (or the legacy path), GET
                               ?generation_id= every 10-15 s, download ``video.url``
PixwithClient          15      POST /api/task/create, wait ``estimated_time``, POST
                               /api/task/get every 5-10 s, download every ``result_urls``
PixverseClient         20      [POST /openapi/v2/image/upload], POST .../{text,img}/generate,
                               GET /openapi/v2/video/result/{id} every 3-5 s, download ``url``
FreepikWebhookClient   5       Freepik with ``webhook_url`` pointing at a local receiver: no
                               polls, waits for the signed COMPLETED/FAILED delivery
<Name>ContractClient   5       any other registered provider: its contract's documented
                               submit example, its poll operation (``workload.ContractScenario``)
=====================  ======  ===============================================================

Besides the per-request rows, two kinds of custom rows (locust request events, so they
are in the console table, the CSV files and the HTML report):

* ``JOB``: end-to-end job time, submit -> the client knows the final status (the
  download is its own row), named ``<provider> <kind> -> <outcome>``.  A job the client
  gave up on (600 provider seconds, AI/ML API's own limit) is a failure.
* ``WEBHOOK``: delivery lag, arrival at the receiver minus the moment the status changed
  on the fake's clock (from the job's plan, ``GET /__admin/jobs/...``).

At the end (on the master in distributed runs) the thresholds are checked and the exit
status is 1 when one is missed: ``--max-error-ratio`` (failed / all rows, default 0.01)
and ``--max-e2e-p95`` (wall seconds over every JOB row; default from the time scale:
1.5 x the slowest planned job + 1 s, i.e. 5.2 s at 50x).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 30 -r 5 -t 60s \\
        [--shape ramp|step|spike|soak] [--processes 2]

``make load`` wraps this with a freshly started fake (``loadtests/run_load.py``); see
``loadtests/README.md``.
"""
from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

from mockserver.providers import specs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes  # noqa: E402
import workload  # noqa: E402
from webhook_receiver import receiver  # noqa: E402

log = logging.getLogger("loadtests")

JOB, WEBHOOK = "JOB", "WEBHOOK"
# Jobs one API key runs before the client switches to a fresh one (the fake's starting
# balance covers a few hundred; a long soak would otherwise drain it).
JOBS_PER_KEY = 50


# --- options --------------------------------------------------------------------------

@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser  # locust's own parser: it knows include_in_web_ui, argument groups do not
    group.add_argument("--shape", choices=shapes.SHAPES, default="constant", include_in_web_ui=True,
                       help="how the user count moves over the run (-u peak, -r spawn rate, -t length): "
                            "constant | ramp | step | spike | soak [constant]")
    group.add_argument("--time-scale", type=float, default=0.0, include_in_web_ui=True,
                       help="the fake's time scale; 0 reads it from GET <admin>/__admin/clock [0]")
    group.add_argument("--admin-url", default="", include_in_web_ui=True,
                       help="base URL of the fake's admin API, when --host is a service in front of it "
                            "[--host]")
    group.add_argument("--max-error-ratio", type=float, default=0.01, include_in_web_ui=True,
                       help="threshold: failed / all requests, jobs and deliveries [0.01]")
    group.add_argument("--max-e2e-p95", type=float, default=0.0, include_in_web_ui=True,
                       help="threshold: end-to-end job p95 in wall seconds; 0 derives it from the time scale [0]")
    group.add_argument("--thresholds-json", default="", include_in_web_ui=False,
                       help="also write the threshold check to this JSON file")
    group.add_argument("--data-seed", type=int, default=None, include_in_web_ui=False,
                       help="seed for prompts, parameters and keys (unset: random)")
    group.add_argument("--webhook-secret", default="", include_in_web_ui=False,
                       help="verify Freepik webhook signatures with this secret (the fake's default is "
                            "pixverse-mock-freepik-secret); empty: not verified")


def _opt(environment: Any, name: str, default: Any = None) -> Any:
    options = getattr(environment, "parsed_options", None)
    return getattr(options, name, default) if options is not None else default


# --- the fake's clock and admin API ------------------------------------------------------

def admin_base(environment: Any) -> str:
    return (_opt(environment, "admin_url") or environment.host or "").rstrip("/")


def admin_get(environment: Any, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET ``<admin>/<path>`` outside locust's statistics (it is not client traffic)."""
    url = admin_base(environment) + path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback by default
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


_clock_lock = threading.Lock()
_clock: workload.Clock | None = None
_clock_read_at = 0.0
CLOCK_REFRESH_S = 30.0


def fake_clock(environment: Any) -> workload.Clock:
    """The fake's clock as this process last read it (every 30 s at most)."""
    global _clock, _clock_read_at
    forced = _opt(environment, "time_scale") or 0.0
    with _clock_lock:
        if _clock is not None and time.monotonic() - _clock_read_at < CLOCK_REFRESH_S:
            return _clock
        sent = time.time()
        status, answer = admin_get(environment, "/__admin/clock")
        received = time.time()
        if status == 200 and isinstance(answer, dict) and "scale" in answer:
            clock = workload.Clock.from_admin(answer, sent, received)
            if clock.frozen:
                log.warning("the fake's clock is frozen: time-driven jobs will not finish")
        else:
            clock = workload.Clock()
            if not forced and _clock is None:
                log.warning("no admin API at %s (HTTP %s): assuming time scale 1 (real provider timing); "
                            "pass --time-scale or --admin-url", admin_base(environment), status or "unreachable")
        if forced:
            clock.scale, clock.source = forced, "--time-scale"
        _clock, _clock_read_at = clock, time.monotonic()
        return clock


# --- users ------------------------------------------------------------------------------

@dataclass(slots=True)
class Submitted:
    """A job the provider accepted."""

    kind: str
    id: str
    read_path: str = ""
    first_wait_s: float | None = None  # provider seconds to wait before the first read
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Seen:
    """One status read: ``outcome`` None while the job runs; ``urls`` of the results."""

    outcome: str | None
    urls: list[str] = field(default_factory=list)


_user_numbers = itertools.count()


class ProviderClient(FastHttpUser):
    """One integration worker: whole jobs, one after another."""

    abstract = True
    provider = ""
    # A client's pause between two jobs (wall seconds; client behaviour, not provider time).
    wait_time = between(0.5, 3.0)
    connection_timeout = 10.0
    network_timeout = 60.0

    def on_start(self) -> None:
        seed = _opt(self.environment, "data_seed")
        if seed is not None:
            # Stable across runs (str hashes are salted per process): the n-th user of this
            # class in this worker draws the same requests every time.
            worker = getattr(self.environment.runner, "worker_index", 0)
            seed = zlib.crc32(f"{seed}:{self.provider}:{worker}:{next(_user_numbers)}".encode())
        self.draw = workload.Draw(seed)
        self.key = self.draw.api_key(self.provider)
        self.jobs_with_key = 0
        # A third of the Freepik clients send the Magnific header (both brands' are live).
        self.magnific = self.draw.maybe(1 / 3)

    # to implement per provider --------------------------------------------------------
    def submit(self) -> Submitted | None:
        raise NotImplementedError

    def read(self, job: Submitted) -> Seen | None:
        raise NotImplementedError

    # shared -------------------------------------------------------------------------------
    def fire(self, kind: str, name: str, ms: float, length: int = 0, exception: Exception | None = None) -> None:
        self.environment.events.request.fire(request_type=kind, name=name, response_time=ms,
                                             response_length=length, exception=exception, context={})

    def checked_json(self, resp: Any, ok: Any) -> Any:
        """The JSON body when ``ok(body)`` holds; otherwise marks the request failed, None."""
        try:
            body = resp.json()
        except Exception:  # noqa: BLE001 - any undecodable body is a failure here
            resp.failure(f"HTTP {resp.status_code}: not JSON: {(resp.text or '')[:200]!r}")
            return None
        if resp.status_code >= 400 or not ok(body):
            resp.failure(f"HTTP {resp.status_code}: {json.dumps(body)[:300]}")
            return None
        resp.success()
        return body

    def download(self, url: str) -> int:
        with self.client.get(url, name="download video", catch_response=True) as resp:
            if resp.status_code != 200 or not resp.content:
                resp.failure(f"HTTP {resp.status_code}, {len(resp.content or b'')} bytes")
                return 0
            if resp.headers.get("Content-Type", "").split(";")[0] != "video/mp4":
                resp.failure(f"Content-Type {resp.headers.get('Content-Type')!r}, expected video/mp4")
                return 0
            resp.success()
            return len(resp.content)

    @task
    def job(self) -> None:
        self.generation()

    def generation(self) -> None:
        """One job, submit to download (FreepikWebhookClient waits for deliveries instead)."""
        clock = fake_clock(self.environment)
        started = time.perf_counter()
        job = self.submit()
        if job is None:
            return  # the submit row already holds the failure
        label = f"{self.provider} {job.kind}"
        deadline = started + workload.GIVE_UP_S / clock.scale + 1.0
        first = job.first_wait_s
        gevent.sleep(first / clock.scale if first else workload.poll_interval(self.provider, clock.scale,
                                                                               self.draw.rng))
        while True:
            seen = self.read(job)
            if seen is not None and seen.outcome is not None:
                break
            if time.perf_counter() > deadline:
                self.fire(JOB, label, (time.perf_counter() - started) * 1000,
                          exception=TimeoutError(f"no final status after {workload.GIVE_UP_S:g} provider s"))
                return
            gevent.sleep(workload.poll_interval(self.provider, clock.scale, self.draw.rng))
        self.fire(JOB, f"{label} -> {seen.outcome}", (time.perf_counter() - started) * 1000)
        for url in seen.urls:
            self.download(url)
        self.jobs_with_key += 1
        if self.jobs_with_key >= JOBS_PER_KEY:
            self.key, self.jobs_with_key = self.draw.api_key(self.provider), 0


class FreepikClient(ProviderClient):
    weight = 35
    provider = "freepik"
    STATUS = {"COMPLETED": "succeeded", "FAILED": "failed"}

    def headers(self) -> dict[str, str]:
        # Both brands' headers are live; newer clients send the Magnific one.
        name = "x-magnific-api-key" if self.magnific else "x-freepik-api-key"
        return {name: self.key}

    def submit(self, webhook_url: str | None = None) -> Submitted | None:
        kind, path, body = self.draw.freepik(webhook_url)
        with self.client.post(path, json=body, headers=self.headers(), name=path, catch_response=True) as resp:
            data = self.checked_json(resp, lambda b: isinstance(b.get("data"), dict) and b["data"].get("task_id"))
        if data is None:
            return None
        return Submitted(kind, data["data"]["task_id"], read_path=path)

    def read(self, job: Submitted) -> Seen | None:
        with self.client.get(f"{job.read_path}/{job.id}", headers=self.headers(),
                             name=f"{job.read_path}/[task-id]", catch_response=True) as resp:
            body = self.checked_json(resp, lambda b: isinstance(b.get("data"), dict) and "status" in b["data"])
        if body is None:
            return None
        data = body["data"]
        outcome = self.STATUS.get(data["status"])
        return Seen(outcome, list(data.get("generated") or [])[:1] if outcome == "succeeded" else [])


class AimlapiClient(ProviderClient):
    weight = 25
    provider = "aimlapi"
    STATUS = {"completed": "succeeded", "succeeded": "succeeded", "error": "failed"}

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def submit(self) -> Submitted | None:
        kind, path, body = self.draw.aimlapi()
        with self.client.post(path, json=body, headers=self.headers(), name=path, catch_response=True) as resp:
            data = self.checked_json(resp, lambda b: isinstance(b.get("id"), str) and b["id"])
        return None if data is None else Submitted(kind, data["id"], read_path=path)

    def read(self, job: Submitted) -> Seen | None:
        url = f"{job.read_path}?generation_id={urllib.parse.quote(job.id, safe='')}"
        with self.client.get(url, headers=self.headers(), name=f"{job.read_path}?generation_id=[id]",
                             catch_response=True) as resp:
            body = self.checked_json(resp, lambda b: "status" in b)
        if body is None:
            return None
        outcome = self.STATUS.get(body["status"])
        video = body.get("video") or {}
        return Seen(outcome, [video["url"]] if outcome == "succeeded" and video.get("url") else [])


class PixwithClient(ProviderClient):
    weight = 15
    provider = "pixwith"
    STATUS = {2: "succeeded", 3: "failed"}

    def headers(self) -> dict[str, str]:
        return {"Api-Key": self.key}

    def submit(self) -> Submitted | None:
        kind, path, body = self.draw.pixwith()
        with self.client.post(path, json=body, headers=self.headers(), name=path, catch_response=True) as resp:
            data = self.checked_json(resp, lambda b: b.get("code") == 1 and isinstance(b.get("data"), dict))
        if data is None:
            return None
        # pixwith's guidance: wait estimated_time before the first read.
        return Submitted(kind, data["data"]["task_id"], first_wait_s=float(data["data"].get("estimated_time") or 0))

    def read(self, job: Submitted) -> Seen | None:
        with self.client.post("/api/task/get", json={"task_id": job.id}, headers=self.headers(),
                              name="/api/task/get", catch_response=True) as resp:
            body = self.checked_json(resp, lambda b: b.get("code") == 1 and isinstance(b.get("data"), dict))
        if body is None:
            return None
        data = body["data"]
        outcome = self.STATUS.get(data.get("status"))
        return Seen(outcome, list(data.get("result_urls") or []) if outcome == "succeeded" else [])


class PixverseClient(ProviderClient):
    weight = 20
    provider = "pixverse"
    STATUS = {1: "succeeded", 7: "moderated", 8: "failed"}

    def headers(self) -> dict[str, str]:
        # PixVerse wants a fresh trace id on every request, polls included.
        return {"API-KEY": self.key, "Ai-trace-id": self.draw.trace_id()}

    def _ok(self, body: Any) -> bool:
        return body.get("ErrCode") == 0 and isinstance(body.get("Resp"), dict)

    def submit(self) -> Submitted | None:
        img_id = None
        if self.draw.maybe(0.4):  # image-to-video: upload the image (by URL) first
            form = urllib.parse.urlencode({"image_url": self.draw.image_url()})
            headers = {**self.headers(), "Content-Type": "application/x-www-form-urlencoded"}
            with self.client.post("/openapi/v2/image/upload", data=form, headers=headers,
                                  name="/openapi/v2/image/upload", catch_response=True) as resp:
                uploaded = self.checked_json(resp, self._ok)
            if uploaded is None:
                return None
            img_id = uploaded["Resp"]["img_id"]
        kind, path, body = self.draw.pixverse(img_id)
        with self.client.post(path, json=body, headers=self.headers(), name=path, catch_response=True) as resp:
            data = self.checked_json(resp, self._ok)
        return None if data is None else Submitted(kind, str(data["Resp"]["video_id"]))

    def read(self, job: Submitted) -> Seen | None:
        with self.client.get(f"/openapi/v2/video/result/{job.id}", headers=self.headers(),
                             name="/openapi/v2/video/result/[id]", catch_response=True) as resp:
            body = self.checked_json(resp, self._ok)
        if body is None:
            return None
        result = body["Resp"]
        outcome = self.STATUS.get(result.get("status"))
        return Seen(outcome, [result["url"]] if outcome == "succeeded" and result.get("url") else [])


# Set once per process when deliveries never arrived: the webhook clients stand down.
_webhooks_skipped: str | None = None


class FreepikWebhookClient(FreepikClient):
    """Freepik with ``webhook_url``: waits for the signed final delivery instead of polling."""

    weight = 5
    FINAL = {"COMPLETED", "FAILED"}

    def on_start(self) -> None:
        global _webhooks_skipped
        super().on_start()
        if _webhooks_skipped:
            raise StopUser()
        status, _ = admin_get(self.environment, "/__admin/webhooks")
        if status == 404 and _webhooks_skipped is None:
            _webhooks_skipped = (f"{admin_base(self.environment)} has no /__admin/webhooks: this fake does "
                                 "not deliver webhooks")
            log.error("FreepikWebhookClient skipped: %s", _webhooks_skipped)
            raise StopUser()
        secret = _opt(self.environment, "webhook_secret") or None
        self.receiver = receiver(secret)

    def _plan(self, task_id: str) -> dict[str, Any] | None:
        status, job = admin_get(self.environment, f"/__admin/jobs/freepik/{task_id}")
        return job if status == 200 and isinstance(job, dict) else None

    def generation(self) -> None:
        global _webhooks_skipped
        if _webhooks_skipped:
            raise StopUser()
        clock = fake_clock(self.environment)
        started_wall, started = time.time(), time.perf_counter()
        job = self.submit(self.receiver.url(self.key[-12:]))
        if job is None:
            return
        label = f"freepik-webhook {job.kind}"
        plan = self._plan(job.id)
        timeout = workload.GIVE_UP_S / clock.scale + 1.0
        arrivals = self.receiver.wait(job.id, self.FINAL, timeout)
        final = next((a for a in arrivals if a.body.get("status") in self.FINAL), None)
        if final is None:
            if self.receiver.received == 0 and _webhooks_skipped is None:
                _webhooks_skipped = (f"no delivery reached the receiver at {self.receiver.url()} within "
                                     f"{timeout:.1f} s of a job's submit")
                log.error("FreepikWebhookClient skipped: %s (webhooks not delivered by this host, or it "
                          "cannot reach 127.0.0.1:%d)", _webhooks_skipped, self.receiver.port)
                raise StopUser()
            self.fire(JOB, label, (time.perf_counter() - started) * 1000,
                      exception=TimeoutError("no final webhook delivery"))
            return
        for arrival in arrivals:
            self._lag(arrival, plan, clock)
        outcome = "succeeded" if final.body["status"] == "COMPLETED" else "failed"
        self.fire(JOB, f"{label} -> {outcome}", (final.wall - started_wall) * 1000)
        if outcome == "succeeded":
            for url in list(final.body.get("generated") or [])[:1]:
                self.download(url)

    def _lag(self, arrival: Any, plan: dict[str, Any] | None, clock: workload.Clock) -> None:
        status = arrival.body.get("status")
        name = f"freepik delivery {status}"
        if arrival.signature_ok is False:
            self.fire(WEBHOOK, name, 0, exception=ValueError("bad webhook-signature"))
            return
        if plan is None:
            return  # no admin API: arrivals are counted by the JOB row only
        if plan.get("forced_at") is not None:
            due = plan["forced_at"]
        elif status == "IN_PROGRESS":
            due = plan["created_at"] + plan["queue_s"]
        else:
            due = plan["finishes_at"]
        due_wall = clock.wall_at(due)
        if due_wall is not None:
            self.fire(WEBHOOK, name, max(0.0, (arrival.wall - due_wall) * 1000))


# --- load shape ---------------------------------------------------------------------------

class ContractClient(ProviderClient):
    """Any registered provider without a client above (``workload.ContractScenario``:
    its documented submit example, its poll operation, its spec's status map)."""

    abstract = True
    weight = 5
    scenario: workload.ContractScenario

    def submit(self) -> Submitted | None:
        method, path, body = self.scenario.submit(self.draw)
        headers = self.scenario.headers(self.key, self.scenario.submit_op)
        with self.client.request(method, path, json=body, headers=headers, name=path,
                                 catch_response=True) as resp:
            data = self.checked_json(resp, lambda b: self.scenario.task_id(b) is not None)
        return None if data is None else Submitted("submit", self.scenario.task_id(data))

    def read(self, job: Submitted) -> Seen | None:
        method, url, body = self.scenario.read(job.id)
        headers = self.scenario.headers(self.key, self.scenario.poll_op)
        with self.client.request(method, url, json=body, headers=headers,
                                 name=f"{self.provider} {self.scenario.poll_op}", catch_response=True) as resp:
            data = self.checked_json(resp, lambda b: isinstance(b, dict))
        if data is None:
            return None
        outcome, urls = self.scenario.outcome(data)
        return Seen(outcome, urls)


# One client class per registered provider that has none above (a reseller added to
# the registry gets load traffic with no edit here).
_HAND_WRITTEN = {c.provider for c in (FreepikClient, AimlapiClient, PixwithClient, PixverseClient)}
for _spec in specs():
    if _spec.name not in _HAND_WRITTEN:
        _name = f"{_spec.name.title().replace('_', '')}ContractClient"
        globals()[_name] = type(_name, (ContractClient,), {
            "abstract": False, "provider": _spec.name, "scenario": workload.ContractScenario(_spec.name)})


class PlannedShape(LoadTestShape):
    """``--shape`` over ``-u`` (peak users), ``-r`` (spawn rate) and ``-t`` (run time);
    see ``loadtests/shapes.py``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        env = self.runner.environment
        users = _opt(env, "num_users") or 1
        rate = _opt(env, "spawn_rate") or 1.0
        duration = _opt(env, "run_time") or 0
        shape = _opt(env, "shape") or "constant"
        if not duration:
            if shape != "constant":
                log.error("--shape %s needs a run time (-t)", shape)
                return None
            return users, rate  # no -t: run until stopped, like locust without a shape
        stage = shapes.stage_at(shape, self.get_run_time(), users, rate, float(duration))
        return None if stage is None else (stage.users, stage.rate)


# --- run start and thresholds ----------------------------------------------------------------

@events.test_start.add_listener
def _announce(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    clock = fake_clock(environment)
    users, rate, duration = (_opt(environment, "num_users") or 1, _opt(environment, "spawn_rate") or 1.0,
                             _opt(environment, "run_time") or 0)
    shape = _opt(environment, "shape") or "constant"
    log.info("time scale %g (%s); shape %s", clock.scale, clock.source, shape)
    if duration:
        log.info("load plan:\n%s", shapes.describe(shape, users, rate, float(duration)))


def check_thresholds(environment: Any) -> dict[str, Any]:
    """The run against its thresholds: a dict with ``ok`` and every figure checked."""
    stats = environment.stats
    total = stats.total
    jobs = StatsEntry(stats, "all jobs", JOB, use_response_times_cache=False)
    deliveries = StatsEntry(stats, "all deliveries", WEBHOOK, use_response_times_cache=False)
    for (name, method), entry in stats.entries.items():
        if method == JOB:
            jobs.extend(entry)
        elif method == WEBHOOK:
            deliveries.extend(entry)
    clock = fake_clock(environment)
    max_ratio = _opt(environment, "max_error_ratio", 0.01)
    max_p95_s = _opt(environment, "max_e2e_p95", 0.0) or workload.default_e2e_p95_s(clock.scale)
    ratio = total.num_failures / total.num_requests if total.num_requests else 1.0
    p95_s = jobs.get_response_time_percentile(0.95) / 1000 if jobs.num_requests else None
    problems = []
    if not total.num_requests:
        problems.append("no requests were made")
    if ratio > max_ratio:
        problems.append(f"error ratio {ratio:.4f} > {max_ratio:g}")
    if p95_s is None:
        problems.append("no job finished")
    elif p95_s > max_p95_s:
        problems.append(f"end-to-end p95 {p95_s:.2f} s > {max_p95_s:.2f} s")
    result = {
        "ok": not problems, "problems": problems,
        "requests": total.num_requests, "failures": total.num_failures, "error_ratio": ratio,
        "max_error_ratio": max_ratio,
        "jobs": jobs.num_requests, "jobs_failed": jobs.num_failures,
        "e2e_p50_s": jobs.get_response_time_percentile(0.5) / 1000 if jobs.num_requests else None,
        "e2e_p95_s": p95_s, "max_e2e_p95_s": max_p95_s,
        "e2e_p95_provider_s": p95_s * clock.scale if p95_s is not None else None,
        "webhook_deliveries": deliveries.num_requests,
        "webhook_lag_p50_ms": deliveries.get_response_time_percentile(0.5) if deliveries.num_requests else None,
        "webhook_lag_p99_ms": deliveries.get_response_time_percentile(0.99) if deliveries.num_requests else None,
        "webhooks_skipped": _webhooks_skipped,
        "time_scale": clock.scale, "requests_per_s": total.total_rps,
        "http_p99_ms": _http_p99(stats),
    }
    return result


def _http_p99(stats: Any) -> float | None:
    http = StatsEntry(stats, "http", "HTTP", use_response_times_cache=False)
    for (name, method), entry in stats.entries.items():
        if method not in (JOB, WEBHOOK):
            http.extend(entry)
    return http.get_response_time_percentile(0.99) if http.num_requests else None


@events.quitting.add_listener
def _thresholds(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    result = check_thresholds(environment)
    fmt = lambda v, unit="": "n/a" if v is None else f"{v:.2f}{unit}"  # noqa: E731
    lines = [
        "thresholds " + ("held" if result["ok"] else "MISSED: " + "; ".join(result["problems"])),
        f"  requests {result['requests']}, failed {result['failures']} "
        f"(ratio {result['error_ratio']:.4f}, max {result['max_error_ratio']:g}), {result['requests_per_s']:.1f}/s",
        f"  jobs {result['jobs']} (failed {result['jobs_failed']}), end-to-end p50 {fmt(result['e2e_p50_s'], ' s')}, "
        f"p95 {fmt(result['e2e_p95_s'], ' s')} (max {result['max_e2e_p95_s']:.2f} s; "
        f"{fmt(result['e2e_p95_provider_s'], ' s')} on the provider's clock at scale {result['time_scale']:g})",
        f"  HTTP p99 {fmt(result['http_p99_ms'], ' ms')}; webhook deliveries {result['webhook_deliveries']}, "
        f"lag p50 {fmt(result['webhook_lag_p50_ms'], ' ms')}, p99 {fmt(result['webhook_lag_p99_ms'], ' ms')}"
        + (f" (webhook clients skipped: {result['webhooks_skipped']})" if result["webhooks_skipped"] else ""),
    ]
    (log.info if result["ok"] else log.error)("\n".join(lines))
    out = _opt(environment, "thresholds_json")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2))
    environment.process_exit_code = 0 if result["ok"] else 1
