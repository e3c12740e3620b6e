"""Delivery faults: late, duplicated and out-of-order webhooks (``/__admin/webhooks/faults``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .deliveries import Delivery

_STRICT = ConfigDict(extra="forbid")


class DeliveryFault(BaseModel):
    """A fault applied to new deliveries that match every selector given.

    ``delay``: the first attempt is ``seconds`` (virtual) late.  ``duplicate``: once
    delivered, the same delivery (same id) is sent again ``seconds`` later.
    ``out_of_order``: held back until the next delivery to the same URL has been
    attempted (at most ``seconds``, default 60, virtual), so it arrives after it.
    ``times`` limits how many deliveries it applies to (None: all).
    """

    model_config = _STRICT

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: Literal["delay", "duplicate", "out_of_order"]
    # Checked against the providers that send webhooks when a context names them
    # (the control plane passes ``WebhookScheduler.providers``, from the registry).
    provider: str | None = None
    job_id: str | None = Field(None, min_length=1)
    event: str | None = Field(None, min_length=1, description="The provider's status the delivery reports, as text.")
    seconds: float | None = Field(None, ge=0, le=86_400)
    times: int | None = Field(None, ge=1, le=10**9)
    fired: int = 0

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("providers")
        if value is not None and known is not None and value not in known:
            raise ValueError(f"unknown provider {value!r}; one of {', '.join(known)}")
        return value

    def matches(self, delivery: Delivery) -> bool:
        return ((self.provider is None or self.provider == delivery.provider)
                and (self.job_id is None or self.job_id == delivery.job_id)
                and (self.event is None or self.event == str(delivery.event))
                and (self.times is None or self.fired < self.times))
