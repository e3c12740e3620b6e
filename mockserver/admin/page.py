"""``GET /__admin/``: the dashboard's HTML, rendered on the server.

Every value is escaped here (``html.escape``); the page's script
(``admin/static/dashboard.js``) only swaps in fragments rendered by this module and
fills the inspector with ``textContent``, and the page's CSP forbids inline scripts.
``page`` is the whole document; ``sections`` its live parts (timeline, jobs, requests,
faults, webhooks, media), which the event stream (``admin/dashboard.py``) re-sends
when they change.  Works without JavaScript too, as a static snapshot.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode

from ..engine import Engine
from ..engine.faults import FaultRule
from ..engine.jobs import QUEUED, RUNNING, STATES, TERMINAL, Job
from ..engine.journal import Entry, mask_key
from ..files import image_url, upload_url, video_url

STATIC = "/__admin/static"
# Rows in each table, and jobs on the timeline (newest first).
TIMELINE_JOBS = 40
# Journal entries read for the timeline's ticks, newest first.
TIMELINE_ENTRIES = 2000
MEDIA_VIDEOS = 6
MEDIA_UPLOADS = 12
WEBHOOK_DELIVERIES = 50
# Characters a /__files name may not hold (files.NAME_PATTERN): AI/ML API ids have "/".
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.:-]")


@dataclass(frozen=True)
class Filters:
    """What the page shows: one provider, API key (as sent), test id, job status
    (neutral) and HTTP status (``429`` or a class such as ``4xx``), None is any;
    and the timeline's window (seconds, None fits every job shown)."""

    provider: str | None = None
    api_key: str | None = None
    test_id: str | None = None
    status: str | None = None
    http_status: str | None = None
    window: str | None = None  # seconds of virtual time the timeline shows; None fits

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "Filters":
        return cls(**{name: (query.get(name) or None) for name in cls.__dataclass_fields__})

    def journal(self) -> dict[str, Any]:
        return {"provider": self.provider, "api_key": self.api_key, "test_id": self.test_id,
                "status": self.http_status}

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class Catalog:
    """What the page's forms offer, from the adapters and their contracts:
    operations per provider (``submit`` ones flagged) and where each provider's
    API key goes (``(header, value prefix)``, for copy-as-curl)."""

    operations: dict[str, list[tuple[str, bool]]]
    key_headers: dict[str, tuple[str, str]]

    @property
    def providers(self) -> list[str]:
        return list(self.operations)

    def is_submit(self, provider: str | None, operation: str | None) -> bool:
        return (operation, True) in self.operations.get(provider or "", ())


def _time(t: float | None) -> str:
    if t is None:
        return ""
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):  # a clock advanced past year 9999
        return f"{t:.3f}"


def _clock_text(t: float) -> str:
    return _time(t)[11:19] or f"{t:.0f}"


def _cell(value: Any, cls: str = "") -> str:
    text = "" if value is None else str(value)
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def _table(headers: Iterable[str], rows: list[str], empty: str, table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    if not rows:
        return f'<p class="muted" id="{table_id}-empty">{escape(empty)}</p>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _attr(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


# Shown in their own columns, not in the rule's JSON.
_BOOKKEEPING = ("id", "source", "seen", "fired", "remaining")


def describe(rule: dict[str, Any]) -> str:
    """A fault rule's selectors and effects as compact JSON."""
    return json.dumps({k: v for k, v in rule.items() if k not in _BOOKKEEPING}, default=str, sort_keys=True)


def media_url(job: Job) -> str | None:
    """Where ``/__files`` serves a job's result (origin-relative), by its shape; None
    for a shape it cannot serve.  The file depends on the shape only, so this is
    the video the provider's answer links to (PixVerse's sound variants aside)."""
    name = _NOT_NAME.sub("_", job.id)
    try:
        if job.kind.startswith("image-") and "video" not in job.kind:
            return image_url("", job.width, job.height, name)
        return video_url("", job.width, job.height, job.duration, name)
    except ValueError:
        return None


# the live sections -------------------------------------------------------------------------------
def _jobs(engine: Engine, f: Filters, limit: int) -> tuple[list[Job], int]:
    jobs = engine.find_jobs(provider=f.provider, status=f.status, test_id=f.test_id, api_key=f.api_key)
    return jobs[-limit:][::-1], len(jobs)


def _force_control(job: Job) -> str:
    options = "".join(f'<option value="{s}"{" selected" if s == "succeeded" else ""}>{s}</option>' for s in STATES)
    return (f'<td class="actions"><select name="status" aria-label="force status">{options}</select>'
            f'<button type="button" class="force" data-provider="{_attr(job.provider)}" '
            f'data-job="{_attr(job.id)}">force</button></td>')


def jobs_section(engine: Engine, f: Filters, jobs: list[Job], total: int) -> str:
    rows = []
    for job in jobs:
        status = engine.status(job)
        rows.append(
            f'<tr data-job="{_attr(job.provider)}/{_attr(job.id)}">' + _cell(job.provider)
            + f'<td class="mono">{escape(job.id)}</td>' + _cell(job.kind)
            + _cell(status, f"st-{status}") + _cell(job.test_id) + _cell(mask_key(job.api_key), "mono")
            + _cell(_time(job.created_at)) + _cell(job.polls, "n") + _cell(job.forced or "")
            + _force_control(job) + "</tr>")
    shown = f", newest {len(jobs)}" if total > len(jobs) else ""
    return (f"<h2>Jobs ({total}{shown})</h2>"
            + _table(["provider", "id", "kind", "status", "test id", "api key", "created (virtual)", "polls",
                      "forced", "force"], rows, "No jobs.", "jobs"))


def requests_section(engine: Engine, f: Filters, entries: list[Entry], limit: int) -> str:
    rows = []
    for e in entries[:limit]:
        rows.append(
            f'<tr class="entry" data-seq="{e.seq}" tabindex="0">' + _cell(_time(e.time))
            + _cell(e.provider or "-") + _cell(e.operation or "(no route)") + _cell(e.method)
            + _cell(e.path + (f"?{e.query}" if e.query else ""), "mono")
            + _cell(e.status, f"n s{e.status // 100}") + _cell(f"{e.latency_ms:.1f}", "n")
            + _cell(e.test_id) + _cell(e.task_id, "mono") + _cell(mask_key(e.raw_key), "mono")
            + _cell(", ".join(e.faults), "fault") + "</tr>")
    journal = engine.journal
    evicted = f", {journal.evicted} evicted" if journal.evicted else ""
    return (f"<h2>Requests (newest {len(rows)} of {len(journal)} journaled{evicted})"
            " <span class=\"muted\">click one to inspect it</span></h2>"
            + _table(["time (virtual)", "provider", "operation", "method", "path", "status", "ms", "test id",
                      "task id", "api key", "faults"], rows, "No requests yet.", "requests"))


def faults_section(engine: Engine, f: Filters) -> str:
    rules = engine.faults.list(f.test_id)
    rows = [
        "<tr>" + _cell(r.get("id"), "mono") + _cell(r.get("source")) + _cell(r.get("fired"), "n")
        + _cell(r.get("remaining"), "n") + f'<td class="mono">{escape(describe(r))}</td>'
        + f'<td><button type="button" class="remove-fault" data-fault="{_attr(r.get("id"))}">remove</button>'
        "</td></tr>"
        for r in rules
    ]
    return (f"<h2>Active faults ({len(rules)})</h2>"
            + _table(["id", "source", "fired", "remaining", "rule", ""], rows, "No active faults.", "faults"))


def webhooks_section(engine: Engine, f: Filters) -> str:
    hooks = engine.webhooks
    log = hooks.entries(provider=f.provider, test_id=f.test_id)
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for entry in reversed(log):
        if entry["delivery_id"] in deliveries or len(deliveries) < WEBHOOK_DELIVERIES:
            deliveries.setdefault(entry["delivery_id"], []).append(entry)
    rows = []
    for delivery_id, attempts in deliveries.items():
        attempts.reverse()
        last = attempts[-1]
        history = "; ".join(
            f"#{a['attempt']} {a['http_status'] if a['http_status'] is not None else a.get('error') or '-'}"
            f" {a['outcome']} at {_clock_text(a['sent_at'])}" for a in attempts)
        retry = _time(last["next_attempt_at"]) if last.get("next_attempt_at") else ""
        rows.append(
            "<tr>" + _cell(delivery_id, "mono") + _cell(last["provider"]) + _cell(last["job_id"], "mono")
            + _cell(last["state"]) + _cell(last["url"], "mono") + _cell(history)
            + _cell(last["http_status"], f"n s{(last['http_status'] or 0) // 100}")
            + _cell(last["outcome"], f"wh-{last['outcome']}") + _cell(retry) + "</tr>")
    s = hooks.summary()
    return (f"<h2>Webhooks ({s['pending']} pending, {s['in_flight']} in flight, "
            f"{len(log)} attempts logged)</h2>"
            + _table(["delivery", "provider", "job", "state", "url", "attempts", "last status", "outcome",
                      "next retry (virtual)"], rows, "No webhook deliveries yet.", "webhooks"))


def media_section(engine: Engine, jobs: list[Job]) -> str:
    items: list[str] = []
    for job in jobs:
        if len(items) >= MEDIA_VIDEOS:
            break
        url = media_url(job) if engine.status(job) == "succeeded" else None
        if url is None:
            continue
        label = f'<figcaption>{escape(job.provider)} <span class="mono">{escape(job.id)}</span>' \
                f" {job.width}x{job.height}</figcaption>"
        if url.endswith(".png"):
            items.append(f'<figure><img src="{_attr(url)}" alt="result">{label}</figure>')
        else:
            items.append(f'<figure><video controls muted preload="auto" src="{_attr(url)}" '
                         f'data-job="{_attr(job.id)}"></video>{label}</figure>')
    thumbs: list[str] = []
    for upload in engine.uploads.newest(MEDIA_UPLOADS * 4):
        if len(thumbs) >= MEDIA_UPLOADS:
            break
        if upload.kind != "image" or not upload.data:
            continue
        url = upload_url("", upload.provider, upload.id, "thumb")
        thumbs.append(f'<figure><img class="thumb" src="{_attr(url)}" alt="upload {_attr(upload.id)}">'
                      f'<figcaption>{escape(upload.provider)} {escape(upload.id)}</figcaption></figure>')
    videos = "".join(items) or '<p class="muted">No completed jobs yet.</p>'
    uploads = "".join(thumbs) or '<p class="muted">No image uploads.</p>'
    return (f'<h2>Media</h2><div class="media" id="results">{videos}</div>'
            f'<h3>Uploads</h3><div class="media" id="uploads">{uploads}</div>')


def _span(cls: str, left: float, right: float, title: str) -> str:
    width = max(right - left, 0.15)
    return f'<span class="{cls}" style="left:{left:.3f}%;width:{width:.3f}%" title="{_attr(title)}"></span>'


def _dot(cls: str, at: float, title: str) -> str:
    return f'<span class="{cls}" style="left:{at:.3f}%" title="{_attr(title)}"></span>'


def _phases(engine: Engine, job: Job, now: float, last_seen: float | None) -> list[tuple[str, float, float]]:
    """(state, from, to) pieces of a job's life on the virtual clock; the last runs
    to ``now`` (or its planned end) unless the job ended.  Outside the ``time``
    progress mode the clock does not say when a state began: the job shows in its
    present state, a finished one as ending when forced or last polled."""
    start = job.created_at
    if engine.settings.progress_mode != "time":
        state = engine.status(job)
        if state not in TERMINAL:
            return [(state, start, now)]
        end = job.forced_at if job.forced is not None and job.forced_at is not None else (last_seen or now)
        return [(RUNNING, start, end), (state, end, end)]
    plan = [(QUEUED, start, start + job.queue_s), (RUNNING, start + job.queue_s, job.finishes_at)]
    if job.forced is None:
        return plan + [(job.outcome, job.finishes_at, job.finishes_at)]
    cut = job.forced_at if job.forced_at is not None else now
    pieces = [(s, a, min(b, cut)) for s, a, b in plan if a < cut]
    return pieces + [(job.forced, cut, cut if job.forced in TERMINAL else max(now, cut))]


def timeline_section(engine: Engine, f: Filters, jobs: list[Job], entries: list[Entry],
                     catalog: Catalog) -> str:
    """One lane per provider on the virtual clock: a bar per job (queued, running,
    its end), its polls as ticks, webhook attempts as diamonds, injected faults in
    red; the requests tied to no job shown as ticks on the lane's first row."""
    now = engine.clock.now()
    jobs = jobs[:TIMELINE_JOBS]
    shown = {(j.provider, j.id) for j in jobs}
    by_job: dict[tuple[str | None, str | None], list[Entry]] = {}
    loose: dict[str, list[Entry]] = {}
    for e in entries:
        if (e.provider, e.task_id) in shown:
            by_job.setdefault((e.provider, e.task_id), []).append(e)
        else:
            loose.setdefault(e.provider or "-", []).append(e)
    hooks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d in engine.webhooks.entries(provider=f.provider, test_id=f.test_id)[-TIMELINE_ENTRIES:]:
        if (d["provider"], d["job_id"]) in shown:
            hooks.setdefault((d["provider"], d["job_id"]), []).append(d)
    phases = {(j.provider, j.id): _phases(engine, j, now, max((e.time for e in by_job.get((j.provider, j.id), ())),
                                                              default=None))
              for j in jobs}
    if f.window:
        span = float(f.window)
        t0, t1 = now - span * 0.94, now + span * 0.06
        phases = {k: ps for k, ps in phases.items() if max(b for _, _, b in ps) >= t0}
    else:
        times = [now] + [t for ps in phases.values() for _, a, b in ps for t in (a, b)]
        oldest_job = min((j.created_at for j in jobs), default=None)
        times += [e.time for es in loose.values() for e in es
                  if oldest_job is None or e.time >= oldest_job - 60]
        t0, t1 = min(times), max(times)
        span = max(t1 - t0, 10.0)
        t0, t1 = t0 - span * 0.02, max(t1, now) + span * 0.06
    scale = 100.0 / (t1 - t0)

    def x(t: float) -> float:
        return min(max((t - t0) * scale, 0.0), 100.0)

    lanes = []
    providers = [p for p in catalog.providers if f.provider in (None, p)] + (["-"] if f.provider is None else [])
    for provider in providers:
        rows = []
        stray = [e for e in loose.get(provider, []) if e.time >= t0]
        if stray:
            ticks = "".join(_dot("tick req" + (" fault" if e.faults else "") + f" s{e.status // 100}",
                                 x(e.time), f"{e.method} {e.path} -> {e.status}"
                                 + (f" [{', '.join(e.faults)}]" if e.faults else ""))
                            for e in stray)
            rows.append(f'<div class="tl-row"><div class="tl-label muted">requests</div>'
                        f'<div class="tl-track">{ticks}</div></div>')
        for job in (j for j in jobs if j.provider == provider and (j.provider, j.id) in phases):
            key = (job.provider, job.id)
            status = engine.status(job)
            bits = []
            for state, a, b in phases[key]:
                if state in TERMINAL:
                    bits.append(_dot(f"end st-{state}" + (" future" if a > now else ""), x(a),
                                     f"{state} at {_clock_text(a)}"))
                    continue
                if a < now:
                    bits.append(_span(f"seg st-{state}", x(a), x(min(b, now)), f"{state} from {_clock_text(a)}"))
                if b > now:
                    bits.append(_span(f"seg st-{state} future", x(max(a, now)), x(b),
                                      f"{state} (planned) until {_clock_text(b)}"))
            for e in (e for e in by_job.get(key, []) if t0 <= e.time):
                submit = catalog.is_submit(e.provider, e.operation)
                cls = ("tick submit" if submit else "tick poll") + (" fault" if e.faults else "")
                bits.append(_dot(cls, x(e.time), f"{e.operation} -> {e.status}"
                                 + (f" [{', '.join(e.faults)}]" if e.faults else "")))
            latest: dict[str, dict[str, Any]] = {}
            for d in hooks.get(key, []):
                latest[d["delivery_id"]] = d
                if d["sent_at"] < t0:
                    continue
                bits.append(_dot(f"mark wh-{d['outcome']}", x(d["sent_at"]),
                                 f"webhook #{d['attempt']} {d['state']} -> {d['http_status'] or d.get('error')}"))
            for d in latest.values():  # a retry still to come
                due = d.get("next_attempt_at")
                if due is not None and now <= due <= t1:
                    bits.append(_dot("mark wh-next", x(due), f"webhook retry #{d['attempt'] + 1} due"))
            label = (f'<div class="tl-label" title="{_attr(job.id)}"><span class="mono">{escape(job.id[:13])}'
                     f'</span> <span class="st-{status}">{escape(status)}</span></div>')
            rows.append(f'<div class="tl-row job" data-job="{_attr(job.provider)}/{_attr(job.id)}">{label}'
                        f'<div class="tl-track">{"".join(bits)}</div></div>')
        if rows:
            lanes.append(f'<div class="lane"><div class="lane-name">{escape(provider)}</div>{"".join(rows)}</div>')
    step = _nice_step((t1 - t0) / 8)
    first = (int(t0 // step) + 1) * step
    axis = "".join(f'<span class="axis-tick" style="left:{x(t):.3f}%">{_clock_text(t)}</span>'
                   for t in (first + i * step for i in range(int((t1 - first) // step) + 1)))
    body = "".join(lanes) or '<p class="muted" id="timeline-empty">Nothing yet: create a job.</p>'
    return (f'<h2>Timeline <span class="muted">(virtual clock; bars: queued, running, end; ticks: polls; '
            f'diamonds: webhooks; red: injected faults)</span></h2>'
            f'<div class="timeline" id="timeline" data-t0="{t0:.3f}" data-t1="{t1:.3f}">'
            f'<div class="tl-axis"><div class="tl-label"></div><div class="tl-track">{axis}</div></div>'
            f'{body}<div class="tl-now-wrap"><div class="tl-label"></div><div class="tl-track">'
            f'<span class="now-line" id="now-line" style="left:{x(now):.3f}%"></span></div></div></div>')


def _nice_step(raw: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if step >= raw:
            return float(step)
    return 86400.0 * max(1, round(raw / 86400))


def sections(engine: Engine, f: Filters, catalog: Catalog, limit: int) -> dict[str, str]:
    """The page's live parts, by element id, as escaped HTML."""
    jobs, total = _jobs(engine, f, limit)
    entries = engine.journal.newest(max(limit, TIMELINE_ENTRIES), f.journal())
    return {
        "timeline": timeline_section(engine, f, jobs, entries, catalog),
        "jobs": jobs_section(engine, f, jobs, total),
        "requests": requests_section(engine, f, entries, limit),
        "faults": faults_section(engine, f),
        "webhooks": webhooks_section(engine, f),
        "media": media_section(engine, jobs),
        "counts": (f"jobs stored: {len(engine.jobs)}, requests in the journal: {len(engine.journal)}"
                   + (f" ({engine.journal.evicted} evicted)" if engine.journal.evicted else "")),
    }


# the page ----------------------------------------------------------------------------------------
def _options(values: Iterable[str], selected: str | None, blank: str = "any") -> str:
    out = [f'<option value="">{escape(blank)}</option>']
    for v in values:
        sel = " selected" if v == selected else ""
        out.append(f'<option value="{_attr(v)}"{sel}>{escape(v)}</option>')
    return "".join(out)


def _fault_field(name: str, schema: dict[str, Any]) -> str:
    """One input of the fault form, typed from the rule model's JSON schema."""
    choices = next((s.get("enum") for s in schema.get("anyOf", [schema]) if "enum" in s), None)
    label = escape(name)
    types = {s.get("type") for s in schema.get("anyOf", [schema])}
    if choices:
        control = f'<select name="{label}" data-type="{"int" if "integer" in types else "str"}">' \
                  f'{_options([str(c) for c in choices], None, "-")}</select>'
    else:
        kind = ("json" if name == "latency" else "int" if "integer" in types
                else "float" if "number" in types else "str")
        default = schema.get("default")
        placeholder = ("200 or {&quot;min_ms&quot;: 100, &quot;max_ms&quot;: 300}" if name == "latency"
                       else escape(str(default)) if default is not None else "")
        control = f'<input name="{label}" data-type="{kind}" placeholder="{placeholder}">'
    return f"<label>{label} {control}</label>"


WINDOWS = (("", "fit all"), ("60", "last minute"), ("600", "last 10 min"), ("3600", "last hour"),
           ("86400", "last day"))


def _window_options(selected: str | None) -> str:
    return "".join(f'<option value="{v}"{" selected" if v == (selected or "") else ""}>{label}</option>'
                   for v, label in WINDOWS)


def fault_form(catalog: Catalog) -> str:
    """The add-a-rule form: every field of ``FaultRule``, providers and their
    operations from the adapters (``submit`` for any job submission)."""
    fields = FaultRule.model_json_schema()["properties"]
    providers = catalog.providers + ["files"]
    ops = ['<option value="">any</option>', '<option value="submit">submit (any job submission)</option>']
    for provider, operations in catalog.operations.items():
        ops.append(f'<optgroup label="{_attr(provider)}">' + "".join(
            f'<option value="{_attr(op)}" data-provider="{_attr(provider)}">{escape(op)}</option>'
            for op, _ in operations) + "</optgroup>")
    ops.append('<optgroup label="files">' + "".join(
        f'<option value="{op}" data-provider="files">{op}</option>' for op in ("video", "image", "upload"))
               + "</optgroup>")
    inputs = [f'<label>provider <select name="provider" data-type="str">{_options(providers, None)}</select></label>',
              f'<label>operation <select name="operation" data-type="str">{"".join(ops)}</select></label>']
    inputs += [_fault_field(name, schema) for name, schema in fields.items() if name not in ("provider", "operation")]
    return (f'<form id="fault-form" class="grid">{"".join(inputs)}'
            '<button type="submit">add fault rule</button><span class="form-status" role="status"></span></form>')


def page(engine: Engine, f: Filters, catalog: Catalog, *, limit: int = 100, refresh: int | None = None) -> str:
    clock = engine.clock
    live = sections(engine, f, catalog, limit)
    qs = escape("?" + urlencode(f.query())) if f.query() else ""
    json_links = (f'<a href="/__admin/jobs{qs}">jobs</a><a href="/__admin/journal{qs}">journal</a>'
                  '<a href="/__admin/faults">faults</a><a href="/__admin/clock">clock</a>'
                  '<a href="/__admin/webhooks/deliveries">webhooks</a>'
                  '<a href="/__admin/metrics">metrics</a><a href="/__admin/health">health</a>')
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    filters = (
        '<form id="filters" class="bar" method="get" action="/__admin/">'
        f'<label>provider <select name="provider">{_options(catalog.providers, f.provider)}</select></label>'
        f'<label>api key <input name="api_key" value="{_attr(f.api_key)}" size="14"></label>'
        f'<label>test id <input name="test_id" value="{_attr(f.test_id)}" size="12"></label>'
        f'<label>job status <select name="status">{_options(STATES, f.status)}</select></label>'
        f'<label>HTTP status <input name="http_status" value="{_attr(f.http_status)}" size="4" '
        'placeholder="4xx"></label>'
        f'<label>timeline <select name="window">{_window_options(f.window)}</select></label>'
        '<button type="submit">filter</button></form>')
    controls = (
        '<div class="bar" id="clock-controls">'
        '<button type="button" data-advance="10">+10 s</button>'
        '<button type="button" data-advance="60">+1 min</button>'
        '<button type="button" data-advance="3600" id="advance-hour">+1 h</button>'
        '<label>advance <input id="advance-by" size="5" placeholder="s"></label>'
        '<button type="button" id="advance-custom">go</button>'
        '<button type="button" id="freeze"></button>'
        f'<label>scale <input id="scale" size="5" value="{clock.scale:g}"></label>'
        '<button type="button" id="set-scale">set</button>'
        '<span class="sep"></span>'
        '<button type="button" id="reset-all">reset all</button>'
        '<label>test id <input id="reset-test-id" size="10"></label>'
        '<button type="button" id="reset-test">reset test</button>'
        '<span class="form-status" id="control-status" role="status"></span></div>')
    inspector = (
        '<aside id="inspector" hidden><div class="bar"><h2>Request <span id="insp-title"></span></h2>'
        '<button type="button" id="copy-curl">copy as curl</button>'
        '<button type="button" id="insp-close">close</button><span class="form-status" id="insp-status">'
        '</span></div><div class="cols"><div><h3>Request</h3><pre id="insp-request-line"></pre>'
        '<pre id="insp-request-headers"></pre><pre id="insp-request-body"></pre></div>'
        '<div><h3>Answer</h3><pre id="insp-status-line"></pre><pre id="insp-response-headers"></pre>'
        '<pre id="insp-response-body"></pre></div></div><h3>curl</h3><pre id="insp-curl"></pre></aside>')
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>pixverse-mock admin</title>{meta}"
        f'<link rel="stylesheet" href="{STATIC}/dashboard.css">'
        f'<script src="{STATIC}/dashboard.js" defer></script></head><body>'
        "<header><h1>pixverse-mock</h1>"
        f'<p id="clock" data-now="{clock.now():.6f}" data-scale="{clock.scale:g}" '
        f'data-frozen="{"1" if clock.frozen else "0"}">virtual time <b id="clock-now">{escape(_time(clock.now()))}'
        f'</b>, scale <span id="clock-scale">{clock.scale:g}</span>x<span id="clock-frozen">'
        f'{", frozen" if clock.frozen else ""}</span>; <span id="counts">{live.pop("counts")}</span>'
        f' <span id="live" class="muted">(static)</span></p>'
        f"<nav>JSON: {json_links}</nav></header>"
        f"{filters}{controls}"
        f'<section id="timeline-section"><div id="timeline-live">{live.pop("timeline")}</div></section>'
        f"{inspector}"
        f'<section id="requests-section"><div id="requests-live">{live.pop("requests")}</div></section>'
        f'<section id="jobs-section"><div id="jobs-live">{live.pop("jobs")}</div></section>'
        f'<section id="faults-section"><div id="faults-live">{live.pop("faults")}</div>'
        f'<details open><summary>Add a fault rule</summary>{fault_form(catalog)}</details></section>'
        f'<section id="webhooks-section"><div id="webhooks-live">{live.pop("webhooks")}</div></section>'
        f'<section id="media-section"><div id="media-live">{live.pop("media")}</div></section>'
        "</body></html>"
    )
