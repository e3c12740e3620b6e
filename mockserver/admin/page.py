"""``GET /__admin/``: a read-only HTML view of the fake for a person.

Server-rendered, no JavaScript, every value escaped.  Shows the clock, active faults,
jobs and recent requests, optionally narrowed to one test id or provider.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable
from urllib.parse import urlencode

from ..engine import Engine
from ..engine.journal import mask_key

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right}
code,.mono{font-family:ui-monospace,monospace;font-size:12px}.muted{color:#777}
.s2{color:#176117}.s4{color:#9a5b00}.s5{color:#b00020}
.fault{color:#b00020}.st-succeeded{color:#176117}.st-failed,.st-moderated{color:#b00020}.st-running{color:#1a4fa0}
nav a{margin-right:1em}
"""


def _time(t: float | None) -> str:
    if t is None:
        return ""
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):  # a clock advanced past year 9999
        return f"{t:.3f}"


def _cell(value: Any, cls: str = "") -> str:
    text = "" if value is None else str(value)
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def _table(headers: Iterable[str], rows: list[str], empty: str, table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    if not rows:
        return f'<p class="muted" id="{table_id}-empty">{escape(empty)}</p>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# Shown in their own columns, not in the rule's JSON.
_BOOKKEEPING = ("id", "source", "seen", "fired", "remaining")


def describe(rule: dict[str, Any]) -> str:
    """A fault rule's selectors and effects as compact JSON."""
    return json.dumps({k: v for k, v in rule.items() if k not in _BOOKKEEPING}, default=str, sort_keys=True)


def render(engine: Engine, *, test_id: str | None = None, provider: str | None = None,
           limit: int = 100, refresh: int | None = None) -> str:
    clock = engine.clock
    jobs = engine.find_jobs(provider=provider, test_id=test_id)
    job_rows = []
    for job in reversed(jobs[-limit:]):
        status = engine.status(job)
        job_rows.append(
            "<tr>" + _cell(job.provider) + f'<td class="mono">{escape(job.id)}</td>' + _cell(job.kind)
            + _cell(status, f"st-{status}") + _cell(job.test_id) + _cell(mask_key(job.api_key), "mono")
            + _cell(_time(job.created_at)) + _cell(job.polls, "n")
            + _cell(job.forced or "") + "</tr>"
        )
    criteria = {"test_id": test_id, "provider": provider}
    entries = engine.journal.find(criteria)
    request_rows = []
    for e in reversed(entries[-limit:]):
        request_rows.append(
            "<tr>" + _cell(_time(e.time)) + _cell(e.provider or "-") + _cell(e.operation or "(no route)")
            + _cell(e.method) + _cell(e.path + (f"?{e.query}" if e.query else ""), "mono")
            + _cell(e.status, f"n s{e.status // 100}") + _cell(f"{e.latency_ms:.1f}", "n")
            + _cell(e.test_id) + _cell(e.task_id, "mono") + _cell(mask_key(e.raw_key), "mono")
            + _cell(", ".join(e.faults), "fault") + "</tr>"
        )
    rules = engine.faults.list()
    fault_rows = [
        "<tr>" + _cell(r.get("id"), "mono") + _cell(r.get("source")) + _cell(r.get("fired"), "n")
        + _cell(r.get("remaining"), "n") + f'<td class="mono">{escape(describe(r))}</td></tr>'
        for r in rules
    ]
    faults_html = _table(["id", "source", "fired", "remaining", "rule"], fault_rows, "No active faults.",
                         "faults")
    scope = ", ".join(f"{k} {v}" for k, v in criteria.items() if v)
    query = {k: v for k, v in criteria.items() if v}
    qs = escape("?" + urlencode(query)) if query else ""
    json_links = (f'<a href="/__admin/jobs{qs}">jobs</a><a href="/__admin/journal{qs}">journal</a>'
                  '<a href="/__admin/faults">faults</a><a href="/__admin/clock">clock</a>'
                  '<a href="/__admin/metrics">metrics</a><a href="/__admin/health">health</a>')
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>pixverse-mock admin</title>{meta}<style>{STYLE}</style></head><body>"
        "<h1>pixverse-mock</h1>"
        f'<p id="clock">virtual time <b>{escape(_time(clock.now()))}</b>, scale {clock.scale:g}x'
        f'{", frozen" if clock.frozen else ""}; jobs stored: {len(engine.jobs)}, '
        f"requests in the journal: {len(engine.journal)}"
        f'{f" ({engine.journal.evicted} evicted)" if engine.journal.evicted else ""}'
        f'{f"; showing {escape(scope)}" if scope else ""}.</p>'
        f"<nav>JSON: {json_links}</nav>"
        f"<h2>Active faults ({len(rules)})</h2>{faults_html}"
        f"<h2>Jobs ({len(jobs)}{', newest ' + str(limit) if len(jobs) > limit else ''})</h2>"
        + _table(["provider", "id", "kind", "status", "test id", "api key", "created (virtual)", "polls",
                  "forced"], job_rows, "No jobs.", "jobs")
        + f"<h2>Recent requests ({len(entries)}{', newest ' + str(limit) if len(entries) > limit else ''})</h2>"
        + _table(["time (virtual)", "provider", "operation", "method", "path", "status", "ms", "test id",
                  "task id", "api key", "faults"], request_rows, "No requests yet.", "requests")
        + "</body></html>"
    )
