"""Fault directives a single request carries, and the ``X-Mock-*`` headers: the HTTP
layer's half of fault injection (the engine's half is ``engine/faults``).

A test can ask for a fault on one request without touching the control plane:

- headers ``X-Mock-Fault`` (the grammar of :func:`parse_directive`),
  ``X-Mock-Latency-Ms``, ``X-Mock-Outcome`` and, on ``/__files``, ``X-Mock-Dribble-Bps``;
- ``[mock:...]`` markers in the prompt (same grammar);
- API keys starting ``mock_`` (:func:`parse_key_directive`), like Stripe's test cards.

Each parses into the same :class:`~mockserver.engine.faults.FaultRule` the admin API
takes; :func:`found` lists them for a request's :class:`FaultContext`.  The README is
the user guide.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from .engine.faults import CONNECTION_FAULTS, Directive, FaultRule
from .engine.jobs import FAILED, MODERATED, SUCCEEDED

# Request headers the pipeline reads (case-insensitive on the wire).
FAULT_HEADER = "X-Mock-Fault"
LATENCY_HEADER = "X-Mock-Latency-Ms"
OUTCOME_HEADER = "X-Mock-Outcome"
DRIBBLE_HEADER = "X-Mock-Dribble-Bps"
TEST_ID_HEADER = "X-Mock-Test-Id"
# Response headers saying what was injected, or why a directive was ignored.
INJECTED_HEADER = "X-Mock-Fault-Injected"
PROBLEM_HEADER = "X-Mock-Fault-Error"

PROMPT_MARKER = re.compile(r"\[mock:([^\]]*)\]")
KEY_PREFIX = "mock_"


def present(api_key: str | None, prompt: Any, headers: Mapping[str, str]) -> bool:
    """Cheap check: whether a request carries any directive at all.  The provider
    pipeline (``providers/base.py``) inlines it."""
    return bool(
        (api_key and api_key.startswith(KEY_PREFIX))
        or (isinstance(prompt, str) and "[mock:" in prompt)
        or FAULT_HEADER in headers or LATENCY_HEADER in headers or OUTCOME_HEADER in headers
    )


def found(api_key: str | None = None, prompt: str | None = None, *, fault: str | None = None,
          latency: str | None = None, outcome: str | None = None,
          dribble: str | None = None) -> tuple[Directive, ...]:
    """The directives of one request, in the order they take precedence: the headers'
    (``fault`` ... ``dribble`` are their raw values), the prompt's markers, the key's."""
    out: list[Directive] = []
    if fault:
        out.append(("header", fault, parse_directive))
    if latency:
        out.append(("header", latency, _latency_directive))
    if outcome:
        out.append(("header", outcome, _outcome_directive))
    if dribble:
        out.append(("header", dribble, _dribble_directive))
    if prompt and "[mock:" in prompt:
        out.extend(("prompt", marker, parse_directive) for marker in PROMPT_MARKER.findall(prompt))
    if api_key and api_key.startswith(KEY_PREFIX):
        out.append(("key", api_key, parse_key_directive))
    return tuple(out)


_WORD_EFFECTS: dict[str, dict[str, Any]] = {
    "moderation": {"outcome": MODERATED},
    MODERATED: {"outcome": MODERATED},
    "fail": {"outcome": FAILED},
    FAILED: {"outcome": FAILED},
    "succeed": {"outcome": SUCCEEDED},
    SUCCEEDED: {"outcome": SUCCEEDED},
    **{name: {"connection": name} for name in CONNECTION_FAULTS},
}
_ALIASES = {"slow": "latency", "latency_ms": "latency", "retry": "retry_after",
            "retry-after": "retry_after", "p": "probability", "dribble": "dribble_bps",
            "hang_s": "hang"}
_VALUE_KEYS = {"error", "errcode", "latency", "retry_after", "probability", "times", "nth",
               "moderation", "outcome", "connection", "hang", "dribble_bps"}


def _latency_value(text: str) -> Any:
    low, sep, high = text.partition("-")
    if sep:
        return {"dist": "uniform", "min_ms": float(low), "max_ms": float(high)}
    return float(text)


def _directive_fields(items: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """``[(name, value|None)]`` -> FaultRule fields.  Raises ValueError."""
    out: dict[str, Any] = {}
    for raw_name, value in items:
        name = _ALIASES.get(raw_name, raw_name)
        if value is None:
            if name not in _WORD_EFFECTS:
                raise ValueError(f"unknown directive {raw_name!r}")
            out.update(_WORD_EFFECTS[name])
            continue
        if name not in _VALUE_KEYS:
            raise ValueError(f"unknown directive {raw_name!r}")
        if name == "latency":
            out["latency"] = _latency_value(value)
        elif name == "hang":
            out["connection"], out["hang_s"] = "hang", float(value)
        elif name == "moderation":
            out["moderation"] = value
        elif name in ("outcome", "connection"):
            out[name] = value
        elif name == "probability":
            out[name] = float(value)
        else:
            out[name] = int(value)
    return out


@functools.lru_cache(maxsize=1024)
def parse_directive(text: str) -> FaultRule:
    """A header or prompt-marker directive -> a rule (without selectors).

    Grammar: items separated by ``,`` or ``;``, each ``name`` or ``name=value``:
    ``error=503``, ``errcode=500044``, ``retry_after=5``, ``moderation`` (the job ends
    moderated), ``moderation=submit``, ``fail``, ``outcome=failed``, ``slow=200`` /
    ``latency=200`` / ``latency=100-300`` (ms, fixed or uniform), ``reset``, ``hang``,
    ``hang=5`` (seconds), ``empty``, ``malformed``, ``truncated``, ``dribble=20000``,
    ``times=2``, ``nth=3``, ``p=0.5``.  Raises ValueError (with the reason) for
    anything else.
    """
    items = []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        items.append((name.strip().lower(), value.strip() if sep else None))
    if not items:
        raise ValueError("empty directive")
    try:
        return FaultRule(**_directive_fields(items))
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None


@functools.lru_cache(maxsize=1024)
def parse_key_directive(api_key: str) -> FaultRule:
    """A test API key -> a rule, like Stripe's test cards.

    ``mock_`` then ``_``-separated items, a value following its name:
    ``mock_error_503``, ``mock_errcode_500044``, ``mock_moderation_submit``,
    ``mock_moderation``, ``mock_fail``, ``mock_slow_2000``, ``mock_reset``,
    ``mock_error_503_times_2``.  Anything after the first ``-`` is ignored, so tests
    can use distinct keys (``mock_fail-test42``).  Raises ValueError.
    """
    body = api_key[len(KEY_PREFIX):].split("-", 1)[0]
    tokens = [t for t in body.lower().split("_") if t]
    items: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        key = _ALIASES.get(name, name)
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        takes_value = key in _VALUE_KEYS and nxt is not None and (
            key not in _WORD_EFFECTS or re.fullmatch(r"[0-9.]+|submit|completion", nxt))
        if takes_value:
            items.append((name, nxt))
            i += 2
        else:
            items.append((name, None))
            i += 1
    if not items:
        raise ValueError("empty test key")
    return parse_directive(",".join(n if v is None else f"{n}={v}" for n, v in items))


def _outcome_directive(text: str) -> FaultRule:
    return parse_directive(f"outcome={text.strip().lower()}")


def _latency_directive(text: str) -> FaultRule:
    return parse_directive(f"latency={text.strip()}")


def _dribble_directive(text: str) -> FaultRule:
    return parse_directive(f"dribble={text.strip()}")
