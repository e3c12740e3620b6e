"""Hypothesis strategies from JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it).

Written for the contracts' subset, which it covers completely: ``type`` (one or a list),
``properties``/``required``/``additionalProperties``, ``items``/``prefixItems`` and the
size bounds, ``enum``/``const``, numeric bounds (exclusive too) and ``multipleOf``,
string lengths, ``pattern`` and the formats ``uuid``, ``date-time``, ``date``, ``uri``,
``email`` and ``binary`` (bytes, for multipart fields), ``allOf`` (merged), ``anyOf``/
``oneOf`` (a branch is drawn), and ``not``/``if``/``then``/``else``/
``dependentRequired``/``minProperties`` (checked).

Every value is built to fit the schema and then checked against it with the same
validator the fake uses (``jsonschema_rs``, formats on), node by node, so a drawn value
always validates; keywords that are only checked cost some rejected draws, never a
wrong value.  Schemas must be dereferenced (``mockserver.contract`` does that).

Why not ``hypothesis-jsonschema``: its last release does not run on current Hypothesis,
and the contracts need nothing it adds.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, TypeGuard

import jsonschema_rs
from hypothesis import strategies as st

__all__ = ["checker", "from_schema", "merge"]

#: Keywords a built value always satisfies; any other assertion keyword on a node makes
#: the node check its draws.
_CONSTRUCTIVE = frozenset({
    "type", "properties", "required", "items", "prefixItems", "minItems", "maxItems",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "enum", "const", "additionalProperties", "propertyNames",
    # annotations
    "description", "title", "default", "example", "examples", "deprecated", "readOnly",
    "writeOnly", "discriminator", "$comment", "$schema", "$id", "contentMediaType",
    "contentEncoding", "xml", "externalDocs",
})
_EXACT_FORMATS = frozenset({"uuid", "date-time", "date", "uri", "url", "uri-reference", "iri",
                            "email", "binary", "byte"})
#: Sizes of arrays and free text when the schema sets no bound (kept small: examples
#: are for parsers, not for load).
_EXTRA_ITEMS = 4
_TEXT_MAX = 40
_INT64 = (-(2**63), 2**63 - 1)
_HOSTS = ("example.com", "cdn.example.org", "media.example.net", "127.0.0.1:8000")
_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """A strategy of JSON values valid against ``schema`` (a dereferenced JSON Schema).

    Raises ValueError for a schema that is not a schema (not a dict or a bool).
    """
    return _Builder().build(schema, check=True)


def _validator(schema: Any) -> Any:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _as_json(value: Any) -> Any:
    """``value`` with bytes (multipart file parts) read as strings, for the validator."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def checker(schema: Any) -> Any:
    """``value -> bool``: whether ``value`` is valid against ``schema`` (bytes count as strings)."""
    validator = _validator(schema)
    return lambda value: validator.is_valid(_as_json(value))


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _types(schema: dict[str, Any]) -> list[str]:
    """The types a node allows: its ``type``, else what its keywords imply."""
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if x in _TYPES]
    if "const" in schema or "enum" in schema:
        return []  # values come from the list
    if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties",
                                 "propertyNames", "dependentRequired")):
        return ["object"]
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
        return ["array"]
    if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
        return ["string"]
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                 "multipleOf")):
        return ["number"]
    return list(_TYPES)


def _merge_types(a: Any, b: Any) -> list[str]:
    ta = [a] if isinstance(a, str) else list(a)
    tb = [b] if isinstance(b, str) else list(b)
    out = [t for t in ta if t in tb]
    # integer is a number
    if "number" in ta and "integer" in tb and "integer" not in out:
        out.append("integer")
    if "integer" in ta and "number" in tb and "integer" not in out:
        out.append("integer")
    return out


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema asking for both ``a`` and ``b`` (what an ``allOf`` of them asks), as far
    as building goes.  Two ``anyOf``/``oneOf`` lists become one ``anyOf`` of every pair;
    keywords that cannot be merged (a second ``if``, ``not``...) go under ``allOf``, where
    the builder leaves them to the check of the node that asked for them."""
    out = dict(a)
    if "if" in a and "if" in b:
        # Two conditionals: keep b's together.
        trio = {k: b[k] for k in ("if", "then", "else") if k in b}
        b = {k: v for k, v in b.items() if k not in trio}
        out["allOf"] = [*out.get("allOf", []), trio]
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if key == "properties":
            props = dict(mine)
            for name, sub in value.items():
                props[name] = merge_any(props[name], sub) if name in props else sub
            out[key] = props
        elif key == "required":
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "type":
            out[key] = _merge_types(mine, value)
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
            out[key] = max(mine, value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
            out[key] = min(mine, value)
        elif key == "enum":
            out[key] = [v for v in mine if v in value]
        elif key == "const":
            if mine != value:
                out["enum"] = []  # nothing fits
        elif key in ("items", "additionalProperties"):
            out[key] = merge_any(mine, value)
        elif key == "prefixItems":
            longer, shorter = (mine, value) if len(mine) >= len(value) else (value, mine)
            out[key] = [merge_any(x, shorter[i]) if i < len(shorter) else x for i, x in enumerate(longer)]
        elif key == "not":
            out["x-nots"] = [*out.get("x-nots", []), value]
        elif key in ("anyOf", "oneOf"):
            out.pop(key)
            out["anyOf"] = [merge_any(x, y) for x in mine for y in value]
        elif key in ("allOf", "x-nots"):
            out[key] = [*mine, *value]
        elif key in ("description", "title", "example", "examples", "default") or key.startswith("x-"):
            pass
        elif mine != value:
            out["allOf"] = [*out.get("allOf", []), {key: value}]
    if "const" in out and "enum" in out:
        out["enum"] = [v for v in out["enum"] if v == out["const"]]
    # 2020-12: `items` of a side without `prefixItems` covers every position, the
    # other side's prefix ones too.
    if "prefixItems" in out:
        for side in (a, b):
            if "items" in side and "prefixItems" not in side:
                out["prefixItems"] = [merge_any(x, side["items"]) for x in out["prefixItems"]]
    return out


def merge_any(a: Any, b: Any) -> Any:
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    if a is False or b is False:
        return False
    return merge(a, b)


class _Builder:
    def build(self, schema: Any, check: bool = False) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return _any_json()
        if schema is False:
            return st.nothing()
        if not isinstance(schema, dict):
            raise ValueError(f"not a JSON Schema: {schema!r}")
        strategy = self._build(schema)
        if check or not _CONSTRUCTIVE.issuperset(k for k in schema if not k.startswith("x-")) \
                or schema.get("format") not in (None, *_EXACT_FORMATS):
            strategy = strategy.filter(checker(schema))
        return strategy

    def _build(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in _flat_all_of(schema["allOf"]):
                if part is False:
                    return st.nothing()
                if isinstance(part, dict):
                    merged = merge(merged, part)
            # What could not be merged is checked here (this node has an allOf, so
            # build() checks its draws against the whole of it); extra `not`s are kept
            # aside, as objects use them to leave out fields that exclude each other.
            deferred = merged.pop("allOf", [])
            nots = [d["not"] for d in deferred if isinstance(d, dict) and "not" in d
                    and all(k == "not" or k.startswith("x-") or k == "description" for k in d)]
            if nots:
                merged["x-nots"] = [*merged.get("x-nots", []), *nots]
            return self.build(merged)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                base = {k: v for k, v in schema.items() if k != key}
                branches = [merge_any(base, b) for b in schema[key]]
                return st.one_of([self.build(b) for b in branches if b is not False])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"]) if schema["enum"] else st.nothing()
        types = _types(schema)
        return st.one_of([self._typed(t, schema) for t in types]) if types else st.nothing()

    # one type ------------------------------------------------------------------------
    def _typed(self, kind: str, s: dict[str, Any]) -> st.SearchStrategy[Any]:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return _integers(s)
        if kind == "number":
            return st.one_of(_integers(s), _floats(s))
        if kind == "string":
            return _strings(s)
        if kind == "array":
            return self._array(s)
        if kind == "object":
            return self._object(s)
        return st.nothing()  # pragma: no cover

    def _object(self, s: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        props = s.get("properties") or {}
        required = [r for r in s.get("required", [])]
        extra = s.get("additionalProperties", True)
        needed: dict[str, st.SearchStrategy[Any]] = {}
        for name in required:
            sub = props.get(name, extra if isinstance(extra, dict) else True)
            needed[name] = self.build(sub)
        optional = {name: self.build(sub) for name, sub in props.items() if name not in needed}
        strategy = st.fixed_dictionaries(needed, optional=optional)
        exclusive = _exclusive_groups(s)
        if exclusive:
            strategy = strategy.map(lambda d: _drop_excluded(d, exclusive, needed))
        return strategy

    def _array(self, s: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
        prefix = s.get("prefixItems") or []
        items = s.get("items", True)
        lo = s.get("minItems", 0)
        hi = s.get("maxItems")
        if hi is not None and lo > hi:
            return st.nothing()
        head = st.tuples(*[self.build(p) for p in prefix]).map(list) if prefix else st.just([])
        if items is False:
            tail: st.SearchStrategy[list[Any]] = st.just([])
        else:
            rest_lo = max(0, lo - len(prefix))
            rest_hi = rest_lo + _EXTRA_ITEMS if hi is None else max(rest_lo, hi - len(prefix))
            tail = st.lists(self.build(items), min_size=rest_lo, max_size=rest_hi)
        both = st.tuples(head, tail).map(lambda ht: ht[0] + ht[1])
        if hi is not None and prefix and hi < len(prefix):
            both = both.map(lambda xs: xs[:hi])
        return both


def _flat_all_of(parts: list[Any]) -> list[Any]:
    """The parts of an ``allOf``, nested ``allOf``s spelled out."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, dict) and "allOf" in part:
            out.append({k: v for k, v in part.items() if k != "allOf"})
            out.extend(_flat_all_of(part["allOf"]))
        else:
            out.append(part)
    return out


def _exclusive_groups(s: dict[str, Any]) -> list[list[str]]:
    """Field sets that must not all be present: ``not: {required: [...]}``, or a
    ``not`` of an ``anyOf`` of such, at this node."""
    nots = [s["not"]] if "not" in s else []
    nots += [n for n in s.get("x-nots", [])]
    groups: list[list[str]] = []
    for n in nots:
        if not isinstance(n, dict):
            continue
        for part in n.get("anyOf", [n]):
            if isinstance(part, dict) and set(part) == {"required"}:
                groups.append(list(part["required"]))
    return groups


def _drop_excluded(d: dict[str, Any], groups: list[list[str]], needed: dict[str, Any]) -> dict[str, Any]:
    """``d`` without optional fields that complete an excluded group (the last of them)."""
    for group in groups:
        if all(k in d for k in group):
            for name in reversed(group):
                if name not in needed:
                    d = {k: v for k, v in d.items() if k != name}
                    break
    return d


def _integers(s: dict[str, Any]) -> st.SearchStrategy[int]:
    lo, hi = _INT64
    if "minimum" in s:
        lo = max(lo, math.ceil(s["minimum"]))
    if "exclusiveMinimum" in s and not isinstance(s["exclusiveMinimum"], bool):
        lo = max(lo, math.floor(s["exclusiveMinimum"]) + 1)
    if "maximum" in s:
        hi = min(hi, math.floor(s["maximum"]))
    if "exclusiveMaximum" in s and not isinstance(s["exclusiveMaximum"], bool):
        hi = min(hi, math.ceil(s["exclusiveMaximum"]) - 1)
    if lo > hi:
        return st.nothing()
    step = s.get("multipleOf")
    if _is_int(step) and step > 0:
        first, last = math.ceil(lo / step), math.floor(hi / step)
        return st.integers(first, last).map(lambda n: n * step) if first <= last else st.nothing()
    return st.integers(lo, hi)


def _floats(s: dict[str, Any]) -> st.SearchStrategy[float]:
    kwargs: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}
    if "minimum" in s:
        kwargs["min_value"] = float(s["minimum"])
    if "exclusiveMinimum" in s and not isinstance(s["exclusiveMinimum"], bool):
        kwargs["min_value"], kwargs["exclude_min"] = float(s["exclusiveMinimum"]), True
    if "maximum" in s:
        kwargs["max_value"] = float(s["maximum"])
    if "exclusiveMaximum" in s and not isinstance(s["exclusiveMaximum"], bool):
        kwargs["max_value"], kwargs["exclude_max"] = float(s["exclusiveMaximum"]), True
    if "min_value" in kwargs and "max_value" in kwargs and kwargs["min_value"] > kwargs["max_value"]:
        return st.nothing()
    return st.floats(**kwargs)


def _date_time(moment: datetime, fraction: bool) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if fraction else f"{text}Z"


_MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
_URL_PATHS = st.from_regex(r"[a-z0-9_\-]{1,12}(/[a-z0-9_\-]{1,12}){0,2}(\.(mp4|png|jpeg))?", fullmatch=True)
_URLS = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
                  st.sampled_from(["https", "http"]), st.sampled_from(_HOSTS), _URL_PATHS)


def _strings(s: dict[str, Any]) -> st.SearchStrategy[Any]:
    lo = s.get("minLength", 0)
    hi = s.get("maxLength")
    fmt = s.get("format")
    if fmt == "binary" or fmt == "byte":
        return st.binary(min_size=lo, max_size=hi if hi is not None else 64)
    if fmt == "uuid":
        base = st.uuids().map(str)
    elif fmt == "date-time":
        base = st.builds(_date_time, _MOMENTS.map(lambda m: m.replace(tzinfo=timezone.utc)), st.booleans())
    elif fmt == "date":
        base = _MOMENTS.map(lambda m: m.date().isoformat())
    elif fmt in ("uri", "url", "iri", "uri-reference"):
        base = _URLS
    elif fmt == "email":
        base = st.emails()
    elif "pattern" in s:
        base = st.from_regex(s["pattern"])
    else:
        return st.text(min_size=lo, max_size=hi if hi is not None else max(lo, 0) + _TEXT_MAX)
    if lo or hi is not None:
        base = base.filter(lambda v: lo <= len(v) and (hi is None or len(v) <= hi))
    return base


def _any_json() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(*_INT64),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=_TEXT_MAX))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)), max_leaves=6)
