"""The provider registry: built-ins found, extra providers registered at run time by
every documented route (``register``, the ``provider_modules`` setting, the
``PIXVERSE_MOCK_PROVIDER_MODULES`` variable, the ``pixverse_mock.providers`` entry
point group), and everything outside ``providers/`` following it."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

import mockserver.providers as registry
from conftest import make_settings
from mockserver import cli
from mockserver.admin import ADMIN_CONTRACT
from mockserver.app import ADAPTERS, create_app
from mockserver.providers import REGISTRY, configure, load, names, register, spec, unregister
from mockserver.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "providers"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    yield
    unregister("vidmill")


def test_the_built_ins_are_found_in_their_packages_in_the_documented_order():
    assert names()[:4] == registry.BUILTIN_ORDER
    for s in registry.specs():
        assert s.adapter_class().spec is s  # each adapter declares exactly its own spec
        assert s.adapter_class().name == s.name


def test_names_are_unique_and_not_reserved(on_path):
    vidmill = load("vidmill.adapter:SPEC")
    assert load("vidmill.adapter:SPEC") is vidmill  # loading twice is a no-op
    with pytest.raises(ValueError, match="already registered"):
        register(dataclasses.replace(vidmill))
    with pytest.raises(ValueError, match="reserved"):
        register(dataclasses.replace(vidmill, name="files"))
    with pytest.raises(ValueError, match="unknown provider 'runway'"):
        spec("runway")


def test_a_provider_module_setting_registers_it_and_its_settings_section(on_path, monkeypatch):
    monkeypatch.setenv("PIXVERSE_MOCK_VIDMILL__CLIP_CREDITS", "3")
    settings = configure(Settings(provider_modules=["vidmill.adapter:SPEC"]))
    assert "vidmill" in names() and settings.vidmill.clip_credits == 3
    assert configure(Settings.load(None, vidmill={"clip_credits": 4})).vidmill.clip_credits == 4
    app = create_app(make_settings())
    assert "vidmill" in app[ADAPTERS]
    schemas = app[ADMIN_CONTRACT].document["components"]["schemas"]
    assert "vidmill" in schemas["Provider"]["enum"] and "vidmill" in schemas["FaultProvider"]["enum"]
    assert "vidmill" not in schemas["WebhookProvider"]["enum"]  # it sends none
    # its defaults: starting credits and refunds from its spec
    assert settings.starting_balance("vidmill") == 500
    assert settings.accounts.refunds["vidmill"] == ["failed", "moderated"]


async def test_a_provider_with_an_account_webhook_gets_its_admin_routes(on_path, aiohttp_client):
    # Vidmill sends no webhooks; the same reseller declaring an account webhook (and
    # defining its default hook, as PixVerse's adapter does) gets /__admin/webhooks/vidmill.
    from mockserver.engine.webhooks import AccountHook

    plain = load("vidmill.adapter:SPEC")
    base = plain.adapter_class()

    class HookedVidmill(base):
        spec = dataclasses.replace(plain, webhooks="account")

        def __init__(self, engine, settings):
            super().__init__(engine, settings)
            engine.webhooks.define_account("vidmill", AccountHook(None, "vidmill-secret", "form"))

    register(dataclasses.replace(plain, adapter=HookedVidmill, webhooks="account"), replace=True)
    app = create_app(make_settings())
    schemas = app[ADMIN_CONTRACT].document["components"]["schemas"]
    assert schemas["AccountWebhookProvider"]["enum"] == ["pixverse", "vidmill"]
    client = await aiohttp_client(app)
    view = await (await client.put("/__admin/webhooks/vidmill", json={"url": "http://127.0.0.1:9/h"})).json()
    assert view["url"] == "http://127.0.0.1:9/h" and view["allowed"] is True
    summary = await (await client.get("/__admin/webhooks")).json()
    assert summary["vidmill"]["url"] == "http://127.0.0.1:9/h" and summary["pixverse"]["url"] is None
    assert (await client.get("/__admin/webhooks/pixverse")).status == 200  # PixVerse's path unchanged
    assert (await client.get("/__admin/webhooks/pixwith")).status == 400   # no account webhook there
    assert (await client.get("/__admin/webhooks/deliveries")).status == 200
    assert (await client.put("/__admin/webhooks/deliveries", json={})).status == 405  # not an account


def test_settings_for_an_unregistered_provider_are_refused():
    # Settings alone know no provider (settings.py imports no registry): the names are
    # checked when they are bound to it, which create_app and serve do.
    for unknown in ({"provider_settings": {"runway": {}}}, {"runway": {"speed": 1}},
                    {"accounts": {"rate_limits": [{"limit": 1, "window_s": 1, "providers": ["runway"]}]}},
                    {"accounts": {"starting_credits": {"runway": 5}}},
                    {"accounts": {"concurrency": {"runway": 1}}},
                    {"accounts": {"refunds": {"runway": ["failed"]}}}):
        with pytest.raises(ValidationError, match="unknown provider"):
            configure(Settings(**unknown))
        with pytest.raises(ValidationError, match="unknown provider"):
            create_app(make_settings(**unknown))
    with pytest.raises(ValidationError, match="unknown rate limit preset"):
        configure(Settings(accounts={"rate_limit_presets": ["pixwith"]}))
    with pytest.raises(ValidationError, match="auth_err_code"):
        configure(Settings(pixverse={"auth_err_code": "soon"}))


@pytest.mark.parametrize("env, says", [
    ({"PIXVERSE_MOCK_RUNWAY__SPEED": "1"}, "unknown provider(s) runway"),
    ({"PIXVERSE_MOCK_PIXVERSE__AUTH_ERR_CODE": "soon"}, "auth_err_code"),
    ({"PIXVERSE_MOCK_ACCOUNTS__CONCURRENCY": '{"runway": 1}'}, "unknown provider 'runway'"),
    ({"PIXVERSE_MOCK_FAULTS": '[{"provider": "runway", "error": 503}]'}, "unknown provider 'runway'"),
    ({"PIXVERSE_MOCK_PROVIDER_MODULES": "no_such_module:SPEC"}, "no_such_module"),
])
def test_serve_refuses_settings_the_registry_does_not_know_with_exit_2(monkeypatch, env, says):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli.main, ["serve", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert says in result.stderr


def test_a_section_from_the_environment_is_typed_by_its_model(monkeypatch):
    # Lists arrive as JSON, as pydantic-settings reads them; scalars as strings.
    monkeypatch.setenv("PIXVERSE_MOCK_PIXVERSE__WEBHOOK_RETRY_S", "[1, 2.5]")
    monkeypatch.setenv("pixverse_mock_freepik__problem_wrapped", "true")
    settings = configure(Settings())
    assert settings.pixverse.webhook_retry_s == [1.0, 2.5]
    assert settings.freepik.problem_wrapped is True
    assert configure(settings) is settings  # binding twice to the same registry: the same object


def test_the_environment_variable_registers_providers_at_start_up():
    env = {**os.environ, "PIXVERSE_MOCK_PROVIDER_MODULES": "vidmill.adapter:SPEC",
           "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(ROOT)])}
    # The same variable is the `provider_modules` setting: comma-separated, not JSON, works.
    code = ("from mockserver.providers import configure, names; from mockserver.settings import Settings; "
            "s = configure(Settings.load(None)); print(','.join(names()), s.provider_modules, s.vidmill.clip_credits)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0].split(",")[-1] == "vidmill"
    assert out.stdout.split(" ", 1)[1].strip() == "['vidmill.adapter:SPEC'] 10"


def test_an_entry_point_registers_a_provider(on_path, monkeypatch):
    point = importlib.metadata.EntryPoint(name="vidmill", value="vidmill.adapter:SPEC",
                                          group=registry.ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points

    def entry_points(**kw):
        return [point] if kw.get("group") == registry.ENTRY_POINT_GROUP else real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "REGISTRY", {})
    assert names()[-1] == "vidmill" and names()[:4] == registry.BUILTIN_ORDER


def test_the_makefile_and_testing_kit_name_no_provider():
    makefile = (ROOT / "Makefile").read_text()
    assert all(name not in makefile.split("PROVIDERS ?=")[1].splitlines()[0] for name in names())
    from mockserver.testing import contracts

    assert contracts.PROVIDERS == names()
    assert set(contracts.POLL_OPERATIONS) == set(REGISTRY)
