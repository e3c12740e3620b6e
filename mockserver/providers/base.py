"""What every provider adapter shares: routing from the contract, auth, body parsing,
contract validation and strict-mode response checks.

An adapter subclasses ``ProviderAdapter``, names its contract, maps operationIds to
handler methods, and supplies its own error bodies.  Handlers receive a ``Call``
whose inputs already passed the contract and return a ``Reply``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, ClassVar

import orjson
from aiohttp import web

from ..contract import Contract, ContractError, FieldError, Operation, load_contract
from ..engine import Engine
from ..settings import Settings

log = logging.getLogger("mockserver")

JSON = "application/json"


@dataclass(slots=True)
class Reply:
    """A provider answer before serialisation.  ``status`` is the HTTP status."""

    body: Any
    status: int = 200
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Call:
    """One validated request as a handler sees it.

    ``body`` is the parsed JSON body (None for multipart, which the handler reads
    from ``request`` itself); ``query`` and ``path`` are typed per the contract;
    ``base_url`` is where the client reached the fake, for URLs it hands back.
    """

    request: web.Request
    op: Operation
    api_key: str
    body: Any
    query: dict[str, Any]
    path: dict[str, Any]
    base_url: str
    test_id: str | None


Handler = Callable[[Call], Awaitable[Reply]]


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; hand adapters 5 so ids, durations and
    media shapes built from it stay integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


class ProviderAdapter:
    """Base for the four provider adapters.

    Subclasses set ``name`` (the provider id used in the engine and the journal),
    ``contract_name`` (file stem under ``contracts/``) and ``handlers``
    (operationId -> method name), and implement the error hooks below.
    """

    name: ClassVar[str]
    contract_name: ClassVar[str]
    handlers: ClassVar[dict[str, str]]
    # For the start-up banner and the README: the real origin, the path a client's
    # base URL ends with, and the auth header to send.
    title: ClassVar[str]
    upstream: ClassVar[str]
    client_base_path: ClassVar[str] = ""
    auth_hint: ClassVar[str]

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.contract: Contract = load_contract(settings.contracts_dir, self.contract_name)
        self.violations: list[str] = []
        missing = set(self.handlers) - set(self.contract.operations)
        if missing:
            raise ContractError(f"{self.contract_name}.yaml does not describe {sorted(missing)}")

    # hooks ---------------------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        """The key the client sent, "" for present-but-empty, None for absent."""
        raise NotImplementedError

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        raise NotImplementedError

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        raise NotImplementedError

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        raise NotImplementedError

    async def precheck(self, op: Operation, request: web.Request, api_key: str) -> Reply | None:
        """Provider-specific checks after auth and before the body (e.g. headers)."""
        return None

    async def around(self, call: Call, handler: Handler) -> Reply:
        """Wraps every handler (PixVerse uses it for trace-id replay)."""
        return await handler(call)

    # shared machinery --------------------------------------------------------------
    def key_accepted(self, key: str) -> bool:
        allowed = self.settings.api_keys
        return allowed is None or key in allowed

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_base_url or f"{request.scheme}://{request.host}"

    def routes(self) -> list[web.RouteDef]:
        defs = []
        for op_id, method_name in self.handlers.items():
            op = self.contract.operation(op_id)
            handler = getattr(self, method_name)
            defs.append(web.route(op.method, op.route_path, self._endpoint(op, handler)))
        return defs

    def respond(self, op: Operation, reply: Reply) -> web.Response:
        if self.settings.strict and reply.content_type.endswith("json"):
            problems = self.contract.check_response(op, reply.status, reply.content_type, reply.body)
            if problems:
                # Loud on purpose: a fake that breaks its own contract is worse than none.
                self.violations.extend(problems)
                log.error("contract violation: %s", problems)
                return web.json_response(
                    {"message": "pixverse-mock strict mode: response broke the contract",
                     "violations": problems},
                    status=500,
                    headers={"X-Mock-Contract-Violation": "1"},
                )
        body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
        return web.Response(body=body, status=reply.status, content_type=reply.content_type,
                            headers=reply.headers or None)

    def _endpoint(self, op: Operation, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        # Multipart bodies (uploads) are parsed and checked by their handler.
        wants_json = "application/json" in op.body_media_types

        async def endpoint(request: web.Request) -> web.Response:
            key = self.api_key(request)
            if key is None or not key.strip() or not self.key_accepted(key):
                return self.respond(op, self.auth_error(op, request, missing=key is None))
            early = await self.precheck(op, request, key)
            if early is not None:
                return self.respond(op, early)
            errors: list[FieldError] = []
            path = self.contract.coerce_params(op, "path", dict(request.match_info))
            errors += self.contract.check_params(op, "path", path)
            query = self.contract.coerce_params(op, "query", dict(request.query))
            errors += self.contract.check_params(op, "query", query)
            body: Any = None
            if wants_json:
                raw = await request.read()
                if raw.strip():
                    try:
                        body = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        return self.respond(op, self.malformed_body(op, request))
                else:
                    body = {}
                errors += self.contract.check_body(op, body)
            if errors:
                return self.respond(op, self.invalid(op, request, errors))
            call = Call(request, op, key, _integral(body), query, path, self.base_url(request),
                        request.headers.get("X-Mock-Test-Id"))
            return self.respond(op, await self.around(call, handler))

        endpoint.__name__ = op.operation_id
        return endpoint
