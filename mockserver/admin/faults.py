"""``/__admin/faults``: list, add and remove fault rules at run time.

- ``GET /__admin/faults[?test_id=T]`` -> 200 ``{"faults": [rule...], "injected":
  [{"provider", "kind", "count"}...], "hanging": n, "recent": [...]}``; each rule is
  its fields (``mockserver.engine.faults.FaultRule``) plus ``source`` (profile | admin),
  ``seen``, ``fired`` and ``remaining`` (None without ``times``).
- ``POST /__admin/faults`` with one rule or a list of rules -> 201 ``{"faults":
  [rule...]}``; an ``id`` already present is replaced.  400 ``{"message", "errors"}``
  for a body that is not a valid rule (nothing is added then).
- ``GET /__admin/faults/{id}`` -> 200 rule, 404 ``{"message"}``.
- ``DELETE /__admin/faults/{id}`` -> 200 ``{"deleted": 1}``, 404 ``{"message"}``.
- ``DELETE /__admin/faults[?test_id=T]`` -> 200 ``{"deleted": n}``: every rule (the
  profile's too), or only the rules of test ``T``.

An empty ``test_id`` is a 400 ``{"message"}``.

Talks to the engine only.  ``create_app`` also hands the rules to the ``/__files``
routes (``files.FAULTS``) so media downloads can be slowed or broken.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine import Engine
from ..engine.faults import FaultRule
from .common import AdminHandler, error_answer, json_answer, validate_each


def _test_id(request: web.Request) -> tuple[str | None, web.Response | None]:
    test_id = request.query.get("test_id")
    if test_id is not None and not test_id:
        return None, error_answer("test_id must not be empty")
    return test_id, None


def fault_handlers(engine: Engine) -> dict[str, AdminHandler]:
    """The ``/__admin/faults`` handlers by operationId (``admin/routes.py`` routes them)."""
    faults = engine.faults

    def shown(rule_id: str | None) -> dict[str, Any] | None:
        return next((r for r in faults.list() if r["id"] == rule_id), None)

    async def list_faults(request: web.Request, body: Any) -> web.Response:
        test_id, bad = _test_id(request)
        if bad is not None:
            return bad
        injected = [{"provider": p, "kind": k, "count": n} for (p, k), n in sorted(faults.counts.items())]
        return json_answer({"faults": faults.list(test_id), "injected": injected,
                      "hanging": faults.hanging, "recent": list(faults.log)[-50:]})

    async def add_faults(request: web.Request, body: Any) -> web.Response:
        items = body if isinstance(body, list) else [body]
        if not items or not all(isinstance(i, dict) for i in items):
            return error_answer("body must be a fault rule (object) or a non-empty list of them")
        rules, errors = validate_each(FaultRule, items, "rule", context=faults.context)
        if errors:
            return error_answer("invalid fault rule", errors=errors)
        added = [faults.add(rule).id for rule in rules]
        return json_answer({"faults": [shown(rule_id) for rule_id in added]}, 201)

    async def get_fault(request: web.Request, body: Any) -> web.Response:
        rule = shown(request.match_info["fault_id"])
        return json_answer(rule) if rule is not None else error_answer("fault not found", 404)

    async def delete_fault(request: web.Request, body: Any) -> web.Response:
        if not faults.remove(request.match_info["fault_id"]):
            return error_answer("fault not found", 404)
        return json_answer({"deleted": 1})

    async def delete_faults(request: web.Request, body: Any) -> web.Response:
        test_id, bad = _test_id(request)
        if bad is not None:
            return bad
        deleted = faults.remove_all() if test_id is None else faults.clear(test_id)
        return json_answer({"deleted": deleted})

    return {"list_faults": list_faults, "add_faults": add_faults, "remove_faults": delete_faults,
            "get_fault": get_fault, "remove_fault": delete_fault}
