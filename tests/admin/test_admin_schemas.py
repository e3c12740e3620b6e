"""The admin contract's request schemas are the pydantic models' (issue 16): the generated
block is current, a model change reaches the contract, and schema and model agree on
every documented example and on each cross-field rule."""
from __future__ import annotations

import ast
import json
import re
from typing import Any

import jsonschema_rs
import pytest
import yaml
from pydantic import Field, ValidationError, create_model

from mockserver.admin.schemas import BEGIN, END, generated, main, render
from mockserver.contract import inline_refs, load_contract
from mockserver.engine.faults import FILES, FaultRule
from mockserver.engine.models import JsonInt, Omittable
from mockserver.engine.webhooks import DeliveryFault
from mockserver.providers import names
from support import CONTRACTS, ROOT

FAULT_PROVIDERS = (*names(), FILES)
CONTEXT = {"providers": FAULT_PROVIDERS}


def schemas(text: str | None = None) -> dict[str, Any]:
    """The contract's schemas, $refs inlined, provider enums filled as at start-up."""
    document = yaml.safe_load(text if text is not None else (CONTRACTS / "admin.yaml").read_text())
    found = document["components"]["schemas"]
    found["FaultProvider"]["enum"] = list(FAULT_PROVIDERS)
    found["WebhookProvider"]["enum"] = list(names())
    found["Provider"]["enum"] = list(names())
    return inline_refs(document, "urn:test:admin")["components"]["schemas"]


@pytest.fixture(scope="module")
def validators() -> dict[str, Any]:
    found = schemas()
    return {name: jsonschema_rs.Draft202012Validator(found[name]) for name in ("FaultRule", "DeliveryFault")}


def model_accepts(model: Any, body: Any) -> bool:
    try:
        model.model_validate(body, context=CONTEXT)
    except ValidationError:
        return False
    return True


# the block is the models' -------------------------------------------------------------------
def test_the_generated_block_is_current():
    text = (CONTRACTS / "admin.yaml").read_text()
    assert render(text) == text, "contracts/admin.yaml's generated schemas are stale: run `make schemas`"
    assert main(["--check"]) == 0
    document = yaml.safe_load(text)["components"]["schemas"]
    for name, schema in generated().items():
        assert document[name] == schema
    # Written once: nothing outside the block spells these schemas out.
    outside = text[:text.index(BEGIN)] + text[text.index(END):]
    for name in generated():
        assert f"\n    {name}:\n" not in outside


def test_a_model_change_reaches_the_contract(tmp_path):
    """A narrower bound in a model is a narrower contract: the generator writes it, the
    contract the fake compiles from that text checks bodies by it, and --check notices
    the committed file no longer matches."""
    rule = create_model("FaultRule", __base__=FaultRule, retry_after=(JsonInt, Field(1, ge=0, le=60)))
    fault = create_model("DeliveryFault", __base__=DeliveryFault,
                         seconds=(Omittable[float], Field(None, ge=0, le=10)))
    text = (CONTRACTS / "admin.yaml").read_text()
    new = render(text, models=(rule, fault))
    assert new != text
    assert yaml.safe_load(new)["components"]["schemas"]["FaultRule"]["properties"]["retry_after"]["maximum"] == 60
    (tmp_path / "admin.yaml").write_text(new)
    contract = load_contract(tmp_path, "admin", (("FaultProvider", FAULT_PROVIDERS),
                                                 ("WebhookProvider", names()), ("Provider", names())))
    op = contract.operation("add_delivery_faults")
    assert not contract.check_body(op, {"kind": "delay", "seconds": 10})
    assert contract.check_body(op, {"kind": "delay", "seconds": 11})
    assert main(["--check", "--path", str(tmp_path / "admin.yaml")]) == 1
    assert main(["--path", str(tmp_path / "admin.yaml")]) == 0
    assert (tmp_path / "admin.yaml").read_text() == text


def test_the_served_contract_holds_the_models_schemas():
    from mockserver.admin import ADMIN_CONTRACT
    from mockserver.app import create_app
    from support import make_settings

    served = create_app(make_settings())[ADMIN_CONTRACT].document["components"]["schemas"]
    assert served["FaultRule"] == generated()["FaultRule"]
    assert tuple(served["FaultProvider"]["enum"]) == FAULT_PROVIDERS


# documented examples ------------------------------------------------------------------------
def readme_examples() -> list[tuple[str, str, Any]]:
    """(where, schema, body) for every fault rule and delivery fault the README shows."""
    readme = (ROOT / "README.md").read_text()
    out: list[tuple[str, str, Any]] = []
    for path, body in re.findall(r"/__admin/(faults|webhooks/faults) -H '[^']*' -d '([^']*)'", readme):
        out.append((f"README curl {body}", "FaultRule" if path == "faults" else "DeliveryFault", json.loads(body)))
    for block in re.findall(r"```yaml\n(.*?)```", readme, re.S):
        for rule in (yaml.safe_load(block) or {}).get("settings", {}).get("faults", []):
            out.append((f"README profile {rule}", "FaultRule", rule))
    for call in re.findall(r"\.add_fault\(([^)]*)\)", readme):
        rule = {kw.arg: ast.literal_eval(kw.value) for kw in ast.parse(f"f({call})").body[0].value.keywords}
        out.append((f"README add_fault({call})", "FaultRule", rule))
    return out


def fixture_examples() -> list[tuple[str, str, Any]]:
    out = []
    for path in sorted((ROOT / "fixtures" / "profiles").glob("*.yaml")):
        for rule in (yaml.safe_load(path.read_text()).get("settings") or {}).get("faults", []):
            out.append((f"{path.name} {rule.get('description')}", "FaultRule", rule))
    return out


def test_every_documented_example_is_found():
    where = [w for w, _, _ in readme_examples()]
    assert sum(w.startswith("README curl") for w in where) >= 4
    assert sum(w.startswith("README profile") for w in where) >= 4
    assert any(w.startswith("README add_fault") for w in where)
    assert len(fixture_examples()) >= 10


@pytest.mark.parametrize(("where", "schema", "body"), readme_examples() + fixture_examples(),
                         ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_documented_examples_pass_schema_and_model(validators, where, schema, body):
    errors = [e.message for e in validators[schema].iter_errors(body)]
    assert not errors, f"{where}: {errors}"
    assert model_accepts(FaultRule if schema == "FaultRule" else DeliveryFault, body), where


# each rule: the schema and the model agree ---------------------------------------------------
RULES = [
    # (the case, the body, valid?)
    ("an effect", {"error": 503}, True),
    ("no effect", {"provider": "freepik", "times": 2}, False),
    ("selectors only", {"description": "x", "probability": 0.5}, False),
    ("each effect alone: latency", {"latency": 200}, True),
    ("errcode", {"errcode": 500044}, True),
    ("moderation", {"moderation": "submit"}, True),
    ("outcome", {"outcome": "failed"}, True),
    ("connection", {"connection": "hang", "hang_s": 5}, True),
    ("dribble", {"provider": "files", "dribble_bps": 1000}, True),
    ("error not in the enum", {"error": 418}, False),
    ("errcode 0", {"errcode": 0}, False),
    ("moderation submit with error", {"moderation": "submit", "error": 503}, False),
    ("moderation submit with errcode", {"moderation": "submit", "errcode": 500054}, False),
    ("moderation submit with outcome", {"moderation": "submit", "outcome": "failed"}, True),
    ("moderation completion with outcome failed", {"moderation": "completion", "outcome": "failed"}, False),
    ("moderation completion with outcome succeeded", {"moderation": "completion", "outcome": "succeeded"}, False),
    ("moderation completion with outcome moderated", {"moderation": "completion", "outcome": "moderated"}, True),
    ("moderation completion with error", {"moderation": "completion", "error": 500}, True),
    ("null effect", {"error": None, "latency": 5}, False),
    ("null selector", {"test_id": None, "error": 503}, False),
    ("null inside latency", {"latency": {"ms": 5, "median_ms": None}}, False),
    ("one provider", {"provider": "pixverse", "error": 503}, True),
    ("a list of providers", {"provider": ["pixverse", "files"], "error": 503}, True),
    ("an empty provider list", {"provider": [], "error": 503}, False),
    ("an unknown provider", {"provider": "openai", "error": 503}, False),
    ("an empty operation", {"operation": "", "error": 503}, False),
    ("a string for a number", {"error": "503"}, False),
    ("an unknown field", {"error": 503, "colour": "red"}, False),
    ("latency fixed by shorthand", {"latency": {"ms": 5}}, True),
    ("latency uniform by shorthand", {"latency": {"min_ms": 5, "max_ms": 9}}, True),
    ("latency uniform missing max", {"latency": {"min_ms": 5}}, False),
    ("latency lognormal by shorthand", {"latency": {"median_ms": 5, "min_ms": 1}}, True),
    ("latency dist with its fields", {"latency": {"dist": "uniform", "min_ms": 1, "max_ms": 2}}, True),
    ("latency dist without its fields", {"latency": {"dist": "lognormal", "ms": 3}}, False),
    ("latency empty", {"latency": {}}, False),
    ("latency too long", {"latency": 600001}, False),
]


@pytest.mark.parametrize(("case", "body", "valid"), RULES, ids=[case for case, _, _ in RULES])
def test_schema_and_model_agree_on_each_fault_rule_rule(validators, case, body, valid):
    assert validators["FaultRule"].is_valid(body) is valid, case
    assert model_accepts(FaultRule, body) is valid, case


DELIVERY = [
    ("a kind", {"kind": "delay", "seconds": 3}, True),
    ("no kind", {"seconds": 3}, False),
    ("an unknown kind", {"kind": "drop"}, False),
    ("a webhook provider", {"kind": "duplicate", "provider": "pixverse"}, True),
    ("a provider without webhooks", {"kind": "duplicate", "provider": "files"}, False),
    ("null selector", {"kind": "delay", "job_id": None}, False),
    ("the fired counter", {"kind": "delay", "fired": 3}, False),
    ("a bad id", {"kind": "delay", "id": "a b"}, False),
]


@pytest.mark.parametrize(("case", "body", "valid"), DELIVERY, ids=[case for case, _, _ in DELIVERY])
def test_schema_and_model_agree_on_each_delivery_fault_rule(validators, case, body, valid):
    assert validators["DeliveryFault"].is_valid(body) is valid, case
    context = {"providers": tuple(schemas()["WebhookProvider"]["enum"])}
    try:
        DeliveryFault.model_validate(body, context=context)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is valid, case


# answers: the views are the models as stored ---------------------------------------------------
def test_stored_rules_and_delivery_faults_match_their_views():
    import random

    from mockserver.engine.faults import FaultSet

    found = schemas()
    rule_view = jsonschema_rs.Draft202012Validator(found["FaultRuleView"])
    fault_view = jsonschema_rs.Draft202012Validator(found["DeliveryFaultView"])
    fs = FaultSet(random.Random(1), profile=[{"latency": 5, "provider": "pixverse"}], providers=names())
    fs.add({"moderation": "completion", "operation": "submit", "times": 2, "test_id": "t"})
    fs.add({"latency": {"min_ms": 9, "max_ms": 1}, "error": 429, "retry_after": 0})
    listed = fs.list()
    assert [r["source"] for r in listed] == ["profile", "admin", "admin"]
    assert listed[1]["outcome"] == "moderated" and listed[1]["remaining"] == 2
    for row in listed:
        assert rule_view.is_valid(row), list(rule_view.iter_errors(row))
    assert not rule_view.is_valid({**listed[0], "colour": "red"})
    assert not rule_view.is_valid({k: v for k, v in listed[0].items() if k != "seen"})
    fault = DeliveryFault(kind="out_of_order", event="COMPLETED")
    fault.id = "wf1"
    fault.fire()
    assert fault_view.is_valid(fault.view())
    assert not fault_view.is_valid({k: v for k, v in fault.view().items() if k != "fired"})
