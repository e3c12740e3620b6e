"""``/__admin/webhooks``: the delivery log, delivery faults and the account webhooks.

Account webhooks are those of the providers whose ``ProviderSpec.webhooks`` is
``"account"`` (PixVerse's console webhook, ``{provider}`` = ``pixverse``):

- ``GET /__admin/webhooks`` -> 200 ``{running, watching, pending, held, in_flight, due,
  counts, log_size, log_capacity, allowed_hosts, faults, <provider>...}``: one key per
  provider with an account webhook (``pixverse``), its view as below.
- ``GET /__admin/webhooks/{provider}[?api_key=K]`` -> 200 the account webhook every key
  uses (or key ``K``'s): ``{api_key, own, url, secret_fingerprint, signature, allowed,
  keys: [...]}``.
- ``PUT /__admin/webhooks/{provider}`` ``{url?, secret?, signature?, api_key?}`` -> 200
  the same; without ``api_key`` it changes the default, with it one key's webhook.
  ``url: null`` turns the webhook off.  400 ``{"message"}`` for a bad body.
- ``DELETE /__admin/webhooks/{provider}[?api_key=K]`` -> 200: key ``K``'s own webhook
  removed, or (no key) every key's and the default back to the settings.
- Any other ``{provider}``: 400 (the contract's ``AccountWebhookProvider`` enum).
- ``GET /__admin/webhooks/deliveries[?provider&job_id&outcome&test_id&delivery_id&limit]``
  -> 200 ``{count, size, capacity, entries}``, newest first: every attempt with
  ``sent_at`` (virtual) and ``wall_time``, ``url``, ``http_status``, ``response``,
  ``error``, ``outcome`` (delivered | failed | error | refused | undelivered),
  ``next_attempt_at`` ...
- ``DELETE /__admin/webhooks/deliveries`` -> 200 ``{"deleted": n}``.
- ``GET /__admin/webhooks/faults``, ``POST`` one fault or a list (201), ``DELETE``
  all or ``/{id}``: delivery faults (``delay``, ``duplicate``, ``out_of_order``).
- ``POST /__admin/webhooks/drain[?timeout_s=30]`` -> 200: attempt every delivery
  due on the virtual clock now and wait for the attempts (no sleeping in tests).

Talks to the engine only.  ``run_scheduler`` (called by ``create_app``) starts the
scheduler with an aiohttp sender when the app starts and stops it (attempting or
logging what is due) when it shuts down.
"""
from __future__ import annotations

from typing import Any, Sequence

from aiohttp import web

from ..engine import Engine
from ..engine.webhooks import DeliveryFault, host_allowed
from ..keys import SENDER
from ..outbound import ClientSender
from .common import AdminHandler, error_answer, json_answer, validate_each

DEFAULT_LIMIT = 100


def run_scheduler(app: web.Application, engine: Engine) -> None:
    """Run the delivery scheduler with ``app`` (``create_app`` calls this): started with
    an aiohttp sender (``app[SENDER]``) on start-up, closed on clean-up, attempting or
    logging what is due."""
    hooks = engine.webhooks
    sender = ClientSender(engine.settings.webhooks.max_in_flight)
    app[SENDER] = sender

    async def start(_: web.Application) -> None:
        await hooks.start(sender)

    async def stop(_: web.Application) -> None:
        try:
            await hooks.close()
        finally:
            await sender.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def webhook_handlers(engine: Engine, account_webhooks: Sequence[str] = ()) -> dict[str, AdminHandler]:
    """The ``/__admin/webhooks*`` handlers by operationId (``admin/routes.py`` routes them).
    ``account_webhooks``: the providers with an account webhook (each adapter defines
    its default with ``engine.webhooks.define_account`` when it is built)."""
    hooks = engine.webhooks

    def account_view(provider: str, api_key: str | None) -> dict[str, Any]:
        hook = hooks.account(provider, api_key)
        assert hook is not None, f"{provider} declares an account webhook but defined none"
        keys = hooks.accounts(provider)
        return {"api_key": api_key, "own": any(a["api_key"] == api_key for a in keys), **hook.view(),
                "allowed": hook.url is not None and host_allowed(hook.url, hooks.settings.allowed_hosts),
                "keys": keys}

    async def summary(request: web.Request, _: None) -> web.Response:
        return json_answer({**hooks.summary(), **{p: account_view(p, None) for p in account_webhooks}})

    async def account_get(request: web.Request, _: None) -> web.Response:
        return json_answer(account_view(request.match_info["provider"], request.query.get("api_key")))

    async def account_put(request: web.Request, body: dict[str, Any]) -> web.Response:
        # ``url`` already passed the contract's pattern (contract_checked).
        provider = request.match_info["provider"]
        kwargs: dict[str, Any] = {"secret": body.get("secret"), "variant": body.get("signature")}
        if "url" in body:
            kwargs["url"] = body["url"]
        hooks.set_account(provider, body.get("api_key"), **kwargs)
        return json_answer(account_view(provider, body.get("api_key")))

    async def account_delete(request: web.Request, _: None) -> web.Response:
        provider, api_key = request.match_info["provider"], request.query.get("api_key")
        hooks.drop_account(provider, api_key)
        return json_answer(account_view(provider, api_key))

    async def deliveries_get(request: web.Request, _: None) -> web.Response:
        q = request.query
        unknown = set(q) - {"provider", "job_id", "outcome", "test_id", "delivery_id", "limit"}
        if unknown:
            return error_answer(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        limit = int(q.get("limit", DEFAULT_LIMIT))
        entries = hooks.entries(provider=q.get("provider"), job_id=q.get("job_id"),
                                outcome=q.get("outcome"), test_id=q.get("test_id"),
                                delivery_id=q.get("delivery_id"))
        return json_answer({"count": len(entries), "size": len(hooks.log), "capacity": hooks.log.maxlen,
                      "entries": list(reversed(entries[-limit:]))})

    async def deliveries_delete(request: web.Request, _: None) -> web.Response:
        n = len(hooks.log)
        hooks.log.clear()
        return json_answer({"deleted": n})

    async def faults_get(request: web.Request, _: None) -> web.Response:
        return json_answer({"faults": [f.view() for f in hooks.faults]})

    async def faults_post(request: web.Request, body: Any) -> web.Response:
        items = body if isinstance(body, list) else [body]
        rules, errors = validate_each(DeliveryFault, items, "fault",
                                      context=None if hooks.providers is None else {"providers": hooks.providers})
        if errors:
            return error_answer("invalid delivery fault", errors=errors)
        return json_answer({"faults": [hooks.add_fault(r).view() for r in rules]}, 201)

    async def faults_delete(request: web.Request, _: None) -> web.Response:
        return json_answer({"deleted": hooks.remove_fault(None)})

    async def fault_delete(request: web.Request, _: None) -> web.Response:
        deleted = hooks.remove_fault(request.match_info["fault_id"])
        return json_answer({"deleted": deleted}) if deleted else error_answer("fault not found", 404)

    async def drain(request: web.Request, _: None) -> web.Response:
        timeout_s = float(request.query.get("timeout_s", 30.0))
        if not hooks.running:
            return error_answer("the webhook scheduler is not running", 409)
        try:
            handled = await hooks.drain(timeout_s)
        except TimeoutError:
            return error_answer(f"deliveries still running after {timeout_s:g} s", 504)
        return json_answer({"handled": handled, **hooks.summary()})

    return {"get_webhooks": summary, "get_account_webhook": account_get,
            "set_account_webhook": account_put, "reset_account_webhook": account_delete,
            "list_deliveries": deliveries_get, "clear_deliveries": deliveries_delete,
            "list_delivery_faults": faults_get, "add_delivery_faults": faults_post,
            "remove_delivery_faults": faults_delete, "remove_delivery_fault": fault_delete,
            "drain_webhooks": drain}
