"""The ``freepik`` settings section (``Settings.freepik``, env ``PIXVERSE_MOCK_FREEPIK__<FIELD>``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FreepikSettings(BaseModel):
    # The official 400 schema wraps the body in `problem`, the official example does
    # not; the example is what clients see in the docs, so it is the default.
    problem_wrapped: bool = False
    # Webhooks (per-request `webhook_url`), signed per Standard Webhooks.  Receivers read
    # the secret's UTF-8 bytes ("raw", what three of four known receivers do) or, Svix
    # style, strip `whsec_` and base64-decode the rest ("whsec").  README.
    webhook_secret: str = "pixverse-mock-freepik-secret"
    webhook_secret_format: Literal["raw", "whsec"] = "raw"
    # Seconds between attempts after a failed one.  Freepik publishes no schedule; this
    # is the Svix schedule its Standard-Webhooks layout suggests (inferred).
    webhook_retry_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0])
