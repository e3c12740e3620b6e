"""``serve --workers N``: several processes on one port, kept by a supervisor.

Real processes on a free loopback port and the session's real Redis; bounded in
requests and time.  What the workers share through Redis is tested with the stores
(tests/engine, tests/app); here: the processes themselves.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from support.server import command, output, serve, wait_for


def _pids(base: str, requests_: int = 40) -> set[int]:
    """The worker pids that answered ``requests_`` health checks, each on a new connection."""
    seen = set()
    for _ in range(requests_):
        with requests.Session() as session:  # a new connection: the kernel picks a worker
            seen.add(session.get(f"{base}/__admin/health", timeout=10).json()["pid"])
    return seen


def _env(redis_url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_MOCK_")},
            "PIXVERSE_MOCK_REDIS_URL": redis_url}


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def test_several_workers_without_redis_are_refused():
    proc = subprocess.run([*command(), "serve", "--port", "0", "--workers", "2"], capture_output=True,
                          text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                       if k != "PIXVERSE_MOCK_REDIS_URL"})
    assert proc.returncode == 2
    assert "--workers needs --redis" in proc.stderr


def test_workers_refuse_a_state_file(tmp_path, redis_url):
    proc = subprocess.run([*command(), "serve", "--port", "0", "--workers", "2", "--state-file",
                           str(tmp_path / "state.json")], capture_output=True, text=True, timeout=60,
                          env=_env(redis_url))
    assert proc.returncode == 2
    assert "state_file" in proc.stderr and "Traceback" not in proc.stderr


def test_workers_share_one_port_and_each_answers(redis_url):
    proc, base = serve("--workers", "2", env=_env(redis_url))
    try:
        banner = wait_for(proc, "workers ")
        assert "2 workers" in banner
        listed = {int(pid) for pid in banner.split("(pids ")[1].split(")")[0].split(", ")}
        assert len(listed) == 2 and proc.pid not in listed
        # 40 new connections spread by the kernel: both workers answer (the chance that
        # one takes all 40 is 2**-39).
        assert _pids(base) == listed
    finally:
        assert _stop(proc) == 0
    for pid in listed:  # the supervisor stopped every worker before it exited
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_is_replaced(redis_url):
    proc, base = serve("--workers", "2", env=_env(redis_url))
    try:
        banner = wait_for(proc, "workers ")
        first, second = (int(pid) for pid in banner.split("(pids ")[1].split(")")[0].split(", "))
        os.kill(first, signal.SIGKILL)
        seen = wait_for(proc, "starting another")
        assert f"worker 0 (pid {first}) exited with code -9" in seen
        replaced = wait_for(proc, "worker 0 is pid ")
        new = int(replaced.split("worker 0 is pid ")[1].split()[0])
        assert new not in (first, second)
        assert _pids(base) == {second, new}
    finally:
        assert _stop(proc) == 0
    assert "Traceback" not in output(proc)


def test_sigint_stops_every_worker_cleanly(redis_url):
    proc, base = serve("--workers", "3", env=_env(redis_url))
    banner = wait_for(proc, "workers ")
    pids = [int(pid) for pid in banner.split("(pids ")[1].split(")")[0].split(", ")]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)  # waiting on another process's exit: no virtual clock here
        else:
            pytest.fail(f"worker {pid} outlived its supervisor")
    assert "Traceback" not in output(proc)


def test_two_workers_act_as_one_fake(redis_url):
    """Through the real process model (each request on a new connection, so the kernel
    picks the worker): no job lost or duplicated, a clock advance through one worker is
    seen by the other, the journal through either shows both workers' requests, and a
    ``times: 1`` fault fires exactly once, and a scrape of either counts both."""
    from mockserver.testing import MockAdmin
    from support import CREATE

    path, headers, body = CREATE["freepik"]
    proc, base = serve("--workers", "2", "--seed", "5", env=_env(redis_url))
    try:
        admin = MockAdmin(base)
        admin.freeze()
        answered_by, ids = set(), []
        for _ in range(30):
            with requests.Session() as session:
                resp = session.post(base + path, json=body, headers=headers, timeout=10)
                assert resp.status_code == 200, resp.text
                ids.append(resp.json()["data"]["task_id"])
            with requests.Session() as session:
                answered_by.add(session.get(f"{base}/__admin/health", timeout=10).json()["pid"])
        assert len(answered_by) == 2
        assert len(set(ids)) == 30
        admin.advance(3600)
        for task_id in ids:
            with requests.Session() as session:
                resp = session.get(f"{base}{path}/{task_id}", headers=headers, timeout=10)
                assert resp.status_code == 200, resp.text
                assert resp.json()["data"]["status"] == "COMPLETED"
        assert len(admin.journal("freepik", "submit")) == 30
        assert len(admin.jobs("freepik")) == 30

        admin.add_fault(provider="freepik", operation="submit", error=503, times=1)
        statuses = []
        for _ in range(12):
            with requests.Session() as session:
                statuses.append(session.post(base + path, json=body, headers=headers, timeout=10).status_code)
        assert sorted(statuses) == [200] * 11 + [503]

        # Any worker's scrape counts both workers' requests.
        with requests.Session() as session:
            metrics = session.get(f"{base}/__admin/metrics", timeout=10).text
        freepik = {}
        for line in metrics.splitlines():
            if line.startswith("pixverse_mock_requests_total{") and 'provider="freepik"' in line:
                status = line.split('status="')[1].split('"')[0]
                freepik[status] = freepik.get(status, 0) + float(line.rsplit(" ", 1)[1])
        assert freepik == {"200": 30 + 30 + 11, "503": 1}
        assert "pixverse_mock_workers 2.0" in metrics
        assert 'pixverse_mock_redis_round_trips_total{pool="requests"}' in metrics
    finally:
        assert _stop(proc) == 0
    assert "Traceback" not in output(proc)
