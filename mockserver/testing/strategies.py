"""Hypothesis strategies built from the contracts: requests and responses per operation.

Property-test a client's request builder or response parser without a server::

    from hypothesis import given
    from mockserver.testing.strategies import responses

    @given(responses("freepik", "get_pixverse_v5_text_to_video"))
    def test_parser_never_crashes(resp):
        result = my_parser(resp.status, resp.body)   # every documented status and body
        assert result.ok or result.error

- :func:`requests` draws valid requests (:class:`RequestSpec`): body, path, query and
  headers that pass the operation's contract, with the provider's auth header (and, for
  PixVerse, a fresh ``Ai-trace-id`` per draw, since a repeated one replays an answer).
- :func:`responses` draws valid answers (:class:`ResponseSpec`) for every documented
  status (or the one asked for), including the documented examples and, for the
  providers that report errors inside an HTTP 200 envelope (pixwith, PixVerse), every
  documented error: each PixVerse ErrCode with its ErrMsg, each pixwith message.
- :func:`error_responses` draws only errors (HTTP >= 400 or an in-band error).
- :func:`documented_responses` lists the contract's own examples and documented errors,
  for ``pytest.mark.parametrize``.

Every drawn body validates against the contract (the fake's own validator checks each
draw), so a parser that fails on one fails on something the provider may send.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from .contracts import auth_headers, contract, operation, operation_ids, provider_spec
from .schema_strategy import checker, from_schema

__all__ = ["RequestSpec", "ResponseSpec", "documented_responses", "error_responses", "is_error",
           "operations", "requests", "responses", "from_schema"]

JSON = "application/json"
TRACE_HEADER = "Ai-trace-id"


@dataclass(frozen=True)
class RequestSpec:
    """One request as a client would send it.

    ``path`` is filled in and percent-encoded; ``json`` is the JSON body (None: no JSON
    body); ``form`` the multipart fields for upload operations (bytes for files).
    """

    provider: str
    operation: str
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, Any] | None = None
    path_params: dict[str, Any] = field(default_factory=dict)

    def url(self, base_url: str) -> str:
        """The full URL against ``base_url`` (the origin, e.g. ``http://127.0.0.1:8000``)."""
        query = urlencode({k: _text(v) for k, v in self.query.items()})
        return f"{base_url.rstrip('/')}{self.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class ResponseSpec:
    """One answer the provider may send: HTTP ``status``, ``content_type``, ``body``
    (parsed JSON) and ``headers`` (e.g. ``Retry-After`` on a 429)."""

    provider: str
    operation: str
    status: int
    content_type: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """HTTP >= 400, or an error inside the provider's HTTP 200 envelope."""
        return is_error(self.provider, self.status, self.body)

    def json_bytes(self) -> bytes:
        import json

        return json.dumps(self.body).encode()


def operations(provider: str) -> list[str]:
    """The provider's operationIds (what :func:`requests` and :func:`responses` take)."""
    return operation_ids(provider)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _envelope(provider: str) -> dict[str, Any] | None:
    return contract(provider).info.get("x-error-envelope")


def is_error(provider: str, status: int, body: Any) -> bool:
    """Whether an answer is an error: HTTP >= 400, or (pixwith, PixVerse) an envelope
    whose success field is not the success value."""
    if status >= 400:
        return True
    env = provider_spec(provider).error_envelope
    if env is None or not isinstance(body, dict):
        return False
    return body.get(env.field) != env.success


# requests ------------------------------------------------------------------------------

_HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)


def _param_strategy(schema: dict[str, Any], location: str) -> st.SearchStrategy[Any]:
    if location == "header" and schema.get("type", "string") == "string" and "format" not in schema \
            and "enum" not in schema and "pattern" not in schema:
        return _HEADER_TEXT
    return from_schema(schema)


def requests(provider: str, operation_id: str, *, api_key: str = "test-key") -> st.SearchStrategy[RequestSpec]:
    """Valid requests for one operation, carrying ``api_key`` in the provider's auth
    header (PixVerse ones a fresh ``Ai-trace-id`` each).  Raises ContractError for an
    unknown operation."""
    return _requests(provider, operation_id, api_key)


@functools.lru_cache(maxsize=None)
def _requests(provider: str, operation_id: str, api_key: str) -> st.SearchStrategy[RequestSpec]:
    op = operation(provider, operation_id)
    parts: dict[str, dict[str, st.SearchStrategy[Any]]] = {"path": {}, "query": {}, "header": {}}
    optional: dict[str, dict[str, st.SearchStrategy[Any]]] = {"path": {}, "query": {}, "header": {}}
    for p in op.params:
        if p.location not in parts:
            continue
        target = parts if p.required else optional
        target[p.location][p.name] = _param_strategy(p.schema, p.location)
    groups = {loc: st.fixed_dictionaries(parts[loc], optional=optional[loc]) for loc in parts}
    multipart = "multipart/form-data" in op.body_media_types and JSON not in op.body_media_types
    if op.body_schema is None:
        body: st.SearchStrategy[Any] = st.none()
    else:
        body = from_schema(op.body_schema)
        if not op.body_required and not multipart:
            body = st.one_of(st.none(), body)
    auth = auth_headers(provider, api_key)

    def assemble(path: dict[str, Any], query: dict[str, Any], headers: dict[str, Any], payload: Any) -> RequestSpec:
        filled = op.path
        for name, value in path.items():
            filled = filled.replace("{" + name + "}", quote(_text(value), safe=""))
        all_headers = {**{k: _text(v) for k, v in headers.items()}, **auth}
        if TRACE_HEADER in all_headers:
            # A repeated trace id replays an earlier answer: every request gets a new one.
            all_headers[TRACE_HEADER] = str(uuid.uuid4())
        if multipart:
            return RequestSpec(provider, operation_id, op.method, filled, query, all_headers,
                               form=payload or {}, path_params=path)
        return RequestSpec(provider, operation_id, op.method, filled, query, all_headers,
                           json=payload, path_params=path)

    return st.builds(assemble, groups["path"], groups["query"], groups["header"], body)


# responses -----------------------------------------------------------------------------

def _status_code(key: str) -> int:
    if key.isdigit():
        return int(key)
    if key.upper().endswith("XX"):
        return int(key[0]) * 100
    return 500  # "default"


def _examples(media: dict[str, Any]) -> list[Any]:
    out = []
    if "example" in media:
        out.append(media["example"])
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and "value" in example:
            out.append(example["value"])
    schema = media.get("schema")
    if isinstance(schema, dict) and "example" in schema:
        out.append(schema["example"])
    return out


def _header_values(response: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    headers = response.get("headers") or {}
    values = {}
    for name, spec in headers.items():
        schema = (spec or {}).get("schema") or {"type": "string"}
        if schema.get("type") == "integer":
            lo = schema.get("minimum", 0)
            values[name] = st.integers(lo, max(lo, 3600)).map(str)
        else:
            values[name] = _HEADER_TEXT
    return st.fixed_dictionaries({}, optional=values)


def _enveloped_errors(provider: str, schema: dict[str, Any]) -> list[Any]:
    """The documented in-band error bodies that fit ``schema`` (an HTTP 200 answer)."""
    env = _envelope(provider)
    if env is None:
        return []
    fits = checker(schema)
    bodies: list[Any] = []
    document = contract(provider).document
    if env["field"] == "ErrCode":
        for code, message in (document.get("x-errcodes") or {}).items():
            if int(code) != env["success"]:
                bodies.append({"ErrCode": int(code), "ErrMsg": str(message), "Resp": None})
    else:
        messages = [m for ms in (env.get("status") or {}).values() for m in ms]
        for message in dict.fromkeys(messages):
            bodies.append({env["field"]: 0, "message": str(message), "data": None})
    return [b for b in bodies if fits(b)]


def documented_responses(provider: str, operation_id: str, status: int | None = None) -> list[ResponseSpec]:
    """The answers the contract spells out for an operation: every example of every
    status (or of ``status``) and, for envelope providers, every documented in-band
    error.  Deterministic, for ``pytest.mark.parametrize``."""
    op = operation(provider, operation_id)
    out: list[ResponseSpec] = []
    for key, response in op.raw.get("responses", {}).items():
        code = _status_code(key)
        if status is not None and code != status:
            continue
        for media_type, media in (response.get("content") or {}).items():
            schema = media.get("schema")
            fits = checker(schema) if isinstance(schema, (dict, bool)) else (lambda _: True)
            bodies = [b for b in _examples(media) if fits(b)]
            if code < 300 and isinstance(schema, dict):
                bodies += _enveloped_errors(provider, schema)
            seen: list[Any] = []
            for body in bodies:
                if body not in seen:
                    seen.append(body)
                    out.append(ResponseSpec(provider, operation_id, code, media_type, body))
    return out


def responses(provider: str, operation_id: str, status: int | None = None) -> st.SearchStrategy[ResponseSpec]:
    """Valid answers of one operation: any documented status, or only ``status``.

    Each draw is a documented example, a documented in-band error (pixwith, PixVerse)
    or a body generated from the status's schema; 429s may carry ``Retry-After``.
    Raises ValueError for a status the operation does not document.
    """
    return _responses(provider, operation_id, status)


@functools.lru_cache(maxsize=None)
def _bodiless(provider: str, operation_id: str, code: int) -> Callable[[dict[str, str]], ResponseSpec]:
    """A response without a body from its drawn headers."""
    return lambda headers: ResponseSpec(provider, operation_id, code, "", None, headers)


def _responses(provider: str, operation_id: str, status: int | None) -> st.SearchStrategy[ResponseSpec]:
    op = operation(provider, operation_id)
    options = []
    for key, response in op.raw.get("responses", {}).items():
        code = _status_code(key)
        if status is not None and code != status:
            continue
        headers = _header_values(response)
        content = response.get("content") or {}
        if not content:
            options.append(headers.map(_bodiless(provider, operation_id, code)))
        for media_type, media in content.items():
            schema = media.get("schema")
            known = [r.body for r in documented_responses(provider, operation_id, code)
                     if r.content_type == media_type]
            bodies = []
            if known:
                bodies.append(st.sampled_from(known))
            if isinstance(schema, (dict, bool)):
                bodies.append(from_schema(schema))
            if not bodies:
                bodies.append(st.none())
            options.append(st.builds(
                lambda body, h, c=code, m=media_type: ResponseSpec(provider, operation_id, c, m, body, h),
                st.one_of(bodies), headers))
    if not options:
        raise ValueError(f"{provider} {operation_id} documents no status {status}")
    return st.one_of(options)


def error_responses(provider: str, operation_id: str) -> st.SearchStrategy[ResponseSpec]:
    """Only errors: every documented status >= 400 and, for pixwith and PixVerse, the
    in-band errors of their HTTP 200 envelope (documented ones, then generated)."""
    return _error_responses(provider, operation_id)


@functools.lru_cache(maxsize=None)
def _error_responses(provider: str, operation_id: str) -> st.SearchStrategy[ResponseSpec]:
    op = operation(provider, operation_id)
    options = []
    for key in op.raw.get("responses", {}):
        code = _status_code(key)
        if code >= 400:
            options.append(responses(provider, operation_id, code))
    in_band = [r for r in documented_responses(provider, operation_id) if r.status < 400 and r.is_error]
    if in_band:
        options.append(st.sampled_from(in_band))
    if _envelope(provider) is not None:
        successes = [k for k in op.raw.get("responses", {}) if _status_code(k) < 400]
        for key in successes:
            options.append(responses(provider, operation_id, _status_code(key)).filter(lambda r: r.is_error))
    if not options:
        raise ValueError(f"{provider} {operation_id} documents no error")
    return st.one_of(options)

