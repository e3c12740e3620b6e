"""Load ``contracts/<provider>.yaml`` (OpenAPI 3.1) and validate wire data against it.

The contracts are the single source of truth for wire shapes: routes, request
bodies, parameters and responses all come from them.  This module knows no HTTP
framework; adapters turn the ``FieldError`` list into their provider's error body.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jsonschema_rs
import yaml
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


class ContractError(Exception):
    """The contract is unusable, or (strict mode) a response broke it."""


@dataclass(slots=True, frozen=True)
class FieldError:
    """One reason a request failed its contract.

    ``location`` is body|query|path|header; ``path`` the position inside it (keys and
    indexes); ``kind`` the JSON-Schema keyword that failed (required, type, enum,
    format, maxLength, ...); ``detail`` that keyword's parameters (``options`` for
    enum, ``types`` for type, ``limit`` for bounds, ``property`` for required).
    ``hint`` is the contract's own wording for the failed rule: the deepest
    ``x-message`` on the schema path (used for rules the docs state in prose,
    such as "1080p videos are limited to 5 seconds").
    """

    location: str
    path: tuple[Any, ...]
    kind: str
    message: str
    detail: dict[str, Any]
    value: Any = None
    hint: str | None = None

    @property
    def field(self) -> str:
        """Dotted name of the offending field (the missing one for ``required``)."""
        parts = [str(p) for p in self.path]
        if self.kind == "required" and "property" in self.detail:
            parts.append(str(self.detail["property"]))
        return ".".join(parts)


@dataclass(slots=True)
class Param:
    name: str
    location: str
    required: bool
    schema: dict[str, Any]


@dataclass(slots=True)
class Operation:
    """One OpenAPI operation with compiled validators."""

    operation_id: str
    method: str
    path: str
    route_path: str
    body_required: bool
    body_media_types: tuple[str, ...]
    params: list[Param]
    raw: dict[str, Any]
    body_validator: Any = None
    body_schema: dict[str, Any] | None = None
    # A top-level oneOf with an OpenAPI discriminator: property name and, per value of
    # that property, the branch schema and its validator.
    discriminator: str | None = None
    branches: dict[Any, tuple[dict[str, Any], Any]] = field(default_factory=dict)
    params_validator: dict[str, Any] = field(default_factory=dict)
    response_validators: dict[tuple[str, str], Any] = field(default_factory=dict)


def _route_path(openapi_path: str) -> str:
    # aiohttp variable names must be identifiers; `{task-id}` becomes `{task_id}`.
    return re.sub(r"\{([^}]+)\}", lambda m: "{" + m.group(1).replace("-", "_") + "}", openapi_path)


_MISSING = object()
_NODES = (dict, list)
# Keywords that describe and do not validate: a $ref's sibling may override these.
_ANNOTATIONS = frozenset({"description", "title", "examples", "example", "deprecated", "default",
                          "readOnly", "writeOnly", "$comment"})


def inline_refs(document: dict[str, Any], uri: str) -> dict[str, Any]:
    """A copy of an OpenAPI 3.1 ``document`` with every ``$ref`` replaced by what it
    points at, so validators and the testing kit read plain schemas.

    The lookups go through ``referencing`` (python-jsonschema's resolver), with the
    document registered at ``uri``: OpenAPI's ``paths`` are not JSON Schema keywords,
    so a JSON Schema dereferencer does not walk them (jsonschema-rs' ``dereference``
    stopped doing so in 0.61.1).  Sibling keywords of a ``$ref`` (OpenAPI 3.1 allows
    them, e.g. ``description``) are kept beside the target's, the sibling's annotation
    winning; where a validation keyword clashes the two are combined with ``allOf``.

    Raises ContractError for a ``$ref`` that does not resolve or that is circular.
    """
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    resolver = Registry().with_resource(uri, resource).resolver(base_uri=uri)
    inlined: dict[str, Any] = {}

    def walk(node: Any, resolver: Any, seen: tuple[str, ...]) -> Any:
        # Exact classes (what the YAML loader makes), and scalars returned where they
        # stand: every node of every contract passes here at start-up.
        cls = node.__class__
        if cls is list:
            return [item if item.__class__ not in _NODES else walk(item, resolver, seen) for item in node]
        if cls is not dict:
            return node
        ref = node.get("$ref")
        if ref.__class__ is not str:
            return {key: value if value.__class__ not in _NODES else walk(value, resolver, seen)
                    for key, value in node.items()}
        # The contracts' refs are all local to their one document, so the ref text
        # names its target: each is looked up and inlined once, then shared (nothing
        # changes a contract's schemas after loading), which halves the contracts'
        # share of start-up.
        target = inlined.get(ref, _MISSING)
        if target is _MISSING:
            try:
                found = resolver.lookup(ref)
            except Unresolvable as exc:
                raise ContractError(f"{uri}: $ref {ref!r} does not resolve") from exc
            if ref in seen:
                raise ContractError(f"{uri}: $ref {ref!r} is circular")
            target = inlined[ref] = walk(found.contents, found.resolver, (*seen, ref))
        siblings = {key: walk(value, resolver, seen) for key, value in node.items() if key != "$ref"}
        if not siblings:
            return target
        clash = {key for key in siblings.keys() & target.keys()
                 if key not in _ANNOTATIONS and not key.startswith("x-")} if isinstance(target, dict) else True
        if clash:
            return {"allOf": [target], **siblings}
        return {**target, **siblings}

    return walk(document, resolver, ())


def _compile(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _const_of(schema: dict[str, Any], prop: str) -> Any:
    """The ``const`` a schema (or one of its allOf parts) pins ``prop`` to."""
    found = schema.get("properties", {}).get(prop, {}).get("const")
    for part in schema.get("allOf", []):
        found = found if found is not None else _const_of(part, prop)
    return found


def coerce_text(value: str, schema: dict[str, Any]) -> Any:
    """Query/path values arrive as text; give them the type the schema asks for so a
    numeric id validates as a number and a non-number fails as a type error."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    except ValueError:
        return value
    return value


class Contract:
    """A provider contract, dereferenced and compiled once at start-up.

    Raises ContractError if the file is missing, is not OpenAPI 3.1, or has an
    operation without an ``operationId``.
    """

    def __init__(self, path: Path, enums: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> None:
        """``enums``: (schema name, values) pairs that set ``components.schemas.<name>.enum``
        before compiling (values known only at start-up, e.g. the registered providers)."""
        try:
            # libyaml's loader parses the contracts ~8x faster: start-up time is part of the spec.
            document = yaml.load(Path(path).read_text(), Loader=_YamlLoader)
        except FileNotFoundError as exc:
            raise ContractError(f"no contract at {path}") from exc
        for schema_name, values in enums:
            schema = document.get("components", {}).get("schemas", {}).get(schema_name)
            if schema is None:
                raise ContractError(f"{path}: no schema {schema_name} to list {list(values)} in")
            schema["enum"] = list(values)
        if not str(document.get("openapi", "")).startswith("3.1"):
            raise ContractError(f"{path}: expected an OpenAPI 3.1 document")
        self.path = Path(path)
        self.document = document
        self.info = document.get("info", {})
        resolved = inline_refs(document, f"urn:pixverse-mock:contract:{self.path.stem}")
        self.operations: dict[str, Operation] = {}
        for op_path, item in resolved.get("paths", {}).items():
            shared_params = item.get("parameters", [])
            for method in HTTP_METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                op_id = raw.get("operationId")
                if not op_id:
                    raise ContractError(f"{path}: {method.upper()} {op_path} has no operationId")
                self.operations[op_id] = self._build(op_id, method, op_path, raw, shared_params)

    def _build(self, op_id: str, method: str, op_path: str, raw: dict, shared: list) -> Operation:
        params = [
            Param(p["name"], p["in"], bool(p.get("required", p["in"] == "path")), p.get("schema", {}))
            for p in [*shared, *raw.get("parameters", [])]
        ]
        body = raw.get("requestBody") or {}
        content = body.get("content", {})
        op = Operation(
            operation_id=op_id,
            method=method.upper(),
            path=op_path,
            route_path=_route_path(op_path),
            body_required=bool(body.get("required", False)),
            body_media_types=tuple(content),
            params=params,
            raw=raw,
        )
        json_body = content.get("application/json") or content.get("multipart/form-data")
        if json_body and "schema" in json_body:
            op.body_schema = json_body["schema"]
            op.body_validator = _compile(op.body_schema)
            prop = (op.body_schema.get("discriminator") or {}).get("propertyName")
            if prop and "oneOf" in op.body_schema:
                op.discriminator = prop
                for branch in op.body_schema["oneOf"]:
                    op.branches[_const_of(branch, prop)] = (branch, _compile(branch))
        for location in ("query", "path"):
            located = [p for p in params if p.location == location]
            if located:
                op.params_validator[location] = _compile(
                    {
                        "type": "object",
                        "properties": {p.name: p.schema for p in located},
                        "required": [p.name for p in located if p.required],
                    }
                )
        for status, response in raw.get("responses", {}).items():
            for media_type, media in (response.get("content") or {}).items():
                if "schema" in media:
                    op.response_validators[(str(status), media_type)] = _compile(media["schema"])
        return op

    def operation(self, op_id: str) -> Operation:
        try:
            return self.operations[op_id]
        except KeyError:
            raise ContractError(f"{self.path.name} has no operation {op_id!r}") from None

    # requests ------------------------------------------------------------------------
    @staticmethod
    def _hint(schema: dict[str, Any] | None, schema_path: list[Any]) -> str | None:
        node: Any = schema
        hint = None
        for step in schema_path:
            if isinstance(node, dict):
                hint = node.get("x-message", hint)
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                break
        return hint

    @classmethod
    def _errors(cls, location: str, validator: Any, instance: Any,
                schema: dict[str, Any] | None = None) -> list[FieldError]:
        # Most requests are valid: a yes/no check is cheaper than collecting errors.
        if validator.is_valid(instance):
            return []
        return [
            FieldError(location, tuple(e.instance_path), e.kind.name, e.message, e.kind.as_dict(),
                       e.instance, cls._hint(schema, list(e.schema_path)))
            for e in validator.iter_errors(instance)
        ]

    def coerce_params(self, op: Operation, location: str, values: Mapping[str, str]) -> dict[str, Any]:
        """Typed copy of query/path values (path names as in the contract)."""
        out: dict[str, Any] = {}
        for p in op.params:
            if p.location != location:
                continue
            key = p.name if location == "query" else p.name.replace("-", "_")
            if key in values:
                out[p.name] = coerce_text(values[key], p.schema)
        return out

    def check_params(self, op: Operation, location: str, values: dict[str, Any]) -> list[FieldError]:
        validator = op.params_validator.get(location)
        return [] if validator is None else self._errors(location, validator, values)

    def check_body(self, op: Operation, body: Any) -> list[FieldError]:
        """Contract failures of a JSON body.

        A discriminated oneOf (AI/ML API's one schema per ``model``) is checked against
        the branch the discriminator selects, as the providers' own validators do; a
        missing or unknown discriminator is reported as ``required`` or ``enum`` on it.
        """
        if op.body_validator is None:
            return []
        if op.discriminator is not None:
            prop = op.discriminator
            if not isinstance(body, dict):
                return [FieldError("body", (), "type", "the body must be an object",
                                   {"types": ["object"]}, body)]
            if prop not in body:
                return [FieldError("body", (), "required", f"{prop!r} is a required property",
                                   {"property": prop}, body)]
            branch = op.branches.get(body[prop]) if isinstance(body[prop], (str, int)) else None
            if branch is None:
                options = list(op.branches)
                return [FieldError("body", (prop,), "enum", f"{body[prop]!r} is not one of {options}",
                                   {"options": options}, body[prop])]
            return self._errors("body", branch[1], body, branch[0])
        return self._errors("body", op.body_validator, body, op.body_schema)

    # responses -----------------------------------------------------------------------
    def check_response(self, op: Operation, status: int, media_type: str, body: Any) -> list[str]:
        """Messages for every way ``body`` breaks the documented response (empty if
        it keeps to it).  An undocumented status or media type is itself a break."""
        responses = op.raw.get("responses", {})
        key = str(status)
        if key not in responses:
            key = f"{str(status)[0]}XX" if f"{str(status)[0]}XX" in responses else "default"
        if key not in responses:
            return [f"{op.operation_id}: status {status} is not documented"]
        documented = responses[key].get("content") or {}
        if not documented:
            return []
        if media_type not in documented:
            return [f"{op.operation_id}: {status} {media_type} is not documented ({', '.join(documented)})"]
        validator = op.response_validators.get((key, media_type))
        if validator is None:
            return []
        return [f"{op.operation_id} {status}: {'/'.join(map(str, e.instance_path))}: {e.message}"
                for e in validator.iter_errors(body)]


def holds_float(value: Any) -> bool:
    """Whether a parsed JSON value holds a float anywhere (a walk of the value: three
    times cheaper than searching the raw text, on every JSON request).  Each level's
    types are collected in C (``set(map(type, ...))``); only containers are walked."""
    cls = value.__class__
    if cls is dict:
        items: Any = value.values()
    elif cls is list:
        items = value
    else:
        return cls is float
    kinds = set(map(type, items))
    if float in kinds:
        return True
    if dict in kinds or list in kinds:
        return any(holds_float(item) for item in items if item.__class__ is dict or item.__class__ is list)
    return False


def integral(value: Any) -> Any:
    """``value`` with every integral float made an int.

    JSON Schema counts 5.0 as an integer, so a body that passed its contract may still
    hold 5.0 where the handler builds ids, durations and media shapes; this hands it 5.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def load_contract(contracts_dir: Path, name: str,
                  enums: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> Contract:
    """The contract ``<contracts_dir>/<name>.yaml``, parsed once per file version (and
    ``enums``, see ``Contract``): compiled contracts are read-only, so apps in one
    process share them."""
    path = (Path(contracts_dir) / f"{name}.yaml").resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ContractError(f"no contract at {path}") from None
    return _load(path, stamp, enums)


@functools.lru_cache(maxsize=32)
def _load(path: Path, stamp: int, enums: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> Contract:
    return Contract(path, enums)
