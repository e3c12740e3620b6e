"""How closely injected latency matches what was asked, under light load.

Starts the fake on 127.0.0.1 (a subprocess, default settings), then for each asked
latency sends ``--requests`` sequential Freepik polls with ``X-Mock-Latency-Ms`` and as
many without, and prints the median added latency next to what was asked.  The issue's
target: within 5 ms of the asked value at the median.  A benchmark, not a test.

    python loadtests/latency_check.py [--requests 50] [--asked 5,50,200]
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"  # loopback only
KEY = {"x-freepik-api-key": "latency-check"}
CREATE = "/v1/ai/image-to-video/pixverse-v5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def timed(conn: http.client.HTTPConnection, path: str, headers: dict) -> float:
    start = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, resp.status
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--asked", default="5,50,200", help="comma-separated milliseconds")
    args = parser.parse_args(argv)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--host", HOST,
                             "--port", str(port), "--seed", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.time() + 20
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                conn.request("POST", CREATE, body=json.dumps(
                    {"prompt": "p", "image_url": "https://e.com/a.png"}),
                    headers={**KEY, "Content-Type": "application/json"})
                task = json.loads(conn.getresponse().read())["data"]["task_id"]
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        path = f"{CREATE}/{task}"
        for _ in range(20):  # warm-up
            timed(conn, path, KEY)
        print(f"{'asked ms':>9} {'baseline p50':>13} {'with p50':>9} {'added p50':>10} {'error':>7}")
        worst = 0.0
        for asked in [float(a) for a in args.asked.split(",")]:
            base = [timed(conn, path, KEY) for _ in range(args.requests)]
            slow = [timed(conn, path, {**KEY, "X-Mock-Latency-Ms": f"{asked:g}"})
                    for _ in range(args.requests)]
            added = statistics.median(slow) - statistics.median(base)
            worst = max(worst, abs(added - asked))
            print(f"{asked:9.1f} {statistics.median(base):13.2f} {statistics.median(slow):9.2f} "
                  f"{added:10.2f} {added - asked:+7.2f}")
        print(f"worst median error: {worst:.2f} ms (target: within 5 ms)")
        return 0 if worst <= 5 else 1
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
