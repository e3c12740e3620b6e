"""Freepik / Magnific webhooks: the per-request ``webhook_url``.

A POST on every status change the client could see (CREATED -> IN_PROGRESS ->
COMPLETED | FAILED; the create answer already said CREATED), whose body is the task
as the status GET shows it without the ``data`` wrapper: ``{task_id, status,
generated}``.  Signed per Standard Webhooks (the ``standardwebhooks`` package):
``webhook-id`` (same on every retry), ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed by
``freepik.webhook_secret`` (its UTF-8 bytes, or ``whsec_`` base64 when
``freepik.webhook_secret_format`` is ``whsec``).  Any 2xx answer counts as delivered;
otherwise retried after ``freepik.webhook_retry_s`` (Freepik publishes no schedule:
Svix's, inferred).  See README and the contract's callbacks.
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Callable, Hashable, Mapping, Sequence

import orjson
from standardwebhooks.webhooks import Webhook

from ...engine.jobs import Job
from ...engine.webhooks import Delivery, Watch
from .settings import FreepikSettings


# Standard Webhooks ----------------------------------------------------------------------------
def standard_webhook_key(secret: str, secret_format: str) -> bytes:
    """The HMAC key for a Standard-Webhooks ``secret``: its UTF-8 bytes (``raw``) or,
    Svix style, the base64 after an optional ``whsec_`` prefix (``whsec``).
    Raises ValueError for an empty key or bad base64."""
    if secret_format == "whsec":
        text = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except ValueError as exc:
            raise ValueError(f"webhook secret is not base64 after whsec_: {exc}") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("webhook secret may not be empty")
    return key


def standard_webhook_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64
    HMAC-SHA256 of "id.timestamp.body">``), signed by the ``standardwebhooks`` package."""
    signer = Webhook(key)  # bytes: used as the key as is
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signer.sign(msg_id, when, body.decode()),
    }


class FreepikWebhooks:
    """The Freepik :class:`~mockserver.engine.webhooks.Channel`.  ``status`` maps
    neutral states to Freepik's; ``task(job, state, base_url)`` is the task as the
    status GET shows it (the adapter's)."""

    provider = "freepik"

    def __init__(self, settings: FreepikSettings, status: Mapping[str, str],
                 task: Callable[[Job, str, str], dict[str, Any]]) -> None:
        self.settings = settings
        self.status = status
        self.task = task
        # Fail at start-up, not at the first delivery, on a secret that is not base64.
        standard_webhook_key(self.settings.webhook_secret, self.settings.webhook_secret_format)

    def visible(self, state: str) -> Hashable | None:
        return self.status[state]

    async def render(self, watch: Watch, state: str) -> bytes:
        return orjson.dumps(self.task(watch.job, state, watch.context["base_url"]))

    def headers(self, delivery: Delivery, body: bytes, timestamp: int) -> dict[str, str]:
        key = standard_webhook_key(self.settings.webhook_secret, self.settings.webhook_secret_format)
        return {"Content-Type": "application/json",
                **standard_webhook_headers(key, delivery.id, timestamp, body)}

    def accepted(self, status: int, text: str) -> bool:
        return 200 <= status < 300

    def retry_schedule(self) -> Sequence[float]:
        return self.settings.webhook_retry_s
