"""The control plane's route table: every ``/__admin`` route, in one place.

Each row is (method, path, operationId, handler source).  Paths are relative to the
admin sub-application (``guard.mount_admin`` mounts it at ``/__admin``, behind
``guard.admin_guard``); operationIds are ``contracts/admin.yaml``'s.  The modules
(``admin/__init__.py``, ``faults.py``, ``webhooks.py``, ``dashboard.py``) contribute
handlers keyed by operationId and register no route themselves; ``register`` puts every
one behind ``common.contract_checked``.
"""
from __future__ import annotations

import re
from typing import Mapping

from aiohttp import web

from ..keys import ADMIN_CONTRACT, ADMIN_VIOLATIONS
from .common import AdminHandler, contract_checked

# Any character, slashes and newlines too: AI/ML API ids can hold "/".
_JOB = r"/jobs/{provider}/{job_id:[\s\S]+}"
#: The account webhook of each provider whose spec's webhook channel is ``account``
#: (PixVerse's console webhook: ``/webhooks/pixverse``; the contract's
#: ``AccountWebhookProvider`` enum lists them, so another name is a 400).
_ACCOUNT_WEBHOOK = "/webhooks/{provider}"

#: (method, path, operationId): the whole control plane.
ROUTES: tuple[tuple[str, str, str], ...] = (
    # admin/__init__.py
    ("GET", "/health", "get_health"),
    ("GET", "/clock", "get_clock"),
    ("POST", "/clock", "set_clock"),
    ("POST", "/reset", "reset"),
    ("GET", "/jobs", "list_jobs"),
    ("GET", _JOB, "get_job"),
    ("POST", _JOB, "force_job"),
    ("GET", "/journal", "query_journal"),
    ("DELETE", "/journal", "clear_journal"),
    ("POST", "/journal/verify", "verify_journal"),
    ("GET", "/requests/unmatched", "list_unmatched_requests"),
    ("GET", "/metrics", "get_metrics"),
    # admin/dashboard.py
    ("GET", "/", "admin_page"),
    ("GET", "/events", "dashboard_events"),
    ("GET", "/journal/entries/{seq}", "get_journal_entry"),
    ("GET", "/static/{name}", "dashboard_asset"),
    # admin/faults.py
    ("GET", "/faults", "list_faults"),
    ("POST", "/faults", "add_faults"),
    ("DELETE", "/faults", "remove_faults"),
    ("GET", "/faults/{fault_id}", "get_fault"),
    ("DELETE", "/faults/{fault_id}", "remove_fault"),
    # admin/webhooks.py
    ("GET", "/webhooks", "get_webhooks"),
    ("GET", _ACCOUNT_WEBHOOK, "get_account_webhook"),
    ("PUT", _ACCOUNT_WEBHOOK, "set_account_webhook"),
    ("DELETE", _ACCOUNT_WEBHOOK, "reset_account_webhook"),
    ("GET", "/webhooks/deliveries", "list_deliveries"),
    ("DELETE", "/webhooks/deliveries", "clear_deliveries"),
    ("GET", "/webhooks/faults", "list_delivery_faults"),
    ("POST", "/webhooks/faults", "add_delivery_faults"),
    ("DELETE", "/webhooks/faults", "remove_delivery_faults"),
    ("DELETE", "/webhooks/faults/{fault_id}", "remove_delivery_fault"),
    ("POST", "/webhooks/drain", "drain_webhooks"),
)

_WEBHOOK_SIBLINGS = "|".join(sorted({re.escape(p.split("/")[2]) for _, p, _ in ROUTES
                                     if p.startswith("/webhooks/") and p != _ACCOUNT_WEBHOOK}))

#: Operations whose body a pydantic model validates item by item (its errors name the
#: item's index and field); the contract still checks path and query.
MODEL_BODIES = frozenset({"add_faults"})


async def _page_redirect(request: web.Request) -> web.Response:
    # /__admin (no slash) is not an OpenAPI path; it only points at the dashboard.
    raise web.HTTPMovedPermanently(location="/__admin/")


def register(app: web.Application, handlers: Mapping[str, AdminHandler], strict: bool) -> None:
    """Register every row of ``ROUTES`` on the admin sub-application ``app`` with its
    handler from ``handlers`` (by operationId), behind ``contract_checked`` with the
    app's contract and violation list.  ``KeyError`` for a row without a handler or a
    handler without a row."""
    contract, violations = app[ADMIN_CONTRACT], app[ADMIN_VIOLATIONS]
    stray = set(handlers) - {op_id for _, _, op_id in ROUTES}
    if stray:
        raise KeyError(f"admin handlers without a route: {sorted(stray)}")
    app.router.add_get("", _page_redirect)
    for method, path, op_id in ROUTES:
        if path == _ACCOUNT_WEBHOOK:
            # Not the fixed /webhooks/... routes: a wrong method there stays a 405.
            path = f"/webhooks/{{provider:(?!(?:{_WEBHOOK_SIBLINGS})$)[^/]+}}"
        app.router.add_route(method, path, contract_checked(
            contract, op_id, handlers[op_id], strict=strict, violations=violations,
            check_body=op_id not in MODEL_BODIES))
