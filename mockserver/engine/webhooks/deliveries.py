"""What a webhook delivery is: the provider's :class:`Channel`, a watched job
(:class:`Watch`), one status change on its way (:class:`Delivery`), one HTTP attempt's
:class:`SendResult` and the outcomes the delivery log records."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Hashable, Literal, Protocol, Sequence, get_args

from ..jobs import Job

# Delivery log outcomes.
DELIVERED = "delivered"      # the receiver accepted it
FAILED = "failed"            # the receiver answered, but not with what counts as accepted
ERROR = "error"              # no answer: connection refused, reset, timeout
REFUSED = "refused"          # the target host is not allowed; never retried
UNDELIVERED = "undelivered"  # still pending when the fake shut down (a reset drops them unlogged)
#: The one list (the admin contract's DeliveryOutcome is generated from it).
DeliveryOutcome = Literal["delivered", "failed", "error", "refused", "undelivered"]
assert get_args(DeliveryOutcome) == (DELIVERED, FAILED, ERROR, REFUSED, UNDELIVERED)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one HTTP attempt got: ``status`` None when no answer came (``error`` says why)."""

    status: int | None
    text: str = ""
    error: str | None = None


Sender = Callable[[str, dict[str, str], bytes, float], Awaitable[SendResult]]


class Channel(Protocol):
    """A provider's webhook flavour, supplied by its adapter."""

    provider: str

    def visible(self, state: str) -> Hashable | None:
        """The provider's status for neutral ``state`` as a webhook reports it, or
        None when the provider sends no webhook for that state."""

    async def render(self, watch: "Watch", state: str) -> bytes:
        """The body for ``watch``'s job in ``state``."""

    def headers(self, delivery: "Delivery", body: bytes, timestamp: int) -> dict[str, str]:
        """Headers (signature included) for one attempt at unix ``timestamp``."""

    def accepted(self, status: int, text: str) -> bool:
        """Whether the receiver's answer counts as delivered."""

    def retry_schedule(self) -> Sequence[float]:
        """Virtual seconds to wait after the 1st, 2nd ... failed attempt."""


@dataclass(slots=True, eq=False)
class Watch:
    """A job whose status changes are delivered to ``url``.  ``context`` is the
    adapter's (base URL for result links, trace id ...)."""

    job: Job
    channel: Channel
    url: str
    context: dict[str, Any]
    last: Hashable | None
    checks: list[float]
    scheduled: float | None = None
    done: bool = False


@dataclass(slots=True, eq=False)
class Delivery:
    """One status change on its way to a receiver.  ``id`` is the same for every
    attempt (and for an injected duplicate): receivers deduplicate on it."""

    id: str
    watch: Watch
    state: str
    event: Hashable
    changed_at: float
    due: float
    seq: int
    attempts: int = 0
    body: bytes | None = None
    duplicate: bool = False
    faults: list[str] = field(default_factory=list)
    held: bool = False
    cancelled: bool = False
    finished: bool = False
    # Faults: send a copy this many seconds after delivery; hold at most this long.
    duplicate_after: float | None = None
    hold_s: float | None = None

    @property
    def provider(self) -> str:
        return self.watch.channel.provider

    @property
    def job_id(self) -> str:
        return self.watch.job.id

    @property
    def url(self) -> str:
        return self.watch.url
