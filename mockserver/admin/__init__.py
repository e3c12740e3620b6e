"""The control plane under ``/__admin/``: health, clock, reset, jobs, journal,
metrics and the dashboard (``admin/dashboard.py``).  ``contracts/admin.yaml`` describes every route.

Talks to the engine, never to providers: it reads the adapters only to learn which
route is which operation and where each provider carries its API key.  Fault routes
(``/__admin/faults``) live in ``admin/faults.py``.

Errors are ``{"message": ...}`` with 400 (bad input), 404 (unknown job) or 409 (a
journal verification that did not hold).
"""
from __future__ import annotations

import functools
import os
from typing import Any, Sequence

from aiohttp import web

from ..contract import load_contract
from ..engine import Engine
from ..engine.faults import FILES
from ..engine.jobs import Job
from ..engine.journal import FILTERS, mask_key
from ..engine.webhooks import redact_url
from ..keys import ADMIN_CONTRACT, ADMIN_VIOLATIONS, METRICS
from .common import (
    AdminHandler,
    clock_view,
    contract_checked,
    error_answer,
    json_answer,
    validate_each,
)
from .dashboard import dashboard_handlers
from .faults import fault_handlers
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .routes import register
from .webhooks import webhook_handlers

__all__ = ["ADMIN_CONTRACT", "ADMIN_VIOLATIONS", "METRICS", "AdminHandler", "add_admin_routes",
           "contract_checked", "error_answer", "json_answer", "validate_each"]


# Default and largest page size for list endpoints.
DEFAULT_LIMIT = 100
# Entries a failed verification shows (the newest matching ones).
VERIFY_SHOWN = 20
# Near misses shown per unmatched request (WireMock shows a handful too).
NEAR_MISSES = 3


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    """An integer query parameter the contract already checked."""
    raw = request.query.get(name)
    return default if raw is None else int(raw)


def job_view(engine: Engine, job: Job, *, full: bool = False) -> dict[str, Any]:
    """A job as the admin API shows it; ``full`` adds the accepted request body."""
    view: dict[str, Any] = {
        "id": job.id, "provider": job.provider, "kind": job.kind,
        "status": engine.status(job), "outcome": job.plan.outcome,
        "test_id": job.test_id, "api_key": mask_key(job.api_key),
        "created_at": job.created_at, "finishes_at": job.finishes_at,
        "queue_s": job.plan.queue_s, "run_s": job.plan.run_s, "polls": job.polls,
        "forced": job.forced, "forced_at": job.forced_at,
        "width": job.width, "height": job.height, "duration": job.duration,
        "outputs": job.outputs, "cost": job.cost,
    }
    if full:
        # A webhook_url may carry credentials (user:pass@): shown as user:****@.
        view["request"] = {k: redact_url(v) if isinstance(v, str) and "@" in v and "://" in v else v
                           for k, v in job.request.items()}
    return view


def provider_routes(adapters: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(provider, operationId, method, path) of every route the adapters serve, paths as
    their contracts write them."""
    rows = []
    for name, adapter in adapters.items():
        for op_id in adapter.handlers:
            op = adapter.contract.operation(op_id)
            rows.append((name, op_id, op.method.upper(), op.route_path))
    return rows


def near_misses(method: str, path: str, routes: Sequence[tuple[str, str, str, str]],
                n: int = NEAR_MISSES) -> list[dict[str, Any]]:
    """The ``n`` routes closest to ``method path``, best first: similarity is 0.8 times
    difflib's ratio of the paths plus 0.2 for the same method (contracts/admin.yaml)."""
    from difflib import SequenceMatcher  # only this admin route needs it: off the start-up path

    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(path)
    method = method.upper()
    best: list[tuple[float, int]] = []  # (score, row), at most n, best first
    for row, (_, _, route_method, route_path) in enumerate(routes):
        bonus = 0.2 if route_method == method else 0.0
        matcher.set_seq1(route_path)
        # quick_ratio bounds ratio from above: skip the full comparison when even that
        # cannot make the top n.
        if len(best) == n and 0.8 * matcher.quick_ratio() + bonus <= best[-1][0]:
            continue
        best.append((0.8 * matcher.ratio() + bonus, row))
        best.sort(key=lambda pair: -pair[0])
        del best[n:]
    return [{"provider": routes[row][0], "operation": routes[row][1], "method": routes[row][2],
             "path": routes[row][3], "similarity": round(score, 3)} for score, row in best]


def admin_enums(providers: Sequence[str], fault_providers: Sequence[str],
                webhook_providers: Sequence[str],
                account_webhooks: Sequence[str] = ()) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The provider enums of contracts/admin.yaml, filled in at start-up (the registry
    decides them; the file lists none)."""
    return (("Provider", tuple(providers)), ("FaultProvider", tuple(fault_providers)),
            ("WebhookProvider", tuple(webhook_providers)), ("AccountWebhookProvider", tuple(account_webhooks)))


def add_admin_routes(app: web.Application, engine: Engine, adapters: dict[str, Any],
                     providers: Sequence[str] | None = None, account_webhooks: Sequence[str] = ()) -> None:
    """Register every admin route (the table in ``admin/routes.py``, handlers from this
    module, ``dashboard``, ``faults`` and ``webhooks``) and the app's ``Metrics``
    (``app[METRICS]``).
    ``providers``: the registered names, listed in the contract's provider enums (None:
    the adapters'); ``account_webhooks``: those whose spec's webhook channel is
    ``account``, each given ``/__admin/webhooks/{provider}``.  Requests are journaled
    and counted where they are answered (``recording.py``)."""
    metrics = Metrics(engine)
    app[METRICS] = metrics
    names = tuple(adapters) if providers is None else tuple(providers)
    app[ADMIN_CONTRACT] = load_contract(engine.settings.contracts_dir, "admin", admin_enums(
        names, engine.faults.providers or (*names, FILES), engine.webhooks.providers or names, account_webhooks))
    app[ADMIN_VIOLATIONS] = []

    async def health(request: web.Request, _: None) -> web.Response:
        await engine.sync_records()
        # pid: which worker answered when several share the port (serve --workers).
        return json_answer({"status": "ok", "jobs": await engine.count_jobs(), "journal": len(engine.journal),
                            "faults": len(engine.faults), "pid": os.getpid()})

    async def clock_get(request: web.Request, _: None) -> web.Response:
        await engine.sync_clock()
        return json_answer(clock_view(engine))

    async def clock_post(request: web.Request, body: dict[str, Any]) -> web.Response:
        """Any of ``{"scale": x, "freeze": bool, "advance": seconds}``, in that order."""
        try:
            await engine.change_clock(
                scale=float(body["scale"]) if "scale" in body else None,
                freeze=bool(body["freeze"]) if "freeze" in body else None,
                advance=float(body["advance"]) if "advance" in body else None)
        except (ValueError, OverflowError) as exc:
            return error_answer(str(exc))
        return json_answer(clock_view(engine))

    async def reset(request: web.Request, body: dict[str, Any] | None) -> web.Response:
        """Everything, or one test id (body ``{"test_id"}`` or ``?test_id=``)."""
        test_id = (body or {}).get("test_id", request.query.get("test_id"))
        dropped = await engine.reset(test_id)
        return json_answer({"status": "reset", "test_id": test_id, **dropped})

    async def jobs_list(request: web.Request, _: None) -> web.Response:
        q = request.query
        jobs = await engine.find_jobs(provider=q.get("provider"), status=q.get("status"),
                                test_id=q.get("test_id"), api_key=q.get("api_key"), kind=q.get("kind"))
        limit = _int_query(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        return json_answer({"count": len(jobs), "jobs": [job_view(engine, j) for j in reversed(jobs[-limit:])]})

    async def _job(request: web.Request) -> Job | None:
        return await engine.get_job(request.match_info["provider"], request.match_info["job_id"])

    async def job_get(request: web.Request, _: None) -> web.Response:
        job = await _job(request)
        if job is None:
            return json_answer({"message": "job not found"}, status=404)
        return json_answer(job_view(engine, job, full=True))

    async def job_force(request: web.Request, body: dict[str, Any]) -> web.Response:
        """``{"status": state}``: the job reports that state from now on."""
        job = await _job(request)
        if job is None:
            return json_answer({"message": "job not found"}, status=404)
        await engine.force(job, body["status"])
        return json_answer(job_view(engine, job, full=True))

    def _criteria(source: Any) -> dict[str, Any]:
        return {k: source[k] for k in FILTERS if k in source and source[k] is not None}

    async def journal_get(request: web.Request, _: None) -> web.Response:
        """Entries matching the query filters, newest first."""
        unknown = set(request.query) - set(FILTERS) - {"limit", "since"}
        if unknown:
            return error_answer(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        await engine.journal.sync()
        try:
            entries = engine.journal.find(_criteria(request.query), since=_int_query(request, "since", None))
        except ValueError as exc:
            return error_answer(str(exc))
        limit = _int_query(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        return json_answer({"count": len(entries), "size": len(engine.journal), "capacity": engine.journal.max_entries,
                      "evicted": engine.journal.evicted, "entries": [e.to_dict() for e in reversed(entries[-limit:])]})

    async def journal_delete(request: web.Request, _: None) -> web.Response:
        test_id = request.query.get("test_id")
        await engine.journal.sync()
        cleared = engine.journal.clear(test_id)
        await engine.journal.sync()
        return json_answer({"journal": cleared, "test_id": test_id})

    async def journal_verify(request: web.Request, body: dict[str, Any]) -> web.Response:
        """Filters plus ``times`` (exactly), or ``at_least``/``at_most``; with no
        count, at least once.  200 when it holds, 409 with what was seen."""
        bounds = {k: body[k] for k in ("times", "at_least", "at_most") if k in body}
        if not bounds:
            bounds = {"at_least": 1}
        criteria = _criteria(body)
        await engine.journal.sync()
        try:
            matched = engine.journal.find(criteria)
        except ValueError as exc:
            return error_answer(str(exc))
        n = len(matched)
        ok = (n == bounds["times"]) if "times" in bounds else (
            n >= bounds.get("at_least", 0) and n <= bounds.get("at_most", n))
        result: dict[str, Any] = {"ok": ok, "count": n, "expected": bounds, "criteria": {
            k: (mask_key(str(v)) if k == "api_key" else v) for k, v in criteria.items()}}
        if not ok:
            words = {"times": "exactly", "at_least": "at least", "at_most": "at most"}
            wanted = " and ".join(f"{words[k]} {v}" for k, v in bounds.items())
            result["message"] = f"expected {wanted} matching request(s), saw {n}"
            if not engine.journal.max_entries:
                result["message"] += " (the journal is off: setting journal_max_entries is 0)"
            elif engine.journal.evicted:
                result["message"] += f" ({engine.journal.evicted} older entries were evicted from the journal)"
            result["seen"] = [e.to_dict() for e in matched[-VERIFY_SHOWN:]]
            # What did happen in the same scope, to spot a near miss (wrong task id, op...).
            scope: dict[str, Any] = {k: criteria[k] for k in ("provider", "test_id") if k in criteria}
            tally: dict[tuple[str, str, int], int] = {}
            for e in engine.journal.find(scope):
                key = (e.operation or "(no route)", e.task_id or "", e.status)
                tally[key] = tally.get(key, 0) + 1
            result["nearby"] = [{"operation": o, "task_id": t or None, "status": st, "count": c}
                                for (o, t, st), c in sorted(tally.items())]
        return json_answer(result, status=200 if ok else 409)

    routes = provider_routes(adapters)
    # The same wrong path tends to come again and again (a client's typo in a loop).
    misses = functools.lru_cache(maxsize=1024)(lambda method, path: near_misses(method, path, routes))

    async def unmatched_get(request: web.Request, _: None) -> web.Response:
        """Journaled requests no route served (recording.py's catch-all), newest first,
        each with its near misses."""
        criteria = {k: request.query[k] for k in ("provider", "test_id") if k in request.query}
        await engine.journal.sync()
        found = engine.journal.find(criteria, since=_int_query(request, "since", None))
        entries = [e for e in found if e.operation is None]
        limit = _int_query(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        return json_answer({"count": len(entries), "entries": [
            {**e.to_dict(), "near_misses": misses(e.method, e.path)}
            for e in reversed(entries[-limit:])]})

    async def metrics_get(request: web.Request, _: None) -> web.Response:
        resp = web.Response(body=await metrics.render())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    handlers: dict[str, AdminHandler] = {
        "get_health": health, "get_clock": clock_get, "set_clock": clock_post, "reset": reset,
        "list_jobs": jobs_list, "get_job": job_get, "force_job": job_force,
        "query_journal": journal_get, "clear_journal": journal_delete, "verify_journal": journal_verify,
        "list_unmatched_requests": unmatched_get, "get_metrics": metrics_get,
        **dashboard_handlers(app, engine, adapters), **fault_handlers(engine),
        **webhook_handlers(engine, account_webhooks)}
    register(app, handlers, engine.settings.strict, engine.settings.admin_token)
