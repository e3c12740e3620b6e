"""engine/faults.py without HTTP: rules, directives, budgets, selectors, seeded draws."""
from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from pydantic import ValidationError

from mockserver import directives
from mockserver.directives import parse_directive, parse_key_directive
from mockserver.engine import Engine
from mockserver.engine.faults import FaultContext, FaultRule, FaultSet, InjectedError, Latency, fault_rng
from mockserver.engine.jobs import JobSpec, PlannedOutcome
from mockserver.settings import Settings
from support import ROOT

PROFILES = ROOT / "fixtures" / "profiles"


def ctx(**kw) -> FaultContext:
    base = dict(provider="freepik", operation="get_pixverse_v5_video", api_key="k")
    base.update(kw)
    # The HTTP layer finds a request's directives (mockserver/directives.py).
    headers = {name: base.pop(f"{name}_header", None) for name in ("fault", "latency", "outcome", "dribble")}
    base["directives"] = directives.found(base.get("api_key"), base.get("prompt"), **headers)
    return FaultContext(**base)


def fired(fs: FaultSet, n: int, **kw) -> list[bool]:
    return [fs.decide(ctx(**kw)) is not None for _ in range(n)]


# rules ------------------------------------------------------------------------------
def test_rule_validation():
    assert FaultRule(error=503).injected_error == InjectedError(status=503)
    assert FaultRule(moderation="completion").outcome == "moderated"
    assert FaultRule(provider="pixverse", latency=5).provider == ["pixverse"]
    assert FaultRule.model_validate({"error": 503.0, "times": 2.0}).times == 2  # JSON integers
    assert FaultRule.model_validate({"latency": {"min_ms": 9, "max_ms": 1}}).latency.min_ms == 1
    for bad in ({}, {"error": 418}, {"errcode": 0}, {"provider": "openai", "error": 500},
                {"probability": 1.5, "error": 500}, {"times": 0, "error": 500},
                {"moderation": "submit", "error": 400}, {"hang_s": 301, "connection": "hang"},
                {"latency": {"dist": "uniform", "min_ms": 5}}, {"nonsense": 1, "error": 500},
                {"error": "503"}, {"error": 500, "times": True}, {"latency": True},
                {"provider": [], "error": 500}, {"api_key": 5, "error": 500},
                {"latency": 700_000}, {"dribble_bps": 10**30}):
        with pytest.raises(ValidationError):
            # Provider names are the registry's, injected by whoever validates (FaultSet).
            FaultRule.model_validate(bad, context={"providers": ("freepik", "pixverse", "files")})
    with pytest.raises(ValidationError):
        FaultSet(random.Random(1), providers=("freepik",)).add({"provider": "openai", "error": 500})


def test_latency_distributions_stay_within_bounds_and_cap():
    rng = random.Random(7)
    assert Latency.model_validate(30).draw(rng) == pytest.approx(0.030)
    uniform = Latency(min_ms=10, max_ms=20)
    assert uniform.dist == "uniform"
    assert all(0.010 <= uniform.draw(rng) <= 0.020 for _ in range(200))
    lognormal = Latency(median_ms=100, sigma=0.5, cap_ms=250)
    draws = [lognormal.draw(rng) for _ in range(2000)]
    assert max(draws) == pytest.approx(0.250)  # capped
    assert 0.085 < statistics.median(draws) < 0.115


def test_directives_parse_into_rules():
    assert parse_directive("error=429, retry_after=5; times=2").model_dump(exclude_defaults=True) == \
        {"error": 429, "retry_after": 5, "times": 2}
    assert parse_directive("moderation").outcome == "moderated"
    assert parse_directive("moderation=submit").moderation == "submit"
    assert parse_directive("slow=100-200").latency.dist == "uniform"
    assert parse_directive("hang=2").connection == "hang" and parse_directive("hang=2").hang_s == 2
    assert parse_key_directive("mock_moderation_submit").moderation == "submit"
    assert parse_key_directive("mock_fail-test7").outcome == "failed"
    assert parse_key_directive("mock_error_503_times_2").model_dump(exclude_defaults=True) == \
        {"error": 503, "times": 2}
    assert parse_key_directive("mock_errcode_500044").errcode == 500044
    assert parse_key_directive("mock_slow_2000").latency.ms == 2000
    for bad in ("bogus", "error=418", "", "times=2"):
        with pytest.raises(ValueError):
            parse_directive(bad)


# budgets and selectors -------------------------------------------------------------------
def test_times_then_succeed_and_nth():
    fs = FaultSet(random.Random(1))
    fs.add({"error": 503, "times": 2})
    assert fired(fs, 4) == [True, True, False, False]
    assert fs.list()[0]["remaining"] == 0 and fs.list()[0]["fired"] == 2
    fs = FaultSet(random.Random(1))
    fs.add({"error": 500, "nth": 3})
    assert fired(fs, 5) == [False, False, True, False, False]
    assert fs.list()[0]["seen"] == 5 and fs.list()[0]["fired"] == 1


def test_selectors():
    fs = FaultSet(random.Random(1))
    fs.add({"provider": "pixwith", "error": 500})
    fs.add({"operation": "submit", "api_key": "slow", "latency": 5})
    fs.add({"test_id": "T1", "prompt_contains": "dragon", "outcome": "failed"})
    assert fs.decide(ctx()) is None
    assert fs.decide(ctx(provider="pixwith")).error.status == 500
    assert fs.decide(ctx(api_key="slow")) is None                        # not a submit
    assert fs.decide(ctx(api_key="slow", submit=True)).latency_s == pytest.approx(0.005)
    assert fs.decide(ctx(submit=True, prompt="a dragon", test_id="T2")) is None
    assert fs.decide(ctx(submit=True, prompt="a dragon", test_id="T1")).outcome == "failed"
    assert fs.decide(ctx(prompt="a dragon", test_id="T1")) is None       # outcome needs a submit
    # media downloads only by name
    fs.add({"connection": "reset"})
    assert fs.decide(ctx(provider="files", operation="video")) is None
    fs.add({"provider": "files", "dribble_bps": 100})
    assert fs.decide(ctx(provider="files", operation="video")).dribble_bps == 100


def test_unsupported_error_does_not_fire_or_count():
    fs = FaultSet(random.Random(1))
    fs.add({"error": 404, "times": 1})
    assert fs.decide(ctx(supports=lambda f: False)) is None
    assert fs.list()[0]["seen"] == 0
    assert fs.decide(ctx(supports=lambda f: True)).error.status == 404


def test_first_rule_wins_a_slot_latencies_add_and_connection_beats_error():
    fs = FaultSet(random.Random(1))
    fs.add({"error": 500, "latency": 10})
    fs.add({"error": 503, "latency": 20})
    d = fs.decide(ctx())
    assert d.error.status == 503 and d.latency_s == pytest.approx(0.030)   # newest first
    fs.add({"connection": "reset"})
    assert fs.decide(ctx()).kinds == ["latency", "reset"]


def test_directive_budgets_are_per_test_id():
    fs = FaultSet(random.Random(1))

    def run(test: str) -> bool:
        return fs.decide(ctx(fault_header="error=503,times=2", test_id=test)) is not None

    assert [run("A"), run("A"), run("A"), run("B")] == [True, True, False, True]
    fs.clear("A")
    assert run("A")


def test_bad_directive_is_reported_not_raised():
    d = FaultSet(random.Random(1)).decide(ctx(fault_header="explode"))
    assert d is not None and not d.fired and "unknown directive" in d.problems[0]


def test_directives_can_be_switched_off():
    fs = FaultSet(random.Random(1), directives=False)
    assert not fs.armed(directives.present("mock_error_503", "[mock:fail]", {"X-Mock-Fault": "error=503"}))
    assert fs.decide(ctx(api_key="mock_error_503", fault_header="error=503")) is None


def test_probability_is_reproducible_from_the_seed():
    def run(seed):
        fs = FaultSet(fault_rng(seed))
        fs.add({"error": 503, "probability": 0.5, "latency": {"median_ms": 5, "sigma": 1}})
        out = []
        for _ in range(40):
            d = fs.decide(ctx())
            out.append(None if d is None else (d.error.status, round(d.latency_s, 9)))
        return out

    first = run(42)
    assert first == run(42)
    assert first != run(43)
    hits = sum(x is not None for x in first)
    assert 10 < hits < 30


def test_clear_keeps_profile_rules_and_remove_all_does_not():
    fs = FaultSet(random.Random(1), profile=[{"latency": 5, "times": 1}])
    fs.add({"error": 503, "test_id": "A"})
    fs.add({"error": 500})
    fs.decide(ctx())
    assert fs.clear("A") == 1 and len(fs) == 2
    assert fs.clear() == 1
    assert [(r["source"], r["fired"]) for r in fs.list()] == [("profile", 0)]
    assert fs.remove_all() == 1 and len(fs) == 0
    fs.reset()
    assert [r["id"] for r in fs.list()] == ["profile-1"]


def test_counts_record_every_injected_kind():
    fs = FaultSet(random.Random(1))
    fs.add({"error": 503, "latency": 1})
    fs.record("freepik", "op", fs.decide(ctx()))
    fs.record("freepik", "op", fs.decide(ctx()))
    assert fs.counts == {("freepik", "error"): 2, ("freepik", "latency"): 2}
    assert fs.log[-1]["kinds"] == ["latency", "error"]


# the engine -----------------------------------------------------------------------------
def test_engine_plans_the_faulted_outcome():
    engine = Engine(Settings(seed=1, media_cache_dir=Path("/nonexistent")))
    kw = dict(kind="text-to-video", provider="freepik", api_key="k", quality="720p", width=1280, height=720,
              duration=5)
    failed = engine.create_job(JobSpec(job_id="a", planned=PlannedOutcome("failed"), **kw))
    moderated = engine.create_job(JobSpec(job_id="b", planned=PlannedOutcome("moderated", immediate=True), **kw))
    plain = engine.create_job(JobSpec(job_id="c", **kw))
    explicit = engine.create_job(JobSpec(job_id="d", outcome="failed", **kw))
    assert failed.plan.outcome == "failed" and engine.status(failed) == "queued"
    assert engine.status(moderated) == "moderated"
    assert plain.plan.outcome == "succeeded" and explicit.plan.outcome == "failed"
    engine.faults.add({"error": 500})
    engine.reset()
    assert len(engine.faults) == 0


def test_faults_have_their_own_rng():
    """Adding rules does not change the ids the engine hands out."""
    a, b = Engine(Settings(seed=5)), Engine(Settings(seed=5))
    b.faults.add({"error": 503, "probability": 0.5})
    b.faults.decide(ctx())
    assert a.new_uuid() == b.new_uuid()


@pytest.mark.parametrize("name", ["realistic", "flaky", "overloaded"])
def test_shipped_profiles_load(name):
    settings = Settings.load(PROFILES / f"{name}.yaml")
    engine = Engine(settings)
    rules = engine.faults.list()
    assert rules and all(r["source"] == "profile" for r in rules)
    if name == "realistic":
        assert all(set(r) & {"error", "errcode", "connection", "outcome", "moderation"} == set()
                   for r in rules)


def test_a_rule_refuses_null_but_a_profile_file_null_means_left_out():
    with pytest.raises(ValidationError, match="leave the field out instead of null"):
        FaultRule.model_validate({"error": 503, "message": None})
    with pytest.raises(ValidationError, match="leave the field out"):
        FaultRule(error=503, test_id=None)
    assert FaultRule(error=503).test_id is None  # left out: None in Python
    fs = FaultSet(random.Random(1), profile=[{"error": 503, "message": None, "test_id": None}])
    assert [r["error"] for r in fs.list()] == [503]


def test_clashing_effects_name_the_clash():
    with pytest.raises(ValidationError, match="moderation: submit is an error of its own"):
        FaultRule(moderation="submit", errcode=500054)
    with pytest.raises(ValidationError, match="contradicts outcome"):
        FaultRule(moderation="completion", outcome="succeeded")
    with pytest.raises(ValidationError, match="needs an effect: latency, error, .* or dribble_bps"):
        FaultRule(provider="freepik")


def test_a_delivery_fault_counts_firings_but_does_not_take_them_as_input():
    from mockserver.engine.webhooks import DeliveryFault

    with pytest.raises(ValidationError):
        DeliveryFault.model_validate({"kind": "delay", "fired": 2})
    fault = DeliveryFault(kind="delay", seconds=3, times=2)
    fault.fire()
    assert fault.view() == {"kind": "delay", "seconds": 3.0, "times": 2, "fired": 1}
    # A state file written before: every field, nulls included, and the counter.
    old = {"id": "wf1", "kind": "delay", "provider": None, "job_id": None, "event": None,
           "seconds": 3.0, "times": 2, "fired": 1}
    back = DeliveryFault.from_view(old)
    assert back.fired == 1 and back.view() == {"id": "wf1", "kind": "delay", "seconds": 3.0, "times": 2, "fired": 1}
