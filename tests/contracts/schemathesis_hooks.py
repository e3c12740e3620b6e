"""Schemathesis checks for providers that report errors inside an HTTP 200 envelope.

pixwith.ai (``{code, message, data}``) and the PixVerse platform
(``{ErrCode, ErrMsg, Resp}``) answer bad input with HTTP 200 and an error code, so
schemathesis' status-based checks (negative data rejection, ignored auth, missing
required header, positive data acceptance) cannot see a rejection.  A contract that
declares ``info.x-error-envelope`` gets envelope-aware versions of those checks: the
response is judged as if the error code were the HTTP status it stands for (auth
errors as 401, not-found as 404, other errors as 400), then handed to schemathesis'
own check.  Ignored auth is re-checked directly: the same request is sent again
without the credentials and with bad ones, and must get the auth error envelope.

Loaded with ``SCHEMATHESIS_HOOKS=schemathesis_hooks`` (tests/contracts/ on PYTHONPATH).
"""
from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

import requests
import schemathesis
from schemathesis.specs.openapi import checks as builtin


def _envelope(case) -> dict[str, Any] | None:
    return case.operation.schema.raw_schema.get("info", {}).get("x-error-envelope")


def _as_http(response, case):
    """``response`` with the HTTP status its envelope stands for (itself if none)."""
    envelope = _envelope(case)
    if envelope is None or response.status_code != 200:
        return response
    try:
        body = json.loads(response.content)
    except ValueError:
        return response
    if not isinstance(body, dict) or body.get(envelope["field"]) == envelope["success"]:
        return response
    mapped = copy.copy(response)
    mapped.status_code = _status_for(envelope, body)
    return mapped


def _status_for(envelope: dict[str, Any], body: dict[str, Any]) -> int:
    """The HTTP status an envelope stands for: 200 on success, the contract's
    ``x-error-envelope.status`` entry whose values hold ``body[match]``, else 400."""
    if body.get(envelope["field"]) == envelope["success"]:
        return 200
    value = body.get(envelope.get("match", envelope["field"]))
    for status, values in envelope.get("status", {}).items():
        if value in values:
            return int(status)
    return 400


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@schemathesis.hook
def before_call(context, case, kwargs):
    """A fresh idempotency key per request.

    PixVerse replays the first answer for a repeated Ai-trace-id, and generated
    data repeats the contract's example value; a valid trace id is replaced by a new
    one (an invalid one is kept, negative tests rely on it).
    """
    for headers in (kwargs.get("headers"), case.headers):
        for name, value in list((headers or {}).items()):
            if name.lower() == "ai-trace-id" and isinstance(value, str) and _UUID.fullmatch(value):
                headers[name] = str(uuid.uuid4())


def _wrap(name: str, check):
    def envelope_check(ctx, response, case):
        if _envelope(case) is None:
            return None  # the built-in check runs for this contract
        return check(ctx, _as_http(response, case), case)

    envelope_check.__name__ = name
    envelope_check.__doc__ = f"{check.__name__}, reading the error envelope as an HTTP status."
    return schemathesis.check(envelope_check)


envelope_negative_data_rejection = _wrap("envelope_negative_data_rejection", builtin.negative_data_rejection)
envelope_positive_data_acceptance = _wrap("envelope_positive_data_acceptance", builtin.positive_data_acceptance)


def _auth_header_names(case) -> list[str]:
    schemes = case.operation.schema.raw_schema.get("components", {}).get("securitySchemes", {})
    names = []
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            names.append(scheme["name"])
        elif scheme.get("type") == "http":
            names.append("Authorization")
    return names


@schemathesis.check
def envelope_ignored_auth(ctx, response, case):
    """An accepted request, re-sent without credentials and with bad ones, must get
    the provider's auth error envelope."""
    envelope = _envelope(case)
    if envelope is None or _as_http(response, case).status_code != 200:
        return None
    names = {n.lower() for n in _auth_header_names(case)}
    if not names:
        return None
    for variant in ("missing", "invalid"):
        probe = response.request.copy()
        for header in list(probe.headers):
            if header.lower() in names:
                if variant == "missing":
                    del probe.headers[header]
                else:
                    probe.headers[header] = "schemathesis-invalid-key"
        with requests.Session() as session:
            answer = session.send(probe, timeout=10)
        try:
            body = answer.json()
        except ValueError:
            body = None
        status = _status_for(envelope, body) if isinstance(body, dict) and answer.status_code == 200 \
            else answer.status_code
        if status != 401:
            raise AssertionError(
                f"API accepts requests with {variant} credentials: {answer.status_code} {answer.text[:300]}")
    return True


def _header_still_sent(ctx, response, case):
    """Run-wide -H credentials are added back to every request, so a "missing" auth
    header may in fact have been sent; then the scenario did not happen."""
    data = getattr(getattr(case, "meta", None), "phase", None)
    name = getattr(getattr(data, "data", None), "parameter", None)
    if name and name in response.request.headers:
        return None
    return builtin.missing_required_header(ctx, response, case)


envelope_missing_required_header = _wrap("envelope_missing_required_header", _header_still_sent)

# The built-in versions these replace, for envelope contracts.
REPLACED = ("negative_data_rejection", "positive_data_acceptance", "ignored_auth", "missing_required_header")
