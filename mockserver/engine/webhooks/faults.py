"""Delivery faults: late, duplicated and out-of-order webhooks (``/__admin/webhooks/faults``)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from ..models import Omittable, component
from .deliveries import Delivery


class DeliveryCounters(BaseModel):
    """A delivery fault as stored: the fields given, its id and its counter
    (``DeliveryFault.view``; the control plane's DeliveryFaultView)."""

    fired: int = Field(ge=0, description="Deliveries it applied to.")


class DeliveryFault(BaseModel):
    """A fault applied to new deliveries that match every selector given.

    ``delay``: the first attempt is ``seconds`` (virtual) late.  ``duplicate``: once
    delivered, the same delivery (same id) is sent again ``seconds`` later.
    ``out_of_order``: held back until the next delivery to the same URL has been
    attempted (at most ``seconds``, default 60, virtual), so it arrives after it.
    ``times`` limits how many deliveries it applies to (left out: all).  Selectors:
    ``provider``, ``job_id``, ``event`` (the provider's status as text).  Leave a field
    out rather than sending null.
    """

    # Not strict: the control plane checks JSON types against the contract first.
    model_config = ConfigDict(extra="forbid")

    id: Omittable[str] = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                               description="Replaces a fault with the same id.")
    kind: Literal["delay", "duplicate", "out_of_order"]
    # Checked against the providers that send webhooks when a context names them
    # (the control plane passes ``WebhookScheduler.providers``, from the registry).
    provider: Omittable[Annotated[str, component("WebhookProvider", type="string")]] = None
    job_id: Omittable[str] = Field(None, min_length=1)
    event: Omittable[str] = Field(None, min_length=1, description="The provider status, as text (COMPLETED, 1 ...).")
    seconds: Omittable[float] = Field(None, ge=0, le=86_400)
    times: Omittable[int] = Field(None, ge=1, le=10**9)
    # Deliveries it applied to: a counter, not something a client sends.
    _fired: int = PrivateAttr(0)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("providers")
        if value is not None and known is not None and value not in known:
            raise ValueError(f"unknown provider {value!r}; one of {', '.join(known)}")
        return value

    @property
    def fired(self) -> int:
        """Deliveries it applied to."""
        return self._fired

    def fire(self) -> None:
        self._fired += 1

    def view(self) -> dict[str, Any]:
        """The fault as the control plane shows it: the fields given, and ``fired``."""
        return {**self.model_dump(mode="json", exclude_none=True),
                **DeliveryCounters(fired=self._fired).model_dump()}

    @classmethod
    def from_view(cls, data: dict[str, Any]) -> "DeliveryFault":
        """A fault back from ``view`` (the state file; older ones hold nulls)."""
        fault = cls.model_validate({k: v for k, v in data.items() if k != "fired" and v is not None})
        fault._fired = int(data.get("fired", 0))
        return fault

    def matches(self, delivery: Delivery) -> bool:
        return ((self.provider is None or self.provider == delivery.provider)
                and (self.job_id is None or self.job_id == delivery.job_id)
                and (self.event is None or self.event == str(delivery.event))
                and (self.times is None or self.fired < self.times))
