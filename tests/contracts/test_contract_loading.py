"""Contracts load with every ``$ref`` inlined, whatever the validator library's version.

jsonschema-rs 0.61.1 stopped inlining ``$ref``s under OpenAPI's ``paths`` (they are not
JSON Schema keywords), and the fake died at start-up in users' installs.  The refs are
now resolved through ``referencing``; these tests hold that to the contracts we ship.
"""
from __future__ import annotations

import json

import pytest
import yaml

from mockserver.contract import ContractError, inline_refs, load_contract
from mockserver.settings import Settings

CONTRACTS = Settings().contracts_dir
NAMES = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_contract_loads_with_no_ref_left(name):
    contract = load_contract(CONTRACTS, name)
    assert contract.operations
    for op in contract.operations.values():
        assert "$ref" not in json.dumps(op.raw), op.operation_id
        assert op.body_schema is None or "$ref" not in json.dumps(op.body_schema)


def test_a_referenced_body_schema_validates_as_written():
    contract = load_contract(CONTRACTS, "freepik")
    op = next(o for o in contract.operations.values() if o.method == "POST" and o.body_schema)
    assert contract.check_body(op, {"not": "a valid body"})  # required fields come from the $ref


def test_ref_siblings_keep_their_annotations_and_clashing_keywords_combine():
    doc = {"openapi": "3.1.0", "components": {"schemas": {
        "D": {"type": "integer", "enum": [5, 8], "description": "seconds"}}},
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "a": {"$ref": "#/components/schemas/D", "description": "added seconds"},
                "b": {"$ref": "#/components/schemas/D", "enum": [5]}}}}}}}}}}
    props = inline_refs(doc, "urn:test")["paths"]["/x"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    assert props["a"] == {"type": "integer", "enum": [5, 8], "description": "added seconds"}
    assert props["b"] == {"allOf": [{"type": "integer", "enum": [5, 8], "description": "seconds"}],
                          "enum": [5]}
    assert doc["paths"]["/x"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["a"]["$ref"] == "#/components/schemas/D"  # the document is not changed


@pytest.mark.parametrize("schemas, message", [
    ({"A": {"$ref": "#/components/schemas/B"}, "B": {"items": {"$ref": "#/components/schemas/A"}}},
     "circular"),
    ({"A": {"$ref": "#/components/schemas/Missing"}}, "does not resolve"),
])
def test_a_broken_ref_is_a_contract_error(tmp_path, schemas, message):
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
           "components": {"schemas": schemas},
           "paths": {"/x": {"post": {"operationId": "x", "responses": {"200": {
               "description": "ok", "content": {"application/json": {
                   "schema": {"$ref": "#/components/schemas/A"}}}}}}}}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ContractError, match=message):
        load_contract(tmp_path, "broken")


@pytest.mark.parametrize(("value", "expected"), [
    ({}, False), ([], False), (1.0, True), (1, False), ("1.0", False), (True, False), (None, False),
    ({"a": 1, "b": "x.5e3", "c": True, "d": None}, False),
    ({"a": {"b": [1, 2, {"c": 2.5}]}}, True),
    ({"a": [[[]]], "b": {"c": [1, {"d": "e"}]}}, False),
    ([1, [2, [3.0]]], True),
    ({"a": [1, 2], "b": 0.0}, True),
])
def test_holds_float_finds_a_float_at_any_depth(value, expected):
    """The pipeline hands handlers integral floats as ints only when a body holds one."""
    from mockserver.contract import holds_float

    assert holds_float(value) is expected
