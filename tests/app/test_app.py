"""The app as a whole: contracts are valid OpenAPI, the CLI starts a working fake."""
from __future__ import annotations

import os

import pytest
import requests
import yaml
from openapi_spec_validator import validate

from mockserver.app import ADAPTERS, create_app
from mockserver.contract import Contract, ContractError
from support import CONTRACTS, make_settings
from support.server import serve, wait_for

CONTRACT_FILES = sorted(CONTRACTS.glob("*.yaml"))


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.name)
def test_contract_is_valid_openapi(path):
    validate(yaml.safe_load(path.read_text()))


def test_every_served_operation_is_in_its_contract_and_every_route_is_served():
    app = create_app(make_settings())
    for adapter in app[ADAPTERS].values():
        assert set(adapter.handlers) <= set(adapter.contract.operations)
        served = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None}
        for op in adapter.contract.operations.values():
            assert (op.method, op.route_path) in served, op.operation_id


def test_contract_loader_rejects_non_31_documents(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n")
    with pytest.raises(ContractError):
        Contract(bad)
    with pytest.raises(ContractError):
        Contract(tmp_path / "missing.yaml")


async def test_default_mode_answers_as_strict_mode_does(aiohttp_client):
    """Without strict mode (the default) the pipeline sends handlers' answers itself:
    the same statuses, content types and bodies as strict mode's checked path."""
    path, key = "/v1/ai/image-to-video/pixverse-v5", {"x-freepik-api-key": "k"}
    seen = []
    for strict in (True, False):
        client = await aiohttp_client(create_app(make_settings(strict=strict)))
        created = await client.post(path, json={"prompt": "p", "image_url": "https://e.com/i.png"}, headers=key)
        task = (await created.json())["data"]
        polled = await client.get(f"{path}/{task['task_id']}", headers=key)
        invalid = await client.post(path, json={"prompt": 5}, headers=key)
        missing = await client.get(f"{path}/00000000-0000-0000-0000-000000000000", headers=key)
        answers = [created, polled, invalid, missing]
        seen.append([(r.status, r.content_type, await r.json()) for r in answers])
        for r in answers:
            r.release()
    for (status, kind, body), (status_0, kind_0, body_0) in zip(seen[0], seen[1]):
        assert (status, kind) == (status_0, kind_0)
        if "data" in body:
            assert body["data"].keys() == body_0["data"].keys()
            assert body["data"]["status"] == body_0["data"]["status"]
        else:
            assert body == body_0
    assert [s for s, _, _ in seen[1]] == [200, 200, 400, 404]


async def test_strict_mode_catches_a_broken_response(client, engine):
    """A response that breaks the contract becomes a loud 500 in strict mode."""
    freepik = client.server.app[ADAPTERS]["freepik"]
    original = freepik._task

    def broken(job, status, base_url):
        body = original(job, status, base_url)
        body["status"] = "DONE"  # not in the documented enum
        return body

    freepik._task = broken
    resp = await client.post("/v1/ai/image-to-video/pixverse-v5",
                             json={"prompt": "p", "image_url": "https://e.com/i.png"},
                             headers={"x-freepik-api-key": "k"})
    assert resp.status == 500
    assert resp.headers["X-Mock-Contract-Violation"] == "1"
    assert freepik.violations
    freepik.violations.clear()  # seen on purpose; the fixture checks for others


async def test_admin_clock_and_health(client):
    assert (await (await client.get("/__admin/health")).json())["status"] == "ok"
    before = (await (await client.get("/__admin/clock")).json())["now"]
    after = await (await client.post("/__admin/clock", json={"advance": 3600})).json()
    assert after["now"] >= before + 3600
    assert (await client.post("/__admin/clock", json={"advance": -1})).status == 400
    frozen = await (await client.post("/__admin/clock", json={"freeze": True})).json()
    assert frozen["frozen"] is True


def test_cli_serve_prints_providers_and_serves(tmp_path):
    proc, base = serve("--seed", "1", env={**os.environ, "PIXVERSE_MOCK_MEDIA_CACHE_DIR": str(tmp_path)})
    try:
        banner = wait_for(proc, "admin ")
        for name in ("Freepik", "pixwith", "AI/ML", "PixVerse", "admin"):
            assert name in banner, banner
        assert requests.get(f"{base}/__admin/health", timeout=5).json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
