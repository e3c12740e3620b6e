"""Fault rules as data: :class:`FaultRule` (selectors, budget, effects), its
:class:`Latency` distributions and the :class:`InjectedError` an adapter answers with.

Rules come from a profile's ``faults:`` list, ``POST /__admin/faults`` and the
per-request directives the HTTP layer parses (``mockserver/directives.py``); all are
the same model, checked strictly (JSON types, bounds that keep every value 64-bit).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..jobs import MODERATED, OUTCOMES, Outcome

#: HTTP statuses a rule's ``error`` may ask for.  Each provider sends the ones its
#: contract documents for the operation (PixVerse and pixwith map some in-band).
HTTP_ERRORS = (400, 401, 403, 404, 429, 500, 502, 503, 504)
CONNECTION_FAULTS = ("reset", "hang", "empty", "malformed", "truncated")
#: A hang never lasts longer than this (wall seconds); it ends sooner when the client leaves.
MAX_HANG_S = 300.0
#: The pseudo-provider of media downloads under ``/__files``; rules reach it only by name.
FILES = "files"
#: The pseudo-operation naming every operation that submits a generation job.
SUBMIT = "submit"

__all__ = ["CONNECTION_FAULTS", "FILES", "HTTP_ERRORS", "MAX_HANG_S", "OUTCOMES", "SUBMIT",
           "FaultRule", "InjectedError", "Latency"]



def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; everything else keeps its type and strict
    # validation rejects what JSON would not call an integer (true, "5", 5.5).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
# Rules come as JSON: no coercion ("503" is not 503, true is not 1).
_STRICT = ConfigDict(extra="forbid", strict=True)
# Bounds that keep every value serialisable (64-bit JSON) and every draw finite.
MAX_MS = 600_000.0      # no latency parameter above 10 minutes
MAX_COUNT = 10**9       # times, nth
MAX_RATE = 10**12       # bytes per second


class Latency(BaseModel):
    """Added wall-clock delay, drawn per request.

    ``fixed`` waits ``ms``; ``uniform`` draws between ``min_ms`` and ``max_ms``;
    ``lognormal`` draws around ``median_ms`` with shape ``sigma`` (the spread of
    ``ln(ms)``).  No draw exceeds ``cap_ms``.  A bare number means fixed
    milliseconds; ``dist`` is inferred from the fields given when absent
    (``median_ms``: lognormal, ``min_ms``/``max_ms``: uniform, in either order).
    """

    model_config = _STRICT

    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float | None = Field(None, ge=0, le=MAX_MS)
    min_ms: float | None = Field(None, ge=0, le=MAX_MS)
    max_ms: float | None = Field(None, ge=0, le=MAX_MS)
    median_ms: float | None = Field(None, gt=0, le=MAX_MS)
    sigma: float = Field(0.5, ge=0, le=5)
    cap_ms: float = Field(60_000.0, ge=0, le=MAX_MS)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"dist": "fixed", "ms": data}
        if isinstance(data, dict) and "dist" not in data:
            if "median_ms" in data:
                return {**data, "dist": "lognormal"}
            if "min_ms" in data or "max_ms" in data:
                return {**data, "dist": "uniform"}
        return data

    @model_validator(mode="after")
    def _complete(self) -> "Latency":
        if self.dist == "fixed" and self.ms is None:
            raise ValueError("fixed latency needs ms")
        if self.dist == "uniform":
            if self.min_ms is None or self.max_ms is None:
                raise ValueError("uniform latency needs min_ms and max_ms")
            if self.min_ms > self.max_ms:
                self.min_ms, self.max_ms = self.max_ms, self.min_ms
        if self.dist == "lognormal" and self.median_ms is None:
            raise ValueError("lognormal latency needs median_ms")
        return self

    def draw(self, rng: random.Random) -> float:
        """One delay in wall seconds."""
        if self.dist == "fixed":
            ms = float(self.ms or 0.0)
        elif self.dist == "uniform":
            ms = rng.uniform(self.min_ms or 0.0, self.max_ms or 0.0)
        else:
            ms = rng.lognormvariate(math.log(self.median_ms or 1.0), self.sigma)
        return min(ms, self.cap_ms) / 1000.0


class FaultRule(BaseModel):
    """One fault rule.  Selectors narrow which requests it meets (all must hold);
    ``nth``/``times``/``probability`` decide whether it fires there; effects say what
    happens.  A rule needs at least one effect.

    Selectors: ``provider`` and ``operation`` (operationIds, or ``"submit"`` for every
    operation that submits a job; one name or a list), ``api_key``, ``test_id`` (the
    ``X-Mock-Test-Id`` header), ``prompt_contains`` (a substring of the prompt).
    ``nth`` fires only on the n-th request the selectors met (1-based).  ``times``
    fires at most that often, then the rule is spent ("fail the first N times, then
    succeed").  ``probability`` is the chance to fire on a met request.

    Effects: ``latency`` (ms or :class:`Latency`); ``error`` (an HTTP status of
    :data:`HTTP_ERRORS`, in the provider's documented body) with ``retry_after``
    seconds on 429 (0 leaves the header out) and an optional ``message``; ``errcode``
    (a PixVerse ErrCode, which PixVerse prefers to ``error``); ``moderation``
    (``submit``: the input is rejected at submit; ``completion``: the job ends
    moderated, same as ``outcome: moderated``); ``outcome`` (the job's planned end:
    succeeded, failed or moderated); ``connection`` (reset, hang for ``hang_s`` at
    most, empty, malformed, truncated); ``dribble_bps`` (media downloads under
    ``/__files`` at this many bytes per second; rules reach ``/__files`` only with
    ``provider: files``).
    """

    model_config = _STRICT

    id: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = None
    # selectors
    provider: list[str] | None = Field(None, min_length=1)
    operation: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    api_key: str | None = None
    test_id: str | None = None
    prompt_contains: str | None = Field(None, min_length=1)
    nth: JsonInt | None = Field(None, ge=1, le=MAX_COUNT)
    # budget
    times: JsonInt | None = Field(None, ge=1, le=MAX_COUNT)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    # effects
    latency: Latency | None = None
    error: JsonInt | None = None
    errcode: JsonInt | None = Field(None, ge=-(2**31), le=2**31 - 1)
    retry_after: JsonInt = Field(1, ge=0, le=86_400)
    message: str | None = None
    moderation: Literal["submit", "completion"] | None = None
    outcome: Outcome | None = None
    connection: Literal["reset", "hang", "empty", "malformed", "truncated"] | None = None
    hang_s: float = Field(MAX_HANG_S, gt=0, le=MAX_HANG_S)
    dribble_bps: JsonInt | None = Field(None, ge=1, le=MAX_RATE)

    @field_validator("provider", "operation", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # The names come from whoever validates (FaultSet: the registry's, injected);
        # without a context any name is taken and simply never matches.
        known = (info.context or {}).get("providers")
        for name in value or ():
            if known is not None and name not in known:
                raise ValueError(f"unknown provider {name!r}; one of {', '.join(known)}")
        return value

    @field_validator("error")
    @classmethod
    def _known_status(cls, value: int | None) -> int | None:
        if value is not None and value not in HTTP_ERRORS:
            raise ValueError(f"error must be one of {', '.join(map(str, HTTP_ERRORS))}")
        return value

    @field_validator("errcode")
    @classmethod
    def _nonzero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("errcode 0 is success")
        return value

    @model_validator(mode="after")
    def _effects(self) -> "FaultRule":
        if self.moderation == "completion":
            if self.outcome not in (None, MODERATED):
                raise ValueError("moderation: completion contradicts outcome")
            self.outcome, self.moderation = MODERATED, None
        if self.moderation == "submit" and (self.error is not None or self.errcode is not None):
            raise ValueError("moderation: submit is an error of its own; drop error/errcode")
        if not self.has_effect:
            raise ValueError("a fault rule needs an effect: latency, error, errcode, moderation, "
                             "outcome, connection or dribble_bps")
        return self

    @property
    def has_effect(self) -> bool:
        return any(v is not None for v in (self.latency, self.error, self.errcode, self.moderation,
                                           self.outcome, self.connection, self.dribble_bps))

    @property
    def injected_error(self) -> "InjectedError | None":
        if self.moderation == "submit":
            return InjectedError(moderation=True, message=self.message)
        if self.error is None and self.errcode is None:
            return None
        return InjectedError(status=self.error, errcode=self.errcode, retry_after=self.retry_after,
                             message=self.message)

    def public(self) -> dict[str, Any]:
        """The rule as the admin API shows it (unset fields left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"id": self.id}


@dataclass(frozen=True, slots=True)
class InjectedError:
    """What an adapter turns into its own error answer (``ProviderAdapter.fault_reply``).

    ``status`` is an HTTP status of :data:`HTTP_ERRORS`; ``errcode`` a PixVerse ErrCode
    (PixVerse uses it before ``status``); ``moderation`` a submit-time moderation
    rejection; ``retry_after`` the seconds for a 429's ``Retry-After`` (0: none);
    ``message`` replaces the body's message where the provider's body has one.
    """

    status: int | None = None
    errcode: int | None = None
    moderation: bool = False
    retry_after: int = 1
    message: str | None = None

    @property
    def kind(self) -> str:
        return "moderation" if self.moderation else "error"
