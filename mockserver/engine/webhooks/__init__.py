"""Webhook deliveries on the virtual clock, by responsibility:

- ``scheduler``: :class:`WebhookScheduler`, watching jobs, attempting and retrying
  deliveries, the bounded delivery log;
- ``deliveries``: :class:`Channel` (what a provider supplies: states, body, signed
  headers, acceptance, retry schedule), :class:`Watch`, :class:`Delivery`, :class:`SendResult`;
- ``faults``: :class:`DeliveryFault` (delay, duplicate, out of order);
- ``accounts``: :class:`AccountHook` (account-level webhooks, PixVerse's console);
- ``hosts``: the receivers' allow-list;
- ``redaction``: what the admin API and the log may show of URLs and answers.

Signing schemes are the providers' (``providers/freepik/webhooks.py``: Standard
Webhooks; ``providers/pixverse/webhooks.py``: PixVerse's console HMAC), reached
through their :class:`Channel`; the HTTP client is the app's (``outbound.py``).
"""
from .accounts import AccountHook, secret_fingerprint
from .deliveries import DELIVERED, ERROR, FAILED, REFUSED, UNDELIVERED, Channel, Delivery, Sender, SendResult, Watch
from .faults import DeliveryCounters, DeliveryFault
from .hosts import host_allowed, normalise_host_url
from .redaction import redact_url, response_excerpt
from .scheduler import DEFAULT_HOLD_S, WebhookScheduler

__all__ = ["DEFAULT_HOLD_S", "DELIVERED", "ERROR", "FAILED", "REFUSED", "UNDELIVERED", "AccountHook", "Channel",
           "Delivery", "DeliveryCounters", "DeliveryFault", "SendResult", "Sender", "Watch", "WebhookScheduler",
           "host_allowed", "normalise_host_url", "redact_url", "response_excerpt", "secret_fingerprint"]
