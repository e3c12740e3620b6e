"""Hypothesis strategies from the contracts (mockserver.testing.strategies) and the
JSON Schema builder under them (mockserver.testing.schema_strategy)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.contract import ContractError
from mockserver.testing import strategies as S
from mockserver.testing.contracts import PROVIDERS, contract, contracts_dir, operation_ids, submit_operations
from mockserver.testing.schema_strategy import checker, from_schema
from support import CONTRACTS

QUICK = settings(max_examples=10, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
OPERATIONS = [(p, op) for p in PROVIDERS for op in operation_ids(p)]


@pytest.mark.parametrize("provider,op_id", OPERATIONS, ids=[f"{p}-{o}" for p, o in OPERATIONS])
def test_every_operation_draws_valid_requests_and_responses(provider, op_id):
    c = contract(provider)
    op = c.operation(op_id)

    @QUICK
    @given(S.requests(provider, op_id), S.responses(provider, op_id), S.error_responses(provider, op_id))
    def check(req, resp, err):
        assert req.method == op.method and "{" not in req.path
        if req.json is not None:
            assert c.check_body(op, req.json) == []
        typed = c.coerce_params(op, "query", {k: str(v) if not isinstance(v, bool) else str(v).lower()
                                              for k, v in req.query.items()})
        assert c.check_params(op, "query", typed) == []
        assert c.check_params(op, "path", req.path_params) == []
        assert c.check_response(op, resp.status, resp.content_type, resp.body) == []
        assert err.is_error and c.check_response(op, err.status, err.content_type, err.body) == []

    check()


def test_requests_carry_auth_and_a_fresh_trace_id():
    @QUICK
    @given(S.requests("pixverse", "text_to_video", api_key="k1"), S.requests("pixverse", "text_to_video"))
    def check(a, b):
        assert a.headers["API-KEY"] == "k1" and a.headers["Ai-trace-id"] != b.headers["Ai-trace-id"]
        assert a.url("http://h:1") == "http://h:1/openapi/v2/video/text/generate"

    check()
    spec = S.RequestSpec("aimlapi", "get_video_generation", "GET", "/v2/video/generations",
                         query={"generation_id": "a b"})
    assert spec.url("http://h") == "http://h/v2/video/generations?generation_id=a+b"


def test_documented_errors_cover_every_errcode_and_status():
    pixverse = S.documented_responses("pixverse", "get_video_result")
    codes = {r.body["ErrCode"] for r in pixverse if r.is_error}
    documented = {int(c) for c in contract("pixverse").document["x-errcodes"]} - {0}
    assert codes == documented
    pixwith = {r.body["message"] for r in S.documented_responses("pixwith", "get_task") if r.is_error}
    assert {"Invalid API KEY", "Task not found"} <= pixwith
    freepik = {r.status for r in S.documented_responses("freepik", "get_pixverse_v5_text_to_video")}
    assert {400, 401, 404, 429, 500, 503} <= freepik  # its 200 has a schema, no example


@given(st.data())
@settings(max_examples=30, deadline=None, database=None)
def test_error_responses_reach_every_documented_status(data):
    resp = data.draw(S.error_responses("aimlapi", "get_video_generation"))
    assert resp.status >= 400 and {"message", "statusCode"} <= set(resp.body)


def test_a_429_may_carry_retry_after():
    seen = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(S.responses("freepik", "create_pixverse_v5_text_to_video", 429))
    def check(resp):
        assert resp.status == 429
        seen.append("Retry-After" in resp.headers)
        if "Retry-After" in resp.headers:
            assert int(resp.headers["Retry-After"]) >= 0

    check()
    assert any(seen)


def test_unknown_operations_and_statuses_are_refused():
    with pytest.raises(ContractError):
        S.requests("freepik", "no_such_operation")
    with pytest.raises(ValueError):
        S.responses("pixverse", "get_video_result", 404)
    with pytest.raises(ValueError, match="unknown provider"):
        S.operations("runway")


def test_submit_operations_match_the_fake():
    assert submit_operations("pixwith") == {"create_task"}
    assert "text_to_video" in submit_operations("pixverse") and "get_video_result" not in submit_operations("pixverse")


def test_contracts_dir_honours_the_environment(tmp_path, monkeypatch):
    assert (contracts_dir() / "pixverse.yaml").is_file()
    monkeypatch.setenv("PIXVERSE_MOCK_CONTRACTS_DIR", str(tmp_path))
    assert contracts_dir() != tmp_path  # no contracts there: the next place is used
    for name in PROVIDERS:
        (tmp_path / f"{name}.yaml").write_text((CONTRACTS / f"{name}.yaml").read_text())
    assert contracts_dir() == tmp_path


# the schema builder --------------------------------------------------------------------

SCHEMAS = {
    "exclusive fields": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "allOf": [{"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"not": {"required": ["a", "b"]}}]},
    "conditional": {
        "type": "object", "required": ["q", "d"],
        "properties": {"q": {"enum": ["720p", "1080p"]}, "d": {"enum": [5, 8]}},
        "if": {"properties": {"q": {"const": "1080p"}}}, "then": {"properties": {"d": {"const": 5}}}},
    "prefix items under anyOf": {
        "type": "array", "minItems": 2, "maxItems": 4, "items": {"type": "object", "required": ["id"],
                                                                 "properties": {"id": {"type": "integer"}}},
        "allOf": [{"anyOf": [{"maxItems": 2, "prefixItems": [{"required": ["n"]}]},
                             {"maxItems": 4, "prefixItems": [{"required": ["n"]}] * 3}]}]},
    "nullable union": {"type": ["string", "null"], "format": "date-time"},
    "bounds": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "not": {"const": 1}},
    "multiple": {"type": "integer", "minimum": -7, "maximum": 40, "multipleOf": 5},
    "pattern": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "uuid and uri": {"type": "object", "required": ["id", "url"],
                     "properties": {"id": {"type": "string", "format": "uuid"},
                                    "url": {"type": "string", "format": "uri"}}},
    "dependent": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                  "dependentRequired": {"a": ["b"]}, "minProperties": 1},
    "oneOf envelope": {"oneOf": [
        {"type": "object", "required": ["code", "data"],
         "properties": {"code": {"const": 1}, "data": {"type": "object"}}},
        {"type": "object", "required": ["code", "data"],
         "properties": {"code": {"const": 0}, "data": {"type": "null"}}}]},
    "binary part": {"type": "object", "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary", "maxLength": 8}}},
}


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_builder_only_draws_valid_values(name):
    schema = SCHEMAS[name]
    valid = checker(schema)

    @QUICK
    @given(from_schema(schema))
    def check(value):
        assert valid(value), value

    check()


def test_the_builder_draws_both_branches():
    seen = set()

    @settings(max_examples=50, deadline=None, database=None)
    @given(from_schema(SCHEMAS["oneOf envelope"]))
    def check(value):
        seen.add(value["code"])

    check()
    assert seen == {0, 1}


def test_the_builder_refuses_what_is_not_a_schema():
    with pytest.raises(ValueError):
        from_schema(["not", "a", "schema"])
    assert from_schema(False).is_empty
