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
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ..jobs import MODERATED, OUTCOMES, Outcome
from ..models import STRICT, JsonInt, Omittable, OneOrMany, component

#: HTTP statuses a rule's ``error`` may ask for.  Each provider sends the ones its
#: contract documents for the operation (PixVerse and pixwith map some in-band).
HTTP_ERRORS = (400, 401, 403, 404, 429, 500, 502, 503, 504)
Connection = Literal["reset", "hang", "empty", "malformed", "truncated"]
CONNECTION_FAULTS: tuple[str, ...] = get_args(Connection)
#: A hang never lasts longer than this (wall seconds); it ends sooner when the client leaves.
MAX_HANG_S = 300.0
#: The pseudo-provider of media downloads under ``/__files``; rules reach it only by name.
FILES = "files"
#: The pseudo-operation naming every operation that submits a generation job.
SUBMIT = "submit"

__all__ = ["CONNECTION_FAULTS", "EFFECTS", "FILES", "HTTP_ERRORS", "MAX_HANG_S", "OUTCOMES", "SUBMIT",
           "FaultRule", "InjectedError", "Latency"]

# Bounds that keep every value serialisable (64-bit JSON) and every draw finite.
MAX_MS = 600_000.0      # no latency parameter above 10 minutes
MAX_COUNT = 10**9       # times, nth
MAX_RATE = 10**12       # bytes per second

#: The fields each latency distribution needs.
_NEEDS: dict[str, tuple[str, ...]] = {"fixed": ("ms",), "uniform": ("min_ms", "max_ms"),
                                      "lognormal": ("median_ms",)}
#: Without ``dist``, the first distribution one of whose fields is given (else fixed).
_INFERRED: tuple[tuple[str, tuple[str, ...]], ...] = (("lognormal", ("median_ms",)),
                                                      ("uniform", ("min_ms", "max_ms")))


def _latency_schema(schema: dict[str, Any]) -> None:
    # The model's own object schema becomes one branch: a bare number is the other.
    # The anyOf says what _shorthand and _complete enforce: with ``dist``, its fields;
    # without, the fields of the distribution they imply.
    shapes: list[dict[str, Any]] = [{"required": ["dist", *needs], "properties": {"dist": {"const": dist}}}
                                    for dist, needs in _NEEDS.items()]
    earlier: list[str] = ["dist"]
    for dist, fields in (*_INFERRED, ("fixed", ())):
        shapes.append({"required": list(_NEEDS[dist]),
                       "not": {"anyOf": [{"required": [name]} for name in earlier]}})
        earlier += fields
    for shape in shapes:
        if len(shape.get("not", {}).get("anyOf", ())) == 1:
            shape["not"] = shape["not"]["anyOf"][0]
    description = schema.pop("description", None)
    obj = {**schema, "anyOf": shapes}
    schema.clear()
    if description:
        schema["description"] = description
    schema["oneOf"] = [{"type": "number", "minimum": 0, "maximum": MAX_MS}, obj]


class Latency(BaseModel):
    """Added wall-clock delay, drawn per request.

    ``fixed`` waits ``ms``; ``uniform`` draws between ``min_ms`` and ``max_ms``;
    ``lognormal`` draws around ``median_ms`` with shape ``sigma`` (the spread of
    ``ln(ms)``).  No draw exceeds ``cap_ms``.  A bare number means fixed
    milliseconds; ``dist`` is inferred from the fields given when absent
    (``median_ms``: lognormal, ``min_ms``/``max_ms``: uniform, in either order).
    """

    model_config = STRICT

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        if handler.mode == "validation":  # as stored (serialization) it is always the object
            _latency_schema(handler.resolve_ref_schema(found))
        return found

    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: Omittable[float] = Field(None, ge=0, le=MAX_MS)
    min_ms: Omittable[float] = Field(None, ge=0, le=MAX_MS)
    max_ms: Omittable[float] = Field(None, ge=0, le=MAX_MS)
    median_ms: Omittable[float] = Field(None, gt=0, le=MAX_MS)
    sigma: float = Field(0.5, ge=0, le=5)
    cap_ms: float = Field(60_000.0, ge=0, le=MAX_MS)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"dist": "fixed", "ms": data}
        if isinstance(data, dict) and "dist" not in data:
            for dist, fields in _INFERRED:
                if any(name in data for name in fields):
                    return {**data, "dist": dist}
        return data

    @model_validator(mode="after")
    def _complete(self) -> "Latency":
        missing = [name for name in _NEEDS[self.dist] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.dist} latency needs {' and '.join(missing)}")
        if self.dist == "uniform" and self.min_ms > self.max_ms:  # type: ignore[operator]  # both set
            self.min_ms, self.max_ms = self.max_ms, self.min_ms
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


#: The fields that make a rule do something; a rule needs one at least.
EFFECTS = ("latency", "error", "errcode", "moderation", "outcome", "connection", "dribble_bps")
#: Effects that contradict each other: (field, its value, other field, the other's
#: values that clash (None: any), why).
_CLASHES: tuple[tuple[str, str, str, tuple[str, ...] | None, str], ...] = (
    ("moderation", "submit", "error", None, "moderation: submit is an error of its own; drop error/errcode"),
    ("moderation", "submit", "errcode", None, "moderation: submit is an error of its own; drop error/errcode"),
    ("moderation", "completion", "outcome", ("succeeded", "failed"), "moderation: completion contradicts outcome"),
)


def _fault_rule_schema(schema: dict[str, Any]) -> None:
    # What _effects enforces, for JSON Schema readers (the contract, schemathesis).
    schema["anyOf"] = [{"required": [name]} for name in EFFECTS]
    clashes = []
    for name, value, other, values, _ in _CLASHES:
        properties: dict[str, Any] = {name: {"const": value}}
        if values is not None:
            properties[other] = {"enum": list(values)}
        clashes.append({"not": {"required": [name, other], "properties": properties}})
    schema["allOf"] = clashes


#: A name ``provider`` may select: a registered provider or ``files``; the admin contract
#: lists them (schema FaultProvider) at start-up, from the provider registry.
_ProviderName = Annotated[str, component("FaultProvider", type="string")]
_Operation = Annotated[str, Field(min_length=1)]


class FaultRule(BaseModel):
    """One fault rule.  Selectors narrow which requests it meets (all must hold);
    ``nth``/``times``/``probability`` decide whether it fires there; effects say what
    happens.  A rule needs at least one effect.  Leave a field out rather than
    sending null.

    Selectors: ``provider`` and ``operation`` (operationIds, or ``"submit"`` for every
    operation that submits a job; one name or a list), ``api_key``, ``test_id`` (the
    ``X-Mock-Test-Id`` header), ``prompt_contains`` (a substring of the prompt).
    ``nth`` fires only on the n-th request the selectors met (1-based).  ``times``
    fires at most that often, then the rule is spent ("fail the first N times, then
    succeed").  ``probability`` is the chance to fire on a met request.

    Effects: ``latency`` (ms or :class:`Latency`); ``error`` (an HTTP status its enum
    lists, :data:`HTTP_ERRORS`, in the provider's documented body) with ``retry_after``
    seconds on 429 (0 leaves the header out) and an optional ``message``; ``errcode``
    (a PixVerse ErrCode, which PixVerse prefers to ``error``); ``moderation``
    (``submit``: the input is rejected at submit, not with ``error`` or ``errcode``;
    ``completion``: the job ends moderated, same as ``outcome: moderated``);
    ``outcome`` (the job's planned end: succeeded, failed or moderated);
    ``connection`` (reset, hang for ``hang_s`` at most, empty, malformed, truncated);
    ``dribble_bps`` (media downloads under ``/__files`` at this many bytes per second;
    rules reach ``/__files`` only with ``provider: files``).  The README is the guide.
    """

    model_config = STRICT | ConfigDict(json_schema_extra=_fault_rule_schema)

    id: Omittable[str] = Field(None, min_length=1, max_length=100)
    description: Omittable[str] = None
    # selectors
    provider: Omittable[Annotated[list[_ProviderName], Field(min_length=1), OneOrMany()]] = None
    operation: Omittable[Annotated[list[_Operation], Field(min_length=1), OneOrMany()]] = None
    api_key: Omittable[str] = None
    test_id: Omittable[str] = None
    prompt_contains: Omittable[str] = Field(None, min_length=1)
    nth: Omittable[JsonInt] = Field(None, ge=1, le=MAX_COUNT)
    # budget
    times: Omittable[JsonInt] = Field(None, ge=1, le=MAX_COUNT)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    # effects
    latency: Omittable[Latency] = None
    error: Omittable[JsonInt] = Field(None, json_schema_extra={"enum": list(HTTP_ERRORS)})
    errcode: Omittable[JsonInt] = Field(None, ge=-(2**31), le=2**31 - 1, json_schema_extra={"not": {"const": 0}},
                                        description="A PixVerse ErrCode (0 is success, so not a fault).")
    retry_after: JsonInt = Field(1, ge=0, le=86_400)
    message: Omittable[str] = None
    moderation: Omittable[Literal["submit", "completion"]] = None
    outcome: Omittable[Outcome] = None
    connection: Omittable[Connection] = None
    hang_s: float = Field(MAX_HANG_S, gt=0, le=MAX_HANG_S)
    dribble_bps: Omittable[JsonInt] = Field(None, ge=1, le=MAX_RATE)

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
        for name, value, other, values, why in _CLASHES:
            if getattr(self, name) == value and getattr(self, other) is not None \
                    and (values is None or getattr(self, other) in values):
                raise ValueError(why)
        if self.moderation == "completion":
            self.outcome, self.moderation = MODERATED, None
        if not self.has_effect:
            raise ValueError(f"a fault rule needs an effect: {', '.join(EFFECTS[:-1])} or {EFFECTS[-1]}")
        return self

    @property
    def has_effect(self) -> bool:
        return any(getattr(self, name) is not None for name in EFFECTS)

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
