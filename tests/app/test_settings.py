"""Settings layers merge field by field: defaults <- profile <- environment <- CLI flags.

One test per nested section: a nested field set in a later layer must keep the earlier
layers' other fields of that section (a shallow merge dropped the profile's whole
section, its webhook URL and secret included).
"""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from mockserver import cli
from mockserver.providers import configure
from mockserver.settings import Settings, deep_merge


@pytest.fixture
def profile(tmp_path):
    def write(data: dict) -> str:
        path = tmp_path / "profile.yaml"
        path.write_text(yaml.safe_dump({"settings": data}))
        return path
    return write


def test_env_sets_one_provider_field_and_keeps_the_profiles_section(profile, monkeypatch):
    path = profile({"pixverse": {"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s3"},
                    "freepik": {"problem_wrapped": True}})
    monkeypatch.setenv("PIXVERSE_MOCK_PIXVERSE__AUTH_ERR_CODE", "400012")
    monkeypatch.setenv("PIXVERSE_MOCK_FREEPIK__WEBHOOK_SECRET_FORMAT", "whsec")
    s = configure(Settings.load(path))
    assert s.pixverse.auth_err_code == 400012
    assert s.pixverse.webhook_url == "http://127.0.0.1:9/hook"
    assert s.pixverse.webhook_secret == "s3"
    assert s.pixverse.max_media_seconds == 30.0  # a default the profile did not touch
    assert s.freepik.problem_wrapped is True
    assert s.freepik.webhook_secret_format == "whsec"


def test_env_sets_one_account_field_and_keeps_the_profiles_accounts(profile, monkeypatch):
    path = profile({"accounts": {"starting_credits": {"freepik": 7}, "concurrency": {"pixverse": 2},
                                 "rate_limit_presets": ["freepik"]}})
    monkeypatch.setenv("PIXVERSE_MOCK_ACCOUNTS__RATE_LIMIT_CLOCK", "virtual")
    monkeypatch.setenv("PIXVERSE_MOCK_ACCOUNTS__CONCURRENCY", '{"freepik": 3}')
    s = Settings.load(path)
    assert s.accounts.rate_limit_clock == "virtual"
    assert s.accounts.starting_credits == {"freepik": 7}
    # Mappings merge key by key across layers.
    assert s.accounts.concurrency == {"pixverse": 2, "freepik": 3}
    assert s.accounts.rate_limit_presets == ["freepik"]
    # The default refund for PixVerse stays when the profile names another provider's.
    s = configure(Settings.load(profile({"accounts": {"refunds": {"freepik": ["failed"]}}})))
    assert s.accounts.refunds == {"pixverse": ["moderated"], "freepik": ["failed"]}


def test_env_sets_one_webhook_field_and_keeps_the_profiles_webhooks(profile, monkeypatch):
    path = profile({"webhooks": {"allowed_hosts": ["loopback", "receiver.test"], "timeout_s": 2.5}})
    monkeypatch.setenv("PIXVERSE_MOCK_WEBHOOKS__MAX_IN_FLIGHT", "8")
    s = Settings.load(path)
    assert s.webhooks.max_in_flight == 8
    assert s.webhooks.allowed_hosts == ["loopback", "receiver.test"]
    assert s.webhooks.timeout_s == 2.5
    assert s.webhooks.log_max_entries == 10_000


def test_faults_from_the_profile_survive_other_layers_and_a_later_list_replaces(profile, monkeypatch):
    rule = {"provider": "freepik", "error": 503, "probability": 0.5}
    path = profile({"faults": [rule]})
    monkeypatch.setenv("PIXVERSE_MOCK_WEBHOOKS__TIMEOUT_S", "1")
    s = Settings.load(path, time_scale=10.0)
    assert s.faults == [rule] and s.time_scale == 10.0
    # Lists are values: a later layer's list replaces the earlier one whole.
    monkeypatch.setenv("PIXVERSE_MOCK_FAULTS", '[{"provider": "pixwith", "error": 500}]')
    assert Settings.load(path).faults == [{"provider": "pixwith", "error": 500}]


def test_generation_seconds_in_a_profile_keeps_the_other_resolutions(profile):
    s = Settings.load(profile({"generation_seconds": {"720p": 30.0}}))
    assert s.generation_seconds == {"360p": 35.0, "540p": 45.0, "720p": 30.0, "1080p": 90.0}


def test_cli_flags_win_over_env_over_profile(profile, monkeypatch, tmp_path):
    path = profile({"time_scale": 5, "seed": 1, "port": 9001, "pixverse": {"webhook_secret": "kept"}})
    monkeypatch.setenv("PIXVERSE_MOCK_SEED", "2")
    monkeypatch.setenv("PIXVERSE_MOCK_PORT", "9002")
    s = configure(Settings.load(path, seed=3, port=None))
    assert (s.time_scale, s.seed, s.port) == (5.0, 3, 9002)
    assert s.pixverse.webhook_secret == "kept"
    # Nothing explicit about starting credits: the provider default still applies.
    assert "starting_credits" not in s.model_fields_set


def test_serve_rejects_a_bad_nested_env_value_with_pydantics_message(monkeypatch):
    monkeypatch.setenv("PIXVERSE_MOCK_WEBHOOKS__TIMEOUT_S", "soon")
    result = CliRunner().invoke(cli.main, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "timeout_s" in result.stderr


def test_deep_merge_leaves_its_arguments_alone():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    update = {"a": {"c": [2]}, "e": {"f": 1}}
    assert deep_merge(base, update) == {"a": {"b": 1, "c": [2]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1} and update == {"a": {"c": [2]}, "e": {"f": 1}}
