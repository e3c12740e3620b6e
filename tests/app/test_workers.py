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
    return {**os.environ, "PIXVERSE_MOCK_REDIS_URL": redis_url}


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
    assert "--state-file" in proc.stderr


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
