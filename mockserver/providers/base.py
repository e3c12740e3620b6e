"""What every provider adapter shares: routing from the contract, auth, body parsing,
contract validation and strict-mode response checks.

An adapter subclasses ``ProviderAdapter``, names its contract, maps operationIds to
handler methods, and supplies its own error bodies.  Handlers receive a ``Call``
whose inputs already passed the contract and return a ``Reply``.
"""
from __future__ import annotations

import logging
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, ClassVar, Mapping

import orjson
from aiohttp import web

from .. import directives, faultwire, recording
from ..contract import Contract, ContractError, FieldError, Operation, coerce_text, holds_float, integral, load_contract
from ..directives import (
    FAULT_HEADER,
    INJECTED_HEADER,
    KEY_PREFIX,
    LATENCY_HEADER,
    OUTCOME_HEADER,
    PROBLEM_HEADER,
    TEST_ID_HEADER,
)
from ..engine import Engine
from ..engine.faults import Decision, FaultContext, InjectedError
from ..engine.jobs import MODERATED, Job, JobSpec, PlannedOutcome
from ..engine.journal import LATENCY_BUCKETS, readable
from ..engine.limits import CREDITS, Refusal
from ..engine.state import StoreUnavailable
from ..intake import MAX_BODY_BYTES, BodyTooLarge, BodyUnreadable, read_body, too_deep
from ..settings import Settings
from .spec import ProviderSpec

log = logging.getLogger("mockserver")

JSON = "application/json"
# A Content-Length with fewer digits is under intake.MAX_BODY_BYTES (64 MiB, 8 digits).
_DIGITS_UNDER_CAP = len(str(MAX_BODY_BYTES))



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
    from ``request`` itself); ``raw`` the body's bytes as sent when they say exactly
    what ``body`` does (None otherwise), for storing a job's request as it came;
    ``query`` and ``path`` are typed per the contract;
    ``base_url`` is where the client reached the fake, for URLs it hands back
    (``settings.public_base_url``, else derived from the request when first read:
    most answers hold no URL).
    """

    request: web.Request
    op: Operation
    api_key: str
    body: Any
    query: dict[str, Any]
    path: dict[str, Any]
    _base_url: str | None
    test_id: str | None
    raw: bytes | None = None
    #: The outcome a fault planned for a job this request creates (None: drawn).
    planned: PlannedOutcome | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            self._base_url = f"{self.request.scheme}://{self.request.host}"
        return self._base_url


Handler = Callable[[Call], Awaitable[Reply]]
# What an operation's pipeline hands its endpoint: the response, the key as sent, the
# request body as read (None: not read), the kinds of faults injected, the test id.
Answer = tuple[web.StreamResponse, "str | None", "bytes | str | None", tuple[str, ...], "str | None"]


class ProviderAdapter:
    """Base for the four provider adapters.

    Subclasses set ``name`` (the provider id used in the engine and the journal),
    ``contract_name`` (file stem under ``contracts/``) and ``handlers``
    (operationId -> method name, or -> a callable when set per instance; each takes
    a :class:`Call` and returns a :class:`Reply`), and implement the hooks below.

    Must implement: ``api_key``, ``auth_error``, ``malformed_body``, ``invalid``,
    ``unknown_route``.  May override: ``too_large``, ``precheck``, ``around``,
    ``fault_statuses``, ``fault_supported``, ``fault_reply``, ``refusal_reply``,
    ``key_accepted``.  Every hook answers in the provider's own words: the status and
    body shape its documents give for that case (HTTP 200 with an error envelope for
    pixwith.ai and the PixVerse platform).  A hook's :class:`Reply` is checked against
    the contract like any other answer (strict mode turns a broken one into a 500).
    """

    # The provider's facts (providers/spec.py); ``name``, ``contract_name``, ``title``,
    # ``upstream``, ``client_base_path``, ``auth_hint`` and ``submit_operations`` (None:
    # POST operations whose body schema has a `prompt`) are copied from it.
    spec: ClassVar[ProviderSpec]
    name: ClassVar[str]
    contract_name: ClassVar[str]
    handlers: Mapping[str, str | Handler]
    title: ClassVar[str]
    upstream: ClassVar[str]
    client_base_path: ClassVar[str] = ""
    auth_hint: ClassVar[str]
    submit_operations: ClassVar[frozenset[str] | None] = None
    # Path prefixes this provider owns: a request under one that no route serves gets
    # ``unknown_route``'s answer (recording.add_unmatched_route; the longest prefix of
    # any provider wins).
    path_prefixes: ClassVar[tuple[str, ...]] = ()
    # operationIds that submit no job but whose input the provider moderates, so a
    # moderation fault at submit applies there too (PixVerse's image upload).
    moderated_operations: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.name, cls.contract_name, cls.title = spec.name, spec.contract, spec.title
            cls.upstream, cls.client_base_path, cls.auth_hint = spec.upstream, spec.client_base_path, spec.auth_hint
            cls.submit_operations = spec.submit_operations

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.contract: Contract = load_contract(self.spec.contract_dir or settings.contracts_dir,
                                                self.contract_name)
        self.violations: list[str] = []
        # An engine that keeps its accounts in memory admits without a coroutine of its
        # own (one frame less per create); one that overrides ``admit`` is awaited.
        self._admit_now = engine.admit_now if type(engine).admit is Engine.admit else None
        self.submit_ops: frozenset[str] = self.submit_operations if self.submit_operations is not None \
            else frozenset(op_id for op_id in self.handlers
                           if self.contract.operation(op_id).method == "POST"
                           and _has_property(self.contract.operation(op_id).body_schema, "prompt"))

    # hooks ---------------------------------------------------------------------------
    def api_key(self, request: web.Request) -> str | None:
        """The key the client sent in the provider's auth header (Freepik's
        ``x-freepik-api-key``, AI/ML API's ``Authorization: Bearer``, ...), "" for
        present-but-empty, None for absent.  Read on every request: keep it cheap."""
        raise NotImplementedError

    def auth_error(self, op: Operation, request: web.Request, missing: bool) -> Reply:
        """The answer to a missing (``missing`` True) or unknown key, e.g. Freepik's
        401 ``{"message": "Missing API key"}`` or PixVerse's HTTP 200 envelope with its
        auth ErrCode.  Also the default answer to an injected 401 (``fault_reply``)."""
        raise NotImplementedError

    def malformed_body(self, op: Operation, request: web.Request) -> Reply:
        """The answer to a body that is not usable JSON (unparsable, nested too deeply,
        a corrupt or unknown Content-Encoding), e.g. Freepik's 400 problem with
        ``invalid_params`` or PixVerse's ErrCode 400013."""
        raise NotImplementedError

    def invalid(self, op: Operation, request: web.Request, errors: list[FieldError]) -> Reply:
        """The answer to a request that breaks ``op``'s contract: ``errors`` lists every
        problem (location ``body``/``query``/``path``, field, kind, message) and is never
        empty.  The provider's own validation answer, worded as its documents show it
        (one field or all of them, whichever the provider reports)."""
        raise NotImplementedError

    def unknown_route(self, request: web.Request, allowed: frozenset[str]) -> Reply:
        """The provider's answer to a path under ``path_prefixes`` it does not serve
        (``allowed`` empty) or a method a path of its does not allow (``allowed`` the
        methods it does: the fake adds ``Allow`` to a 405).  No credential is checked."""
        raise NotImplementedError

    def too_large(self, op: Operation, request: web.Request) -> Reply:
        """The answer to a body over ``intake.MAX_BODY_BYTES`` (after decompression).
        No provider documents one; by default its malformed-body answer."""
        return self.malformed_body(op, request)

    async def precheck(self, op: Operation, request: web.Request, api_key: str) -> Reply | None:
        """Provider-specific checks after auth and before the body is read, e.g.
        PixVerse's ``Ai-Trace-Id`` header: a :class:`Reply` to answer with instead of
        running the handler, or None to go on.  Not called unless overridden."""
        return None

    async def around(self, call: Call, handler: Handler) -> Reply:
        """Wraps every handler call that passed auth, validation and faults: return
        ``await handler(call)`` or an answer of your own (PixVerse replays the stored
        answer to a repeated trace id)."""
        return await handler(call)

    # faults (see engine/faults, directives.py and README) ------------------------
    def fault_statuses(self, op: Operation) -> frozenset[int]:
        """HTTP error statuses this provider can send on ``op``: by default those its
        contract documents for it."""
        return frozenset(int(s) for s in op.raw.get("responses", {}) if s.isdigit() and int(s) >= 400)

    def fault_supported(self, op: Operation, fault: InjectedError) -> bool:
        """Whether ``fault_reply`` can answer ``fault`` on ``op``.  By default an HTTP
        status the contract documents there (an ErrCode alone is PixVerse's business)."""
        return fault.status is not None and fault.status in self.fault_statuses(op)

    def fault_reply(self, op: Operation, request: web.Request, fault: InjectedError) -> Reply | None:
        """The provider's answer to an injected error.  By default: 401 is the adapter's
        own ``auth_error``; any other status the contract's documented example body for
        ``op`` and that status, its ``message`` replaced by ``fault.message``; a 429 carries
        ``Retry-After``.  None for moderation at submit: the job is accepted and reads as
        moderated from its first poll (what a reseller relaying an upstream rejection
        shows).  Adapters whose bodies are dynamic override this."""
        if fault.moderation or fault.status is None:
            return None
        if fault.status == 401:
            reply = self.auth_error(op, request, missing=False)
        else:
            reply = Reply(_documented_example(op, fault.status), fault.status)
        if fault.message is not None and isinstance(reply.body, dict) and "message" in reply.body:
            reply.body = {**reply.body, "message": fault.message}
        return with_retry_after(reply, fault)

    # account limits (engine/limits.py, README) ---------------------------------
    def refusal_reply(self, op: Operation, request: web.Request, refusal: Refusal) -> Reply:
        """The provider's answer when a key is out of credits (as an injected 403) or
        over its concurrency cap or rate limit (as an injected 429, with
        ``Retry-After`` when known).  PixVerse overrides it with its ErrCodes."""
        if refusal.kind == CREDITS:
            fault = InjectedError(status=403)
        else:
            fault = InjectedError(status=429, retry_after=refusal.retry_after or 0)
        reply = self.fault_reply(op, request, fault)
        assert reply is not None
        return reply

    def unavailable_reply(self, op: Operation, request: web.Request) -> Reply:
        """The answer when the shared state (Redis, ``redis_url``) does not answer: the
        provider's own 503 with ``Retry-After: 1`` where its contract documents one
        for ``op``, else its 500 (PixVerse: its envelope, as for an injected 503)."""
        statuses = self.fault_statuses(op)
        status = 503 if 503 in statuses or 500 not in statuses else 500
        reply = self.fault_reply(op, request, InjectedError(status=status, retry_after=1))
        if reply is None:  # only moderation answers None
            reply = Reply({"message": "Service Unavailable"}, 503)
        if reply.status == 503:
            reply.headers = {**reply.headers, "Retry-After": "1"}
        return reply

    async def admit(self, call: Call, cost: int) -> Reply | None:
        """Before creating a job: the refusal answer when the key is at its
        concurrency cap or has fewer than ``cost`` credits, else None (``cost`` taken)."""
        admit_now = self._admit_now
        refusal = admit_now(self.name, call.api_key, cost) if admit_now is not None \
            else await self.engine.admit(self.name, call.api_key, cost)
        return None if refusal is None else self.refusal_reply(call.op, call.request, refusal)

    def create_job(self, call: Call, spec: JobSpec) -> Awaitable[Job]:
        """Create the job ``spec`` describes for ``call``'s key and test id, with the
        outcome a fault planned for this request (``call.planned``), if any (await it)."""
        spec.provider, spec.api_key, spec.test_id, spec.planned = \
            self.name, call.api_key, call.test_id, call.planned
        # The engine's coroutine itself: no second frame per create.
        return self.engine.create_job(spec)

    async def _fault_decision(self, op: Operation, request: web.Request, key: str, body: Any,
                              test_id: str | None) -> Decision | None:
        faults = self.engine.faults
        headers = request.headers
        prompt = body.get("prompt") if isinstance(body, dict) else None
        prompt = prompt if isinstance(prompt, str) else None
        found = directives.found(key, prompt, fault=headers.get(FAULT_HEADER),
                                 latency=headers.get(LATENCY_HEADER),
                                 outcome=headers.get(OUTCOME_HEADER)) if faults.directives else ()
        ctx = FaultContext(
            provider=self.name, operation=op.operation_id, submit=op.operation_id in self.submit_ops,
            moderated=op.operation_id in self.moderated_operations,
            api_key=key, test_id=test_id, prompt=prompt, directives=found,
            supports=lambda fault: self.fault_supported(op, fault),
        )
        # Shared rules count their budgets in Redis (engine/faults/redis_rules.py).
        return await faults.decide_shared(ctx) if faults.shared else faults.decide(ctx)

    async def _with_faults(self, call: Call, handler: Handler,
                           decision: Decision) -> tuple[web.StreamResponse, tuple[str, ...]]:
        """Apply ``decision`` to one request: wait, drop the connection, answer with an
        error, or run the handler with a planned outcome and maybe mangle its answer.
        Returns the response and the kinds of faults injected (for the journal)."""
        op, request = call.op, call.request
        kinds: tuple[str, ...] = tuple(self.engine.faults.record(self.name, op.operation_id, decision))
        cut = await faultwire.before_handling(request, decision, self.engine.faults)
        if cut is not None:
            return cut, kinds
        planned = PlannedOutcome(decision.outcome) if decision.outcome else None
        reply = None
        if decision.error is not None:
            reply = self.fault_reply(op, request, decision.error)
            if reply is None:  # moderation at submit on a provider that accepts, then fails
                planned = PlannedOutcome(MODERATED, immediate=True)
        if reply is None:
            call.planned = planned
            reply = await self.around(call, handler)
        resp = self.respond(op, reply)
        if kinds:
            resp.headers[INJECTED_HEADER] = ",".join(kinds)
        if decision.problems:
            resp.headers[PROBLEM_HEADER] = _header_text(" | ".join(decision.problems))
        if decision.connection == "malformed":
            return faultwire.malformed(resp), kinds
        if decision.connection == "truncated":
            return await faultwire.truncated(request, resp), kinds
        return resp, kinds

    # shared machinery --------------------------------------------------------------
    def key_accepted(self, key: str) -> bool:
        """Whether ``key`` may call (every key unless ``settings.api_keys`` lists them);
        pixwith.ai overrides it to let its documented public test key through."""
        allowed = self.settings.api_keys
        return allowed is None or key in allowed

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_base_url or f"{request.scheme}://{request.host}"

    def handler(self, op_id: str) -> Handler:
        """The handler of ``op_id``: ``handlers`` maps it to a method name of the
        adapter or to a callable (a collaborator's method, as PixVerse wires them)."""
        target = self.handlers[op_id]
        return getattr(self, target) if isinstance(target, str) else target

    def routes(self) -> list[web.RouteDef]:
        """One route per operation in ``handlers``.  Raises ContractError for an
        operation the contract does not describe."""
        missing = set(self.handlers) - set(self.contract.operations)
        if missing:
            raise ContractError(f"{self.contract_name}.yaml does not describe {sorted(missing)}")
        # One aiohttp resource per path: routes of a path are registered together
        # (aiohttp merges only consecutive ones), so resolving a request tries each
        # candidate path once.
        by_path: dict[str, list[web.RouteDef]] = {}
        for op_id in self.handlers:
            op = self.contract.operation(op_id)
            handler = self.handler(op_id)
            by_path.setdefault(op.route_path, []).append(
                web.route(op.method, op.route_path, self._endpoint(op, handler)))
        return [route for routes in by_path.values() for route in routes]

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

    def _endpoint(self, op: Operation, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler of one operation: ``_answerer``'s pipeline, then one
        journal entry and one metrics sample (``recording``) whatever happened.

        Every provider request runs this, inside its users' load tests: the
        per-operation facts are worked out here, once, and the per-request part is
        kept to plain lookups (issue 8 measures it against a bare aiohttp app)."""
        answer = self._answerer(op, handler)
        engine = self.engine
        journal, clock = engine.journal, engine.clock
        counts, latency = engine.request_stats.series(self.name, op.operation_id)
        provider, op_id = self.name, op.operation_id
        find_task = recording.task_id_finder(op, op_id in self.submit_ops, self.spec.task_id_keys)
        api_key_of = self.api_key
        perf_counter, wall_time, unread_body = time.perf_counter, time.time, recording.unread_body

        async def endpoint(request: web.Request) -> web.StreamResponse:
            virtual, wall, started = clock.now(), wall_time(), perf_counter()
            try:
                response, key, raw, faults, test_id = await answer(request)
            except StoreUnavailable as exc:
                # Redis went away mid-request: the provider's 5xx, never a traceback.
                log.warning("%s %s: %s", request.method, request.path, exc)
                key = api_key_of(request)
                key = None if key is None else readable(key)
                response, raw, faults, test_id = self.respond(op, self.unavailable_reply(op, request)), None, (), None
            except BaseException as exc:
                key = api_key_of(request)
                recording.record(engine, request, provider, op_id, virtual, wall, started,
                                 recording.failure_status(exc), None if key is None else readable(key),
                                 find_task(request), None, None)
                raise
            if raw is None and request.body_exists:
                raw = await unread_body(request)
            body = response.body if response.__class__ is web.Response else None
            if body is not None and body.__class__ is not bytes:
                body = None
            elapsed = perf_counter() - started
            status = response.status
            path, _, query = request.raw_path.partition("?")
            # recording.record, inlined: this is every request's path.
            seq = journal.record(virtual, wall, provider, op_id, request.method, path, query, status,
                                 elapsed * 1000.0, key, test_id, find_task(request), raw, body, faults)
            if journal.watchers:  # a dashboard is open: its inspector shows headers
                journal.keep_headers(seq, key, request.headers, response.headers)
            counts[status] = counts.get(status, 0) + 1
            latency[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
            latency[-1] += elapsed
            return response

        endpoint.__name__ = op.operation_id
        return endpoint

    def _answerer(self, op: Operation, handler: Handler) -> Callable[[web.Request], Awaitable[Answer]]:
        """The request pipeline of one operation: rate limit, auth, precheck, path,
        query and body against the contract, fault decision, handler.  Returns the
        response, the key as sent, the request body as read (None when unread), the
        kinds of faults injected and the test id header."""
        # Multipart bodies (uploads) are parsed and checked by their handler.
        wants_json = "application/json" in op.body_media_types
        # Rate-limit rules come from the settings (fixed for an app's life): asked once
        # here, not through the limiter's __bool__ on every request.
        rates, hit_rate = bool(self.engine.rate_limits), self.engine.hit_rate
        faults = self.engine.faults
        contract = self.contract
        # Path parameters: (contract name, aiohttp's name, coercion or None for text).
        path_params = [(p.name, p.name.replace("-", "_"), _coercion(p.schema))
                       for p in op.params if p.location == "path"]
        path_validator = op.params_validator.get("path")
        has_query = "query" in op.params_validator
        # With a discriminator the branch's validator decides (check_body).
        body_validator = op.body_validator if op.discriminator is None else None
        prechecks = type(self).precheck is not ProviderAdapter.precheck
        wraps = type(self).around is not ProviderAdapter.around
        # Settings are fixed for an app's life: an allow-list or an adapter's own rule.
        checks_key = self.settings.api_keys is not None or \
            type(self).key_accepted is not ProviderAdapter.key_accepted
        respond, api_key_of, accepted = self.respond, self.api_key, self.key_accepted
        public_base_url = self.settings.public_base_url
        strict, dumps = self.settings.strict, orjson.dumps

        async def answer(request: web.Request) -> Answer:
            headers = request.headers
            key = api_key_of(request)
            test_id = headers.get(TEST_ID_HEADER)
            # Stored and shown later: bytes that were not UTF-8 become U+FFFD here, once.
            if key is not None and not key.isascii():
                key = readable(key)
            if test_id is not None and not test_id.isascii():
                test_id = readable(test_id)
            if rates:
                refusal = await hit_rate(self.name, request.remote, key)
                if refusal is not None:
                    return respond(op, self.refusal_reply(op, request, refusal)), key, None, (), test_id
            if key is None or not key.strip() or (checks_key and not accepted(key)):
                return respond(op, self.auth_error(op, request, missing=key is None)), key, None, (), test_id
            if prechecks:
                early = await self.precheck(op, request, key)
                if early is not None:
                    return respond(op, early), key, None, (), test_id
            errors: list[FieldError] | None = None
            path: dict[str, Any] = {}
            if path_params:
                match = request.match_info
                for name, alias, coerce in path_params:
                    path[name] = match[alias] if coerce is None else coerce(match[alias])
                if not path_validator.is_valid(path):  # type: ignore[union-attr]  # set whenever path_params is
                    errors = contract.check_params(op, "path", path)
            query: dict[str, Any] = {}
            if has_query:
                query = contract.coerce_params(op, "query", request.query)
                problems = contract.check_params(op, "query", query)
                if problems:
                    errors = [*(errors or ()), *problems]
            body: Any = None
            raw: bytes | None = None
            flat = False
            if wants_json:
                length = headers.get("Content-Length")
                if length is not None and len(length) < _DIGITS_UNDER_CAP and "Content-Encoding" not in headers:
                    # What most clients send: read_body's checks cannot apply (nothing to
                    # inflate; a declared length under the cap is all aiohttp reads).
                    raw = await request.read()
                else:
                    try:
                        raw = await read_body(request)
                    except BodyTooLarge:
                        return respond(op, self.too_large(op, request)), key, None, (), test_id
                    except BodyUnreadable:
                        return respond(op, self.malformed_body(op, request)), key, None, (), test_id
                if raw.strip():
                    try:
                        body = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        return respond(op, self.malformed_body(op, request)), key, raw, (), test_id
                    # Most bodies are one object of strings, numbers and booleans: its
                    # value types, collected in C, say it is neither nested nor holds a
                    # float, so neither walk below is needed.
                    if body.__class__ is dict:
                        held = tuple(map(type, body.values()))
                        flat = float not in held and dict not in held and list not in held
                    if not flat and too_deep(raw, body):
                        return respond(op, self.malformed_body(op, request)), key, raw, (), test_id
                else:
                    body, flat = {}, True
                # A valid body (most are) is one yes/no check; the full check, which
                # collects the errors or picks a oneOf branch, only when that says no.
                if body_validator is None or not body_validator.is_valid(body):
                    problems = contract.check_body(op, body)
                    if problems:
                        errors = [*(errors or ()), *problems]
            if errors:
                return respond(op, self.invalid(op, request, errors)), key, raw, (), test_id
            # JSON Schema counts 5.0 as an integer: handlers get 5.  ``raw`` goes along
            # only when it still says exactly what ``body`` does (jobs store it as is).
            if body is not None and not flat and holds_float(body):
                call = Call(request, op, key, integral(body), query, path, public_base_url, test_id, None)
            else:
                call = Call(request, op, key, body, query, path, public_base_url, test_id, raw or None)
            # directives.present, inlined (every request asks): a directive in the key,
            # the prompt or a header.
            prompt = body.get("prompt") if body.__class__ is dict else None
            if faults.armed(key.startswith(KEY_PREFIX) or (prompt.__class__ is str and "[mock:" in prompt)
                            or FAULT_HEADER in headers or LATENCY_HEADER in headers or OUTCOME_HEADER in headers):
                decision = await self._fault_decision(op, request, key, body, test_id)
                if decision is not None:
                    response, kinds = await self._with_faults(call, handler, decision)
                    return response, key, raw, kinds, test_id
            reply = await (self.around(call, handler) if wraps else handler(call))
            if strict:
                return respond(op, reply), key, raw, (), test_id
            # respond, inlined for the answers strict mode does not check.
            out = reply.body
            return web.Response(body=out if out.__class__ is bytes else dumps(out), status=reply.status,
                                content_type=reply.content_type, headers=reply.headers or None), \
                key, raw, (), test_id

        return answer


def _coercion(schema: dict[str, Any]) -> Callable[[str], Any] | None:
    """How a path value (text) becomes the type its schema asks for; None: stays text."""
    if schema.get("type") in ("integer", "number", "boolean"):
        return lambda value: coerce_text(value, schema)
    return None


def _has_property(schema: Any, name: str) -> bool:
    """Whether a (dereferenced) JSON Schema declares property ``name`` anywhere."""
    if isinstance(schema, dict):
        if name in (schema.get("properties") or {}):
            return True
        return any(_has_property(v, name) for v in schema.values() if isinstance(v, (dict, list)))
    if isinstance(schema, list):
        return any(_has_property(v, name) for v in schema)
    return False


def _documented_example(op: Operation, status: int) -> Any:
    """The example body the contract documents for ``op`` answering ``status``."""
    media = ((op.raw.get("responses", {}).get(str(status)) or {}).get("content") or {}).get(JSON) or {}
    if "example" in media:
        return media["example"]
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and "value" in example:
            return example["value"]
    return {"message": str(status)}


def _header_text(text: str, limit: int = 1000) -> str:
    """``text`` safe for a header value: ASCII, no control characters, bounded."""
    text = text.encode("ascii", "backslashreplace").decode()
    return "".join(c if " " <= c <= "~" else " " for c in text)[:limit]


def with_retry_after(reply: Reply, fault: InjectedError) -> Reply:
    """Add ``Retry-After`` (seconds) to an injected HTTP 429."""
    if reply.status == 429 and fault.retry_after > 0:
        reply.headers = {**reply.headers, "Retry-After": str(fault.retry_after)}
    return reply
