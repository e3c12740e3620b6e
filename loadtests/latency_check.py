"""How closely injected latency matches what was asked, under light load.

Starts the fake on 127.0.0.1 (a subprocess, default settings), then for each asked
latency sends ``--requests`` sequential Freepik polls with ``X-Mock-Latency-Ms`` and as
many without, and prints the median added latency next to what was asked.  The issue's
target: within 5 ms of the asked value at the median.  A benchmark, not a test.

    python loadtests/latency_check.py [--requests 50] [--asked 5,50,200]

The fake's stdout and stderr go to files (``bench.Server``); on a failure the last lines
of its stderr are printed and the files kept.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import HOST, BenchError, Server, free_port

KEY = {"x-freepik-api-key": "latency-check"}
CREATE = "/v1/ai/image-to-video/pixverse-v5"
#: Wall seconds the fake may take to answer its first create.
START_TIMEOUT_S = 20.0


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
    log_dir = Path(tempfile.mkdtemp(prefix="latency-check-"))
    server = Server("fake", [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port),
                             "--seed", "1"], Path(__file__).resolve().parents[1], dict(os.environ), port, log_dir)
    try:
        server.start(START_TIMEOUT_S)
        status = measure(port, args)
    except BenchError as exc:
        print(f"error: {exc}\n(the fake's output: {log_dir})", file=sys.stderr)
        return 2
    except BaseException:
        print(f"{server.stderr_tail()}\n(the fake's output: {log_dir})", file=sys.stderr)
        raise
    finally:
        server.stop()
    shutil.rmtree(log_dir, ignore_errors=True)
    return status


def measure(port: int, args: argparse.Namespace) -> int:
    """Print the table; 0 when every median is within 5 ms of what was asked, else 1."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("POST", CREATE, body=json.dumps({"prompt": "p", "image_url": "https://e.com/a.png"}),
                 headers={**KEY, "Content-Type": "application/json"})
    task = json.loads(conn.getresponse().read())["data"]["task_id"]
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


if __name__ == "__main__":
    sys.exit(main())
