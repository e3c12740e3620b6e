"""Schemathesis against a live fake on 127.0.0.1, one run per provider contract.

All default checks plus the stateful phase (following each contract's links), a fixed
seed and bounded example counts so the run stays within CI's minutes.  Contracts
whose providers report errors inside an HTTP 200 envelope swap four status-based
checks for envelope-aware ones (tests/contracts/schemathesis_hooks.py).

The fake runs in strict mode with an allow-list of one key, so invalid credentials
get the provider's auth error (any key is accepted by default).

``CONTRACT_BASE_URL`` and ``CONTRACT_API_KEY`` point the same run at another server
instead: your own deployment, or the real provider (which costs real credits);
``CONTRACT_PROVIDERS`` (comma-separated) picks the contracts.  ``make contract`` wraps it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from mockserver.testing.server import ThreadedFake
from support import ROOT, make_settings
from support.server import serve

TESTS = Path(__file__).resolve().parent
KEY = "contract-test-key"
# Empty or unset: every registered provider (mockserver.providers).
PROVIDER_CONTRACTS = (os.environ.get("CONTRACT_PROVIDERS")
                      or ",".join(__import__("mockserver.providers", fromlist=["names"]).names())).split(",")
EXTERNAL_URL = os.environ.get("CONTRACT_BASE_URL")
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))


def auth_headers(document: dict, key: str) -> list[str]:
    """-H arguments for the contract's first security scheme."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            return ["-H", f"{scheme['name']}: {key}"]
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer":
            return ["-H", f"Authorization: Bearer {key}"]
    return []


def run_schemathesis(contract: Path, base_url: str, key: str, seed: int = 1,
                     max_examples: int = MAX_EXAMPLES) -> subprocess.CompletedProcess:
    """Run the schemathesis CLI for one contract; returns the finished process."""
    document = yaml.safe_load(contract.read_text())
    checks = ["--checks", "all"]
    if "x-error-envelope" in document.get("info", {}):
        from schemathesis_hooks import REPLACED
        checks += ["--exclude-checks", ",".join(REPLACED)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(contract), "--url", base_url,
           *auth_headers(document, key), *checks, "--max-examples", str(max_examples),
           "--seed", str(seed), "--workers", "1", "--no-color", "--request-timeout", "10"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def live_fake():
    """The fake in its own process on a free loopback port, strict, one allowed key
    (or the server named by CONTRACT_BASE_URL)."""
    if EXTERNAL_URL:
        yield EXTERNAL_URL.rstrip("/"), os.environ.get("CONTRACT_API_KEY", KEY)
        return
    env = {**os.environ, "PIXVERSE_MOCK_STRICT": "true", "PIXVERSE_MOCK_API_KEYS": f'["{KEY}"]',
           "PIXVERSE_MOCK_MEDIA_CACHE_DIR": str(ROOT / ".cache" / "test-media")}
    proc, base = serve("--host", "127.0.0.1", "--seed", "1", "--time-scale", "1000", env=env)
    try:
        assert requests.get(f"{base}/__admin/health", timeout=5).ok
        yield base, KEY
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("name", PROVIDER_CONTRACTS)
def test_fake_keeps_its_contract(live_fake, name):
    base_url, key = live_fake
    from mockserver.providers import spec

    result = run_schemathesis(spec(name).contract_path(ROOT / "contracts"), base_url, key)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout, result.stdout[-5000:]


def _broken_fake(**overrides):
    from mockserver.app import ADAPTERS, create_app

    app = create_app(make_settings(strict=False, api_keys=[KEY], time_scale=1000, **overrides))
    return app, app[ADAPTERS]


def test_schemathesis_catches_a_broken_response_field():
    """Patch one field of Freepik's task to a value outside its enum: schemathesis must fail."""
    app, adapters = _broken_fake()
    freepik = adapters["freepik"]
    original = freepik._task

    def broken(job, status, base_url):
        return {**original(job, status, base_url), "status": "DONE"}

    freepik._task = broken
    fake = ThreadedFake(app=app)
    try:
        result = run_schemathesis(ROOT / "contracts" / "freepik.yaml", fake.base_url, KEY, max_examples=5)
    finally:
        fake.close()
    assert result.returncode != 0
    assert "Response violates schema" in result.stdout, result.stdout[-3000:]


def test_envelope_checks_catch_ignored_auth(monkeypatch):
    """A pixwith fake that lets any key through is caught by the envelope-aware auth check."""
    import dataclasses

    from mockserver.providers import REGISTRY, PixwithAdapter, spec

    class AnyKeyPixwith(PixwithAdapter):
        def key_accepted(self, key: str) -> bool:
            return True

    # Endpoints bind their auth rule when the app is built: the broken adapter must be
    # the one create_app builds (it reads the registry).
    monkeypatch.setitem(REGISTRY, "pixwith", dataclasses.replace(spec("pixwith"), adapter=AnyKeyPixwith))
    app, _ = _broken_fake()
    fake = ThreadedFake(app=app)
    try:
        result = run_schemathesis(ROOT / "contracts" / "pixwith.yaml", fake.base_url, KEY, max_examples=5)
    finally:
        fake.close()
    assert result.returncode != 0
    assert "envelope_ignored_auth" in result.stdout, \
        result.stdout[-3000:]
