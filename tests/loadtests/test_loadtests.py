"""The load scenarios (loadtests/): shapes, request mix, receiver, and short real runs.

The runs start ``loadtests/run_load.py`` as ``make load`` does (a fresh fake, locust
headless) and check its exit status, report files and thresholds; one runs locust's
distributed mode (``--processes 2``).  About 45 s in all.
"""
from __future__ import annotations

import csv
import json
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

LOADTESTS = ROOT / "loadtests"
sys.path.insert(0, str(LOADTESTS))

import shapes  # noqa: E402
import workload  # noqa: E402
from mockserver.contract import load_contract  # noqa: E402
from mockserver.settings import Settings  # noqa: E402
from webhook_receiver import standard_webhook_valid  # noqa: E402

# --- shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_every_shape_stays_within_its_peak_and_ends_on_time(shape):
    users, rate, duration = 40, 4.0, 100.0
    seen = []
    for tenth in range(0, 1000):
        stage = shapes.stage_at(shape, tenth / 10, users, rate, duration)
        assert stage is not None
        assert 0 <= stage.users <= users and stage.rate > 0
        seen.append(stage.users)
    assert shapes.stage_at(shape, duration, users, rate, duration) is None
    assert max(seen) == (users // 2 if shape == "soak" else users)


def test_shapes_have_their_own_profile():
    at = lambda shape, t: shapes.stage_at(shape, t, 50, 5.0, 100.0).users  # noqa: E731
    assert at("ramp", 1) < at("ramp", 30) < at("ramp", 59) == at("ramp", 75) == 50 > at("ramp", 95)
    assert [at("step", t) for t in (5, 25, 45, 65, 85)] == [10, 20, 30, 40, 50]
    assert at("spike", 10) == at("spike", 80) == 10 and at("spike", 50) == 50
    assert shapes.stage_at("spike", 50, 50, 5.0, 100.0).rate == 50.0  # the burst spawns fast
    assert {at("soak", t) for t in range(100)} == {25}
    assert {at("constant", t) for t in range(100)} == {50}


@pytest.mark.parametrize("args", [("wave", 10, 1.0, 60.0), ("ramp", 0, 1.0, 60.0), ("ramp", 5, 0.0, 60.0),
                                  ("ramp", 5, 1.0, 0.0)])
def test_shapes_refuse_what_they_cannot_plan(args):
    shape, users, rate, duration = args
    with pytest.raises(ValueError):
        shapes.stage_at(shape, 0.0, users, rate, duration)


# --- what the clients send ----------------------------------------------------------------------

CONTRACTS = {name: load_contract(Settings().contracts_dir, name)
             for name in ("freepik", "aimlapi", "pixwith", "pixverse")}


def _operation(provider: str, path: str):
    for op in CONTRACTS[provider].operations.values():
        if op.method == "POST" and op.path == path:
            return op
    raise AssertionError(f"{provider} has no POST {path}")


@pytest.mark.parametrize("seed", range(40))
def test_every_drawn_request_keeps_the_providers_contract(seed):
    draw = workload.Draw(seed)
    drawn = [("freepik", draw.freepik()), ("freepik", draw.freepik("http://127.0.0.1:9/hook/x")),
             ("aimlapi", draw.aimlapi()), ("pixwith", draw.pixwith()),
             ("pixverse", draw.pixverse()), ("pixverse", draw.pixverse(img_id=123456789))]
    for provider, (kind, path, body) in drawn:
        errors = CONTRACTS[provider].check_body(_operation(provider, path), body)
        assert not errors, (provider, kind, body, [e.message for e in errors])
        assert len(body["prompt"]) <= 2000


def test_the_mix_looks_like_production_traffic():
    draw = workload.Draw(7)
    bodies = [draw.freepik()[2] for _ in range(600)]
    resolutions = [b["resolution"] for b in bodies]
    assert resolutions.count("720p") > resolutions.count("540p") > resolutions.count("360p") > 0
    assert not [b for b in bodies if b["resolution"] == "1080p" and b["duration"] == 8]
    assert len({b["prompt"] for b in bodies}) > 590  # faker-made, hardly ever repeated
    assert 0.1 < sum("seed" in b for b in bodies) / len(bodies) < 0.5
    # Seeded: the same seed draws the same requests.
    assert workload.Draw(3).aimlapi() == workload.Draw(3).aimlapi()


def test_poll_intervals_are_the_documented_ones_scaled():
    rng = random.Random(1)
    for provider, (low, high) in workload.POLL_INTERVALS.items():
        waits = [workload.poll_interval(provider, 50.0, rng) for _ in range(200)]
        assert low / 50 <= min(waits) and max(waits) <= high / 50
    assert workload.POLL_INTERVALS["pixverse"] == (3.0, 5.0) and workload.POLL_INTERVALS["aimlapi"] == (10.0, 15.0)
    assert workload.default_e2e_p95_s(50.0) == pytest.approx(140 * 1.5 / 50 + 1)


def test_the_clock_maps_the_fakes_time_to_wall_time():
    clock = workload.Clock.from_admin({"now": 1000.0, "scale": 50.0, "frozen": False}, 10.0, 10.2)
    assert clock.wall_at(1000.0) == pytest.approx(10.1)
    assert clock.wall_at(1100.0) == pytest.approx(12.1)
    assert workload.Clock.from_admin({"now": 1.0, "scale": 2.0, "frozen": True}, 0, 0).wall_at(5) is None
    assert workload.Clock().wall_at(5.0) is None and workload.Clock().scale == 1.0


def test_the_receiver_checks_signatures_the_way_the_fake_signs_them():
    from mockserver.providers.freepik.webhooks import standard_webhook_headers

    body = b'{"task_id":"t","status":"COMPLETED","generated":[]}'
    headers = standard_webhook_headers(b"s3cret", "msg_1", 1_700_000_000, body)
    assert standard_webhook_valid(b"s3cret", "msg_1", "1700000000", body, headers["webhook-signature"])
    assert not standard_webhook_valid(b"other", "msg_1", "1700000000", body, headers["webhook-signature"])
    assert not standard_webhook_valid(b"s3cret", "msg_1", "1700000000", body + b" ", headers["webhook-signature"])


# --- short real runs ----------------------------------------------------------------------------

def run_load(tmp_path: Path, *args: str, timeout: float = 150) -> tuple[subprocess.CompletedProcess, Path]:
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, str(LOADTESTS / "run_load.py"), "--report-dir", str(report), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return proc, report


def job_rows(report: Path) -> dict[str, dict[str, str]]:
    with open(report / "load_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == "JOB"}


def test_a_short_load_run_holds_its_thresholds(tmp_path):
    """What CI runs: ~20 s, every provider, webhooks included, report and CSV written."""
    proc, report = run_load(tmp_path, "--users", "15", "--spawn-rate", "5", "--run-time", "20s", "--seed", "3")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    result = json.loads((report / "thresholds.json").read_text())
    assert result["ok"] and result["error_ratio"] <= 0.01, result
    assert result["e2e_p95_s"] <= result["max_e2e_p95_s"]
    jobs = job_rows(report)
    for provider in ("freepik", "aimlapi", "pixwith", "pixverse"):
        assert any(name.startswith(f"{provider} ") for name in jobs), (provider, list(jobs))
    assert result["webhook_deliveries"] > 0 and result["webhooks_skipped"] is None, result
    assert (report / "report.html").stat().st_size > 10_000
    assert (report / "load_stats_history.csv").exists() and (report / "fake.log").exists()


def test_distributed_mode_runs_the_same_scenarios(tmp_path):
    """locust --processes 2: a master and two workers; the master checks the thresholds."""
    proc, report = run_load(tmp_path, "--users", "10", "--spawn-rate", "10", "--run-time", "10s",
                            "--processes", "2")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "worker" in out.lower()
    result = json.loads((report / "thresholds.json").read_text())
    assert result["ok"] and result["jobs"] > 0, result


def test_a_missed_threshold_fails_the_run(tmp_path):
    proc, report = run_load(tmp_path, "--users", "4", "--spawn-rate", "4", "--run-time", "5s",
                            "--max-e2e-p95", "0.001")
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    result = json.loads((report / "thresholds.json").read_text())
    assert not result["ok"] and any("end-to-end p95" in p for p in result["problems"])


def test_an_unreachable_host_is_all_errors(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, report = run_load(tmp_path, "--host", f"http://127.0.0.1:{port}", "--time-scale", "50",
                            "--users", "2", "--spawn-rate", "2", "--run-time", "3s")
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    result = json.loads((report / "thresholds.json").read_text())
    assert result["error_ratio"] == 1.0 and "no job finished" in result["problems"]


# --- the bench (make bench): only its plumbing; its numbers are not a test -------------------

def test_the_bench_runs_the_fake_with_a_changed_setting_and_says_so(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(LOADTESTS / "bench.py"), "--no-wrk", "--startups", "1",
                           "--setting", "journal_max_entries=0", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "fake settings   defaults, except PIXVERSE_MOCK_JOURNAL_MAX_ENTRIES=0" in proc.stdout
    assert "for the defaults, and this run changed settings" in proc.stdout
    result = json.loads(out.read_text())
    assert result["args"]["setting"] == ["journal_max_entries=0"]
    assert [t["target"] for t in result["targets"]] == ["start-up < 1 s"]


@pytest.mark.parametrize("bad", ["journal_max_entries", "=0", "bad name=1"])
def test_the_bench_refuses_a_malformed_setting(bad):
    proc = subprocess.run([sys.executable, str(LOADTESTS / "bench.py"), "--no-wrk", "--setting", bad],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--setting wants NAME=VALUE" in proc.stderr
