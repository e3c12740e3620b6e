"""The generic provider suite: what every registered provider must do, parametrised over
the registry, plus Vidmill, a made-up reseller registered at run time from its fixture
folder (``tests/fixtures/providers/vidmill``: adapter module and contract, nothing else).

Nothing here names a provider's wire format: requests come from the provider's spec
and contract (``loadtests/workload.ContractScenario``), statuses from its status map,
errors from its error envelope.  A new provider passes this suite, or it is not done.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conftest import make_settings
from mockserver.app import ADAPTERS, create_app
from mockserver.engine.jobs import MODERATED, STATES
from mockserver.providers import configure, load, names, spec, unregister
from mockserver.settings import Settings
from mockserver.testing.contracts import contract, operation_ids, poll_operations, submit_operations
from mockserver.testing.harness import check_client
from mockserver.testing.strategies import is_error
from mockserver.testing.strategies import requests as request_strategy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "providers"
sys.path.insert(0, str(ROOT / "loadtests"))
import workload  # noqa: E402

RESELLER = "vidmill"
PROVIDERS = [*names(), RESELLER]


@pytest.fixture(params=PROVIDERS)
def provider(request, monkeypatch):
    """A registered provider's name; Vidmill is registered for the test and removed after."""
    name = request.param
    if name == RESELLER:
        monkeypatch.syspath_prepend(str(FIXTURES))
        load("vidmill.adapter:SPEC")
        yield name
        unregister(name)
    else:
        yield name


@pytest.fixture
async def fake(aiohttp_client, provider):
    """The whole fake, built after the registration; jobs move only when forced or when
    the clock is advanced.  Fails the test if an answer broke its contract."""
    app = create_app(make_settings(time_scale=1.0))
    client = await aiohttp_client(app)
    await client.post("/__admin/clock", json={"freeze": True})
    yield client
    violations = [v for a in app[ADAPTERS].values() for v in a.violations]
    assert not violations, violations


async def submit(client, scenario, key="generic-key"):
    method, path, body = scenario.submit(workload.Draw(1))
    resp = await client.request(method, path, json=body, headers=scenario.headers(key, scenario.submit_op))
    return resp, await resp.json()


async def read(client, scenario, task_id, key="generic-key"):
    method, url, body = scenario.read(task_id)
    resp = await client.request(method, url, json=body, headers=scenario.headers(key, scenario.poll_op))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def submitted(client, scenario) -> str:
    resp, body = await submit(client, scenario)
    assert not is_error(scenario.provider, resp.status, body), body
    task_id = scenario.task_id(body)
    assert task_id, body
    return task_id


# the spec ----------------------------------------------------------------------------
def test_the_spec_agrees_with_the_contract_and_settings(provider):
    s = spec(provider)
    c = contract(provider)
    assert poll_operations(provider) <= set(c.operations)
    assert submit_operations(provider) and submit_operations(provider) <= set(c.operations)
    assert set(s.status_map) == set(STATES)
    assert s.poll_interval.low_s <= s.poll_interval.high_s and s.poll_interval.source
    envelope = c.info.get("x-error-envelope")
    if s.error_envelope is None:
        assert envelope is None
    else:
        assert (envelope["field"], envelope["success"]) == (s.error_envelope.field, s.error_envelope.success)
    # Its settings section: an attribute of Settings bound to the registry, its defaults unless set.
    assert getattr(configure(Settings()), provider) == s.settings_model()
    assert getattr(configure(Settings(**{provider: {}})), provider) == s.settings_model()


# journal -----------------------------------------------------------------------------
async def test_the_journal_records_its_requests(fake, provider):
    scenario = workload.ContractScenario(provider)
    task_id = await submitted(fake, scenario)
    await read(fake, scenario, task_id)
    journal = await (await fake.get("/__admin/journal", params={"provider": provider})).json()
    ops = [(e["operation"], e["task_id"]) for e in journal["entries"]]
    assert ops == [(scenario.poll_op, task_id), (scenario.submit_op, task_id)]
    by_task = await (await fake.get("/__admin/journal", params={"task_id": task_id})).json()
    assert by_task["count"] == 2


# faults ------------------------------------------------------------------------------
FAULTS = ["server_error", "rate_limit", "latency", "reset", "outcome", "moderation"]


@pytest.mark.parametrize("kind", FAULTS)
async def test_each_fault_kind_applies(fake, provider, kind):
    s = spec(provider)
    scenario = workload.ContractScenario(provider)
    rule = {"server_error": {"error": s.server_errors[0]},
            "rate_limit": {"error": 429, "retry_after": 2},
            "latency": {"latency": 1},
            "reset": {"connection": "reset"},
            "outcome": {"outcome": "failed"},
            "moderation": {"moderation": "completion"}}[kind]
    if kind == "rate_limit" and "submit" not in s.rate_limits_on:
        pytest.skip(f"{provider} answers no rate limit on a submit")
    added = await fake.post("/__admin/faults", json={"provider": provider, "operation": "submit", "times": 1,
                                                     **rule})
    assert added.status == 201, await added.text()
    if kind == "reset":
        with pytest.raises(aiohttp.ClientError):
            await submit(fake, scenario)
    else:
        resp, body = await submit(fake, scenario)
        assert "X-Mock-Fault-Injected" in resp.headers
        if kind in ("server_error", "rate_limit"):
            assert is_error(provider, resp.status, body), body
        else:
            task_id = scenario.task_id(body)
            await fake.post("/__admin/clock", json={"advance": 2_000})
            answer = await read(fake, scenario, task_id)
            if kind == "outcome":
                assert scenario.outcome(answer)[0] == "failed", answer
            elif kind == "moderation":
                assert workload._find_key(answer, (s.status_key,)) == s.status_map[MODERATED], answer
    # The journal names the injected kind (Decision.kinds) on the submit.
    recorded = {"server_error": "error", "rate_limit": "error", "outcome": "failed",
                "moderation": "moderated"}.get(kind, kind)
    journal = await (await fake.get("/__admin/journal", params={"provider": provider, "fault": recorded})).json()
    assert [e["operation"] for e in journal["entries"]] == [scenario.submit_op], journal


# admin jobs --------------------------------------------------------------------------
async def test_admin_lists_and_forces_its_jobs(fake, provider):
    scenario = workload.ContractScenario(provider)
    done, failed = await submitted(fake, scenario), await submitted(fake, scenario)
    listed = await (await fake.get("/__admin/jobs", params={"provider": provider})).json()
    assert {j["id"] for j in listed["jobs"]} == {done, failed}
    for task_id, state in ((done, "succeeded"), (failed, "failed")):
        forced = await fake.post(f"/__admin/jobs/{provider}/{task_id}", json={"status": state})
        assert forced.status == 200, await forced.text()
    outcome, urls = scenario.outcome(await read(fake, scenario, done))
    assert outcome == "succeeded" and urls
    video = await fake.get(urlsplit(urls[0]).path)
    assert video.status == 200 and video.content_type == "video/mp4"
    assert scenario.outcome(await read(fake, scenario, failed))[0] == "failed"


# strategies --------------------------------------------------------------------------
def test_strategies_generate_valid_requests(provider):
    c = contract(provider)
    auth = spec(provider).auth_hint.split(":")[0].split(" ")[0].lower()

    @hsettings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        op_id = data.draw(st.sampled_from(sorted(operation_ids(provider))), label="operation")
        spec_ = data.draw(request_strategy(provider, op_id, api_key="k"), label="request")
        op = c.operation(op_id)
        assert spec_.method == op.method
        if spec_.json is not None:
            assert c.check_body(op, spec_.json) == []
        assert auth in {h.lower() for h in spec_.headers}

    check()


# the harness -------------------------------------------------------------------------
def generic_client(base_url: str, api_key: str, *, sleep=time.sleep, timeout: float = 30.0) -> str:
    """A client written from the spec alone: retries 429 and 5xx on reads, gives up on a
    submit without an answer."""
    provider = generic_client.provider
    scenario = workload.ContractScenario(provider)
    origin = base_url[: len(base_url) - len(spec(provider).client_base_path)] if spec(provider).client_base_path \
        else base_url

    def send(method, url, body, op, repeatable):
        for attempt in range(6):
            try:
                r = requests.request(method, origin + url, json=body, timeout=timeout,
                                     headers=scenario.headers(api_key, op))
            except requests.RequestException as exc:
                if not repeatable:
                    raise RuntimeError("submit outcome unknown") from exc
                sleep(1)
                continue
            answer = r.json()
            if r.status_code == 429 or r.status_code >= 500 or is_error(provider, r.status_code, answer):
                if not repeatable and r.status_code < 500 and r.status_code != 429:
                    raise RuntimeError(f"refused: {answer}")
                sleep(2 ** attempt)
                continue
            return answer
        raise RuntimeError("gave up")

    method, url, body = scenario.submit(workload.Draw(random.randrange(1 << 30)))
    task_id = scenario.task_id(send(method, url, body, scenario.submit_op, False))
    while True:
        sleep(spec(provider).poll_interval.low_s)
        method, url, body = scenario.read(task_id)
        outcome, urls = scenario.outcome(send(method, url, body, scenario.poll_op, True))
        if outcome == "succeeded":
            return urls[0]
        if outcome is not None:
            raise RuntimeError(outcome)


def test_the_harness_runs_a_client_against_it(provider, monkeypatch):
    monkeypatch.setattr(generic_client, "provider", provider, raising=False)
    report = check_client(generic_client, provider, errors=RuntimeError, max_examples=4, seed=2,
                          faults=("latency", "server_error"))
    assert report.runs >= 4


# load workload -----------------------------------------------------------------------
def test_the_load_workload_builds_its_requests(provider):
    scenario = workload.ContractScenario(provider)
    c = contract(provider)
    low, high = workload.POLL_INTERVALS.get(provider) or (spec(provider).poll_interval.low_s,
                                                          spec(provider).poll_interval.high_s)
    assert (low, high) == (spec(provider).poll_interval.low_s, spec(provider).poll_interval.high_s)
    for seed in range(5):
        method, path, body = scenario.submit(workload.Draw(seed))
        op = c.operation(scenario.submit_op)
        assert (method, path) == (op.method, op.path) and c.check_body(op, body) == []
    method, url, _ = scenario.read("some-id")
    assert method == c.operation(scenario.poll_op).method and "some-id" in url + str(_)


# webhooks ----------------------------------------------------------------------------
async def test_delivery_faults_select_it_where_it_sends_webhooks(fake, provider):
    resp = await fake.post("/__admin/webhooks/faults", json={"kind": "delay", "provider": provider, "seconds": 1})
    assert resp.status == (400 if spec(provider).webhooks == "none" else 201), await resp.text()


async def test_its_account_webhook_is_on_the_control_plane_where_it_has_one(fake, provider):
    # /__admin/webhooks/{provider} serves the providers whose spec says "account"
    # (PixVerse's console webhook); any other name is a 400 naming the ones it takes.
    resp = await fake.get(f"/__admin/webhooks/{provider}")
    summary = await (await fake.get("/__admin/webhooks")).json()
    if spec(provider).webhooks != "account":
        assert resp.status == 400 and "provider" in await resp.text() and provider not in summary
        assert (await fake.put(f"/__admin/webhooks/{provider}", json={})).status == 400
        return
    assert resp.status == 200 and (await resp.json())["api_key"] is None
    assert summary[provider]["api_key"] is None
    url = "http://127.0.0.1:9/hook"
    own = await (await fake.put(f"/__admin/webhooks/{provider}", json={"url": url, "api_key": "k1"})).json()
    assert own["own"] is True and own["url"] == url and [k["api_key"] for k in own["keys"]] == ["k1"]
    gone = await (await fake.delete(f"/__admin/webhooks/{provider}", params={"api_key": "k1"})).json()
    assert gone["own"] is False and gone["keys"] == []
