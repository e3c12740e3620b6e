"""PixVerse webhooks: one URL and secret per account (PixVerse's console; here the
settings ``pixverse.webhook_*`` or ``PUT /__admin/webhooks/pixverse``, per key or for
every key).

Documented (PixVerse's "How to use webhook" page): a POST with JSON body ``{id, status, url,
size, has_audio, credits}`` and headers ``Webhook-Timestamp`` (unix seconds),
``Webhook-Nonce`` (32 random characters), ``Webhook-Signature`` (base64 HMAC-SHA256
with the account's secret) and ``Ai-Trace-Id``; delivered only by HTTP 200 with body
``ok``, else retried at 2 s, 10 s, 30 s, 1 min, 5 min, 15 min, 1 h and 4 h.

The signed string is ``"{timestamp}\\n{nonce}\\n{url_encoded_payload}"``.  What
``url_encoded_payload`` is, the docs leave open: their words are "the body's key=value
pairs joined by &" (variant ``form``, the default: the body's keys in body order, each
value as its JSON text without quotes for strings, ``true``/``false`` for booleans,
form-encoded like ``application/x-www-form-urlencoded``); a third-party kit signs
``encodeURIComponent(raw body)`` (variant ``uri``).  :func:`signed_payload` is both.

Inferred (the contract's ``x-webhook`` notes): sent once per generation, when its video
reaches a final status (1, 7 or 8), for every video generation (not image templates);
``id`` a string and ``size`` in MB (2 decimals) as in the docs' example; ``credits``
what the generation cost, 0 once a moderated one (status 7) was refunded;
``Ai-Trace-Id`` the trace id of the generate request.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Hashable, Sequence
from urllib.parse import quote, urlencode

import orjson

from ...engine import Engine
from ...engine.jobs import MODERATED, TERMINAL, Job
from ...engine.webhooks import AccountHook, Delivery, Watch
from ..base import Call
from .settings import PixverseSettings
from .wire import STATUS, Wire

#: encodeURIComponent leaves these unescaped (besides letters and digits).
URI_COMPONENT_SAFE = "-_.!~*'()"
VARIANTS = ("form", "uri")


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()


def signed_payload(body: bytes, variant: str) -> str:
    """``url_encoded_payload`` of the signed string for ``body`` (a JSON object)."""
    if variant == "uri":
        return quote(body.decode(), safe=URI_COMPONENT_SAFE)
    data = orjson.loads(body)
    return urlencode([(str(k), _form_value(v)) for k, v in data.items()])


def signature(secret: str, timestamp: int | str, nonce: str, body: bytes, variant: str) -> str:
    """Base64 HMAC-SHA256 (key: the secret's UTF-8 bytes) of
    ``"{timestamp}\\n{nonce}\\n{url_encoded_payload}"``."""
    message = f"{timestamp}\n{nonce}\n{signed_payload(body, variant)}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class PixverseWebhooks:
    """The PixVerse :class:`~mockserver.engine.webhooks.Channel`: bodies from the
    shared :class:`Wire`, signed with the key's account secret."""

    provider = "pixverse"

    def __init__(self, engine: Engine, settings: PixverseSettings, wire: Wire) -> None:
        self.engine = engine
        self.settings = settings
        self.wire = wire
        engine.webhooks.define_account(
            self.provider, AccountHook(settings.webhook_url, settings.webhook_secret, settings.webhook_signature))

    def follow(self, call: Call, job: Job, trace_id: str) -> None:
        """Watch a new video job when the key's account has a webhook URL."""
        hook = self.engine.webhooks.account(self.provider, call.api_key)
        if hook is not None and hook.url:
            self.engine.webhooks.watch(job, self, hook.url, {"base_url": call.base_url, "trace_id": trace_id})

    # Channel ----------------------------------------------------------------------------
    def visible(self, state: str) -> Hashable | None:
        return STATUS[state] if state in TERMINAL else None

    async def render(self, watch: Watch, state: str) -> bytes:
        job = watch.job
        refunded = state == MODERATED and await self.engine.was_refunded(self.provider, job.id)
        return orjson.dumps(await self.wire.webhook(job, state, watch.context["base_url"], refunded))

    def headers(self, delivery: Delivery, body: bytes, timestamp: int) -> dict[str, str]:
        webhooks = self.engine.webhooks
        hook = webhooks.account(self.provider, delivery.watch.job.api_key)
        assert hook is not None
        nonce = webhooks.nonce(32)
        return {
            "Content-Type": "application/json",
            "Webhook-Timestamp": str(timestamp),
            "Webhook-Nonce": nonce,
            "Webhook-Signature": signature(hook.secret, timestamp, nonce, body, hook.variant),
            "Ai-Trace-Id": delivery.watch.context["trace_id"],
        }

    def accepted(self, status: int, text: str) -> bool:
        return status == 200 and text.strip() == "ok"

    def retry_schedule(self) -> Sequence[float]:
        return self.settings.webhook_retry_s
